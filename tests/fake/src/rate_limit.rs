//! A rolling one-second request limit, like ActiveCampaign's per-account limit.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::server::lock;

/// Length of the rolling window the limit counts requests in.
const WINDOW: Duration = Duration::from_millis(1000);

/// Admits at most `limit` requests in any rolling second.
///
/// Only admitted requests count, so a client that gets 429 does not extend its
/// own wait, and a client that retries after `Retry-After` always gets through.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    /// Arrival times of the admitted requests of the last second, oldest first.
    admitted: Mutex<VecDeque<Instant>>,
}

/// The limiter's decision on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The request is served; `remaining` more fit in the current window.
    Admitted { limit: u32, remaining: u32 },
    /// The request is over the limit and gets 429.
    Rejected { limit: u32 },
}

impl RateLimiter {
    /// Creates a limiter of `limit` requests per second. A limit of 0 rejects every request.
    pub(crate) fn new(limit: u32) -> RateLimiter {
        RateLimiter {
            limit,
            admitted: Mutex::new(VecDeque::new()),
        }
    }

    /// Decides on a request that arrived at `now`, counting it when it is admitted.
    pub(crate) fn admit(&self, now: Instant) -> Admission {
        let mut admitted = lock(&self.admitted);
        while let Some(&oldest) = admitted.front() {
            if now.saturating_duration_since(oldest) < WINDOW {
                break;
            }
            admitted.pop_front();
        }

        let used = u32::try_from(admitted.len()).unwrap_or(u32::MAX);
        if used >= self.limit {
            return Admission::Rejected { limit: self.limit };
        }
        admitted.push_back(now);
        Admission::Admitted {
            limit: self.limit,
            remaining: self.limit - used - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_rejects_over_limit_within_second() {
        let limiter = RateLimiter::new(2);
        let start = Instant::now();

        assert_eq!(
            limiter.admit(start),
            Admission::Admitted {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            limiter.admit(start + Duration::from_millis(100)),
            Admission::Admitted {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            limiter.admit(start + Duration::from_millis(200)),
            Admission::Rejected { limit: 2 }
        );
        assert_eq!(
            limiter.admit(start + Duration::from_millis(999)),
            Admission::Rejected { limit: 2 }
        );
    }

    #[test]
    fn admit_frees_slots_after_one_second() {
        let limiter = RateLimiter::new(2);
        let start = Instant::now();
        limiter.admit(start);
        limiter.admit(start + Duration::from_millis(500));

        assert_eq!(
            limiter.admit(start + Duration::from_millis(1000)),
            Admission::Admitted {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            limiter.admit(start + Duration::from_millis(1200)),
            Admission::Rejected { limit: 2 }
        );
        assert_eq!(
            limiter.admit(start + Duration::from_millis(1500)),
            Admission::Admitted {
                limit: 2,
                remaining: 0
            }
        );
    }

    #[test]
    fn admit_with_zero_limit_rejects_all() {
        let limiter = RateLimiter::new(0);

        assert_eq!(
            limiter.admit(Instant::now()),
            Admission::Rejected { limit: 0 }
        );
    }
}
