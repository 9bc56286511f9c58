//! Server plumbing: request recording, connections, latency, ports and shutdown.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use activecampaign_fake::{Account, FakeServer};
use common::{Connection, TOKEN, get};

#[test]
fn requests_are_recorded_in_order() {
    let server = FakeServer::builder(Account::demo()).start();
    let mut connection = Connection::open(&server);

    connection
        .send(
            "GET",
            "/api/3/users?limit=5&offset=10",
            &[("Api-Token", TOKEN), ("User-Agent", "fake-test/1")],
        )
        .expect("first response");
    connection.get("/api/3/groups", None);
    let requests = server.requests();

    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].index, 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/3/users");
    assert_eq!(requests[0].query, "limit=5&offset=10");
    assert_eq!(requests[0].api_token.as_deref(), Some(TOKEN));
    assert!(
        requests[0]
            .headers
            .contains(&("user-agent".to_owned(), "fake-test/1".to_owned()))
    );
    assert_eq!(requests[0].status, 200);
    assert_eq!(requests[1].index, 2);
    assert_eq!(requests[1].query, "");
    assert_eq!(requests[1].api_token, None);
    assert_eq!(requests[1].status, 403);
    assert!(requests[1].received_at >= requests[0].received_at);
}

#[test]
fn keep_alive_counts_one_connection() {
    let server = FakeServer::builder(Account::demo()).start();
    let mut connection = Connection::open(&server);

    let first = connection.get("/api/3/users", Some(TOKEN));
    let second = connection.get("/api/3/groups", Some(TOKEN));
    let on_one_connection = server.connections();
    get(&server, "/api/3/users/me");

    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(on_one_connection, 1);
    assert_eq!(server.connections(), 2);
}

#[test]
fn wait_for_request_sees_arrivals() {
    let server = FakeServer::builder(Account::demo()).start();

    let before = server.wait_for_request(1, Duration::from_millis(50));
    get(&server, "/api/3/users");
    let after = server.wait_for_request(1, Duration::from_millis(50));

    assert!(!before);
    assert!(after);
}

#[test]
fn latency_overlaps_concurrent_requests() {
    let latency = Duration::from_millis(300);
    let server = FakeServer::builder(Account::demo())
        .latency(latency)
        .start();
    let started = Instant::now();

    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| get(&server, "/api/3/users").status))
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), 200);
        }
    });
    let elapsed = started.elapsed();

    assert!(elapsed >= latency, "answered after {elapsed:?}");
    assert!(
        elapsed < latency * 3,
        "4 requests took {elapsed:?}, so they did not overlap"
    );
    assert_eq!(server.connections(), 4);
}

#[test]
fn many_concurrent_connections_are_served() {
    let server = FakeServer::builder(Account::generated(500, 5)).start();

    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                scope.spawn(|| {
                    let mut connection = Connection::open(&server);
                    (0..5)
                        .map(|page| {
                            connection
                                .get(
                                    &format!("/api/3/users?limit=100&offset={}", page * 100),
                                    Some(TOKEN),
                                )
                                .status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), [200; 5]);
        }
    });

    assert_eq!(server.connections(), 32);
    assert_eq!(server.requests().len(), 160);
}

#[test]
fn garbage_input_leaves_server_working() {
    let server = FakeServer::builder(Account::demo()).start();
    let mut garbage = Connection::open(&server);
    garbage
        .write_raw(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
        .expect("write garbage");
    let garbage_answer = garbage.read_response();

    let response = get(&server, "/api/3/users");

    assert!(
        garbage_answer
            .map(|answer| answer.status == 400)
            .unwrap_or(true)
    );
    assert_eq!(response.status, 200);
}

#[test]
fn port_setting_binds_that_port() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port();

    let server = FakeServer::builder(Account::demo()).port(free_port).start();

    assert_eq!(server.base_url(), format!("http://127.0.0.1:{free_port}"));
    assert_eq!(get(&server, "/api/3/users/me").status, 200);
}

#[test]
fn try_start_reports_port_in_use() {
    let server = FakeServer::builder(Account::demo()).start();
    let port: u16 = server
        .base_url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let second = FakeServer::builder(Account::demo()).port(port).try_start();

    assert!(second.is_err());
}

#[test]
fn drop_stops_listening() {
    let server = FakeServer::builder(Account::demo()).start();
    let address = server.base_url().trim_start_matches("http://").to_owned();

    drop(server);

    assert!(TcpStream::connect(&address).is_err());
}

#[tokio::test]
async fn server_works_inside_tokio_runtime() {
    let server = Arc::new(FakeServer::builder(Account::demo()).start());
    let client_server = Arc::clone(&server);

    let status = tokio::task::spawn_blocking(move || get(&client_server, "/api/3/users/me").status)
        .await
        .expect("client task");
    // Dropping the last handle here joins the server thread from inside this runtime.
    drop(server);

    assert_eq!(status, 200);
}
