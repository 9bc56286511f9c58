//! An in-process fake of ActiveCampaign's v3 API for end-to-end tests, benchmarks and demos.
//!
//! [`FakeServer`] serves an [`Account`] on 127.0.0.1 in the shape of the real API: string ids,
//! `"0"`/`"1"` flags, absolute `links`, and `meta.total` as a string. It records every request
//! and can inject the misbehaviour seen on real accounts: rate limits, error statuses, odd
//! bodies, slow, cut or hung responses, and users that appear or vanish during a sync.
//!
//! ```
//! use activecampaign_fake::{Account, FakeServer};
//!
//! let server = FakeServer::builder(Account::demo()).api_token("secret").start();
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! ```
//!
//! # Endpoints
//!
//! Every endpoint accepts only `GET` (others get 405) and requires the `Api-Token` header
//! (otherwise 403 with a `{"message": ...}` body).
//!
//! - `/api/3/users/me`: `{"user": {...}}` for the account owner, the user with the lowest id.
//! - `/api/3/users` and `/api/3/groups`: a page of the list plus `meta.total`.
//! - `/api/3/users/{id}` and `/api/3/groups/{id}`: `{"user": ...}` or `{"group": ...}`.
//! - `/api/3/groups/{id}/userGroups`: a page of the group's membership rows.
//!
//! A missing group gets 403 `No Result found for Group with id {id}`, as in the real API,
//! and a missing user gets 404. Any other path gets 404 with a JSON message.
//!
//! Lists are sorted by id ascending. `limit` defaults to 20 and is capped at 100, `offset`
//! counts from 0, and other query parameters such as `orders[id]=ASC` are ignored.
//!
//! # Limitations
//!
//! - The server keeps every request in memory, so a very long benchmark run grows its log.
//! - Only HTTP/1.1 without TLS is served.

#![warn(missing_docs)]

mod account;
mod api;
mod body;
mod demo;
mod fault;
mod rate_limit;
mod render;
mod response;
mod server;

pub use account::{Account, Group, Membership, PERMISSION_FLAGS, User};
pub use fault::{Fault, FaultAction, FaultWhen, Mutation};
pub use render::TotalForm;
pub use server::{FakeServer, FakeServerBuilder, RecordedRequest};
