//! Keep-alive HTTP/1.1 connections to the API origin, each carrying one request at a time.
//!
//! hyper-util's pooled client starts a new connection whenever no idle one is ready, and
//! keeps it even when a busy connection frees up a moment later, so a sync could open
//! more connections than it runs requests at once. This pool opens a connection only when
//! no idle one is left, and a response returns its connection when its body ends, so open
//! connections never outnumber the requests in flight.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;
use tracing::debug;

/// How long a connection may sit idle before it is closed instead of reused. Servers
/// close idle keep-alive connections after a while, and a request sent as they do fails.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Error of the TLS and TCP connector.
pub type ConnectError = Box<dyn std::error::Error + Send + Sync>;

/// The connections to the one origin every request of a sync goes to.
pub struct ConnectionPool {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<Vec<IdleConnection>>,
}

struct IdleConnection {
    sender: SendRequest<Empty<Bytes>>,
    since: Instant,
}

/// The connection of one response, returned to the pool by `release`.
pub struct Lease {
    pool: Arc<ConnectionPool>,
    sender: SendRequest<Empty<Bytes>>,
}

impl Lease {
    /// Returns the connection to the pool. Call it once the response body has ended,
    /// because the connection carries the body until then.
    pub fn release(self) {
        let idle = IdleConnection {
            sender: self.sender,
            since: Instant::now(),
        };
        lock(&self.pool.idle).push(idle);
    }
}

/// Failure of a request before its response head.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be opened.
    Connect(ConnectError),
    /// The connection failed before the response head arrived.
    Request(hyper::Error),
}

impl ConnectionPool {
    /// Creates an empty pool that opens connections with `connector`.
    pub fn new(connector: HttpsConnector<HttpConnector>) -> Arc<Self> {
        Arc::new(ConnectionPool {
            connector,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `request`, whose URI must be absolute, on an idle connection, or on a new one
    /// when none is idle. Returns the response head and the lease of its connection.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Empty<Bytes>>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let uri = request.uri().clone();
        to_origin_form(&mut request);

        loop {
            let (mut sender, reused) = match self.take_idle().await {
                Some(sender) => (sender, true),
                None => (self.connect(&uri).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let lease = Lease {
                        pool: Arc::clone(self),
                        sender,
                    };
                    return Ok((response, lease));
                }
                Err(mut error) => match error.take_message() {
                    // An idle connection closed before the request went out, so nothing
                    // reached the server: send it on the next connection.
                    Some(unsent) if reused => {
                        debug!(
                            error = %error.error(),
                            "an idle API connection closed before the request was sent, so it \
                             is sent on another"
                        );
                        request = unsent;
                    }
                    _ => return Err(SendError::Request(error.into_error())),
                },
            }
        }
    }

    /// Takes the most recently used idle connection that is still open, once it is ready
    /// for a request. Connections idle too long, or closed by the server, are dropped.
    async fn take_idle(&self) -> Option<SendRequest<Empty<Bytes>>> {
        loop {
            let IdleConnection { mut sender, since } = lock(&self.idle).pop()?;
            if since.elapsed() > IDLE_TIMEOUT || sender.is_closed() {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Opens a connection to the origin of `uri` and drives it on its own task.
    async fn connect(&self, uri: &Uri) -> Result<SendRequest<Empty<Bytes>>, SendError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|context| connector.poll_ready(context))
            .await
            .map_err(SendError::Connect)?;
        let stream = connector
            .call(uri.clone())
            .await
            .map_err(SendError::Connect)?;

        let (sender, connection) = http1::handshake(stream).await.map_err(SendError::Request)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(error = %error, "an API connection closed with an error");
            }
        });
        debug!(server.address = ?uri.authority(), "opened a connection to the API");
        Ok(sender)
    }
}

/// Adds the `Host` header and reduces the URI to its path and query, as HTTP/1.1 sends a
/// request to a server that is not a proxy.
fn to_origin_form(request: &mut Request<Empty<Bytes>>) {
    let uri = request.uri().clone();
    if let Some(host) = uri.host() {
        let default_port = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => Some(443),
            Some(scheme) if *scheme == Scheme::HTTP => Some(80),
            _ => None,
        };
        let value = match uri.port_u16() {
            Some(port) if Some(port) != default_port => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            request.headers_mut().entry(HOST).or_insert(value);
        }
    }

    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(path);
}

/// Locks the idle list, which stays usable after a panic elsewhere because every change
/// to it is a single push or pop.
fn lock(idle: &Mutex<Vec<IdleConnection>>) -> std::sync::MutexGuard<'_, Vec<IdleConnection>> {
    idle.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use activecampaign_fake::{Account, FakeServer};
    use http_body_util::BodyExt;

    use super::*;

    fn pool() -> Arc<ConnectionPool> {
        ConnectionPool::new(super::super::connector(Duration::from_secs(5)))
    }

    /// Sends one GET, reads the body to its end and releases the connection, as the
    /// outbound body does.
    async fn get(pool: &Arc<ConnectionPool>, server: &FakeServer) {
        let request = Request::get(server.url("/api/3/users?limit=1"))
            .header("api-token", server.api_token())
            .body(Empty::new())
            .expect("request");
        let (response, lease) = pool.send(request).await.expect("response");
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.expect("body");
        lease.release();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sequential_requests_share_one_connection() {
        let server = FakeServer::builder(Account::demo()).start();
        let pool = pool();
        for _ in 0..5 {
            get(&pool, &server).await;
        }
        assert_eq!(server.requests().len(), 5);
        assert_eq!(server.connections(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_never_outnumber_parallel_requests() {
        let server = Arc::new(FakeServer::builder(Account::demo()).start());
        let pool = pool();
        for _ in 0..10 {
            let mut round = tokio::task::JoinSet::new();
            for _ in 0..4 {
                let (pool, server) = (Arc::clone(&pool), Arc::clone(&server));
                round.spawn(async move { get(&pool, &server).await });
            }
            round.join_all().await;
        }
        assert_eq!(server.requests().len(), 40);
        assert!(
            server.connections() <= 4,
            "{} connections",
            server.connections()
        );
    }

    #[test]
    fn host_header_names_the_origin() {
        let mut request = Request::get("http://127.0.0.1:8080/api/3/users?limit=1")
            .body(Empty::new())
            .expect("request");
        to_origin_form(&mut request);
        assert_eq!(request.uri(), "/api/3/users?limit=1");
        assert_eq!(request.headers()[HOST], "127.0.0.1:8080");

        let mut request = Request::get("https://acme.api-us1.com/api/3/users")
            .body(Empty::new())
            .expect("request");
        to_origin_form(&mut request);
        assert_eq!(request.headers()[HOST], "acme.api-us1.com");
    }
}
