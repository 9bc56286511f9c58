//! When a failed page is tried again, and how long to wait first.

use std::time::Duration;

use crate::component::types::ConnectorError;

/// Longest `Retry-After` wait honoured; a larger one is treated as this.
const MAX_REQUESTED_WAIT: Duration = Duration::from_secs(300);

/// Bounded exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Most attempts of one call, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; each later wait doubles.
    pub base_delay: Duration,
    /// Maximum wait between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Returns the wait before attempt `attempt + 1`, after attempt `attempt` failed.
    ///
    /// A wait the API asked for (`Retry-After`) is used as it is, up to five minutes.
    /// Otherwise the wait is
    /// `base_delay * 2^(attempt - 1)`, capped at `max_delay`, and then scaled by a random
    /// factor between 0.5 and 1 so that parallel instances do not retry in step.
    pub fn delay(&self, attempt: u32, requested: Option<Duration>) -> Duration {
        if let Some(requested) = requested {
            return requested.min(MAX_REQUESTED_WAIT);
        }
        let exponent = attempt.saturating_sub(1).min(16);
        let backoff = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        backoff.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// Tells whether a failed call may succeed when tried again.
///
/// Rate limits, upstream failures (5xx, timeouts, lost connections, empty or cut-off
/// bodies) are retried. So is `forbidden` once the sync has read a page (`validated`),
/// because the API has been seen to return 403 for a moment in healthy syncs. A 403
/// before that is final: it is how a key that is not an account admin fails.
pub fn is_retryable(error: &ConnectorError, validated: bool) -> bool {
    match error {
        ConnectorError::RateLimited(_) | ConnectorError::UpstreamUnavailable(_) => true,
        ConnectorError::Forbidden(_) => validated,
        _ => false,
    }
}

/// Returns the wait an error requests, if it carries one.
pub fn requested_wait(error: &ConnectorError) -> Option<Duration> {
    match error {
        ConnectorError::RateLimited(limit) => limit.retry_after_ms.map(Duration::from_millis),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::types::RateLimit;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(400),
        max_delay: Duration::from_secs(10),
    };

    #[test]
    fn delay_doubles_within_jitter_bounds() {
        for attempt in 1..=4 {
            let full = Duration::from_millis(400 * (1 << (attempt - 1)));
            let delay = POLICY.delay(attempt, None);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn delay_is_capped() {
        assert!(POLICY.delay(30, None) <= Duration::from_secs(10));
    }

    #[test]
    fn requested_wait_is_honoured() {
        assert_eq!(
            POLICY.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn forbidden_retried_only_after_validation() {
        let forbidden = ConnectorError::Forbidden("403".to_owned());
        assert!(!is_retryable(&forbidden, false));
        assert!(is_retryable(&forbidden, true));
    }

    #[test]
    fn final_errors_are_not_retried() {
        for error in [
            ConnectorError::Unauthorized(String::new()),
            ConnectorError::InvalidResponse(String::new()),
            ConnectorError::InvalidConfiguration(String::new()),
            ConnectorError::NotFound(String::new()),
        ] {
            assert!(!is_retryable(&error, true), "{error:?}");
        }
        let limited = ConnectorError::RateLimited(RateLimit {
            retry_after_ms: Some(1_000),
            message: String::new(),
        });
        assert!(is_retryable(&limited, false));
        assert_eq!(requested_wait(&limited), Some(Duration::from_secs(1)));
    }
}
