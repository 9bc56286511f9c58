//! Failure classes of a sync and the process exit code of each.

use std::fmt;

/// The class of failure that ended a sync. Each has its own exit code, listed in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A flag, setting or file is missing or invalid. Exit code 2.
    Configuration,
    /// The API rejected the token, or its user is not an account admin. Exit code 3.
    Authentication,
    /// The API failed, timed out, rate limited past the retries, or sent unusable or
    /// inconsistent data. Exit code 4.
    Upstream,
    /// The component broke a sandbox limit or trapped, or the host failed. Exit code 1.
    Internal,
    /// The user pressed Ctrl-C. Exit code 130, as shells report SIGINT.
    Interrupted,
}

impl FailureKind {
    /// Returns the process exit code of this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            FailureKind::Internal => 1,
            FailureKind::Configuration => 2,
            FailureKind::Authentication => 3,
            FailureKind::Upstream => 4,
            FailureKind::Interrupted => 130,
        }
    }
}

/// A failed sync: its kind and a message naming what failed and what to do.
#[derive(Debug)]
pub struct Failure {
    /// The failure class, which sets the exit code.
    pub kind: FailureKind,
    /// The message for people.
    pub message: String,
}

impl Failure {
    /// Creates a failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// Creates an internal failure from an error chain.
    pub fn internal(error: anyhow::Error) -> Self {
        Failure::new(FailureKind::Internal, format!("{error:#}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
