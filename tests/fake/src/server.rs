//! The HTTP server: its thread and runtime, request recording, faults, rate limits and mutations.

use std::convert::Infallible;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::account::Account;
use crate::api::{self, Tokens};
use crate::body::FakeBody;
use crate::fault::{Fault, FaultAction, Mutation};
use crate::rate_limit::{Admission, RateLimiter};
use crate::render::{TotalForm, Wire};
use crate::response::{Plan, apply_fault, build_response, rate_limited};

/// How long shutdown waits for the runtime's tasks before leaving them behind.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// A fake ActiveCampaign API listening on 127.0.0.1, stopped and joined when dropped.
///
/// The server runs on its own thread with its own two-worker tokio runtime, so it works from
/// synchronous tests and from inside another runtime alike.
pub struct FakeServer {
    shared: Arc<Shared>,
    base_url: String,
    /// Dropping the sender stops the accept loop.
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Settings for a [`FakeServer`], created by [`FakeServer::builder`].
#[derive(Debug, Clone)]
pub struct FakeServerBuilder {
    account: Account,
    api_token: String,
    non_admin_token: Option<String>,
    total_form: TotalForm,
    numeric_ids: bool,
    latency: Duration,
    rate_limit: Option<u32>,
    faults: Vec<Fault>,
    mutations: Vec<Mutation>,
    port: u16,
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Position in arrival order, counting from 1.
    pub index: usize,
    /// HTTP method, such as `GET`.
    pub method: String,
    /// Path without the query, such as `/api/3/users`.
    pub path: String,
    /// Query string without the `?`, empty when there is none.
    pub query: String,
    /// Value of the `Api-Token` header.
    pub api_token: Option<String>,
    /// All request headers, with lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    /// Status sent, or 0 while the response is pending, hung, or cut short.
    pub status: u16,
    /// Arrival time.
    pub received_at: Instant,
}

/// State shared by the server's tasks and the [`FakeServer`] handle.
struct Shared {
    tokens: Tokens,
    wire: Wire,
    latency: Duration,
    rate_limiter: Option<RateLimiter>,
    account: RwLock<Account>,
    /// Each fault with the number of requests it has been applied to.
    faults: Mutex<Vec<(Fault, usize)>>,
    /// Mutations not applied yet.
    mutations: Mutex<Vec<Mutation>>,
    log: Mutex<Vec<RecordedRequest>>,
    /// Signalled whenever a request is added to `log`.
    arrivals: Condvar,
    connections: AtomicUsize,
}

impl FakeServer {
    /// Creates a builder that serves `account` with default settings.
    #[must_use]
    pub fn builder(account: Account) -> FakeServerBuilder {
        FakeServerBuilder {
            account,
            api_token: "test-token".to_owned(),
            non_admin_token: None,
            total_form: TotalForm::default(),
            numeric_ids: false,
            latency: Duration::ZERO,
            rate_limit: None,
            faults: Vec::new(),
            mutations: Vec::new(),
            port: 0,
        }
    }

    /// Returns the base URL, such as `http://127.0.0.1:41234`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Joins the base URL and a path such as `/api/3/users?limit=100`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url)
    }

    /// Returns the admin API token the server accepts.
    pub fn api_token(&self) -> &str {
        &self.shared.tokens.admin
    }

    /// Lists every request received so far in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Counts the TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Returns a copy of the account as it is now, after any mutations applied so far.
    pub fn account(&self) -> Account {
        read(&self.shared.account).clone()
    }

    /// Waits until at least `n` requests have arrived, with or without a response yet. Returns false on timeout.
    pub fn wait_for_request(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut log = lock(&self.shared.log);
        while log.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            log = self
                .shared
                .arrivals
                .wait_timeout(log, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl Drop for FakeServer {
    /// Stops accepting, drops open connections including hung ones, and joins the server thread.
    fn drop(&mut self) {
        drop(self.shutdown.take());
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread was already printed, and a drop must not panic again.
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FakeServer")
            .field("base_url", &self.base_url)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl FakeServerBuilder {
    /// Sets the token that `Api-Token` must carry, `test-token` by default.
    #[must_use]
    pub fn api_token(mut self, token: &str) -> Self {
        self.api_token = token.to_owned();
        self
    }

    /// Accepts a second token that belongs to a user outside the admin groups.
    ///
    /// `/users/me` returns the first such user for it, and every other endpoint returns 403.
    #[must_use]
    pub fn non_admin_token(mut self, token: &str) -> Self {
        self.non_admin_token = Some(token.to_owned());
        self
    }

    /// Sets how lists write `meta.total`, a string by default.
    #[must_use]
    pub fn total_form(mut self, form: TotalForm) -> Self {
        self.total_form = form;
        self
    }

    /// Writes ids as JSON numbers instead of strings when `yes` is true.
    #[must_use]
    pub fn numeric_ids(mut self, yes: bool) -> Self {
        self.numeric_ids = yes;
        self
    }

    /// Waits this long before every response without blocking other requests.
    #[must_use]
    pub fn latency(mut self, delay: Duration) -> Self {
        self.latency = delay;
        self
    }

    /// Admits at most `per_second` requests in any rolling second and rejects the rest with 429.
    ///
    /// Only admitted requests count toward the limit. A rejected request gets `Retry-After: 1`,
    /// `RateLimit-Limit` and `RateLimit-Remaining: 0` and skips every fault. Admitted responses
    /// carry `RateLimit-Limit` and `RateLimit-Remaining` too.
    #[must_use]
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Adds a fault. For each request the first matching fault with uses left applies.
    #[must_use]
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Adds a change to the account, applied when the response to request `after` is built.
    ///
    /// The change lands before that response is sent, so the next request of a client that
    /// waits for each response gets the changed account. A mutation with `after` 0 applies at start.
    #[must_use]
    pub fn mutation(mut self, mutation: Mutation) -> Self {
        self.mutations.push(mutation);
        self
    }

    /// Sets the port on 127.0.0.1, where 0 (the default) picks a free one.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Starts the server on its own thread.
    ///
    /// # Panics
    ///
    /// Panics when the port cannot be bound or the runtime cannot start. Use
    /// [`FakeServerBuilder::try_start`] to get the error instead.
    pub fn start(self) -> FakeServer {
        let port = self.port;
        self.try_start().unwrap_or_else(|error| {
            panic!("failed to start the fake ActiveCampaign server on 127.0.0.1:{port}: {error}")
        })
    }

    /// Starts the server on its own thread.
    ///
    /// # Errors
    ///
    /// Returns the I/O error when the port cannot be bound, the thread cannot be spawned or
    /// the runtime cannot start.
    pub fn try_start(self) -> io::Result<FakeServer> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))?;
        listener.set_nonblocking(true)?;
        let base_url = format!("http://{}", listener.local_addr()?);

        let mut account = self.account;
        account.sort_by_id();
        let shared = Arc::new(Shared {
            tokens: Tokens {
                admin: self.api_token,
                non_admin: self.non_admin_token,
            },
            wire: Wire {
                base_url: base_url.clone(),
                total_form: self.total_form,
                numeric_ids: self.numeric_ids,
            },
            latency: self.latency,
            rate_limiter: self.rate_limit.map(RateLimiter::new),
            account: RwLock::new(account),
            faults: Mutex::new(self.faults.into_iter().map(|fault| (fault, 0)).collect()),
            mutations: Mutex::new(self.mutations),
            log: Mutex::new(Vec::new()),
            arrivals: Condvar::new(),
            connections: AtomicUsize::new(0),
        });
        shared.apply_mutations(0);

        // The runtime is built on the server thread, because dropping it inside a caller's runtime would panic.
        let (shutdown_sender, shutdown_receiver) = oneshot::channel();
        let (ready_sender, ready_receiver) = std::sync::mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("activecampaign-fake".to_owned())
            .spawn(move || run(listener, thread_shared, shutdown_receiver, ready_sender))?;

        let started = ready_receiver.recv().unwrap_or_else(|_| {
            Err(io::Error::other(
                "the server thread exited before it started",
            ))
        });
        if let Err(error) = started {
            let _ = thread.join();
            return Err(error);
        }

        Ok(FakeServer {
            shared,
            base_url,
            shutdown: Some(shutdown_sender),
            thread: Some(thread),
        })
    }
}

/// Runs the server thread: builds the runtime, serves until shutdown, then drops every task.
fn run(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: oneshot::Receiver<()>,
    ready: std::sync::mpsc::Sender<io::Result<()>>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("activecampaign-fake-worker")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };

    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        accept_connections(listener, shared, shutdown).await;
    });

    // Hung requests never finish, so the runtime drops them instead of waiting.
    runtime.shutdown_timeout(SHUTDOWN_WAIT);
}

async fn accept_connections(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };

        match accepted {
            Ok((stream, _peer)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            // Accepting fails when the process runs out of file descriptors, so wait instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Small responses should leave at once instead of waiting for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(Arc::clone(&shared), request));

    // The connection fails when a client goes away or a fault cuts a body, both expected here.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Records a request, decides its response, then waits and sends it as the plan requires.
async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let index = shared.record_arrival(&request);
    let plan = shared.plan(index, &request);

    let wait = shared.latency + plan.delay;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }

    // The runtime drops this future at shutdown, which closes the connection.
    if plan.hang {
        std::future::pending::<()>().await;
    }

    shared.set_status(index, plan.recorded_status);
    Ok(plan.response)
}

impl Shared {
    /// Adds a request to the log and returns its 1-based index.
    fn record_arrival(&self, request: &Request<Incoming>) -> usize {
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), lossy(value)))
            .collect();
        let api_token = request.headers().get("api-token").map(lossy);

        let mut log = lock(&self.log);
        let index = log.len() + 1;
        log.push(RecordedRequest {
            index,
            method: request.method().as_str().to_owned(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or("").to_owned(),
            api_token,
            headers,
            status: 0,
            received_at: Instant::now(),
        });
        drop(log);

        self.arrivals.notify_all();
        index
    }

    fn set_status(&self, index: usize, status: u16) {
        if let Some(entry) = lock(&self.log).get_mut(index - 1) {
            entry.status = status;
        }
    }

    /// Decides the response to request `index`: rate limit first, then the normal response, then any fault on top.
    fn plan(&self, index: usize, request: &Request<Incoming>) -> Plan {
        let admission = self
            .rate_limiter
            .as_ref()
            .map(|limiter| limiter.admit(Instant::now()));
        if let Some(Admission::Rejected { limit }) = admission {
            self.apply_mutations(index);
            return rate_limited(limit);
        }

        let path = request.uri().path();
        let fault = self.take_fault(index, path);
        let api_request = api::Request {
            method: request.method().as_str(),
            path,
            query: request.uri().query().unwrap_or(""),
            token: request
                .headers()
                .get("api-token")
                .and_then(|value| value.to_str().ok()),
        };
        let reply = api::respond(&read(&self.account), &self.wire, &self.tokens, &api_request);
        self.apply_mutations(index);

        let mut headers = vec![(
            CONTENT_TYPE.as_str().to_owned(),
            "application/json".to_owned(),
        )];
        headers.extend(reply.headers);
        if let Some(Admission::Admitted { limit, remaining }) = admission {
            headers.push(("RateLimit-Limit".to_owned(), limit.to_string()));
            headers.push(("RateLimit-Remaining".to_owned(), remaining.to_string()));
        }
        let body = Bytes::from(serde_json::to_vec(&reply.body).unwrap_or_default());

        match fault {
            Some(action) => apply_fault(action, headers, body),
            None => Plan {
                response: build_response(reply.status, &headers, FakeBody::full(body)),
                delay: Duration::ZERO,
                hang: false,
                recorded_status: reply.status,
            },
        }
    }

    /// Finds the first fault that matches and has uses left, and counts this use.
    fn take_fault(&self, index: usize, path: &str) -> Option<FaultAction> {
        let mut faults = lock(&self.faults);
        let (fault, used) = faults
            .iter_mut()
            .find(|(fault, used)| *used < fault.times && fault.matches(index, path))?;
        *used += 1;
        Some(fault.action.clone())
    }

    /// Applies the mutations due after request `index`, in the order they were added.
    fn apply_mutations(&self, index: usize) {
        let due: Vec<Mutation> = {
            let mut pending = lock(&self.mutations);
            let (due, later) = pending
                .drain(..)
                .partition(|mutation| mutation.after() == index);
            *pending = later;
            due
        };
        if due.is_empty() {
            return;
        }

        let mut account = self.account.write().unwrap_or_else(PoisonError::into_inner);
        for mutation in due {
            match mutation {
                Mutation::AddUserAfterRequest { user, group_id, .. } => {
                    let user_id = user.id;
                    account.push_user(user);
                    if let Some(group_id) = group_id {
                        account.add_membership(user_id, group_id);
                    }
                }
                Mutation::RemoveUserAfterRequest { user_id, .. } => {
                    account.remove_user(user_id);
                }
            }
        }
    }
}

fn lossy(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// Locks a mutex, carrying on after a panic elsewhere because the data stays usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read(lock: &RwLock<Account>) -> std::sync::RwLockReadGuard<'_, Account> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}
