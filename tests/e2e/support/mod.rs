//! Helpers shared by the end-to-end tests: run the real host binary, with the real
//! component, against a fake ActiveCampaign API on 127.0.0.1.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

// Each test binary uses a different part of these re-exports.
#[allow(unused_imports)]
pub use activecampaign_fake::{
    Account, FakeServer, Fault, FaultAction, FaultWhen, Mutation, TotalForm, User,
};

/// The token every fake server in these tests accepts.
pub const TOKEN: &str = "test-token-9f3a6c1e7b2d";

/// Path of the host binary under test.
pub fn host_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_baton-activecampaign"))
}

/// Path of the connector component the host embeds.
pub fn connector_component() -> PathBuf {
    PathBuf::from(env!("CONNECTOR_COMPONENT_PATH"))
}

/// Compiled-component cache shared by the tests, so each compiles the component once.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// Starts a fake API serving `account` with the test token.
pub fn serve(account: Account) -> FakeServer {
    FakeServer::builder(account).api_token(TOKEN).start()
}

/// Builds a `sync` command against `server`, writing into `directory`, without pacing
/// (the fake is local) and with the token in the environment. Add flags before running it.
pub fn sync_command(server: &FakeServer, directory: &Path) -> Command {
    sync_command_for_url(&server.base_url(), directory)
}

/// Builds a `sync` command for `base_url` with the test token, output in `directory`, the
/// shared cache and short retry waits, but no pacing flag.
fn base_command(base_url: &str, directory: &Path) -> Command {
    let mut command = Command::new(host_binary());
    command
        .arg("sync")
        .arg("--base-url")
        .arg(base_url)
        .arg("--output")
        .arg(directory.join("sync.json"))
        .arg("--cache-dir")
        .arg(cache_dir())
        .arg("--retry-base-ms")
        .arg("20");
    clear_environment(&mut command);
    command.env("BATON_API_TOKEN", TOKEN);
    command
}

/// Removes settings this process may have inherited, so each test states its own.
pub fn clear_environment(command: &mut Command) {
    for name in [
        "BATON_BASE_URL",
        "BATON_API_TOKEN",
        "BATON_LOG_LEVEL",
        "RUST_LOG",
    ] {
        command.env_remove(name);
    }
}

/// What one run of the host produced.
pub struct SyncRun {
    /// Exit status code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The output file, parsed, if one was written.
    pub output: Option<Value>,
}

impl SyncRun {
    /// Runs `command`, writing into `directory`, and reads the output file.
    pub fn run(mut command: Command, directory: &Path) -> SyncRun {
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().expect("failed to start the host binary");
        let path = directory.join("sync.json");
        let output = path.exists().then(|| {
            let text = std::fs::read_to_string(&path).expect("read sync.json");
            serde_json::from_str(&text).expect("sync.json is JSON")
        });
        SyncRun {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            output,
        }
    }

    /// Returns the output, failing the test with the host's stderr when there is none.
    pub fn output(&self) -> &Value {
        match &self.output {
            Some(output) => output,
            None => panic!(
                "no output file; exit {:?}, stderr:\n{}",
                self.code, self.stderr
            ),
        }
    }

    /// Asserts the run succeeded, showing stderr when it did not.
    pub fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "sync failed; stderr:\n{}", self.stderr);
    }
}

/// Syncs `server` into a new temporary directory with `extra` flags.
pub fn sync(server: &FakeServer, extra: &[&str]) -> (tempfile::TempDir, SyncRun) {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut command = sync_command(server, directory.path());
    command.args(extra);
    let run = SyncRun::run(command, directory.path());
    (directory, run)
}

/// Returns the ids of `kind` (`resources`, `entitlements` or `grants`) in output order.
/// Resources are written as `type:id`.
pub fn ids(output: &Value, kind: &str) -> Vec<String> {
    output[kind]
        .as_array()
        .unwrap_or_else(|| panic!("`{kind}` is not an array"))
        .iter()
        .map(|record| match kind {
            "resources" => format!(
                "{}:{}",
                record["id"]["resource_type"]
                    .as_str()
                    .expect("resource_type"),
                record["id"]["resource"].as_str().expect("resource")
            ),
            _ => record["id"].as_str().expect("id").to_owned(),
        })
        .collect()
}

/// Returns the ids a sync of `account` must produce, computed from the account itself:
/// (resources, entitlements, grants), each sorted as the host sorts them.
pub fn expected_ids(account: &Account) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut users: Vec<u64> = account.users.iter().map(|user| user.id).collect();
    users.sort_unstable();
    let mut groups: Vec<u64> = account.groups.iter().map(|group| group.id).collect();
    groups.sort_unstable();

    let mut resources: Vec<String> = users.iter().map(|id| format!("user:{id}")).collect();
    resources.extend(groups.iter().map(|id| format!("group:{id}")));

    let mut entitlements = Vec::new();
    let mut grants = Vec::new();
    for &group_id in &groups {
        let group = account.group(group_id).expect("group");
        let mut slugs = vec![];
        if group.admin {
            slugs.push("admin");
        }
        slugs.push("member");
        for slug in &slugs {
            entitlements.push(format!("group:{group_id}:{slug}"));
        }
        let mut members: Vec<u64> = account
            .memberships
            .iter()
            .filter(|membership| membership.group_id == group_id)
            .map(|membership| membership.user_id)
            .collect();
        members.sort_unstable();
        members.dedup();
        for slug in &slugs {
            for user_id in &members {
                grants.push(format!("group:{group_id}:{slug}:user:{user_id}"));
            }
        }
    }
    (resources, entitlements, grants)
}

/// Builds a `sync` command like [`sync_command`] but paced by the host's rate limiter, so
/// the default of 5 requests per second, or a `--rate-limit` flag added later, applies.
pub fn paced_sync_command(server: &FakeServer, directory: &Path) -> Command {
    base_command(&server.base_url(), directory)
}

/// Returns the numbers on the summary line that starts with `label` on stderr, such as
/// `[8, 0, 0]` for `requests 8 (0 retried, 0 rate limited)`, or `None` without that line.
pub fn summary_numbers(stderr: &str, label: &str) -> Option<Vec<u64>> {
    let line = stderr.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(label)?;
        rest.starts_with(' ').then_some(rest)
    })?;
    Some(
        line.split(|c: char| !c.is_ascii_digit())
            .filter(|part| !part.is_empty())
            .map(|part| part.parse().expect("a number"))
            .collect(),
    )
}

/// Returns how many list pages of `rows` rows a sync needs at 100 rows a page: one for
/// an empty list, which still takes a request to find out.
pub fn pages_for(rows: usize) -> usize {
    rows.div_ceil(100).max(1)
}

/// Returns the fewest requests a sync of `account` can make: the credential check, every
/// page of users and of groups, and every page of each group's members.
pub fn request_floor(account: &Account) -> usize {
    let members: usize = account
        .groups
        .iter()
        .map(|group| pages_for(account.members_of(group.id).len()))
        .sum();
    1 + pages_for(account.users.len()) + pages_for(account.groups.len()) + members
}

/// Returns the maximum number of requests that arrived within any `window`.
pub fn max_in_window(arrivals: &[std::time::Instant], window: std::time::Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort_unstable();
    let mut busiest = 0;
    let mut first = 0;
    for last in 0..sorted.len() {
        while sorted[last].duration_since(sorted[first]) >= window {
            first += 1;
        }
        busiest = busiest.max(last - first + 1);
    }
    busiest
}

/// Asserts that the host printed the test token neither on stdout nor on stderr.
#[track_caller]
pub fn assert_no_token(run: &SyncRun) {
    assert!(!run.stdout.contains(TOKEN), "stdout shows the token");
    assert!(!run.stderr.contains(TOKEN), "stderr shows the token");
}

/// Lists the names of the files in `directory` that start with `prefix`.
pub fn files_starting_with(directory: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(directory)
        .expect("list the directory")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

pub mod guests;

/// Builds a `sync` command like [`sync_command`] but with `base_url` as given, for tests
/// of how the host reads the base URL.
pub fn sync_command_for_url(base_url: &str, directory: &Path) -> Command {
    let mut command = base_command(base_url, directory);
    command.arg("--no-rate-limit");
    command
}
