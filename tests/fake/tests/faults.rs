//! Injected faults: status, headers, bodies, delays, cut bodies and hung requests.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use activecampaign_fake::{Account, FakeServer, Fault, FaultAction, FaultWhen};
use common::{Connection, TOKEN, get};
use serde_json::json;

fn statuses(server: &FakeServer, paths: &[&str]) -> Vec<u16> {
    paths.iter().map(|path| get(server, path).status).collect()
}

#[test]
fn fault_nth_hits_only_that_request() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(2, FaultAction::status(503)))
        .start();

    let seen = statuses(&server, &["/api/3/users"; 4]);

    assert_eq!(seen, [200, 503, 200, 200]);
}

#[test]
fn fault_nth_with_times_hits_consecutive_requests() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault {
            when: FaultWhen::Nth(2),
            times: 2,
            action: FaultAction::status(500),
        })
        .start();

    let seen = statuses(&server, &["/api/3/users"; 5]);

    assert_eq!(seen, [200, 500, 500, 200, 200]);
}

#[test]
fn fault_path_hits_matching_paths_only() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::path("/api/3/groups", 2, FaultAction::status(502)))
        .start();

    let seen = statuses(
        &server,
        &[
            "/api/3/users",
            "/api/3/groups",
            "/api/3/users",
            "/api/3/groups/3/userGroups",
            "/api/3/groups",
        ],
    );

    assert_eq!(seen, [200, 502, 200, 502, 200]);
}

#[test]
fn fault_any_is_used_up_after_times() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::any(3, FaultAction::status(429)))
        .start();

    let seen = statuses(&server, &["/api/3/users"; 5]);

    assert_eq!(seen, [429, 429, 429, 200, 200]);
}

#[test]
fn fault_first_match_with_uses_left_wins() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::path("/api/3/users", 1, FaultAction::status(500)))
        .fault(Fault::any(2, FaultAction::status(503)))
        .start();

    let seen = statuses(
        &server,
        &[
            "/api/3/users",
            "/api/3/users",
            "/api/3/users",
            "/api/3/users",
        ],
    );

    assert_eq!(seen, [500, 503, 503, 200]);
}

#[test]
fn fault_200_keeps_normal_body_and_adds_headers() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(
            1,
            FaultAction::status(200).header("X-Fault", "yes"),
        ))
        .start();

    let faulted = get(&server, "/api/3/users");
    let normal = get(&server, "/api/3/users");

    assert_eq!(faulted.status, 200);
    assert_eq!(faulted.header("x-fault"), Some("yes"));
    assert_eq!(faulted.header("content-type"), Some("application/json"));
    assert_eq!(faulted.body, normal.body);
}

#[test]
fn fault_body_without_content_type_sends_none() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(1, FaultAction::status(403).body("")))
        .start();

    let response = get(&server, "/api/3/users");

    assert_eq!(response.status, 403);
    assert_eq!(response.header("content-type"), None);
    assert!(response.body.is_empty());
}

#[test]
fn fault_content_type_header_replaces_json() {
    let html = "<html><body>Down for maintenance</body></html>";
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(
            1,
            FaultAction::status(503)
                .header("Content-Type", "text/html")
                .body(html),
        ))
        .start();

    let response = get(&server, "/api/3/users");

    assert_eq!(response.status, 503);
    assert_eq!(response.header("content-type"), Some("text/html"));
    assert_eq!(response.body, html.as_bytes());
}

#[test]
fn fault_error_status_without_body_sends_message() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(1, FaultAction::status(503)))
        .start();

    let response = get(&server, "/api/3/users");

    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({"message": "Service Unavailable"}));
}

#[test]
fn fault_empty_body_is_sent() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(1, FaultAction::status(200).body(Vec::new())))
        .start();

    let response = get(&server, "/api/3/users");

    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), Some(0));
}

#[test]
fn fault_invalid_status_is_sent_as_500() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(1, FaultAction::status(42)))
        .start();

    let response = get(&server, "/api/3/users");

    assert_eq!(response.status, 500);
}

#[test]
fn fault_delay_postpones_response() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(
            1,
            FaultAction::status(200).delay(Duration::from_millis(300)),
        ))
        .start();
    let started = Instant::now();

    let response = get(&server, "/api/3/users");

    assert_eq!(response.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered after {:?}",
        started.elapsed()
    );
}

#[test]
fn cut_after_sends_fewer_bytes_than_content_length() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(2, FaultAction::status(200).cut_after(100)))
        .start();
    let full_length = get(&server, "/api/3/users").body.len();
    let mut connection = Connection::open(&server);

    let response = connection.get("/api/3/users", Some(TOKEN));
    let after_cut = connection.read_to_end();

    assert!(full_length > 100, "normal body is only {full_length} bytes");
    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), Some(full_length));
    assert_eq!(response.body.len(), 100);
    assert_eq!(
        after_cut.ok(),
        Some(0),
        "the server closes the connection after the cut"
    );
    assert_eq!(server.requests()[1].status, 0);
}

#[test]
fn cut_after_beyond_body_sends_everything() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(
            1,
            FaultAction::status(200).cut_after(10_000_000),
        ))
        .start();

    let response = get(&server, "/api/3/users");

    assert_eq!(Some(response.body.len()), response.content_length());
    assert_eq!(response.json()["meta"]["total"], json!("25"));
    assert_eq!(server.requests()[0].status, 200);
}

#[test]
fn hang_sends_nothing_until_drop() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(1, FaultAction::status(200).hang()))
        .start();
    let mut connection = Connection::open(&server);
    connection.set_read_timeout(Duration::from_millis(300));

    let error = connection
        .send("GET", "/api/3/users", &[("Api-Token", TOKEN)])
        .expect_err("a hung request gets no response");
    let arrived = server.wait_for_request(1, Duration::from_secs(5));
    let recorded = server.requests()[0].status;
    connection.set_read_timeout(Duration::from_secs(5));
    drop(server);
    let after_drop = connection.read_to_end();

    assert!(
        matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "expected a read timeout, got {error}"
    );
    assert!(arrived);
    assert_eq!(recorded, 0);
    assert!(
        matches!(after_drop, Ok(0)) || after_drop.is_err(),
        "dropping the server closes the connection: {after_drop:?}"
    );
}

#[test]
fn hang_does_not_block_other_connections() {
    let server = FakeServer::builder(Account::demo())
        .fault(Fault::nth(1, FaultAction::status(200).hang()))
        .start();
    let mut hung = Connection::open(&server);
    hung.write_raw(b"GET /api/3/users HTTP/1.1\r\nHost: x\r\nApi-Token: test-token\r\n\r\n")
        .expect("write request");
    assert!(server.wait_for_request(1, Duration::from_secs(5)));

    let response = get(&server, "/api/3/users");

    assert_eq!(response.status, 200);
}
