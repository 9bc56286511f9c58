//! The `Api-Token` check and the non-admin token.

mod common;

use activecampaign_fake::{Account, FakeServer};
use common::{TOKEN, get_with_token};
use serde_json::json;

const FORBIDDEN: &str = "You do not have permission to access this resource";

#[test]
fn missing_token_is_403() {
    let server = FakeServer::builder(Account::demo()).start();

    let response = get_with_token(&server, "/api/3/users", None);

    assert_eq!(response.status, 403);
    assert!(response.json()["message"].is_string());
}

#[test]
fn wrong_token_is_403_on_every_path() {
    let server = FakeServer::builder(Account::demo()).start();

    for path in [
        "/api/3/users/me",
        "/api/3/users",
        "/api/3/groups",
        "/api/3/nothing",
    ] {
        let response = get_with_token(&server, path, Some("wrong"));
        assert_eq!(response.status, 403, "path {path}");
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "path {path}"
        );
        assert!(response.json()["message"].is_string(), "path {path}");
    }
}

#[test]
fn custom_api_token_is_required() {
    let server = FakeServer::builder(Account::demo())
        .api_token("secret-123")
        .start();

    let with_default = get_with_token(&server, "/api/3/users", Some(TOKEN));
    let with_custom = get_with_token(&server, "/api/3/users", Some("secret-123"));

    assert_eq!(with_default.status, 403);
    assert_eq!(with_custom.status, 200);
    assert_eq!(server.api_token(), "secret-123");
}

#[test]
fn non_admin_token_reads_users_me() {
    let server = FakeServer::builder(Account::demo())
        .non_admin_token("limited")
        .start();

    let response = get_with_token(&server, "/api/3/users/me", Some("limited"));

    assert_eq!(response.status, 200);
    assert_eq!(
        response.json()["user"]["id"],
        json!("4"),
        "first user outside the Admin group"
    );
}

#[test]
fn non_admin_token_is_403_on_lists() {
    let server = FakeServer::builder(Account::demo())
        .non_admin_token("limited")
        .start();

    for path in [
        "/api/3/users",
        "/api/3/groups",
        "/api/3/groups/3/userGroups",
        "/api/3/users/1",
    ] {
        let response = get_with_token(&server, path, Some("limited"));
        assert_eq!(response.status, 403, "path {path}");
        assert_eq!(
            response.json(),
            json!({"message": FORBIDDEN}),
            "path {path}"
        );
    }
}
