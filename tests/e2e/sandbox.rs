//! The sandbox: a hostile component run through the real host must be contained, the token
//! must stay in the host and reach only the API origin, and no output of the host may
//! show the token.
//!
//! The hostile component (`tests/guests/hostile`) reads its misbehaviour from the path of
//! `base-url`. Each test checks the exact error, the exit code, that no output file was
//! written, and that the real connector still syncs right after.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::guests::{
    METADATA_BEHAVIOURS, hostile_component, hostile_metadata_component, hostile_url,
};
use support::{Account, FakeServer, SyncRun, TOKEN};

/// Exit code of a sync whose component broke a sandbox limit, trapped or failed otherwise.
const INTERNAL_FAILURE: i32 = 1;

/// Maximum time a run may take before the test kills the host and fails, so that a host
/// which does not stop a component fails the test instead of hanging it.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// Builds a sync of `component` with `base_url`, writing into `directory`, with the token
/// in the environment and one attempt per call.
fn component_command(component: &Path, base_url: &str, directory: &Path) -> Command {
    let mut command = Command::new(support::host_binary());
    command
        .arg("sync")
        .arg("--base-url")
        .arg(base_url)
        .arg("--component")
        .arg(component)
        .arg("--output")
        .arg(directory.join("sync.json"))
        .arg("--cache-dir")
        .arg(support::cache_dir())
        .arg("--no-rate-limit")
        .arg("--max-attempts")
        .arg("1");
    support::clear_environment(&mut command);
    command.env("BATON_API_TOKEN", TOKEN);
    command
}

/// Builds a sync of the hostile component against `server`, misbehaving as `behaviour`.
fn hostile_command(server: &FakeServer, behaviour: &str, directory: &Path) -> Command {
    component_command(
        hostile_component(),
        &hostile_url(server, behaviour),
        directory,
    )
}

/// Runs the hostile component as `behaviour` with `extra` flags.
fn run_hostile(server: &FakeServer, behaviour: &str, extra: &[&str]) -> SyncRun {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut command = hostile_command(server, behaviour, directory.path());
    command.args(extra);
    run_with_stdin(command, directory.path(), "")
}

/// Asserts that a hostile run ended with the internal-failure exit code, its error
/// contains `fragment`, no output file exists, and the token appears nowhere.
#[track_caller]
fn assert_stopped(run: &SyncRun, fragment: &str) {
    assert!(
        run.stderr.contains(fragment),
        "stderr lacks `{fragment}`:\n{}",
        run.stderr
    );
    assert_eq!(
        run.code,
        Some(INTERNAL_FAILURE),
        "exit code; stderr:\n{}",
        run.stderr
    );
    assert!(run.output.is_none(), "an output file was written");
    support::assert_no_token(run);
}

/// Asserts that a run stopped soon after its call timeout: the timeout, one second of
/// slack for host waits, and a margin for starting the host and compiling.
#[track_caller]
fn assert_stopped_within(started: Instant, call_timeout: Duration) {
    let elapsed = started.elapsed();
    assert!(
        elapsed < call_timeout + Duration::from_secs(15),
        "the host took {elapsed:?} to stop the component"
    );
}

/// Asserts that the real connector still syncs `server` completely.
#[track_caller]
fn assert_host_still_syncs(server: &FakeServer) {
    let (_directory, run) = support::sync(server, &[]);
    run.assert_success();
    let (resources, _, grants) = support::expected_ids(&Account::demo());
    assert_eq!(
        support::ids(run.output(), "resources").len(),
        resources.len()
    );
    assert_eq!(support::ids(run.output(), "grants").len(), grants.len());
}

/// Asserts a sync succeeded with every request carrying the test token.
#[track_caller]
fn assert_synced_with_token(server: &FakeServer, run: &SyncRun) {
    run.assert_success();
    assert!(run.output.is_some(), "no output file");
    let requests = server.requests();
    assert!(!requests.is_empty(), "the API received no request");
    assert!(
        requests
            .iter()
            .all(|request| request.api_token.as_deref() == Some(TOKEN)),
        "a request lacked the token"
    );
    support::assert_no_token(run);
}

/// A listener on another port of 127.0.0.1 that never accepts until asked, so its queue
/// shows whether anything connected.
struct Bystander {
    listener: TcpListener,
}

impl Bystander {
    fn bind() -> Bystander {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a bystander port");
        listener.set_nonblocking(true).expect("non-blocking");
        Bystander { listener }
    }

    fn authority(&self) -> String {
        self.listener
            .local_addr()
            .expect("local address")
            .to_string()
    }

    /// Counts the connections that reached the port, from its accept queue.
    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.listener.accept().ok()).count()
    }
}

fn serve() -> FakeServer {
    support::serve(Account::demo())
}

#[test]
fn other_origin_is_denied_before_connecting() {
    let server = serve();
    let bystander = Bystander::bind();
    let fake_port = server
        .base_url()
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();

    // Another port on this machine, another loopback address, and the API's own port
    // under another host name: each is a different origin.
    for authority in [
        bystander.authority(),
        "127.0.0.2:9".to_owned(),
        format!("localhost:{fake_port}"),
    ] {
        let run = run_hostile(&server, &format!("reach-other-host/{authority}"), &[]);

        assert_stopped(
            &run,
            &format!(
                "reach-other-host: GET `http://{authority}/` failed with `http-request-denied`"
            ),
        );
        assert!(
            run.stderr
                .contains("denied a request to an origin other than the API"),
            "no denial logged:\n{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("denied.origin=http://{authority}")),
            "the denied origin is not logged:\n{}",
            run.stderr
        );
    }

    assert_eq!(bystander.connections(), 0, "the bystander port was reached");
    assert!(server.requests().is_empty(), "the API received a request");
    assert_host_still_syncs(&server);
}

#[test]
fn post_to_origin_is_denied() {
    let server = serve();

    let run = run_hostile(&server, "post-to-origin", &[]);

    let url = format!("{}/", server.base_url());
    assert_stopped(
        &run,
        &format!("post-to-origin: POST `{url}` failed with `http-request-denied`"),
    );
    assert!(
        run.stderr
            .contains("denied a request that is not GET or HEAD"),
        "no denial logged:\n{}",
        run.stderr
    );
    assert!(server.requests().is_empty(), "the API received a request");
    assert_host_still_syncs(&server);
}

#[test]
fn api_token_header_is_forbidden() {
    let server = serve();

    let run = run_hostile(&server, "set-api-token", &[]);

    assert_stopped(
        &run,
        "set-api-token: set forbidden, append forbidden, from-list forbidden",
    );
    assert_host_still_syncs(&server);
}

#[test]
fn socket_outside_http_is_denied() {
    let server = serve();
    let bystander = Bystander::bind();
    let authority = bystander.authority();

    let run = run_hostile(&server, &format!("open-socket/{authority}"), &[]);

    assert_stopped(
        &run,
        &format!("open-socket: failed to connect to `{authority}`"),
    );
    assert_eq!(bystander.connections(), 0, "the bystander port was reached");
    assert_host_still_syncs(&server);
}

#[test]
fn files_are_not_shared() {
    let server = serve();

    let run = run_hostile(&server, "read-files", &[]);

    assert_stopped(&run, "read-files: ");
    let report = report_line(&run, "read-files: ");
    for path in ["`/`", "`.`", "`/etc/passwd`", "`/proc/self/environ`"] {
        assert!(
            report.contains(&format!("{path} failed")),
            "{path} was readable: {report}"
        );
    }
    assert!(
        !report.contains("listed"),
        "a directory was listed: {report}"
    );
    assert!(!report.contains(" read "), "a file was read: {report}");
    assert_host_still_syncs(&server);
}

#[test]
fn environment_arguments_and_stdin_are_empty() {
    let server = serve();
    let directory = tempfile::tempdir().expect("temp dir");

    // The host reads the token from its own stdin and has a variable of its own, and the
    // component must get neither.
    let mut command = hostile_command(&server, "read-env-args", directory.path());
    command.env_remove("BATON_API_TOKEN");
    command.args(["--api-token-file", "-"]);
    command.env("HOSTILE_CANARY", "visible-only-to-the-host");
    let run = run_with_stdin(command, directory.path(), TOKEN);

    assert_stopped(&run, "read-env-args: env [], args [], stdin 0 bytes");
    assert_host_still_syncs(&server);
}

#[test]
fn config_holds_only_base_url() {
    let server = serve();
    let url = hostile_url(&server, "read-config");

    let run = run_hostile(&server, "read-config", &[]);

    assert_stopped(
        &run,
        &format!("read-config: all Ok([(\"base-url\", \"{url}\")]), api-token Ok(None)"),
    );
    assert_host_still_syncs(&server);
}

#[test]
fn memory_limit_stops_component() {
    let server = serve();

    let run = run_hostile(&server, "grow-memory", &["--max-memory-mib", "16"]);

    assert_stopped(
        &run,
        "failed to check the credentials: the component exceeded its memory limit of 16 MiB \
         (--max-memory-mib)",
    );
    assert_host_still_syncs(&server);
}

#[test]
fn busy_loop_hits_time_limit() {
    let server = serve();
    let started = Instant::now();

    let run = run_hostile(&server, "loop-forever", &["--call-timeout", "2"]);

    assert_stopped(
        &run,
        "failed to check the credentials: the component exceeded its time limit of 2 s per call \
         (--call-timeout)",
    );
    assert_stopped_within(started, Duration::from_secs(2));
    assert_host_still_syncs(&server);
}

#[test]
fn blocked_component_hits_time_limit() {
    let server = serve();
    let started = Instant::now();

    let run = run_hostile(&server, "block-forever", &["--call-timeout", "2"]);

    assert_stopped(
        &run,
        "failed to check the credentials: the component exceeded its time limit of 2 s per call \
         (--call-timeout)",
    );
    assert_stopped_within(started, Duration::from_secs(2));
    assert_host_still_syncs(&server);
}

#[test]
fn parallel_loops_all_stopped() {
    let server = serve();
    let started = Instant::now();

    // Four instances loop at once, one per resource type of the hostile component, on a
    // runtime that may have fewer worker threads than that.
    let run = run_hostile(
        &server,
        "list-resources/loop-forever",
        &["--call-timeout", "2", "--concurrency", "4"],
    );

    assert_stopped(
        &run,
        "resources: the component exceeded its time limit of 2 s per call (--call-timeout)",
    );
    assert_stopped_within(started, Duration::from_secs(2));
    assert_host_still_syncs(&server);
}

#[test]
fn metadata_call_has_time_limit() {
    let server = serve();

    // One component computes without end in `metadata`, the other waits in the host.
    for behaviour in METADATA_BEHAVIOURS {
        let directory = tempfile::tempdir().expect("temp dir");
        let mut command = component_command(
            hostile_metadata_component(behaviour),
            &server.base_url(),
            directory.path(),
        );
        command.args(["--call-timeout", "2"]);
        let started = Instant::now();

        let run = run_with_stdin(command, directory.path(), "");

        assert_stopped(
            &run,
            "metadata: the component exceeded its time limit of 2 s per call (--call-timeout)",
        );
        assert_stopped_within(started, Duration::from_secs(2));
    }
    assert_host_still_syncs(&server);
}

#[test]
fn stderr_flood_hits_limit() {
    let server = serve();

    let run = run_hostile(&server, "flood-stderr", &["--max-guest-stderr-kib", "4"]);

    assert_stopped(
        &run,
        "failed to check the credentials: the component exceeded its stderr limit of 4 KiB \
         (--max-guest-stderr-kib)",
    );
    assert!(
        run.stderr.len() < 16 * 1024,
        "the host printed {} bytes of stderr",
        run.stderr.len()
    );
    assert_host_still_syncs(&server);
}

#[test]
fn token_goes_only_to_api_origin() {
    let server = serve();

    let (_directory, run) = support::sync(&server, &[]);

    run.assert_success();
    let requests = server.requests();
    assert!(!requests.is_empty(), "the API received no request");
    for request in &requests {
        assert_eq!(
            request.api_token.as_deref(),
            Some(TOKEN),
            "{} {} lacks the token",
            request.method,
            request.path
        );
        let token_headers = request
            .headers
            .iter()
            .filter(|(name, _)| name == "api-token")
            .count();
        assert_eq!(
            token_headers, 1,
            "{} carries {token_headers} tokens",
            request.path
        );
        assert_eq!(request.method, "GET", "{}", request.path);
        assert!(request.path.starts_with("/api/3/"), "{}", request.path);
    }
    assert!(
        !run.stderr.contains("denied"),
        "a request was denied:\n{}",
        run.stderr
    );
}

#[test]
fn redirect_to_other_origin_is_not_followed() {
    let bystander = Bystander::bind();
    let location = format!("http://{}/collect", bystander.authority());
    let server = FakeServer::builder(Account::demo())
        .api_token(TOKEN)
        .fault(support::Fault::path(
            "/api/3/users/me",
            1000,
            support::FaultAction::status(302).header("Location", &location),
        ))
        .start();
    let directory = tempfile::tempdir().expect("temp dir");
    let command = support::sync_command(&server, directory.path());

    let run = run_with_stdin(command, directory.path(), "");

    assert!(
        run.stderr
            .contains(&format!("redirected (HTTP 302) to `{location}`")),
        "the redirect is not reported:\n{}",
        run.stderr
    );
    assert_eq!(run.code, Some(2), "exit code; stderr:\n{}", run.stderr);
    assert!(run.output.is_none(), "an output file was written");
    assert_eq!(bystander.connections(), 0, "the redirect was followed");
}

#[test]
fn token_from_environment_syncs() {
    let server = serve();
    let directory = tempfile::tempdir().expect("temp dir");
    let command = support::sync_command(&server, directory.path());

    let run = SyncRun::run(command, directory.path());

    assert_synced_with_token(&server, &run);
}

#[test]
fn token_from_flag_syncs() {
    let server = serve();
    let directory = tempfile::tempdir().expect("temp dir");
    let mut command = support::sync_command(&server, directory.path());
    command.env_remove("BATON_API_TOKEN");
    command.args(["--api-token", TOKEN]);

    let run = SyncRun::run(command, directory.path());

    assert_synced_with_token(&server, &run);
}

#[test]
fn token_from_file_syncs() {
    let server = serve();
    let directory = tempfile::tempdir().expect("temp dir");
    let token_file = directory.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token file");
    let mut command = support::sync_command(&server, directory.path());
    command.env_remove("BATON_API_TOKEN");
    command.arg("--api-token-file").arg(&token_file);

    let run = SyncRun::run(command, directory.path());

    assert_synced_with_token(&server, &run);
}

#[test]
fn token_from_stdin_syncs() {
    let server = serve();
    let directory = tempfile::tempdir().expect("temp dir");
    let mut command = support::sync_command(&server, directory.path());
    command.env_remove("BATON_API_TOKEN");
    command.args(["--api-token-file", "-"]);

    let run = run_with_stdin(command, directory.path(), &format!("{TOKEN}\n"));

    assert_synced_with_token(&server, &run);
}

/// A token of its own for the leak tests, so a match can only come from that run.
const CANARY_TOKEN: &str = "leak-canary-5d1e8a0c7f3b9246";

#[test]
fn trace_logs_leak_no_token() {
    let server = FakeServer::builder(Account::demo())
        .api_token(CANARY_TOKEN)
        .start();
    let directory = tempfile::tempdir().expect("temp dir");

    let run = run_traced(&server, directory.path(), &[]);

    run.assert_success();
    assert_no_leak(&run, directory.path());
    assert!(
        server
            .requests()
            .iter()
            .all(|request| request.api_token.as_deref() == Some(CANARY_TOKEN)),
        "a request lacked the token"
    );
}

#[test]
fn failed_sync_leaks_no_token() {
    // Membership listings fail, so the sync stops part-way and leaves its checkpoint.
    let server = FakeServer::builder(Account::demo())
        .api_token(CANARY_TOKEN)
        .fault(support::Fault::path(
            "/api/3/groups/",
            1000,
            support::FaultAction::status(500),
        ))
        .start();
    let directory = tempfile::tempdir().expect("temp dir");

    let run = run_traced(&server, directory.path(), &["--max-attempts", "1"]);

    assert_eq!(run.code, Some(4), "exit code; stderr:\n{}", run.stderr);
    assert!(run.output.is_none(), "an output file was written");
    assert_no_leak(&run, directory.path());
}

/// Syncs `server` with the canary token, trace logging, and the cache and temporary
/// files under `directory`.
fn run_traced(server: &FakeServer, directory: &Path, extra: &[&str]) -> SyncRun {
    let temp = directory.join("tmp");
    std::fs::create_dir(&temp).expect("create the temp dir");

    let mut command = Command::new(support::host_binary());
    command
        .arg("sync")
        .arg("--base-url")
        .arg(server.base_url())
        .arg("--output")
        .arg(directory.join("sync.json"))
        .arg("--cache-dir")
        .arg(directory.join("cache"))
        .args(["--no-rate-limit", "--log-level", "trace"])
        .args(extra);
    support::clear_environment(&mut command);
    command
        .env("BATON_API_TOKEN", CANARY_TOKEN)
        .env("TMPDIR", &temp);
    run_with_stdin(command, directory, "")
}

/// Asserts that the canary token is in none of the host's output: stdout, stderr (trace
/// logs included) and every file under `directory`, cache entries included.
#[track_caller]
fn assert_no_leak(run: &SyncRun, directory: &Path) {
    assert!(
        run.stderr.lines().count() > 100,
        "trace logging is off; stderr:\n{}",
        run.stderr
    );
    let files = files_under(directory);
    assert!(
        files
            .iter()
            .any(|file| file.starts_with(directory.join("cache"))),
        "no cache entry was written"
    );

    // The whole token, and its tail alone in case it was cut or split.
    let tail = &CANARY_TOKEN[CANARY_TOKEN.len() - 12..];
    for needle in [CANARY_TOKEN, tail] {
        assert!(!run.stdout.contains(needle), "stdout shows `{needle}`");
        assert!(!run.stderr.contains(needle), "stderr shows `{needle}`");
        for file in &files {
            let bytes = std::fs::read(file).expect("read a written file");
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{} contains `{needle}`",
                file.display()
            );
        }
    }
}

/// Runs `command` with `input` on its stdin, then closes stdin. Kills the host and fails
/// the test when it runs longer than `RUN_DEADLINE`.
fn run_with_stdin(mut command: Command, directory: &Path, input: &str) -> SyncRun {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("failed to start the host binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write the token to stdin");

    // Each pipe is read on a thread of its own, so a host that writes much cannot block.
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the host") {
            break status;
        }
        if started.elapsed() > RUN_DEADLINE {
            child.kill().expect("kill the host");
            child.wait().expect("reap the host");
            let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
            panic!("the host did not exit within {RUN_DEADLINE:?}; stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let path = directory.join("sync.json");
    let output = path.exists().then(|| {
        let text = std::fs::read_to_string(&path).expect("read sync.json");
        serde_json::from_str(&text).expect("sync.json is JSON")
    });
    SyncRun {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout.join().expect("stdout")).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned(),
        output,
    }
}

/// Reads `pipe` to its end on a new thread.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes)
            .expect("read a pipe of the host");
        bytes
    })
}

/// Returns the line of stderr that starts the component's report, from `prefix` on.
fn report_line<'a>(run: &'a SyncRun, prefix: &str) -> &'a str {
    run.stderr
        .lines()
        .find_map(|line| line.find(prefix).map(|at| &line[at..]))
        .unwrap_or_else(|| panic!("no `{prefix}` in stderr:\n{}", run.stderr))
}

/// Lists every file under `directory`, recursively.
fn files_under(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("list a directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
