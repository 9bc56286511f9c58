//! The rolling one-second rate limit.

mod common;

use std::time::Duration;

use activecampaign_fake::{Account, FakeServer, Fault, FaultAction};
use common::{Connection, TOKEN, get};

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let server = FakeServer::builder(Account::demo()).rate_limit(3).start();
    let mut connection = Connection::open(&server);

    let responses: Vec<_> = (0..5)
        .map(|_| connection.get("/api/3/users", Some(TOKEN)))
        .collect();
    let statuses: Vec<u16> = responses.iter().map(|response| response.status).collect();
    let remaining: Vec<Option<&str>> = responses
        .iter()
        .map(|response| response.header("ratelimit-remaining"))
        .collect();
    let limited = &responses[3];

    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(
        remaining,
        [Some("2"), Some("1"), Some("0"), Some("0"), Some("0")]
    );
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("ratelimit-limit"), Some("3"));
    assert!(limited.json()["message"].is_string());
    assert_eq!(server.requests()[3].status, 429);
}

#[test]
fn rate_limit_admits_again_after_one_second() {
    let server = FakeServer::builder(Account::demo()).rate_limit(2).start();
    let mut connection = Connection::open(&server);
    for _ in 0..3 {
        connection.get("/api/3/users", Some(TOKEN));
    }

    std::thread::sleep(Duration::from_millis(1100));
    let response = connection.get("/api/3/users", Some(TOKEN));

    assert_eq!(response.status, 200);
}

#[test]
fn rate_limit_headers_absent_without_limit() {
    let server = FakeServer::builder(Account::demo()).start();

    let response = get(&server, "/api/3/users");

    assert_eq!(response.header("ratelimit-limit"), None);
    assert_eq!(response.header("ratelimit-remaining"), None);
}

#[test]
fn rate_limited_request_skips_faults() {
    let server = FakeServer::builder(Account::demo())
        .rate_limit(1)
        .fault(Fault::path("/api/3/users", 1, FaultAction::status(500)))
        .start();
    let mut connection = Connection::open(&server);

    let first = connection.get("/api/3/groups", Some(TOKEN));
    let limited = connection.get("/api/3/users", Some(TOKEN));
    std::thread::sleep(Duration::from_millis(1100));
    let faulted = connection.get("/api/3/users", Some(TOKEN));

    assert_eq!(first.status, 200);
    assert_eq!(limited.status, 429);
    assert_eq!(faulted.status, 500);
}
