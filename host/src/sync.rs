//! The `sync` command: credentials, sandbox, driver, checks, output and summary.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::HeaderName;
use tracing::{info, warn};

use crate::check;
use crate::checkpoint::{self, CheckpointSettings, Journal};
use crate::cli::SyncArgs;
use crate::component;
use crate::demo::{self, Demo};
use crate::driver::{self, DriverOptions, InstanceFactory};
use crate::exit::{Failure, FailureKind};
use crate::origin::Origin;
use crate::outbound::{OutboundPolicy, RequestLimits, TrafficStats};
use crate::output::{self, SyncOutput};
use crate::rate_limit::RateLimiter;
use crate::retry::RetryPolicy;
use crate::sandbox::{self, EPOCH_TICKS_PER_SECOND, GuestLimits};
use crate::secret::ApiToken;

/// Figures of a finished sync, printed on stderr.
pub struct Summary {
    /// The API origin synced.
    pub origin: String,
    /// Whether it was the built-in demo account.
    pub demo: bool,
    /// The file written.
    pub output: std::path::PathBuf,
    /// Resources per type, in the order the connector declares its types.
    pub resources: Vec<(String, usize)>,
    /// Entitlements written.
    pub entitlements: usize,
    /// Grants written.
    pub grants: usize,
    /// Requests sent to the API.
    pub requests: u64,
    /// Calls tried again.
    pub retries: u64,
    /// Responses with status 429.
    pub rate_limited: u64,
    /// Repeated records dropped.
    pub duplicates_removed: usize,
    /// Pages taken from the checkpoint of an interrupted run.
    pub pages_resumed: u64,
    /// Time from start to the file written.
    pub elapsed: Duration,
}

impl Summary {
    /// Prints the summary to stderr.
    pub fn print(&self) {
        let account = if self.demo {
            "the demo account"
        } else {
            "the account"
        };
        eprintln!();
        eprintln!(
            "Synced {account} at {} in {:.1} s",
            self.origin,
            self.elapsed.as_secs_f64()
        );
        for (resource_type, count) in &self.resources {
            eprintln!("  {:<20}{count:>8}", format!("{resource_type} resources"));
        }
        eprintln!("  {:<20}{:>8}", "entitlements", self.entitlements);
        eprintln!("  {:<20}{:>8}", "grants", self.grants);
        eprintln!(
            "  {:<20}{:>8}  ({} retried, {} rate limited)",
            "requests", self.requests, self.retries, self.rate_limited
        );
        if self.pages_resumed > 0 {
            eprintln!("  {:<20}{:>8}", "pages resumed", self.pages_resumed);
        }
        if self.duplicates_removed > 0 {
            eprintln!(
                "  {:<20}{:>8}",
                "duplicates removed", self.duplicates_removed
            );
        }
        eprintln!("Wrote {}", self.output.display());
    }
}

/// Runs the `sync` command.
pub async fn run(args: SyncArgs) -> Result<Summary, Failure> {
    let started = Instant::now();

    // Credentials first, so that a missing one fails before any work.
    let (base_url, token, demo) = credentials(&args)?;
    let origin = Origin::from_base_url(&base_url)?;
    if args.no_rate_limit && !origin.is_loopback() {
        return Err(Failure::new(
            FailureKind::Configuration,
            "--no-rate-limit is accepted only for an API on this machine; ActiveCampaign allows \
             5 requests per second, use --rate-limit to go lower",
        ));
    }
    check_output_path(&args.output)?;
    if demo.is_some() {
        eprintln!(
            "No credentials given: syncing the built-in DEMO account served on {base_url}.\n\
             To sync a real account, set --base-url and --api-token-file (or BATON_BASE_URL \
             and BATON_API_TOKEN)."
        );
    }

    let engine = component::engine()
        .map_err(|error| Failure::new(FailureKind::Internal, format!("{error:#}")))?;
    let _ticker = EpochTicker::start(&engine);
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(component::default_cache_dir)
    };
    let loaded = component::load(&engine, args.component.as_deref(), cache_dir.as_deref())
        .map_err(|error| Failure::new(FailureKind::Configuration, format!("{error:#}")))?;
    info!(digest = %&loaded.digest[..12], "loaded the connector component");

    let limits = GuestLimits {
        max_memory_bytes: (args.max_memory_mib.max(1) * 1024 * 1024) as usize,
        call_timeout: seconds("--call-timeout", args.call_timeout)?,
        max_stderr_bytes: (args.max_guest_stderr_kib * 1024) as usize,
    };
    let request_limits = RequestLimits {
        connect_timeout: seconds("--connect-timeout", args.connect_timeout)?,
        first_byte_timeout: seconds("--first-byte-timeout", args.first_byte_timeout)?,
        between_bytes_timeout: seconds("--between-bytes-timeout", args.between_bytes_timeout)?,
        max_body_bytes: args.max_response_mib.max(1) * 1024 * 1024,
    };
    let limiter = Arc::new(RateLimiter::new(
        (!args.no_rate_limit).then_some(args.rate_limit),
    ));
    let stats = Arc::new(TrafficStats::default());
    let policy = |auth| {
        OutboundPolicy::new(
            origin.clone(),
            auth,
            Arc::clone(&limiter),
            request_limits,
            Arc::clone(&stats),
        )
        .map(Arc::new)
        .map_err(Failure::internal)
    };

    // Ask the component how it authenticates, from an instance that has no secret.
    let metadata = driver::read_metadata(
        &loaded.pre,
        sandbox::store(&engine, policy(None)?, &[], limits),
        limits,
    )
    .await?;
    let mut settings = vec![("base-url".to_owned(), base_url.clone())];
    let auth = match &metadata.auth {
        Some(auth) => {
            let header = HeaderName::from_bytes(auth.header.as_bytes()).map_err(|_| {
                Failure::new(
                    FailureKind::Internal,
                    format!(
                        "the component names an invalid auth header `{}`",
                        auth.header
                    ),
                )
            })?;
            Some((header, token))
        }
        None => {
            warn!("the component does not declare header auth, so it receives the token as config");
            settings.push(("api-token".to_owned(), token.expose().to_owned()));
            None
        }
    };
    let policy = policy(auth)?;

    let factory = InstanceFactory {
        pre: loaded.pre.clone(),
        new_store: Box::new({
            let engine = engine.clone();
            move || sandbox::store(&engine, Arc::clone(&policy), &settings, limits)
        }),
        limits,
    };
    let options = DriverOptions {
        concurrency: args.concurrency as usize,
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            base_delay: Duration::from_millis(args.retry_base_ms),
            max_delay: Duration::from_secs(30),
        },
    };
    // Record progress next to the output after every page, or pick up where an
    // interrupted run stopped.
    let checkpoint_path = checkpoint::path_for(&args.output);
    // The demo serves the same account on a new port each run, so its checkpoints are
    // keyed on the demo itself rather than on the port.
    let checkpoint_origin = if demo.is_some() {
        "the built-in demo account".to_owned()
    } else {
        origin.to_string()
    };
    let checkpoint_settings = CheckpointSettings::new(checkpoint_origin, loaded.digest.clone());
    let (mut journal, resumed) = if args.resume {
        Journal::resume(&checkpoint_path, &checkpoint_settings)?
    } else {
        if checkpoint_path.exists() {
            warn!(
                checkpoint = %checkpoint_path.display(),
                "starting over; an interrupted sync's checkpoint is replaced (pass --resume to continue it)"
            );
        }
        (
            Journal::create(&checkpoint_path, &checkpoint_settings),
            Vec::new(),
        )
    };

    // Ctrl-C stops the sync between pages' disk writes; the checkpoint stays usable.
    let outcome = tokio::select! {
        outcome = driver::run(factory, options, &mut journal, resumed) => outcome,
        _ = tokio::signal::ctrl_c() => Err(Failure::new(FailureKind::Interrupted, "interrupted")),
    };
    let mut gathered = match outcome {
        Ok(gathered) => gathered,
        Err(mut failure) => {
            if journal.has_pages() {
                failure.message.push_str(&format!(
                    "\nProgress is saved in `{}`: fix the cause and run the same command with \
                     --resume to continue.",
                    checkpoint_path.display()
                ));
            }
            return Err(failure);
        }
    };

    // Publish only a complete, consistent output.
    let mut output: SyncOutput = std::mem::take(&mut gathered.output);
    let cleanup = output.finish();
    let problems = check::problems(&output, &gathered);
    if !problems.is_empty() {
        // Resuming would replay the same inconsistent pages, so the checkpoint goes too.
        journal.remove()?;
        return Err(Failure::new(
            FailureKind::Upstream,
            format!(
                "the synced data is inconsistent, so `{}` was not written:\n  - {}",
                args.output.display(),
                problems.join("\n  - ")
            ),
        ));
    }
    output::write_atomically(&args.output, &output).map_err(|error| {
        Failure::new(
            FailureKind::Internal,
            format!("failed to write `{}`: {error:#}", args.output.display()),
        )
    })?;
    journal.remove()?;

    Ok(Summary {
        origin: origin.to_string(),
        demo: demo.is_some(),
        output: args.output.clone(),
        resources: {
            let counts = output.count_by_type();
            output
                .resource_types
                .iter()
                .map(|resource_type| {
                    let count = counts.get(&resource_type.id).copied().unwrap_or(0);
                    (resource_type.id.clone(), count)
                })
                .collect()
        },
        entitlements: output.entitlements.len(),
        grants: output.grants.len(),
        requests: stats.requests.load(Ordering::Relaxed),
        retries: gathered.retries,
        rate_limited: stats.rate_limited.load(Ordering::Relaxed),
        duplicates_removed: cleanup.duplicates_removed,
        pages_resumed: gathered.pages_resumed,
        elapsed: started.elapsed(),
    })
}

/// Returns the base URL and token to use: both given, or neither for the demo account.
fn credentials(args: &SyncArgs) -> Result<(String, ApiToken, Option<Demo>), Failure> {
    let token = match (&args.api_token_file, &args.api_token) {
        (Some(path), _) => Some(ApiToken::from_file(path)?),
        (None, Some(token)) => Some(ApiToken::new(
            token.clone(),
            "--api-token or BATON_API_TOKEN",
        )?),
        (None, None) => None,
    };
    let base_url = args.base_url.clone().filter(|url| !url.trim().is_empty());

    match (base_url, token) {
        (Some(base_url), Some(token)) => Ok((base_url, token, None)),
        (None, None) => {
            let demo = demo::start()?;
            let base_url = demo.server.base_url();
            let token = demo.token.clone();
            Ok((base_url, token, Some(demo)))
        }
        (Some(_), None) => Err(Failure::new(
            FailureKind::Configuration,
            "missing API token: pass --api-token-file PATH (or BATON_API_TOKEN) with the token \
             of an account admin, from Settings > Developer",
        )),
        (None, Some(_)) => Err(Failure::new(
            FailureKind::Configuration,
            "missing base URL: pass --base-url (or BATON_BASE_URL) with the account's API Access \
             URL from Settings > Developer, such as https://myaccount.api-us1.com",
        )),
    }
}

/// Fails early, before any request, when the output cannot be written: the path is a
/// directory, a link or a device rather than a regular file, or its directory does not
/// exist or is not writable.
fn check_output_path(path: &Path) -> Result<(), Failure> {
    let invalid = |reason: String| Failure::new(FailureKind::Configuration, reason);
    let shown = path.display();

    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if metadata.is_dir() {
            return Err(invalid(format!(
                "--output `{shown}` is a directory; name a file, such as `{shown}/sync.json`"
            )));
        }
        // The output replaces the file by renaming over it, which would replace a link or
        // a device such as /dev/null with a regular file.
        if !metadata.is_file() {
            return Err(invalid(format!(
                "--output `{shown}` exists and is not a regular file (a link, device or pipe); \
                 name a regular file"
            )));
        }
    }

    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !directory.is_dir() {
        return Err(invalid(format!(
            "the directory of --output `{shown}` does not exist; create it first"
        )));
    }
    if let Err(error) = tempfile::Builder::new()
        .prefix(".sync-probe-")
        .tempfile_in(directory)
    {
        return Err(invalid(format!(
            "cannot write files in `{}`, the directory of --output `{shown}`: {error}; choose \
             a writable directory",
            directory.display()
        )));
    }
    Ok(())
}

fn seconds(flag: &str, value: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| {
            Failure::new(
                FailureKind::Configuration,
                format!("{flag} `{value}` is invalid; give a number of seconds above 0"),
            )
        })
}

/// Advances the engine's epoch at a fixed rate, so per-call deadlines can fire.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &wasmtime::Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            let tick = Duration::from_millis(1000 / EPOCH_TICKS_PER_SECOND);
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        });
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
