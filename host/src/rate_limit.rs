//! Paces every request of one sync to the account's rate limit, across all component
//! instances, and pauses them all when the API returns 429.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Extra length of the limiter's window beyond one second, so that small delays on the
/// way to the server cannot put one request too many into the server's own window.
const WINDOW_MARGIN: Duration = Duration::from_millis(20);

/// A sliding-window limiter: at most `per_second` requests start in any window of
/// one second (plus a small margin).
pub struct RateLimiter {
    per_second: usize,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    starts: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// Creates a limiter of `per_second` requests per second; `None` means no limit.
    pub fn new(per_second: Option<u32>) -> Self {
        RateLimiter {
            per_second: per_second.map_or(usize::MAX, |n| n.max(1) as usize),
            window: Duration::from_secs(1) + WINDOW_MARGIN,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits until a request may start, and records its start.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().expect("rate limiter lock");
                let now = Instant::now();
                while state
                    .starts
                    .front()
                    .is_some_and(|start| now.duration_since(*start) >= self.window)
                {
                    state.starts.pop_front();
                }

                match state.paused_until {
                    Some(until) if until > now => until - now,
                    _ if state.starts.len() < self.per_second => {
                        if self.per_second != usize::MAX {
                            state.starts.push_back(now);
                        }
                        return;
                    }
                    _ => {
                        let oldest = *state.starts.front().expect("window is full");
                        self.window.saturating_sub(now.duration_since(oldest))
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds back every request for `wait`, as the API asked with `Retry-After`.
    pub fn pause_for(&self, wait: Duration) {
        let mut state = self.state.lock().expect("rate limiter lock");
        let until = Instant::now() + wait;
        if state.paused_until.is_none_or(|current| current < until) {
            state.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn acquire_allows_burst_then_waits() {
        let limiter = RateLimiter::new(Some(5));
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_back_requests() {
        let limiter = RateLimiter::new(None);
        limiter.pause_for(Duration::from_secs(2));
        let start = tokio::time::Instant::now();
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }
}
