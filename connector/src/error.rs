//! The connector's error type, converted to the WIT `connector-error` variant at the export
//! boundary.

use thiserror::Error;

/// Cause of a failed connector call. Each message names the request or setting and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The API rejected the credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The credentials may not make this call.
    #[error("{0}")]
    Forbidden(String),
    /// The object the call is about does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The API asked the caller to slow down.
    #[error("{message}")]
    RateLimited {
        /// The wait the API asked for, in milliseconds.
        retry_after_ms: Option<u64>,
        /// The message for people.
        message: String,
    },
    /// The API failed or sent an empty or cut-off body; a retry may succeed.
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// The API sent a body the call cannot use.
    #[error("{0}")]
    InvalidResponse(String),
    /// A setting is missing or invalid.
    #[error("{0}")]
    InvalidConfiguration(String),
    /// The host passed a resource or page token this connector did not produce.
    #[error("{0}")]
    InvalidArgument(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}
