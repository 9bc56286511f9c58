//! The component's only way out: the `wasi:http` outgoing hook.
//!
//! Every request passes this pipeline. Only GET and HEAD pass, because the host only
//! syncs. Only the API origin passes, so nothing can leave for another host. The host adds
//! the token header itself, so the component never has the secret. The shared limiter
//! paces the request, a keep-alive connection from the pool carries it with timeouts, and
//! the response body is capped.

mod pool;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use tracing::{Instrument, debug, info_span, warn};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use crate::origin::{Origin, origin_of};
use crate::rate_limit::RateLimiter;
use crate::secret::ApiToken;
use pool::{ConnectionPool, Lease, SendError};

/// Timeouts and size cap of one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Maximum wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Maximum wait from sending the request to the response head.
    pub first_byte_timeout: Duration,
    /// Maximum wait between two chunks of the response body.
    pub between_bytes_timeout: Duration,
    /// Largest response body, in bytes.
    pub max_body_bytes: u64,
}

/// Counters of one sync's traffic, for the summary.
#[derive(Debug, Default)]
pub struct TrafficStats {
    /// Requests sent to the API.
    pub requests: AtomicU64,
    /// Responses with status 429.
    pub rate_limited: AtomicU64,
    /// Requests denied before sending.
    pub denied: AtomicU64,
}

/// The rules every component instance of one sync shares.
pub struct OutboundPolicy {
    origin: Origin,
    auth: Option<(HeaderName, ApiToken)>,
    limiter: Arc<RateLimiter>,
    limits: RequestLimits,
    pool: Arc<ConnectionPool>,
    stats: Arc<TrafficStats>,
}

impl OutboundPolicy {
    /// Creates the policy. With `auth`, the host adds that header with the token to each
    /// request for `origin` and forbids the component to set it.
    pub fn new(
        origin: Origin,
        auth: Option<(HeaderName, ApiToken)>,
        limiter: Arc<RateLimiter>,
        limits: RequestLimits,
        stats: Arc<TrafficStats>,
    ) -> anyhow::Result<Self> {
        // One pool for every instance: connections are kept alive and reused, so a sync
        // opens no more connections than it runs requests at once.
        let pool = ConnectionPool::new(connector(limits.connect_timeout));

        Ok(OutboundPolicy {
            origin,
            auth,
            limiter,
            limits,
            pool,
            stats,
        })
    }
}

/// Creates the connector of API connections: TCP with a connect timeout and no Nagle
/// delay, and TLS for `https` origins.
fn connector(connect_timeout: Duration) -> hyper_rustls::HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// The `wasi:http` hooks of one component instance.
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
}

impl OutboundHooks {
    /// Creates the hooks of one instance.
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        OutboundHooks { policy }
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        let held = self.policy.auth.as_ref().map(|(name, _)| name.clone());
        Arc::new(move |name| {
            DEFAULT_FORBIDDEN_HEADERS.contains(name) || held.as_ref() == Some(name)
        })
    }

    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        _options: Option<RequestOptions>,
        _request_io: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                )>,
            > + Send,
    > {
        let policy = Arc::clone(&self.policy);
        let span = info_span!(
            "http.request",
            http.request.method = %request.method(),
            server.address = %origin_of(request.uri()),
            url.path = request.uri().path(),
            http.response.status_code = tracing::field::Empty,
        );
        Box::new(
            async move {
                let response = send(&policy, request).await?;
                let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                    Box::new(async { Ok(()) });
                Ok((response, done))
            }
            .instrument(span),
        )
    }
}

/// Checks, authenticates, paces and sends one request.
async fn send(
    policy: &OutboundPolicy,
    request: Request<WasiBody>,
) -> Result<Response<WasiBody>, HttpError> {
    let (parts, _body) = request.into_parts();

    // Only reads may leave: this host syncs and never changes the account.
    if parts.method != Method::GET && parts.method != Method::HEAD {
        policy.stats.denied.fetch_add(1, Ordering::Relaxed);
        warn!(method = %parts.method, "denied a request that is not GET or HEAD");
        return Err(HttpError::HttpRequestDenied);
    }

    // Only the API origin may be reached, and the check runs before any connection.
    if !policy.origin.matches(&parts.uri) {
        policy.stats.denied.fetch_add(1, Ordering::Relaxed);
        warn!(
            denied.origin = %origin_of(&parts.uri),
            allowed.origin = %policy.origin,
            "denied a request to an origin other than the API"
        );
        return Err(HttpError::HttpRequestDenied);
    }

    let mut outgoing = Request::from_parts(parts, Empty::<Bytes>::new());
    if let Some((name, token)) = &policy.auth {
        let mut value = HeaderValue::from_str(token.expose())
            .map_err(|_| HttpError::InternalError(Some("invalid token header".to_owned())))?;
        value.set_sensitive(true);
        outgoing.headers_mut().insert(name.clone(), value);
    }

    // Every request of the sync shares the limiter, whichever instance sends it.
    policy.limiter.acquire().await;
    policy.stats.requests.fetch_add(1, Ordering::Relaxed);

    let (head, lease) =
        tokio::time::timeout(policy.limits.first_byte_timeout, policy.pool.send(outgoing))
            .await
            .map_err(|_| HttpError::HttpResponseTimeout)?
            .map_err(send_error)?;
    tracing::Span::current().record("http.response.status_code", head.status().as_u16());
    debug!("response head received");

    observe_rate_limit(policy, &head);

    let (parts, incoming) = head.into_parts();
    let body = LimitedBody {
        incoming,
        received: 0,
        max_bytes: policy.limits.max_body_bytes,
        between_bytes: policy.limits.between_bytes_timeout,
        timer: None,
        lease: Some(lease),
    };
    Ok(Response::from_parts(parts, body.boxed_unsync()))
}

/// Pauses the limiter when the API reports the account over its rate limit.
fn observe_rate_limit(policy: &OutboundPolicy, response: &Response<Incoming>) {
    let header_seconds = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
    };

    if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
        policy.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        let wait = Duration::from_secs_f64(header_seconds("retry-after").unwrap_or(1.0).min(300.0));
        warn!(
            wait_ms = wait.as_millis() as u64,
            "rate limited by the API (HTTP 429); pausing all requests"
        );
        policy.limiter.pause_for(wait);
        return;
    }

    // Other clients of the account share its budget: when none is left, wait a window.
    if header_seconds("ratelimit-remaining") == Some(0.0) {
        debug!("the API reports no requests left in this window; pausing one second");
        policy.limiter.pause_for(Duration::from_secs(1));
    }
}

/// Converts a failed request to the `wasi:http` error the component receives.
fn send_error(error: SendError) -> HttpError {
    let error = match error {
        SendError::Connect(error) => error,
        SendError::Request(error) => {
            return HttpError::InternalError(Some(format!("request failed: {error}")));
        }
    };

    // The connector's own message is generic, such as "tcp connect error", so the cause
    // is read from the whole chain of sources.
    let mut detail = error.to_string();
    let mut kinds = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            kinds.push(io.kind());
        }
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if kinds.contains(&std::io::ErrorKind::TimedOut) || detail.contains("timed out") {
        return HttpError::ConnectionTimeout;
    }
    if kinds.contains(&std::io::ErrorKind::ConnectionRefused) || detail.contains("refused") {
        return HttpError::ConnectionRefused;
    }
    // A host name that does not resolve is most often a mistyped API URL, which the
    // component reports as a configuration error on the credential check.
    if detail.contains("dns error") {
        return HttpError::DnsError {
            rcode: None,
            info_code: None,
        };
    }
    HttpError::InternalError(Some(format!("connection failed: {detail}")))
}

/// A response body with a size cap and a timeout between chunks. It returns its
/// connection to the pool at its end, and a body dropped before its end closes the
/// connection.
struct LimitedBody {
    incoming: Incoming,
    received: u64,
    max_bytes: u64,
    between_bytes: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    lease: Option<Lease>,
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(context) {
            Poll::Ready(Some(Ok(frame))) => {
                self.timer = None;
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                    if self.received > self.max_bytes {
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            self.received,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(HttpError::InternalError(
                Some(format!("response body failed: {error}")),
            )))),
            Poll::Ready(None) => {
                if let Some(lease) = self.lease.take() {
                    lease.release();
                }
                Poll::Ready(None)
            }
            Poll::Pending => {
                let between_bytes = self.between_bytes;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(between_bytes)));
                match timer.as_mut().poll(context) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_port_maps_to_connection_refused() {
        // Bind and drop a listener to find a port on which nothing listens.
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let request = Request::get(format!("http://{address}/api/3/users/me"))
            .body(Empty::new())
            .expect("request");

        let pool = ConnectionPool::new(connector(Duration::from_secs(5)));
        let error = pool.send(request).await.err().expect("no listener");
        assert!(matches!(send_error(error), HttpError::ConnectionRefused));
    }
}
