//! Benchmark of a whole sync: it starts the fake ActiveCampaign API on 127.0.0.1, runs the
//! real host binary against it, and prints each figure next to its target.
//!
//! Every sync is a separate host process with its own fresh fake server, so the fake's
//! request log and connection count belong to that one run. The compiled-code cache lives
//! in a temporary directory that starts empty, so the first run is a cold start and the
//! later ones are warm starts. Run `cargo bench --bench sync -- --help` for the flags;
//! BENCHMARKS.md at the repository root describes each scenario and a measured run.
//!
//! The figures are timings on whatever machine runs this, so nothing here fails a build:
//! a missed target prints `FAIL` in the table and the exit code stays 0. A sync that
//! fails, or a child process that has to be killed at its timeout, stops the benchmark
//! with exit code 1.

#[path = "sync/baseline.rs"]
mod baseline;
#[path = "sync/process.rs"]
mod process;
#[path = "sync/report.rs"]
mod report;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use activecampaign_fake::{Account, FakeServer, RecordedRequest};
use anyhow::{Context as _, bail, ensure};
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::process::Finished;
use crate::report::{Row, Verdict};

/// The host binary under test, built by Cargo before this benchmark.
const HOST: &str = env!("CARGO_BIN_EXE_baton-activecampaign");

/// Rows per page the connector requests, the API's maximum.
const PAGE_SIZE: u64 = 100;

/// The host's default `--concurrency`.
const HOST_DEFAULT_CONCURRENCY: u32 = 4;

/// Target of `rate-limit`: the paced sync's wall time over the floor's requests at the rate.
const RATE_LIMIT_SLACK: f64 = 1.05;

/// Target of `concurrency`: the parallel sync's wall time over the sequential one's.
const MAX_CONCURRENT_TO_SEQUENTIAL: f64 = 0.30;

/// Target of `sandbox`: the host's wall time over the native baseline's.
const MAX_HOST_TO_NATIVE: f64 = 1.5;

/// Target of `start`: spawn to first request with the compiled-code cache filled.
const MAX_WARM_START: Duration = Duration::from_millis(50);

/// Target of `memory`: peak RSS of the host process, in MiB.
const MAX_RSS_MIB: f64 = 100.0;

/// Measures a whole sync through the host binary against a local fake ActiveCampaign API.
#[derive(Parser, Debug)]
#[command(name = "sync-bench", max_term_width = 100)]
struct Options {
    /// Users in the generated account.
    #[arg(long, env = "SYNC_BENCH_USERS", default_value_t = 10_000)]
    users: usize,

    /// Groups in the generated account. Every user is in exactly one group.
    #[arg(long, env = "SYNC_BENCH_GROUPS", default_value_t = 100)]
    groups: usize,

    /// `--concurrency` of the parallel runs. The sequential runs use 1.
    #[arg(long, default_value_t = HOST_DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,

    /// Latency the fake adds to every response in the `concurrency` scenario, in ms.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,

    /// Requests per second the fake admits and the host paces to, in the `rate-limit`
    /// scenario.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=5))]
    rate_limit: u32,

    /// Warm runs in the local scenarios, host/baseline pairs in `sandbox`, and runs per
    /// account size in --scaling. The tables show medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    runs: u32,

    /// Run only these scenarios (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', conflicts_with = "skip")]
    only: Vec<Scenario>,

    /// Run every scenario except these (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    skip: Vec<Scenario>,

    /// Instead of the scenarios, run the unpaced sync for each account size in
    /// --scaling-users and print its time and peak RSS.
    #[arg(long)]
    scaling: bool,

    /// Account sizes, in users, of --scaling (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
    scaling_users: Vec<usize>,

    /// Keep the work directory, with each run's stderr, instead of deleting it at the end.
    #[arg(long)]
    keep: bool,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,

    /// Runs the native baseline against this base URL and exits (used by the benchmark
    /// itself, which starts the baseline as a child process).
    #[arg(long, hide = true, value_name = "URL")]
    baseline_child: Option<String>,
}

/// The scenarios, named as --only and --skip take them.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// Requests of an unpaced sync against the floor.
    Requests,
    /// Wall time of a sync paced to --rate-limit against a fake that enforces it.
    RateLimit,
    /// Parallel against sequential sync, with --latency-ms per response.
    Concurrency,
    /// Sequential sync through the host against the native baseline.
    Sandbox,
    /// Time from spawn to the first request, cold and warm.
    Start,
    /// Peak RSS of the host process.
    Memory,
    /// TCP connections opened against --concurrency.
    Connections,
}

impl Options {
    fn selected(&self, scenario: Scenario) -> bool {
        if self.only.is_empty() {
            !self.skip.contains(&scenario)
        } else {
            self.only.contains(&scenario)
        }
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    if let Some(base_url) = &options.baseline_child {
        return baseline::run_child(base_url);
    }

    let outcome = if options.scaling {
        run_scaling(&options)
    } else {
        run_scenarios(&options)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The host's request pacing in one run.
#[derive(Debug, Clone, Copy)]
enum Pacing {
    /// `--no-rate-limit`, which the host accepts for an API on 127.0.0.1 only.
    Unlimited,
    /// `--rate-limit N`.
    PerSecond(u32),
}

/// One measured host run.
struct HostRun {
    /// `--concurrency` of the run.
    concurrency: u32,
    /// Whether the host paced its requests.
    paced: bool,
    /// Whether the compiled-code cache was empty at the start.
    cold: bool,
    /// Time, exit and peak RSS of the process.
    finished: Finished,
    /// From just before the spawn to the fake's arrival time of the first request.
    first_request: Duration,
    /// Every request the fake received, in arrival order.
    requests: Vec<RecordedRequest>,
    /// TCP connections the fake accepted.
    connections: usize,
}

impl HostRun {
    /// Time from the first request's arrival to the last one's.
    fn request_span(&self) -> Duration {
        request_span(&self.requests)
    }
}

/// One measured run of the native baseline.
struct BaselineRun {
    finished: Finished,
    requests: Vec<RecordedRequest>,
}

/// Record counts of a complete sync of the account.
#[derive(Debug, Clone, Copy)]
struct Expected {
    resources: usize,
    entitlements: usize,
    grants: usize,
    memberships: usize,
}

/// The account under test, its request floor, and the temporary directory of the runs.
struct Bench {
    account: Account,
    floor: u64,
    expected: Expected,
    work: tempfile::TempDir,
    cache_dir: PathBuf,
    runs_started: usize,
}

impl Bench {
    /// Generates the account and creates an empty work directory and cache.
    fn new(users: usize, groups: usize) -> anyhow::Result<Bench> {
        let account = Account::generated(users, groups);
        let work = tempfile::Builder::new()
            .prefix("sync-bench-")
            .tempdir()
            .context("failed to create a temporary directory")?;
        let cache_dir = work.path().join("component-cache");
        Ok(Bench {
            floor: request_floor(&account),
            expected: expected_output(&account),
            account,
            work,
            cache_dir,
            runs_started: 0,
        })
    }

    /// Starts a fresh fake server for one run.
    fn serve(&self, latency: Duration, rate_limit: Option<u32>) -> FakeServer {
        let mut builder = FakeServer::builder(self.account.clone()).latency(latency);
        if let Some(per_second) = rate_limit {
            builder = builder.rate_limit(per_second);
        }
        builder.start()
    }

    /// Runs one sync through the host binary against `server` and checks its output.
    fn sync(
        &mut self,
        server: FakeServer,
        concurrency: u32,
        pacing: Pacing,
        expected_time: Duration,
    ) -> anyhow::Result<HostRun> {
        self.runs_started += 1;
        let run = self.runs_started;
        let output = self.work.path().join(format!("sync-{run}.json"));
        let stderr = self.work.path().join(format!("host-{run}.stderr"));
        let cold = !self.cache_dir.exists();

        let mut command = Command::new(HOST);
        command
            .arg("sync")
            .arg("--base-url")
            .arg(server.base_url())
            .arg("--output")
            .arg(&output)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .arg("--concurrency")
            .arg(concurrency.to_string());
        match pacing {
            Pacing::Unlimited => command.arg("--no-rate-limit"),
            Pacing::PerSecond(per_second) => {
                command.arg("--rate-limit").arg(per_second.to_string())
            }
        };
        for name in [
            "BATON_BASE_URL",
            "BATON_API_TOKEN",
            "BATON_LOG_LEVEL",
            "RUST_LOG",
        ] {
            command.env_remove(name);
        }
        command
            .env("BATON_API_TOKEN", server.api_token())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).context("failed to create the host's stderr file")?);

        let finished = process::run(&mut command, timeout_for(expected_time))
            .context("failed to run the host binary")?;
        let requests = server.requests();
        let connections = server.connections();
        drop(server);

        if !finished.succeeded() {
            bail!(
                "host run {run} ended with {:?}; its stderr:\n{}",
                finished.exit,
                tail(&stderr, 30)
            );
        }
        check_output(&output, self.expected).with_context(|| {
            format!("host run {run} wrote an incomplete `{}`", output.display())
        })?;
        std::fs::remove_file(&output).ok();

        let first_request = requests
            .first()
            .map(|request| {
                request
                    .received_at
                    .saturating_duration_since(finished.spawned_at)
            })
            .context("the host sent no request")?;
        let host_run = HostRun {
            concurrency,
            paced: matches!(pacing, Pacing::PerSecond(_)),
            cold,
            finished,
            first_request,
            requests,
            connections,
        };
        eprintln!(
            "  run {run}: --concurrency {concurrency} {}{}: {:.2} s ({:.2} s CPU), {} requests, \
             first after {:.1} ms, peak RSS {:.1} MiB, {} connections",
            match pacing {
                Pacing::Unlimited => "--no-rate-limit".to_owned(),
                Pacing::PerSecond(per_second) => format!("--rate-limit {per_second}"),
            },
            if cold { ", cold cache" } else { "" },
            finished.wall.as_secs_f64(),
            finished.cpu.as_secs_f64(),
            host_run.requests.len(),
            first_request.as_secs_f64() * 1000.0,
            mebibytes(finished.max_rss_bytes),
            connections,
        );
        Ok(host_run)
    }

    /// Runs the native baseline as a child process of this benchmark against `server`.
    fn baseline(&mut self, server: FakeServer) -> anyhow::Result<BaselineRun> {
        self.runs_started += 1;
        let run = self.runs_started;
        let stdout = self.work.path().join(format!("baseline-{run}.stdout"));
        let stderr = self.work.path().join(format!("baseline-{run}.stderr"));

        let mut command =
            Command::new(std::env::current_exe().context("failed to find this benchmark")?);
        command
            .arg("--baseline-child")
            .arg(server.base_url())
            .env("BATON_API_TOKEN", server.api_token())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout)?)
            .stderr(File::create(&stderr)?);
        let finished = process::run(&mut command, timeout_for(Duration::from_secs(10)))
            .context("failed to run the baseline")?;
        let requests = server.requests();
        drop(server);

        if !finished.succeeded() {
            bail!(
                "baseline run {run} ended with {:?}; its stderr:\n{}",
                finished.exit,
                tail(&stderr, 30)
            );
        }
        let counts: baseline::Counts = serde_json::from_str(&std::fs::read_to_string(&stdout)?)
            .context("the baseline printed no counts")?;
        ensure!(
            counts.users == self.account.users.len() as u64
                && counts.groups == self.account.groups.len() as u64
                && counts.memberships == self.expected.memberships as u64,
            "the baseline read {counts:?}, not the whole account"
        );
        eprintln!(
            "  run {run}: native baseline: {:.2} s ({:.2} s CPU), {} requests, peak RSS {:.1} MiB",
            finished.wall.as_secs_f64(),
            finished.cpu.as_secs_f64(),
            requests.len(),
            mebibytes(finished.max_rss_bytes),
        );
        Ok(BaselineRun { finished, requests })
    }
}

/// Runs the selected scenarios on one account and prints the table.
fn run_scenarios(options: &Options) -> anyhow::Result<()> {
    let mut bench = Bench::new(options.users, options.groups)?;
    let parallel = options.concurrency;
    let unpaced_estimate = Duration::from_millis(10 * bench.floor);
    println!(
        "Account: {} users, {} groups, {} memberships; request floor {}.",
        options.users, options.groups, bench.expected.memberships, bench.floor
    );
    println!("Host: {HOST}");
    println!(
        "Work directory and compiled-code cache: {}",
        bench.work.path().display()
    );

    // The first run finds the cache empty: it is the cold start, and it fills the cache.
    eprintln!("local runs (no latency, no rate limit):");
    let mut local = vec![bench.sync(
        bench.serve(Duration::ZERO, None),
        parallel,
        Pacing::Unlimited,
        unpaced_estimate,
    )?];
    let local_scenarios = [
        Scenario::Requests,
        Scenario::Start,
        Scenario::Memory,
        Scenario::Connections,
    ];
    if local_scenarios
        .iter()
        .any(|&scenario| options.selected(scenario))
    {
        for _ in 0..options.runs {
            local.push(bench.sync(
                bench.serve(Duration::ZERO, None),
                parallel,
                Pacing::Unlimited,
                unpaced_estimate,
            )?);
        }
    }

    // Host and baseline alternate, so that a noisy moment of the machine hits both.
    let mut sandbox = Vec::new();
    if options.selected(Scenario::Sandbox) {
        eprintln!("sandbox runs (host at --concurrency 1, then the native baseline):");
        for _ in 0..options.runs {
            let host = bench.sync(
                bench.serve(Duration::ZERO, None),
                1,
                Pacing::Unlimited,
                unpaced_estimate,
            )?;
            let native = bench.baseline(bench.serve(Duration::ZERO, None))?;
            sandbox.push((host, native));
        }
    }

    let latency = Duration::from_millis(options.latency_ms);
    let mut latency_runs = None;
    if options.selected(Scenario::Concurrency) {
        eprintln!(
            "latency runs ({} ms per response, no rate limit):",
            options.latency_ms
        );
        let sequential_estimate = latency * bench.floor as u32;
        let sequential = bench.sync(
            bench.serve(latency, None),
            1,
            Pacing::Unlimited,
            sequential_estimate,
        )?;
        let concurrent = bench.sync(
            bench.serve(latency, None),
            parallel,
            Pacing::Unlimited,
            sequential_estimate,
        )?;
        latency_runs = Some((sequential, concurrent));
    }

    let mut paced = None;
    if options.selected(Scenario::RateLimit) {
        eprintln!(
            "rate-limit run (the fake admits {0} requests per second, the host paces to {0}):",
            options.rate_limit
        );
        let estimate = Duration::from_secs_f64(bench.floor as f64 / options.rate_limit as f64);
        paced = Some(bench.sync(
            bench.serve(Duration::ZERO, Some(options.rate_limit)),
            parallel,
            Pacing::PerSecond(options.rate_limit),
            estimate,
        )?);
    }

    // Every run of this account, for the checks that hold in all of them.
    let all_runs: Vec<&HostRun> = local
        .iter()
        .chain(sandbox.iter().map(|(host, _)| host))
        .chain(
            latency_runs
                .iter()
                .flat_map(|(first, second)| [first, second]),
        )
        .chain(paced.iter())
        .collect();

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if options.selected(Scenario::Requests) {
        requests_row(&bench, &all_runs, &mut rows, &mut notes);
    }
    if let Some(run) = &paced {
        rate_limit_row(&bench, options, run, &mut rows, &mut notes);
    }
    if let Some((sequential, concurrent)) = &latency_runs {
        concurrency_row(options, sequential, concurrent, &mut rows, &mut notes);
    }
    if !sandbox.is_empty() {
        let parallel_warm: Vec<&HostRun> = local.iter().filter(|run| !run.cold).collect();
        sandbox_rows(&sandbox, &parallel_warm, &mut rows, &mut notes);
    }
    if options.selected(Scenario::Start) {
        start_rows(&local, &all_runs, &mut rows, &mut notes);
    }
    if options.selected(Scenario::Memory) {
        memory_row(&all_runs, &mut rows, &mut notes);
    }
    if options.selected(Scenario::Connections) {
        connections_row(&all_runs, &mut rows, &mut notes);
    }

    println!();
    report::print_table(&rows);
    println!();
    for note in &notes {
        println!("- {note}");
    }
    let missed = rows
        .iter()
        .filter(|row| row.verdict == Verdict::Fail)
        .count();
    println!();
    println!(
        "{missed} of {} targets missed.",
        rows.iter().filter(|row| row.ratio.is_some()).count()
    );
    if options.keep {
        println!("Kept {}", bench.work.keep().display());
    }
    Ok(())
}

/// Requests: every unpaced run sends exactly the floor, with no request per user and no
/// page twice. The paced run is left out because the host retries a request that got 429.
fn requests_row(bench: &Bench, runs: &[&HostRun], rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let unpaced: Vec<&&HostRun> = runs.iter().filter(|run| !run.paced).collect();
    let most = unpaced
        .iter()
        .map(|run| run.requests.len())
        .max()
        .unwrap_or(0);
    let fewest = unpaced
        .iter()
        .map(|run| run.requests.len())
        .min()
        .unwrap_or(0);
    let per_user: usize = unpaced
        .iter()
        .map(|run| per_user_requests(&run.requests))
        .sum();
    let repeated: usize = unpaced
        .iter()
        .map(|run| repeated_pages(&run.requests))
        .sum();

    let mut row = Row::at_most(
        format!("requests, floor {}", bench.floor),
        most as f64,
        bench.floor as f64,
        report::count,
    );
    row.target = format!("= {}", bench.floor);
    if fewest as u64 != bench.floor || per_user > 0 || repeated > 0 {
        row.verdict = Verdict::Fail;
    }
    rows.push(row);
    notes.push(format!(
        "requests: {} unpaced runs sent {fewest} to {most} requests; {per_user} per-user \
         requests and {repeated} repeated pages in all of them. Floor = 1 users/me + \
         ceil(users/100) + ceil(groups/100) + sum over groups of ceil(members/100), where an \
         empty listing still takes 1 request.",
        unpaced.len()
    ));
}

/// Rate limit: wall time of the paced sync against `RATE_LIMIT_SLACK` times the floor at
/// the rate.
fn rate_limit_row(
    bench: &Bench,
    options: &Options,
    run: &HostRun,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let ideal = bench.floor as f64 / options.rate_limit as f64;
    rows.push(Row::at_most(
        format!("sync at {} req/s, wall time", options.rate_limit),
        run.finished.wall.as_secs_f64(),
        RATE_LIMIT_SLACK * ideal,
        report::seconds,
    ));
    let rejected = run
        .requests
        .iter()
        .filter(|request| request.status == 429)
        .count();
    notes.push(format!(
        "rate limit: host at --rate-limit {0} --concurrency {1}, fake admitting {0} requests \
         per rolling second; wall time from spawn to exit {2:.2} s against floor/rate = \
         {ideal:.2} s; {3} requests, {rejected} answered 429; first to last request {4:.2} s.",
        options.rate_limit,
        run.concurrency,
        run.finished.wall.as_secs_f64(),
        run.requests.len(),
        run.request_span().as_secs_f64(),
    ));
}

/// Concurrency: the parallel sync's wall time over the sequential one's, with latency.
fn concurrency_row(
    options: &Options,
    sequential: &HostRun,
    concurrent: &HostRun,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let ratio = concurrent.finished.wall.as_secs_f64() / sequential.finished.wall.as_secs_f64();
    rows.push(Row::at_most(
        format!(
            "--concurrency {} / 1, {} ms latency",
            concurrent.concurrency, options.latency_ms
        ),
        ratio,
        MAX_CONCURRENT_TO_SEQUENTIAL,
        report::times,
    ));
    notes.push(format!(
        "concurrency: fake adds {} ms to every response, no rate limit; --concurrency {} \
         took {:.2} s, --concurrency 1 took {:.2} s (spawn to exit).",
        options.latency_ms,
        concurrent.concurrency,
        concurrent.finished.wall.as_secs_f64(),
        sequential.finished.wall.as_secs_f64(),
    ));
}

/// Sandbox cost: the host at `--concurrency 1` against the sequential native baseline,
/// both as whole processes, medians of the pairs. The warm unpaced runs at the parallel
/// setting are shown against the same baseline for information.
fn sandbox_rows(
    pairs: &[(HostRun, BaselineRun)],
    parallel: &[&HostRun],
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let host_walls: Vec<Duration> = pairs.iter().map(|(host, _)| host.finished.wall).collect();
    let native_walls: Vec<Duration> = pairs
        .iter()
        .map(|(_, native)| native.finished.wall)
        .collect();
    let host_spans: Vec<Duration> = pairs.iter().map(|(host, _)| host.request_span()).collect();
    let native_spans: Vec<Duration> = pairs
        .iter()
        .map(|(_, native)| request_span(&native.requests))
        .collect();
    let host_wall = report::median(&host_walls);
    let native_wall = report::median(&native_walls);
    let host_span = report::median(&host_spans);
    let native_span = report::median(&native_spans);
    let host_cpus: Vec<Duration> = pairs.iter().map(|(host, _)| host.finished.cpu).collect();
    let native_cpus: Vec<Duration> = pairs
        .iter()
        .map(|(_, native)| native.finished.cpu)
        .collect();

    rows.push(Row::at_most(
        "sandbox: host --concurrency 1 / native",
        host_wall.as_secs_f64() / native_wall.as_secs_f64(),
        MAX_HOST_TO_NATIVE,
        report::times,
    ));
    rows.push(Row::info(
        "  same, first to last request only",
        report::times(host_span.as_secs_f64() / native_span.as_secs_f64()),
    ));
    let parallel_walls: Vec<Duration> = parallel.iter().map(|run| run.finished.wall).collect();
    if let Some(run) = parallel.first() {
        rows.push(Row::info(
            format!("  host --concurrency {} / native", run.concurrency),
            report::times(
                report::median(&parallel_walls).as_secs_f64() / native_wall.as_secs_f64(),
            ),
        ));
    }

    let same_order = pairs.iter().all(|(host, native)| {
        let pages = |requests: &[RecordedRequest]| -> Vec<(String, String)> {
            requests
                .iter()
                .map(|request| (request.path.clone(), request.query.clone()))
                .collect()
        };
        pages(&host.requests) == pages(&native.requests)
    });
    notes.push(format!(
        "sandbox cost: both sequential (host --concurrency 1, no rate limit, warm cache), \
         because the baseline fetches one page at a time; medians of {} alternating pairs. \
         Spawn to exit: host {:.3} s, native {:.3} s. First to last request: host {:.3} s, \
         native {:.3} s. CPU time (user + system): host {:.3} s, native {:.3} s. Same \
         requests in the same order: {}.",
        pairs.len(),
        host_wall.as_secs_f64(),
        native_wall.as_secs_f64(),
        host_span.as_secs_f64(),
        native_span.as_secs_f64(),
        report::median(&host_cpus).as_secs_f64(),
        report::median(&native_cpus).as_secs_f64(),
        if same_order { "yes" } else { "NO" },
    ));
}

/// Start: from just before the spawn to the first request's arrival, cold and warm.
fn start_rows(local: &[HostRun], runs: &[&HostRun], rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    if let Some(cold) = local.iter().find(|run| run.cold) {
        rows.push(Row::info(
            "cold start, first request",
            report::milliseconds(cold.first_request.as_secs_f64() * 1000.0),
        ));
    }
    let warm: Vec<Duration> = runs
        .iter()
        .filter(|run| !run.cold)
        .map(|run| run.first_request)
        .collect();
    if warm.is_empty() {
        return;
    }
    let second = local.get(1).map(|run| run.first_request);
    rows.push(Row::at_most(
        "warm start, first request (median)",
        report::median(&warm).as_secs_f64() * 1000.0,
        MAX_WARM_START.as_secs_f64() * 1000.0,
        report::milliseconds,
    ));
    notes.push(format!(
        "start: Instant taken just before spawning the host to the fake's arrival time of \
         the first request (GET /api/3/users/me). Warm figure = median of {} runs with the \
         cache filled: {}; the second run of all: {}; slowest {:.1} ms.",
        warm.len(),
        report::list_ms(&warm),
        second.map_or("-".to_owned(), |value| format!(
            "{:.1} ms",
            value.as_secs_f64() * 1000.0
        )),
        warm.iter().max().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    ));
}

/// Memory: the largest peak RSS of any host run of this account.
fn memory_row(runs: &[&HostRun], rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let Some(worst) = runs.iter().max_by_key(|run| run.finished.max_rss_bytes) else {
        return;
    };
    rows.push(Row::at_most(
        "peak RSS of the host",
        worst.finished.max_rss_bytes as f64 / (1024.0 * 1024.0),
        MAX_RSS_MIB,
        report::mebibytes,
    ));
    let warm = runs
        .iter()
        .filter(|run| !run.cold)
        .map(|run| run.finished.max_rss_bytes)
        .max();
    notes.push(format!(
        "memory: ru_maxrss from wait4 on each host process; the largest of {} runs, at \
         --concurrency {}{}. With the compiled-code cache filled, the largest is {}.",
        runs.len(),
        worst.concurrency,
        if worst.cold {
            ", with an empty cache, so it includes compiling the component"
        } else {
            ""
        },
        warm.map_or("-".to_owned(), |bytes| report::mebibytes(mebibytes(bytes))),
    ));
}

/// Connections: in every run, the TCP connections the fake accepted against the run's
/// `--concurrency`.
fn connections_row(runs: &[&HostRun], rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let Some(worst) = runs.iter().max_by(|left, right| {
        let share = |run: &&&HostRun| run.connections as f64 / run.concurrency as f64;
        share(left).total_cmp(&share(right))
    }) else {
        return;
    };
    rows.push(Row::at_most(
        format!(
            "connections, worst run (--concurrency {})",
            worst.concurrency
        ),
        worst.connections as f64,
        worst.concurrency as f64,
        report::count,
    ));
    let each: Vec<String> = runs
        .iter()
        .map(|run| format!("{}/{}", run.connections, run.concurrency))
        .collect();
    notes.push(format!(
        "connections: accepted by the fake / --concurrency, per run: {}.",
        each.join(", ")
    ));
}

/// Runs the unpaced sync for each account size and prints time and peak RSS.
fn run_scaling(options: &Options) -> anyhow::Result<()> {
    let mut results = Vec::new();
    let mut cache_dir: Option<PathBuf> = None;
    let mut work_dirs = Vec::new();
    let mut runs_started = 0;
    for &users in &options.scaling_users {
        let mut bench = Bench::new(users, options.groups)?;
        bench.runs_started = runs_started;
        let estimate = Duration::from_millis(10 * bench.floor);
        if let Some(shared) = &cache_dir {
            bench.cache_dir = shared.clone();
        } else {
            // One cold run fills the cache, so every size below is timed with it warm.
            cache_dir = Some(bench.cache_dir.clone());
            eprintln!("warm-up run with an empty cache ({users} users):");
            let server = bench.serve(Duration::ZERO, None);
            bench.sync(server, options.concurrency, Pacing::Unlimited, estimate)?;
        }

        eprintln!("{users} users, {} groups:", options.groups);
        let mut runs = Vec::new();
        for _ in 0..options.runs {
            let server = bench.serve(Duration::ZERO, None);
            runs.push(bench.sync(server, options.concurrency, Pacing::Unlimited, estimate)?);
        }
        runs_started = bench.runs_started;
        results.push((users, bench.floor, runs));
        work_dirs.push(bench.work);
    }

    println!();
    println!(
        "Unpaced sync, --concurrency {}, {} groups, fake on 127.0.0.1 without latency; \
         medians of {} runs, peak RSS the largest:",
        options.concurrency, options.groups, options.runs
    );
    println!();
    println!("| users | requests | floor | wall time | CPU time | peak RSS | connections |");
    println!("|---|---|---|---|---|---|---|");
    for (users, floor, runs) in &results {
        let walls: Vec<Duration> = runs.iter().map(|run| run.finished.wall).collect();
        let cpus: Vec<Duration> = runs.iter().map(|run| run.finished.cpu).collect();
        let requests = runs.iter().map(|run| run.requests.len()).max().unwrap_or(0);
        let rss = runs
            .iter()
            .map(|run| run.finished.max_rss_bytes)
            .max()
            .unwrap_or(0);
        let connections = runs.iter().map(|run| run.connections).max().unwrap_or(0);
        println!(
            "| {users} | {requests} | {floor} | {:.2} s | {:.2} s | {:.1} MiB | {connections} |",
            report::median(&walls).as_secs_f64(),
            report::median(&cpus).as_secs_f64(),
            mebibytes(rss),
        );
    }
    Ok(())
}

/// Returns the fewest requests that can sync `account`: users/me, then each listing's
/// pages of 100, where an empty listing still takes one request to learn that it is empty.
fn request_floor(account: &Account) -> u64 {
    let pages = |rows: usize| (rows as u64).div_ceil(PAGE_SIZE).max(1);
    let memberships: u64 = account
        .groups
        .iter()
        .map(|group| pages(account.members_of(group.id).len()))
        .sum();
    1 + pages(account.users.len()) + pages(account.groups.len()) + memberships
}

/// Returns the record counts a complete sync of `account` writes: admin groups carry an
/// `admin` entitlement and grant each member it, on top of `member`.
fn expected_output(account: &Account) -> Expected {
    let mut expected = Expected {
        resources: account.users.len() + account.groups.len(),
        entitlements: 0,
        grants: 0,
        memberships: 0,
    };
    for group in &account.groups {
        let slugs = if group.admin { 2 } else { 1 };
        let members = account.members_of(group.id).len();
        expected.entitlements += slugs;
        expected.grants += slugs * members;
        expected.memberships += members;
    }
    expected
}

/// Checks the record counts of a sync's output file.
fn check_output(path: &Path, expected: Expected) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Lists {
        resources: Vec<IgnoredAny>,
        entitlements: Vec<IgnoredAny>,
        grants: Vec<IgnoredAny>,
    }
    let file = File::open(path).context("the output file is missing")?;
    let lists: Lists = serde_json::from_reader(std::io::BufReader::new(file))
        .context("the output file is not a sync")?;
    let found = (
        lists.resources.len(),
        lists.entitlements.len(),
        lists.grants.len(),
    );
    let wanted = (expected.resources, expected.entitlements, expected.grants);
    ensure!(
        found == wanted,
        "(resources, entitlements, grants) are {found:?}, expected {wanted:?}"
    );
    Ok(())
}

/// Counts requests for one user, such as `/api/3/users/7`. `/api/3/users/me` is not one.
fn per_user_requests(requests: &[RecordedRequest]) -> usize {
    requests
        .iter()
        .filter(|request| {
            request
                .path
                .strip_prefix("/api/3/users/")
                .is_some_and(|rest| rest != "me")
        })
        .count()
}

/// Counts requests for a page (path and query) that an earlier request already fetched.
fn repeated_pages(requests: &[RecordedRequest]) -> usize {
    let mut seen = HashSet::new();
    requests
        .iter()
        .filter(|request| !seen.insert((request.path.as_str(), request.query.as_str())))
        .count()
}

/// Time from the first request's arrival to the last one's.
fn request_span(requests: &[RecordedRequest]) -> Duration {
    match (requests.first(), requests.last()) {
        (Some(first), Some(last)) => last.received_at - first.received_at,
        _ => Duration::ZERO,
    }
}

/// Gives a child process three times its expected time plus a minute before it is killed.
fn timeout_for(expected: Duration) -> Duration {
    expected * 3 + Duration::from_secs(60)
}

fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Returns the last `lines` lines of a text file, for error messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
