//! ActiveCampaign connector for C1, built as a WASI 0.2 component.
//!
//! It syncs an account's back-office users, its permission groups, group membership and
//! an admin entitlement on admin groups. It only reads, and never reads contacts. Every
//! request goes through `wasi:http/outgoing-handler`; settings come from
//! `wasi:config/store`.

mod api;
mod client;
mod error;
mod groups;
mod pagination;
mod profile;
mod response;
mod settings;
mod users;

wit_bindgen::generate!({
    world: "connector-component",
    path: "../wit",
    additional_derives: [PartialEq],
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:config/store@0.2.0-rc.1": generate,
    },
});

// The generated bindings must exist before the module that implements the exports.
mod export;

#[cfg(test)]
mod proptests;
