//! Resumable syncs. A sync killed at any page boundary resumes from its checkpoint to the
//! same bytes as an uninterrupted one. An account that changes during a sync yields a
//! complete output or a clear failure, never a silent gap.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use support::{Account, FakeServer, Fault, FaultAction, FaultWhen, Mutation, SyncRun, TOKEN, User};

/// Builds a multi-page account: 3 user pages, 12 groups, one group with 230 members (3 pages).
fn multi_page_account() -> Account {
    let mut account = Account::generated(230, 12);
    account.add_all_users_to_group(2);
    account
}

fn start(account: Account, faults: Vec<Fault>) -> FakeServer {
    let mut builder = FakeServer::builder(account).api_token(TOKEN);
    for fault in faults {
        builder = builder.fault(fault);
    }
    builder.start()
}

fn spawn_sync(server: &FakeServer, directory: &Path, extra: &[&str]) -> Child {
    let mut command = support::sync_command(server, directory);
    command
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().expect("failed to start the host binary")
}

fn run_sync(server: &FakeServer, directory: &Path, extra: &[&str]) -> SyncRun {
    let mut command = support::sync_command(server, directory);
    command.args(extra);
    SyncRun::run(command, directory)
}

fn checkpoint(directory: &Path) -> std::path::PathBuf {
    directory.join("sync.json.checkpoint")
}

#[test]
fn resume_after_kill_at_every_page_matches_uninterrupted() {
    let reference_server = start(multi_page_account(), vec![]);
    let reference_dir = tempfile::tempdir().expect("temp dir");
    let reference = run_sync(&reference_server, reference_dir.path(), &[]);
    reference.assert_success();
    let expected = std::fs::read(reference_dir.path().join("sync.json")).expect("reference");
    let request_count = reference_server.requests().len();
    assert!(
        request_count >= 15,
        "too few pages to test: {request_count}"
    );

    // Request 1 is the credential check; every later request starts a page.
    for boundary in 2..=request_count {
        let hang = Fault {
            when: FaultWhen::Nth(boundary),
            times: 1,
            action: FaultAction::status(200).hang(),
        };
        let server = start(multi_page_account(), vec![hang]);
        let directory = tempfile::tempdir().expect("temp dir");

        let mut child = spawn_sync(&server, directory.path(), &["--concurrency", "1"]);
        let reached = server.wait_for_request(boundary, Duration::from_secs(60));
        child.kill().expect("kill the host");
        child.wait().expect("reap the host");
        assert!(
            reached,
            "boundary {boundary}: the host never sent request {boundary}"
        );
        assert!(
            !directory.path().join("sync.json").exists(),
            "boundary {boundary}: an interrupted sync wrote an output file"
        );
        // Before the first page completes there is nothing to record, so no checkpoint.
        if boundary > 3 {
            assert!(
                checkpoint(directory.path()).exists(),
                "boundary {boundary}: no checkpoint after the kill"
            );
        }

        let resumed = run_sync(&server, directory.path(), &["--resume"]);
        resumed.assert_success();
        let actual = std::fs::read(directory.path().join("sync.json")).expect("resumed output");
        assert!(
            actual == expected,
            "boundary {boundary}: resumed output differs"
        );
        assert!(
            !checkpoint(directory.path()).exists(),
            "boundary {boundary}: checkpoint left after success"
        );
    }
}

#[test]
fn resume_skips_pages_already_fetched() {
    let hang = Fault {
        when: FaultWhen::Nth(12),
        times: 1,
        action: FaultAction::status(200).hang(),
    };
    let server = start(multi_page_account(), vec![hang]);
    let directory = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_sync(&server, directory.path(), &["--concurrency", "1"]);
    assert!(server.wait_for_request(12, Duration::from_secs(60)));
    child.kill().expect("kill the host");
    child.wait().expect("reap the host");
    let before = server.requests();

    let resumed = run_sync(&server, directory.path(), &["--resume"]);
    resumed.assert_success();

    // The pages completed before the kill are not fetched again.
    let fetched_before: Vec<String> = before[1..11]
        .iter()
        .map(|request| format!("{}?{}", request.path, request.query))
        .collect();
    let after: Vec<String> = server.requests()[before.len()..]
        .iter()
        .map(|request| format!("{}?{}", request.path, request.query))
        .collect();
    for page in &fetched_before {
        assert!(
            !after.contains(page),
            "page `{page}` was fetched again after resume"
        );
    }
    assert!(
        resumed.stderr.contains("pages resumed"),
        "{}",
        resumed.stderr
    );
}

#[test]
fn resume_with_other_base_url_is_refused() {
    let hang = Fault {
        when: FaultWhen::Nth(4),
        times: 1,
        action: FaultAction::status(200).hang(),
    };
    let server = start(multi_page_account(), vec![hang]);
    let directory = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_sync(&server, directory.path(), &["--concurrency", "1"]);
    assert!(server.wait_for_request(4, Duration::from_secs(60)));
    child.kill().expect("kill the host");
    child.wait().expect("reap the host");

    let other = start(multi_page_account(), vec![]);
    let refused = run_sync(&other, directory.path(), &["--resume"]);
    assert_eq!(refused.code, Some(2), "stderr:\n{}", refused.stderr);
    assert!(
        refused.stderr.contains("other settings"),
        "{}",
        refused.stderr
    );
    assert!(refused.output.is_none());
    assert!(
        other.requests().is_empty(),
        "a refused resume sent requests"
    );
    assert!(
        checkpoint(directory.path()).exists(),
        "a refused resume removed the checkpoint"
    );
}

#[test]
fn resume_without_checkpoint_starts_over() {
    let server = start(multi_page_account(), vec![]);
    let directory = tempfile::tempdir().expect("temp dir");
    let run = run_sync(&server, directory.path(), &["--resume"]);
    run.assert_success();
    assert!(
        run.stderr.contains("no checkpoint to resume"),
        "{}",
        run.stderr
    );
    let (resources, _, grants) = support::expected_ids(&server.account());
    assert_eq!(support::ids(run.output(), "resources"), resources);
    assert_eq!(support::ids(run.output(), "grants"), grants);
}

#[test]
fn failed_credential_check_leaves_no_checkpoint() {
    let forbidden = Fault {
        when: FaultWhen::Nth(1),
        times: 1,
        action: FaultAction::status(403),
    };
    let server = start(multi_page_account(), vec![forbidden]);
    let directory = tempfile::tempdir().expect("temp dir");
    let failed = run_sync(&server, directory.path(), &[]);
    assert_eq!(failed.code, Some(3), "stderr:\n{}", failed.stderr);
    assert!(!failed.stderr.contains("--resume"), "{}", failed.stderr);
    assert!(!checkpoint(directory.path()).exists());
}

#[cfg(unix)]
#[test]
fn checkpoint_is_private_to_owner() {
    use std::os::unix::fs::PermissionsExt;

    let hang = Fault {
        when: FaultWhen::Nth(6),
        times: 1,
        action: FaultAction::status(200).hang(),
    };
    let server = start(multi_page_account(), vec![hang]);
    let directory = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_sync(&server, directory.path(), &["--concurrency", "1"]);
    assert!(server.wait_for_request(6, Duration::from_secs(60)));
    child.kill().expect("kill the host");
    child.wait().expect("reap the host");

    let mode = std::fs::metadata(checkpoint(directory.path()))
        .expect("checkpoint")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn failed_sync_keeps_checkpoint_for_resume() {
    let failing = Fault {
        when: FaultWhen::Path("/api/3/groups/5/userGroups".to_owned()),
        times: 100,
        action: FaultAction::status(500),
    };
    let server = start(multi_page_account(), vec![failing]);
    let directory = tempfile::tempdir().expect("temp dir");
    let failed = run_sync(&server, directory.path(), &["--max-attempts", "2"]);
    assert_eq!(failed.code, Some(4), "stderr:\n{}", failed.stderr);
    assert!(failed.stderr.contains("--resume"), "{}", failed.stderr);
    assert!(checkpoint(directory.path()).exists());
    assert!(failed.output.is_none());
}

#[test]
fn two_syncs_write_identical_bytes() {
    let server = start(multi_page_account(), vec![]);
    let first = tempfile::tempdir().expect("temp dir");
    let second = tempfile::tempdir().expect("temp dir");
    run_sync(&server, first.path(), &[]).assert_success();
    run_sync(&server, second.path(), &["--concurrency", "7"]).assert_success();
    let first_bytes = std::fs::read(first.path().join("sync.json")).expect("first");
    let second_bytes = std::fs::read(second.path().join("sync.json")).expect("second");
    assert!(
        first_bytes == second_bytes,
        "two syncs of one account differ"
    );
}

#[test]
fn user_added_while_paging_no_gap() {
    let account = multi_page_account();
    let new_user = User::new(
        account.next_user_id(),
        "late.joiner",
        "Late",
        "Joiner",
        "late.joiner@example.com",
    );
    let server = FakeServer::builder(account.clone())
        .api_token(TOKEN)
        .mutation(Mutation::AddUserAfterRequest {
            after: 2,
            user: new_user,
            group_id: Some(3),
        })
        .start();
    let directory = tempfile::tempdir().expect("temp dir");
    let run = run_sync(&server, directory.path(), &["--concurrency", "1"]);

    match run.code {
        Some(0) => {
            // A complete output has every user the account ended with.
            let final_account = server.account();
            let (resources, _, grants) = support::expected_ids(&final_account);
            assert_eq!(support::ids(run.output(), "resources"), resources);
            assert_eq!(support::ids(run.output(), "grants"), grants);
        }
        Some(4) => {
            assert!(
                run.stderr.contains("changed during the sync"),
                "{}",
                run.stderr
            );
            assert!(run.output.is_none(), "a failed sync wrote an output file");
        }
        other => panic!("unexpected exit {other:?}; stderr:\n{}", run.stderr),
    }
}

#[test]
fn user_removed_while_paging_no_gap() {
    let account = multi_page_account();
    let server = FakeServer::builder(account)
        .api_token(TOKEN)
        .mutation(Mutation::RemoveUserAfterRequest {
            after: 2,
            user_id: 5,
        })
        .start();
    let directory = tempfile::tempdir().expect("temp dir");
    let run = run_sync(&server, directory.path(), &["--concurrency", "1"]);

    match run.code {
        Some(0) => {
            let (resources, _, grants) = support::expected_ids(&server.account());
            assert_eq!(support::ids(run.output(), "resources"), resources);
            assert_eq!(support::ids(run.output(), "grants"), grants);
        }
        Some(4) => {
            assert!(run.stderr.contains("inconsistent"), "{}", run.stderr);
            assert!(run.output.is_none(), "a failed sync wrote an output file");
        }
        other => panic!("unexpected exit {other:?}; stderr:\n{}", run.stderr),
    }
}
