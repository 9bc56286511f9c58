//! The built-in demo account: a fake ActiveCampaign API on 127.0.0.1, so the sync can be
//! tried without an account.

use activecampaign_fake::{Account, FakeServer};

use crate::exit::{Failure, FailureKind};
use crate::secret::ApiToken;

/// A running demo API and the token it accepts.
pub struct Demo {
    /// The server; it stops when this is dropped.
    pub server: FakeServer,
    /// The token the server accepts.
    pub token: ApiToken,
}

/// Starts the demo API on a free port of 127.0.0.1 with a token made up for this run.
pub fn start() -> Result<Demo, Failure> {
    let token = format!("demo-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let server = FakeServer::builder(Account::demo())
        .api_token(&token)
        .try_start()
        .map_err(|error| {
            Failure::new(
                FailureKind::Internal,
                format!("failed to start the demo account's server on 127.0.0.1: {error}"),
            )
        })?;
    Ok(Demo {
        server,
        token: ApiToken::new(token, "the demo")?,
    })
}
