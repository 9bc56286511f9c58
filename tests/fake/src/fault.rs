//! Injected faults and account changes that happen during a run.

use std::time::Duration;

use crate::account::User;

/// A fault that replaces or changes the normal response to some requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Which requests the fault applies to.
    pub when: FaultWhen,
    /// How many matching requests the fault applies to before it is used up.
    pub times: usize,
    /// What the server sends instead of the normal response.
    pub action: FaultAction,
}

/// The requests a [`Fault`] matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultWhen {
    /// Request number N in arrival order, counting from 1; with `times` > 1 also N+1, N+2, and so on.
    Nth(usize),
    /// Requests whose path starts with this text, such as `/api/3/groups`.
    Path(String),
    /// Every request.
    Any,
}

/// What a [`Fault`] does to a response.
///
/// A status of 200 with no body sends the normal body, so the fault only adds its headers,
/// delay, cut or hang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAction {
    /// HTTP status to send. Codes outside 100..=999 are sent as 500.
    pub status: u16,
    /// Headers that replace any normal header of the same name.
    ///
    /// A `Content-Type` here replaces `application/json`. A header whose name or value is not
    /// valid HTTP is skipped.
    pub headers: Vec<(String, String)>,
    /// Body to send instead of the normal one, without a `Content-Type` unless `headers` sets it.
    ///
    /// `None` keeps the normal body for a 2xx status and sends a `{"message": ...}` body otherwise.
    pub body: Option<Vec<u8>>,
    /// Wait added to the server's latency before the response.
    pub delay: Option<Duration>,
    /// Sends the `Content-Length` of the full body but only this many body bytes, then closes the connection.
    pub cut_after: Option<usize>,
    /// Sends no response, keeping the connection open until the server is dropped.
    pub hang: bool,
}

/// A change to the account at a fixed point of the run, such as a user created mid-sync.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Adds `user`, and puts it in `group_id` when given, once the response to request `after` is built.
    AddUserAfterRequest {
        /// Request number, counting from 1, after which the user exists.
        after: usize,
        /// The new user; an existing user with the same id is replaced.
        user: User,
        /// Group to put the new user in.
        group_id: Option<u64>,
    },
    /// Removes a user and its memberships once the response to request `after` is built.
    RemoveUserAfterRequest {
        /// Request number, counting from 1, after which the user is gone.
        after: usize,
        /// The user to remove.
        user_id: u64,
    },
}

impl Fault {
    /// Creates a fault for request number `n` only.
    pub fn nth(n: usize, action: FaultAction) -> Fault {
        Fault {
            when: FaultWhen::Nth(n),
            times: 1,
            action,
        }
    }

    /// Creates a fault for the first `times` requests whose path starts with `prefix`.
    pub fn path(prefix: &str, times: usize, action: FaultAction) -> Fault {
        Fault {
            when: FaultWhen::Path(prefix.to_owned()),
            times,
            action,
        }
    }

    /// Creates a fault for the next `times` requests, whatever they are.
    pub fn any(times: usize, action: FaultAction) -> Fault {
        Fault {
            when: FaultWhen::Any,
            times,
            action,
        }
    }

    /// Sets how many matching requests the fault applies to.
    #[must_use]
    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    /// Checks whether request `index` with this path is one of the fault's targets, ignoring uses.
    pub(crate) fn matches(&self, index: usize, path: &str) -> bool {
        match &self.when {
            FaultWhen::Nth(n) => index >= *n && index - *n < self.times,
            FaultWhen::Path(prefix) => path.starts_with(prefix.as_str()),
            FaultWhen::Any => true,
        }
    }
}

impl FaultAction {
    /// Creates an action that sends this status with the default body and no other change.
    pub fn status(code: u16) -> FaultAction {
        FaultAction {
            status: code,
            headers: Vec::new(),
            body: None,
            delay: None,
            cut_after: None,
            hang: false,
        }
    }

    /// Makes the server send no response, keeping the connection open until the server is dropped.
    #[must_use]
    pub fn hang(mut self) -> FaultAction {
        self.hang = true;
        self
    }

    /// Adds a response header, replacing the normal header of the same name.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> FaultAction {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body to send in place of the normal one.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> FaultAction {
        self.body = Some(body.into());
        self
    }

    /// Adds a wait before the response.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> FaultAction {
        self.delay = Some(delay);
        self
    }

    /// Cuts the body after `bytes` bytes and closes the connection.
    #[must_use]
    pub fn cut_after(mut self, bytes: usize) -> FaultAction {
        self.cut_after = Some(bytes);
        self
    }
}

impl Default for FaultAction {
    /// Creates an action that changes nothing: status 200 with the normal body.
    fn default() -> FaultAction {
        FaultAction::status(200)
    }
}

impl Mutation {
    /// Returns the request number after which the change applies.
    pub fn after(&self) -> usize {
        match self {
            Mutation::AddUserAfterRequest { after, .. }
            | Mutation::RemoveUserAfterRequest { after, .. } => *after,
        }
    }
}
