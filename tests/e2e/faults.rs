//! End-to-end syncs against a fake API that misbehaves the way ActiveCampaign has been
//! seen to. Each case either yields the complete, exact data, or fails cleanly with the
//! right exit code and a message that quotes the upstream text, and writes no output file.

mod support;

use std::time::Duration;

use support::{
    Account, FakeServer, Fault, FaultAction, SyncRun, TOKEN, assert_no_token, expected_ids, ids,
    max_in_window, request_floor, summary_numbers, sync,
};

/// Exit code of a missing or invalid flag, setting or URL.
const EXIT_CONFIGURATION: i32 = 2;
/// Exit code of a rejected token.
const EXIT_AUTHENTICATION: i32 = 3;
/// Exit code of an API failure or unusable response.
const EXIT_UPSTREAM: i32 = 4;

/// Three users in two groups, with one admin group: enough for every kind of record.
fn small_account() -> Account {
    Account::generated(3, 2)
}

/// Starts a fake API serving `account` with the test token and `faults`.
fn serve_with(account: Account, faults: Vec<Fault>) -> FakeServer {
    let mut builder = FakeServer::builder(account).api_token(TOKEN);
    for fault in faults {
        builder = builder.fault(fault);
    }
    builder.start()
}

/// Asserts a run succeeded and wrote exactly the records of `account`.
#[track_caller]
fn assert_complete(run: &SyncRun, account: &Account) {
    run.assert_success();
    let output = run.output();
    let (resources, entitlements, grants) = expected_ids(account);
    assert_eq!(ids(output, "resources"), resources);
    assert_eq!(ids(output, "entitlements"), entitlements);
    assert_eq!(ids(output, "grants"), grants);
}

/// Asserts a run failed with `code` and wrote no output file.
#[track_caller]
fn assert_failed(run: &SyncRun, code: i32) {
    assert_eq!(run.code, Some(code), "stderr:\n{}", run.stderr);
    assert!(run.output.is_none(), "an output file was written");
}

/// Returns the final `error:` message the host printed, with its continuation lines.
fn error_message(stderr: &str) -> &str {
    stderr.find("error: ").map_or("", |start| &stderr[start..])
}

/// Counts the requests the fake received for `path`, query excluded.
fn requests_to(server: &FakeServer, path: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|request| request.path == path)
        .count()
}

/// Syncs `account` with one fault on the first groups page, and checks the data is
/// complete after a retry.
fn assert_groups_fault_retried(action: FaultAction, case: &str) -> SyncRun {
    let account = small_account();
    let server = serve_with(
        account.clone(),
        vec![Fault::path("/api/3/groups", 1, action)],
    );
    let (_directory, run) = sync(&server, &[]);
    assert_eq!(run.code, Some(0), "{case}; stderr:\n{}", run.stderr);
    assert_complete(&run, &account);
    assert_no_token(&run);
    assert_eq!(
        server.requests().len(),
        request_floor(&account) + 1,
        "{case}: one retry"
    );
    run
}

#[test]
fn rate_limited_page_retried_after_wait() {
    let action = FaultAction::status(429).header("Retry-After", "1");
    let run = assert_groups_fault_retried(action, "429");

    assert!(
        run.stderr.contains("retrying after a failed call"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("wait_ms=1000"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 429"), "{}", run.stderr);
    let requests = summary_numbers(&run.stderr, "requests");
    let sent = request_floor(&small_account()) as u64 + 1;
    assert_eq!(requests, Some(vec![sent, 1, 1]));
}

#[test]
fn server_error_page_retried() {
    for status in [500, 502, 503, 504] {
        let run = assert_groups_fault_retried(FaultAction::status(status), &status.to_string());
        assert!(
            run.stderr.contains(&format!("HTTP {status}")),
            "status {status}: {}",
            run.stderr
        );
    }
}

#[test]
fn html_503_page_retried() {
    let page = "<html><head><title>503 Service Temporarily Unavailable</title></head>\
                <body><h1>Service Temporarily Unavailable</h1></body></html>";
    let action = FaultAction::status(503)
        .header("Content-Type", "text/html")
        .body(page);
    let run = assert_groups_fault_retried(action, "HTML 503");
    assert!(
        run.stderr
            .contains("HTML page titled `503 Service Temporarily Unavailable`"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_ok_body_retried() {
    let action = FaultAction::status(200)
        .header("Content-Type", "application/json")
        .body("");
    let run = assert_groups_fault_retried(action, "empty 200");
    assert!(run.stderr.contains("empty body"), "{}", run.stderr);
}

#[test]
fn cut_off_body_retried() {
    let run = assert_groups_fault_retried(FaultAction::status(200).cut_after(40), "cut body");
    assert!(run.stderr.contains("cut off"), "{}", run.stderr);
}

#[test]
fn hung_response_retried_after_timeout() {
    let action = FaultAction::status(200).hang();
    let account = small_account();
    let server = serve_with(
        account.clone(),
        vec![Fault::path("/api/3/groups", 1, action)],
    );
    let (_directory, run) = sync(&server, &["--first-byte-timeout", "1"]);

    assert_complete(&run, &account);
    assert_no_token(&run);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert_eq!(server.requests().len(), request_floor(&account) + 1);
}

#[test]
fn forbidden_mid_sync_retried() {
    // Membership is listed only after the group listing succeeded, so this 403 comes in
    // the middle of a sync that has already read pages.
    let account = small_account();
    let server = serve_with(
        account.clone(),
        vec![Fault::path(
            "/api/3/groups/2/userGroups",
            1,
            FaultAction::status(403),
        )],
    );
    let (_directory, run) = sync(&server, &[]);

    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_complete(&run, &account);
    assert_no_token(&run);
    assert_eq!(server.requests().len(), request_floor(&account) + 1);
    assert!(run.stderr.contains("HTTP 403"), "{}", run.stderr);
}

#[test]
fn forbidden_first_listing_is_final() {
    // A key that is not an account admin passes the credential check and is denied the
    // first listing: that 403 is final, not retried.
    let server = serve_with(
        small_account(),
        vec![Fault::nth(2, FaultAction::status(403))],
    );
    let (_directory, run) = sync(&server, &["--concurrency", "1"]);

    assert_failed(&run, EXIT_AUTHENTICATION);
    assert!(run.stderr.contains("account admin"), "{}", run.stderr);
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.requests()[1].path, "/api/3/users");
}

#[test]
fn forbidden_credential_check_not_retried() {
    let server = serve_with(
        small_account(),
        vec![Fault::path("/api/3/users/me", 1, FaultAction::status(403))],
    );
    let (_directory, run) = sync(&server, &[]);

    assert_failed(&run, EXIT_AUTHENTICATION);
    assert_no_token(&run);
    let message = error_message(&run.stderr);
    assert!(message.contains("HTTP 403: Forbidden"), "{message}");
    assert!(message.contains("account admin"), "{message}");
    assert_eq!(requests_to(&server, "/api/3/users/me"), 1);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn attempts_exhausted_fails_upstream() {
    let body = r#"{"message": "Database connection lost"}"#;
    let action = FaultAction::status(500)
        .header("Content-Type", "application/json")
        .body(body);
    let server = serve_with(
        small_account(),
        vec![Fault::path("/api/3/groups", 100, action)],
    );
    let (_directory, run) = sync(&server, &["--max-attempts", "3"]);

    assert_failed(&run, EXIT_UPSTREAM);
    assert_no_token(&run);
    let message = error_message(&run.stderr);
    assert!(
        message.contains("HTTP 500: Database connection lost"),
        "{message}"
    );
    assert!(message.contains("after 3 attempts"), "{message}");
    assert_eq!(requests_to(&server, "/api/3/groups"), 3);
}

/// Syncs with one fault on every groups page, which must fail the sync with exit 4 on
/// the first response, and returns the run and the number of groups requests.
fn run_final_groups_fault(action: FaultAction) -> (SyncRun, usize) {
    let server = serve_with(
        small_account(),
        vec![Fault::path("/api/3/groups", 100, action)],
    );
    let (_directory, run) = sync(&server, &[]);
    assert_failed(&run, EXIT_UPSTREAM);
    assert_no_token(&run);
    (run, requests_to(&server, "/api/3/groups"))
}

#[test]
fn html_ok_page_quotes_title() {
    let page = format!(
        "<!DOCTYPE html><html><head><title>Down for maintenance</title></head><body>{}\
         </body></html>",
        "We'll be back shortly. ".repeat(200)
    );
    let action = FaultAction::status(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .body(page);
    let (run, attempts) = run_final_groups_fault(action);

    let message = error_message(&run.stderr);
    assert!(
        message.contains("HTML page titled `Down for maintenance`"),
        "{message}"
    );
    assert!(
        message.contains("did not answer like the ActiveCampaign API"),
        "{message}"
    );
    assert!(!message.contains("back shortly"), "{message}");
    assert_eq!(attempts, 1);
}

#[test]
fn json_not_found_quotes_message() {
    let action = FaultAction::status(404)
        .header("Content-Type", "application/json")
        .body(r#"{"message": "No Result found for list with id 77"}"#);
    let (run, attempts) = run_final_groups_fault(action);

    let message = error_message(&run.stderr);
    assert!(
        message.contains("HTTP 404: No Result found for list with id 77"),
        "{message}"
    );
    assert_eq!(attempts, 1);
}

#[test]
fn validation_errors_quote_title_and_detail() {
    let body = r#"{"errors": [{"title": "Invalid limit", "detail": "limit must be 1 to 100",
        "code": "invalid", "source": {"pointer": "/limit"}}]}"#;
    let action = FaultAction::status(422)
        .header("Content-Type", "application/json")
        .body(body);
    let (run, attempts) = run_final_groups_fault(action);

    let message = error_message(&run.stderr);
    assert!(
        message.contains("HTTP 422 (Invalid limit: limit must be 1 to 100)"),
        "{message}"
    );
    assert!(!message.contains("pointer"), "{message}");
    assert_eq!(attempts, 1);
}

#[test]
fn wrong_json_shape_fails() {
    let action = FaultAction::status(200)
        .header("Content-Type", "application/json")
        .body(r#"{"contacts": []}"#);
    let (run, attempts) = run_final_groups_fault(action);

    let message = error_message(&run.stderr);
    assert!(
        message.contains("does not have the expected shape"),
        "{message}"
    );
    assert!(message.contains(r#"{"contacts": []}"#), "{message}");
    assert_eq!(attempts, 1);
}

#[test]
fn json_without_content_type_accepted() {
    // A replacement body is sent without a Content-Type, so both bodies arrive without one.
    let account = Account::generated(3, 1);
    let me = r#"{"user": {"id": "1", "username": "user1", "email": "user1@example.com"}}"#;
    let groups = r#"{"groups": [{"id": "1", "title": "Admin", "p_admin": "1"}],
        "meta": {"total": "1"}}"#;
    let server = serve_with(
        account.clone(),
        vec![
            Fault::path("/api/3/users/me", 1, FaultAction::status(200).body(me)),
            Fault::path("/api/3/groups", 1, FaultAction::status(200).body(groups)),
        ],
    );
    let (_directory, run) = sync(&server, &[]);

    assert_complete(&run, &account);
    assert_no_token(&run);
    assert_eq!(server.requests().len(), request_floor(&account));
}

#[test]
fn redirect_on_credential_check_fails() {
    // The redirect points at a second fake, so a followed redirect would show in its log.
    let elsewhere = serve_with(small_account(), Vec::new());
    let target = elsewhere.url("/login?next=%2Fapi%2F3%2Fusers%2Fme");
    let action = FaultAction::status(302).header("Location", &target);
    let server = serve_with(small_account(), vec![Fault::nth(1, action)]);
    let (_directory, run) = sync(&server, &[]);

    assert_failed(&run, EXIT_CONFIGURATION);
    assert_no_token(&run);
    let message = error_message(&run.stderr);
    assert!(message.contains("HTTP 302"), "{message}");
    assert!(message.contains(&format!("`{target}`")), "{message}");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(elsewhere.requests().len(), 0);
}

#[test]
fn html_not_found_on_credential_check_fails() {
    let page = "<html><head><title>404 Not Found</title></head><body>nginx</body></html>";
    let action = FaultAction::status(404)
        .header("Content-Type", "text/html")
        .body(page);
    let server = serve_with(small_account(), vec![Fault::nth(1, action)]);
    let (_directory, run) = sync(&server, &[]);

    assert_failed(&run, EXIT_CONFIGURATION);
    assert_no_token(&run);
    let message = error_message(&run.stderr);
    assert!(
        message.contains("did not answer like the ActiveCampaign API"),
        "{message}"
    );
    assert!(message.contains("`404 Not Found`"), "{message}");
    assert!(message.contains("Settings > Developer"), "{message}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn pasted_base_url_normalised() {
    let account = small_account();
    let server = FakeServer::builder(account.clone())
        .api_token(TOKEN)
        .start();
    let directory = tempfile::tempdir().expect("temp dir");
    let pasted = format!(" {}/api/3/ ", server.base_url());
    let command = support::sync_command_for_url(&pasted, directory.path());
    let run = SyncRun::run(command, directory.path());

    assert_complete(&run, &account);
    assert_no_token(&run);
    assert_eq!(server.requests().len(), request_floor(&account));
}

#[test]
fn invalid_base_url_rejected_before_requests() {
    let server = serve_with(small_account(), Vec::new());
    let base_url = server.base_url();
    let cases = [
        format!("{base_url}?x=1"),
        format!("{base_url}#f"),
        "http://user:pw@127.0.0.1:1".to_owned(),
        "ftp://127.0.0.1".to_owned(),
        "http://example.com".to_owned(),
        "127.0.0.1:8080".to_owned(),
    ];

    for value in &cases {
        let directory = tempfile::tempdir().expect("temp dir");
        let command = support::sync_command_for_url(value, directory.path());
        let run = SyncRun::run(command, directory.path());

        assert_eq!(
            run.code,
            Some(EXIT_CONFIGURATION),
            "`{value}`; stderr:\n{}",
            run.stderr
        );
        assert!(run.output.is_none(), "`{value}` wrote an output file");
        let message = error_message(&run.stderr);
        assert!(message.contains(&format!("`{value}`")), "{message}");
        assert_no_token(&run);
        assert_eq!(server.requests().len(), 0, "`{value}` sent a request");
    }
}

#[test]
fn oversized_body_fails() {
    let padding = "x".repeat(1536 * 1024);
    let body = format!(r#"{{"groups": [], "padding": "{padding}"}}"#);
    let action = FaultAction::status(200)
        .header("Content-Type", "application/json")
        .body(body);
    let server = serve_with(
        small_account(),
        vec![Fault::path("/api/3/groups", 100, action)],
    );
    let (_directory, run) = sync(&server, &["--max-response-mib", "1"]);

    assert_failed(&run, EXIT_UPSTREAM);
    assert_no_token(&run);
    let message = error_message(&run.stderr);
    assert!(
        message.contains("larger than the host accepts"),
        "{message}"
    );
    assert_eq!(requests_to(&server, "/api/3/groups"), 1);
}

/// Returns the arrival times of every request the fake received.
fn arrivals(server: &FakeServer) -> Vec<std::time::Instant> {
    server
        .requests()
        .iter()
        .map(|request| request.received_at)
        .collect()
}

#[test]
fn default_pacing_respects_rate_limit() {
    let account = Account::generated(450, 12);
    let server = FakeServer::builder(account.clone())
        .api_token(TOKEN)
        .rate_limit(5)
        .start();
    let directory = tempfile::tempdir().expect("temp dir");
    let command = support::paced_sync_command(&server, directory.path());
    let run = SyncRun::run(command, directory.path());

    assert_complete(&run, &account);
    assert_no_token(&run);
    let requests = server.requests();
    let rejected = requests
        .iter()
        .filter(|request| request.status == 429)
        .count();
    assert!(rejected <= 2, "{rejected} answers were 429");
    assert_eq!(requests.len() - rejected, request_floor(&account));
    // Every request counts, 429s included: the fake admits at most 5 a second anyway, so
    // only the requests it received show whether the host kept to the pace.
    let busiest = max_in_window(&arrivals(&server), Duration::from_millis(1000));
    assert!(busiest <= 5, "{busiest} requests in one second");
}

#[test]
fn rate_limit_flag_spaces_requests() {
    let account = Account::generated(5, 2);
    let server = serve_with(account.clone(), Vec::new());
    let directory = tempfile::tempdir().expect("temp dir");
    let mut command = support::paced_sync_command(&server, directory.path());
    command.args(["--rate-limit", "2"]);
    let run = SyncRun::run(command, directory.path());

    assert_complete(&run, &account);
    assert_no_token(&run);
    let arrivals = arrivals(&server);
    assert_eq!(arrivals.len(), request_floor(&account));
    let busiest = max_in_window(&arrivals, Duration::from_millis(1000));
    assert_eq!(busiest, 2, "requests in the busiest second");
}
