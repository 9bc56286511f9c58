//! Drives one sync through the component: validate, list resource types, then every page
//! of resources, entitlements and grants, in parallel instances under one rate limiter.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use wasmtime::Store;

use crate::checkpoint::{Entry, Journal};
use crate::component::types::{self, ConnectorError};
use crate::component::{ConnectorComponent, ConnectorComponentPre};
use crate::exit::{Failure, FailureKind};
use crate::output::{
    EntitlementRecord, GrantRecord, ResourceRecord, ResourceTypeRecord, SyncOutput,
};
use crate::retry::{self, RetryPolicy};
use crate::sandbox::{EPOCH_TICKS_PER_SECOND, GuestLimits, GuestState, LimitHit};

/// Creates component instances for one sync.
pub struct InstanceFactory {
    /// The pre-linked component.
    pub pre: ConnectorComponentPre<GuestState>,
    /// Creates the store of a new instance.
    pub new_store: Box<dyn Fn() -> Store<GuestState> + Send + Sync>,
    /// The sandbox limits, for error messages and deadlines.
    pub limits: GuestLimits,
}

/// Settings of the driver.
#[derive(Debug, Clone, Copy)]
pub struct DriverOptions {
    /// Component instances calling at once.
    pub concurrency: usize,
    /// Retries of failed calls.
    pub retry: RetryPolicy,
}

/// The records and figures a sync gathered, before the output is finished and checked.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Every record, in arrival order.
    pub output: SyncOutput,
    /// Totals the API reported, per listing, for the consistency check.
    pub totals: BTreeMap<Listing, BTreeSet<u64>>,
    /// Records received per listing.
    pub received: BTreeMap<Listing, u64>,
    /// Calls that were tried again.
    pub retries: u64,
    /// Pages fetched in this run.
    pub pages: u64,
    /// Pages taken from the checkpoint of an interrupted run.
    pub pages_resumed: u64,
    /// Resource types whose resources have no entitlements or grants to list.
    pub skip_entitlements: BTreeSet<String>,
}

/// One paged listing, for totals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Listing {
    /// Resources of one type.
    Resources(String),
    /// Grants on one resource.
    Grants(String, String),
}

impl std::fmt::Display for Listing {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listing::Resources(resource_type) => write!(formatter, "`{resource_type}` resources"),
            Listing::Grants(resource_type, id) => {
                write!(formatter, "grants on `{resource_type}:{id}`")
            }
        }
    }
}

/// One call to make: a page of one listing. It contains everything the call needs, so a
/// checkpoint can record it and a resumed sync can make it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Task {
    /// A page of resources of one type.
    Resources {
        /// The resource type id.
        resource_type: String,
        /// The page token, absent for the first page.
        token: Option<String>,
    },
    /// A page of the entitlements on one resource.
    Entitlements {
        /// The resource, as `list-resources` returned it.
        resource: ResourceRecord,
        /// The page token, absent for the first page.
        token: Option<String>,
    },
    /// A page of the grants on one resource.
    Grants {
        /// The resource, as `list-resources` returned it.
        resource: ResourceRecord,
        /// The page token, absent for the first page.
        token: Option<String>,
    },
}

impl Task {
    fn describe(&self) -> String {
        let (what, token) = match self {
            Task::Resources {
                resource_type,
                token,
            } => (format!("list `{resource_type}` resources"), token),
            Task::Entitlements { resource, token } => (
                format!(
                    "list entitlements of `{}:{}`",
                    resource.id.resource_type, resource.id.resource
                ),
                token,
            ),
            Task::Grants { resource, token } => (
                format!(
                    "list grants of `{}:{}`",
                    resource.id.resource_type, resource.id.resource
                ),
                token,
            ),
        };
        match token {
            Some(token) => format!("{what} (page `{token}`)"),
            None => what,
        }
    }
}

/// The records and next page tokens of one page, in the output's record types, so the
/// page can be journaled.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PageRecord {
    /// Resources on the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceRecord>,
    /// Entitlements on the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<EntitlementRecord>,
    /// Grants on the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantRecord>,
    /// Tokens of further pages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_page_tokens: Vec<String>,
    /// The listing's total as the API reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl PageRecord {
    /// Tells whether the page has no records and leads to no further page.
    fn is_empty(&self) -> bool {
        self.resources.is_empty()
            && self.entitlements.is_empty()
            && self.grants.is_empty()
            && self.next_page_tokens.is_empty()
    }
}

impl From<types::ResourcePage> for PageRecord {
    fn from(page: types::ResourcePage) -> Self {
        PageRecord {
            resources: page.resources.iter().map(ResourceRecord::from).collect(),
            next_page_tokens: page.next_page_tokens,
            total: page.total,
            ..PageRecord::default()
        }
    }
}

impl From<types::EntitlementPage> for PageRecord {
    fn from(page: types::EntitlementPage) -> Self {
        PageRecord {
            entitlements: page
                .entitlements
                .iter()
                .map(EntitlementRecord::from)
                .collect(),
            next_page_tokens: page.next_page_tokens,
            ..PageRecord::default()
        }
    }
}

impl From<types::GrantPage> for PageRecord {
    fn from(page: types::GrantPage) -> Self {
        PageRecord {
            grants: page.grants.iter().map(GrantRecord::from).collect(),
            next_page_tokens: page.next_page_tokens,
            total: page.total,
            ..PageRecord::default()
        }
    }
}

/// One component instance and its store.
struct Worker {
    store: Store<GuestState>,
    instance: ConnectorComponent,
}

/// Shared by every task of a sync.
struct Shared {
    factory: InstanceFactory,
    retry: RetryPolicy,
    retries: AtomicU64,
    /// Whether a listing call already succeeded. Until one has, a 403 means the key may
    /// not list users and groups (not an account admin), so it is final. After that, a 403
    /// is the passing one the API has been seen to give in healthy syncs, and is retried.
    listed: AtomicBool,
}

/// Runs a whole sync and returns what it gathered. Pages in `resumed` (from a
/// checkpoint) are taken as done; every new page is appended to `journal`.
pub async fn run(
    factory: InstanceFactory,
    options: DriverOptions,
    journal: &mut Journal,
    resumed: Vec<Entry>,
) -> Result<Gathered, Failure> {
    let shared = Arc::new(Shared {
        factory,
        retry: options.retry,
        retries: AtomicU64::new(0),
        listed: AtomicBool::new(false),
    });

    // The credential check comes first, so a bad key fails before any listing.
    let mut first = new_worker(&shared).await?;
    info!("checking the credentials");
    call_with_retries(
        &shared,
        &mut first,
        "check the credentials",
        false,
        |worker| {
            Box::pin(async move {
                let calls = worker.instance.conductorone_connector_connector();
                calls.call_validate(&mut worker.store).await
            })
        },
    )
    .await?;

    let resource_types = guarded(&shared, &mut first, "list resource types", |worker| {
        Box::pin(async move {
            let calls = worker.instance.conductorone_connector_connector();
            calls.call_resource_types(&mut worker.store).await
        })
    })
    .await?;

    let mut gathered = Gathered::default();
    gathered.output.resource_types = resource_types
        .iter()
        .map(ResourceTypeRecord::from)
        .collect();
    gathered.skip_entitlements = resource_types
        .iter()
        .filter(|resource_type| resource_type.skip_entitlements_and_grants)
        .map(|resource_type| resource_type.id.clone())
        .collect();
    let mut queue: VecDeque<Task> = resource_types
        .iter()
        .map(|resource_type| Task::Resources {
            resource_type: resource_type.id.clone(),
            token: None,
        })
        .collect();

    // A resumed sync replays its checkpoint: each recorded page is taken off the queue and
    // recorded as if fetched, which queues exactly the calls still to make.
    if !resumed.is_empty() {
        info!(pages = resumed.len(), checkpoint = %journal.path().display(), "resuming from the checkpoint");
    }
    for entry in resumed {
        let Some(position) = queue.iter().position(|task| *task == entry.task) else {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!(
                    "the checkpoint `{}` records a page no earlier page led to ({}); delete it, \
                     or run without --resume to start over",
                    journal.path().display(),
                    entry.task.describe()
                ),
            ));
        };
        queue.remove(position);
        gathered.pages_resumed += 1;
        record_page(&mut gathered, &mut queue, entry.task, entry.page);
    }

    let mut idle = vec![first];
    for _ in 1..options.concurrency.max(1) {
        idle.push(new_worker(&shared).await?);
    }

    // Keep every idle instance busy while tasks remain; each finished page may add tasks.
    let mut running = JoinSet::new();
    loop {
        while !queue.is_empty() && !idle.is_empty() {
            let task = queue.pop_front().expect("queue is not empty");
            let mut worker = idle.pop().expect("an idle worker");
            let shared = Arc::clone(&shared);
            running.spawn(async move {
                let result = run_task(&shared, &mut worker, &task).await;
                (worker, task, result)
            });
        }

        let Some(joined) = running.join_next().await else {
            break;
        };
        let (worker, task, result) = joined.map_err(|error| {
            Failure::new(
                FailureKind::Internal,
                format!("a sync task failed: {error}"),
            )
        })?;
        let page = match result {
            Ok(page) => page,
            Err(failure) => {
                // Stop the other calls now, while their deadlines can still fire.
                running.shutdown().await;
                return Err(failure);
            }
        };
        gathered.pages += 1;
        // An empty last page is not recorded, because a resumed sync can ask for it again
        // cheaply.
        if !page.is_empty() {
            journal.append(&task, &page)?;
        }
        record_page(&mut gathered, &mut queue, task, page);
        idle.push(worker);
    }

    gathered.retries = shared.retries.load(Ordering::Relaxed);
    Ok(gathered)
}

/// Adds a page's records to the output and queues the calls it leads to.
fn record_page(gathered: &mut Gathered, queue: &mut VecDeque<Task>, task: Task, page: PageRecord) {
    debug!(
        call = %task.describe(),
        resources = page.resources.len(),
        entitlements = page.entitlements.len(),
        grants = page.grants.len(),
        "recorded a page"
    );
    let next_task = |token: String| match &task {
        Task::Resources { resource_type, .. } => Task::Resources {
            resource_type: resource_type.clone(),
            token: Some(token),
        },
        Task::Entitlements { resource, .. } => Task::Entitlements {
            resource: resource.clone(),
            token: Some(token),
        },
        Task::Grants { resource, .. } => Task::Grants {
            resource: resource.clone(),
            token: Some(token),
        },
    };
    for token in page.next_page_tokens {
        queue.push_back(next_task(token));
    }

    let listing = match &task {
        Task::Resources { resource_type, .. } => Some(Listing::Resources(resource_type.clone())),
        Task::Grants { resource, .. } => Some(Listing::Grants(
            resource.id.resource_type.clone(),
            resource.id.resource.clone(),
        )),
        Task::Entitlements { .. } => None,
    };
    if let Some(listing) = listing {
        if let Some(total) = page.total {
            gathered
                .totals
                .entry(listing.clone())
                .or_default()
                .insert(total);
        }
        let count = page.resources.len() + page.grants.len();
        *gathered.received.entry(listing).or_default() += count as u64;
    }

    // Every resource leads to its entitlements and grants, unless its type has none.
    let skip = match &task {
        Task::Resources { resource_type, .. } => gathered.skip_entitlements.contains(resource_type),
        _ => true,
    };
    for resource in page.resources.iter().filter(|_| !skip) {
        queue.push_back(Task::Entitlements {
            resource: resource.clone(),
            token: None,
        });
        queue.push_back(Task::Grants {
            resource: resource.clone(),
            token: None,
        });
    }
    gathered.output.resources.extend(page.resources);
    gathered.output.entitlements.extend(page.entitlements);
    gathered.output.grants.extend(page.grants);
}

/// Runs one task and notes that a listing has succeeded.
async fn run_task(
    shared: &Shared,
    worker: &mut Worker,
    task: &Task,
) -> Result<PageRecord, Failure> {
    let page = run_task_once(shared, worker, task).await;
    if page.is_ok() {
        shared.listed.store(true, Ordering::Relaxed);
    }
    page
}

/// Runs one task, retrying its call as the retry policy allows.
async fn run_task_once(
    shared: &Shared,
    worker: &mut Worker,
    task: &Task,
) -> Result<PageRecord, Failure> {
    let description = task.describe();
    let listed = shared.listed.load(Ordering::Relaxed);
    match task {
        Task::Resources {
            resource_type,
            token,
        } => call_with_retries(shared, worker, &description, listed, |worker| {
            let (resource_type, token) = (resource_type.clone(), token.clone());
            Box::pin(async move {
                let calls = worker.instance.conductorone_connector_connector();
                calls
                    .call_list_resources(&mut worker.store, &resource_type, None, token.as_deref())
                    .await
            })
        })
        .await
        .map(PageRecord::from),
        Task::Entitlements { resource, token } => {
            let resource = types::Resource::from(resource);
            call_with_retries(shared, worker, &description, listed, |worker| {
                let (resource, token) = (resource.clone(), token.clone());
                Box::pin(async move {
                    let calls = worker.instance.conductorone_connector_connector();
                    calls
                        .call_list_entitlements(&mut worker.store, &resource, token.as_deref())
                        .await
                })
            })
            .await
            .map(PageRecord::from)
        }
        Task::Grants { resource, token } => {
            let resource = types::Resource::from(resource);
            call_with_retries(shared, worker, &description, listed, |worker| {
                let (resource, token) = (resource.clone(), token.clone());
                Box::pin(async move {
                    let calls = worker.instance.conductorone_connector_connector();
                    calls
                        .call_list_grants(&mut worker.store, &resource, token.as_deref())
                        .await
                })
            })
            .await
            .map(PageRecord::from)
        }
    }
}

type CallFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

/// Calls the component until the call succeeds, fails for good, or runs out of
/// attempts. `validated` is true once a listing has succeeded in this sync.
async fn call_with_retries<T>(
    shared: &Shared,
    worker: &mut Worker,
    description: &str,
    validated: bool,
    call: impl for<'w> Fn(&'w mut Worker) -> CallFuture<'w, Result<T, ConnectorError>>,
) -> Result<T, Failure> {
    let policy = shared.retry;
    let mut attempt = 1;
    loop {
        match guarded(shared, worker, description, &call).await? {
            Ok(value) => return Ok(value),
            Err(error)
                if attempt < policy.max_attempts && retry::is_retryable(&error, validated) =>
            {
                let wait = policy.delay(attempt, retry::requested_wait(&error));
                warn!(
                    call = description,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    cause = %message_of(&error),
                    "retrying after a failed call"
                );
                shared.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(error) => {
                // The component cannot know the host's flag, so the host names it.
                let hint = if message_of(&error).contains("response size limit") {
                    " (--max-response-mib)"
                } else {
                    ""
                };
                let attempts = if attempt > 1 {
                    format!(" (after {attempt} attempts)")
                } else {
                    String::new()
                };
                return Err(Failure::new(
                    kind_of(&error),
                    format!("{}{hint}{attempts}", message_of(&error)),
                ));
            }
        }
    }
}

/// Makes one call into the component under its deadline, and turns a trap into a failure
/// that names the sandbox limit when one was hit.
async fn guarded<T>(
    shared: &Shared,
    worker: &mut Worker,
    description: &str,
    call: impl for<'w> Fn(&'w mut Worker) -> CallFuture<'w, T>,
) -> Result<T, Failure> {
    guarded_with(shared.factory.limits, worker, description, call).await
}

/// Does what `guarded` does, with the limits given directly.
async fn guarded_with<T>(
    limits: GuestLimits,
    worker: &mut Worker,
    description: &str,
    call: impl for<'w> Fn(&'w mut Worker) -> CallFuture<'w, T>,
) -> Result<T, Failure> {
    let ticks = (limits.call_timeout.as_millis() as u64 * EPOCH_TICKS_PER_SECOND / 1000).max(1);
    worker.store.set_epoch_deadline(ticks);

    // The epoch deadline stops a component that computes too long. The timeout also
    // covers one that waits too long on the host, where epochs are not checked.
    let outcome =
        tokio::time::timeout(limits.call_timeout + Duration::from_secs(1), call(worker)).await;
    let result = match outcome {
        Ok(result) => result,
        Err(_) => {
            return Err(Failure::new(
                FailureKind::Internal,
                format!(
                    "failed to {description}: the component exceeded its time limit of {} s per \
                     call (--call-timeout)",
                    limits.call_timeout.as_secs_f64()
                ),
            ));
        }
    };

    result.map_err(|error| trap_failure(limits, &worker.store, description, &error))
}

/// Turns an error from inside the component into a failure that names the sandbox limit
/// and its flag when one was hit.
fn trap_failure(
    limits: GuestLimits,
    store: &Store<GuestState>,
    description: &str,
    error: &wasmtime::Error,
) -> Failure {
    let limit = store.data().limit_hit();
    let trap = error.downcast_ref::<wasmtime::Trap>().copied();
    let reason = match (limit, trap) {
        (Some(LimitHit::Memory), _) => format!(
            "the component exceeded its memory limit of {} MiB (--max-memory-mib)",
            limits.max_memory_bytes / (1024 * 1024)
        ),
        (Some(LimitHit::Stderr), _) => format!(
            "the component exceeded its stderr limit of {} KiB (--max-guest-stderr-kib)",
            limits.max_stderr_bytes / 1024
        ),
        (None, Some(wasmtime::Trap::Interrupt)) => format!(
            "the component exceeded its time limit of {} s per call (--call-timeout)",
            limits.call_timeout.as_secs_f64()
        ),
        _ => format!("the component trapped: {error:#}"),
    };
    Failure::new(
        FailureKind::Internal,
        format!("failed to {description}: {reason}"),
    )
}

/// Creates a new component instance.
async fn new_worker(shared: &Shared) -> Result<Worker, Failure> {
    let store = (shared.factory.new_store)();
    instantiate(&shared.factory.pre, store, shared.factory.limits).await
}

/// Instantiates the component in `store` under the per-call limits, because start-up code
/// runs inside the component too.
async fn instantiate(
    pre: &ConnectorComponentPre<GuestState>,
    mut store: Store<GuestState>,
    limits: GuestLimits,
) -> Result<Worker, Failure> {
    let ticks = (limits.call_timeout.as_millis() as u64 * EPOCH_TICKS_PER_SECOND / 1000).max(1);
    store.set_epoch_deadline(ticks);
    let started = tokio::time::timeout(
        limits.call_timeout + Duration::from_secs(1),
        pre.instantiate_async(&mut store),
    )
    .await;
    let instance = match started {
        Ok(Ok(instance)) => instance,
        Ok(Err(error)) => {
            return Err(trap_failure(limits, &store, "start the component", &error));
        }
        Err(_) => {
            return Err(Failure::new(
                FailureKind::Internal,
                format!(
                    "failed to start the component: it exceeded its time limit of {} s per \
                     call (--call-timeout)",
                    limits.call_timeout.as_secs_f64()
                ),
            ));
        }
    };
    Ok(Worker { store, instance })
}

/// Reads the component's metadata from a new instance in `store`, under the same limits
/// as every other call.
pub async fn read_metadata(
    pre: &ConnectorComponentPre<GuestState>,
    store: Store<GuestState>,
    limits: GuestLimits,
) -> Result<types::ConnectorMetadata, Failure> {
    let mut worker = instantiate(pre, store, limits).await?;
    guarded_with(
        limits,
        &mut worker,
        "read the component's metadata",
        |worker| {
            Box::pin(async move {
                let calls = worker.instance.conductorone_connector_connector();
                calls.call_metadata(&mut worker.store).await
            })
        },
    )
    .await
}

/// Returns the failure kind, and so the exit code, of a connector error.
fn kind_of(error: &ConnectorError) -> FailureKind {
    match error {
        ConnectorError::Unauthorized(_) | ConnectorError::Forbidden(_) => {
            FailureKind::Authentication
        }
        ConnectorError::InvalidConfiguration(_) => FailureKind::Configuration,
        ConnectorError::NotFound(_)
        | ConnectorError::RateLimited(_)
        | ConnectorError::UpstreamUnavailable(_)
        | ConnectorError::InvalidResponse(_) => FailureKind::Upstream,
        ConnectorError::InvalidArgument(_) | ConnectorError::Other(_) => FailureKind::Internal,
    }
}

/// Returns the message of a connector error.
pub fn message_of(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Unauthorized(message)
        | ConnectorError::Forbidden(message)
        | ConnectorError::NotFound(message)
        | ConnectorError::UpstreamUnavailable(message)
        | ConnectorError::InvalidResponse(message)
        | ConnectorError::InvalidConfiguration(message)
        | ConnectorError::InvalidArgument(message)
        | ConnectorError::Other(message) => message.clone(),
        ConnectorError::RateLimited(limit) => limit.message.clone(),
    }
}
