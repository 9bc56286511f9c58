//! End-to-end syncs: the host binary runs the embedded component against a fake
//! ActiveCampaign API on 127.0.0.1, and the tests check the file it writes, its exit code,
//! its messages and the requests the fake received.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use activecampaign_fake::Group;
use serde_json::{Value, json};
use support::{
    Account, FakeServer, Fault, FaultAction, SyncRun, TOKEN, TotalForm, User, expected_ids, ids,
    serve, summary_numbers, sync, sync_command,
};

/// Two users and two groups: Admin (id 3, an admin group) and Sales (id 4). User 1 is in
/// Admin, user 2 in both.
fn small_account() -> Account {
    let mut account = Account::default();

    let mut dana = User::new(
        1,
        "admin",
        "Dana",
        "Whitfield",
        "dana.whitfield@example.com",
    );
    dana.phone = "+1 312 555 0147".to_owned();
    dana.extra.insert("lang".to_owned(), json!("english"));
    dana.extra.insert("localZoneid".to_owned(), json!(5));
    dana.extra
        .insert("udate".to_owned(), json!("0000-00-00 00:00:00"));
    account.push_user(dana);
    account.push_user(User::new(2, "ops", "", "", "ops@example.com"));

    let mut admin = Group::new(3, "Admin", true);
    admin.descript = Some("Account administrators".to_owned());
    account.push_group(admin);
    account.push_group(Group::new(4, "Sales", false));

    account.add_membership(1, 3);
    account.add_membership(2, 3);
    account.add_membership(2, 4);
    account
}

/// Returns the resource record with key `resource_type:id`.
fn resource<'a>(output: &'a Value, resource_type: &str, id: &str) -> &'a Value {
    output["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|record| {
            record["id"]["resource_type"] == resource_type && record["id"]["resource"] == id
        })
        .unwrap_or_else(|| panic!("no resource `{resource_type}:{id}`"))
}

/// Returns the record with `id` from the list `kind` (`entitlements` or `grants`).
fn record<'a>(output: &'a Value, kind: &str, id: &str) -> &'a Value {
    output[kind]
        .as_array()
        .expect(kind)
        .iter()
        .find(|record| record["id"] == id)
        .unwrap_or_else(|| panic!("no {kind} record `{id}`"))
}

#[test]
fn sync_small_account_exact_ids() {
    let account = small_account();
    let server = serve(account.clone());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let output = run.output();

    let (resources, entitlements, grants) = expected_ids(&account);
    assert_eq!(ids(output, "resources"), resources);
    assert_eq!(ids(output, "entitlements"), entitlements);
    assert_eq!(ids(output, "grants"), grants);
    assert_eq!(
        grants,
        [
            "group:3:admin:user:1",
            "group:3:admin:user:2",
            "group:3:member:user:1",
            "group:3:member:user:2",
            "group:4:member:user:2",
        ]
    );
    let type_ids: Vec<&str> = output["resource_types"]
        .as_array()
        .expect("resource_types")
        .iter()
        .map(|record| record["id"].as_str().expect("id"))
        .collect();
    assert_eq!(type_ids, ["user", "group"]);
    assert_eq!(output["resource_types"][0]["traits"], json!(["user"]));
    assert_eq!(output["resource_types"][1]["traits"], json!(["group"]));
}

#[test]
fn sync_small_account_user_fields() {
    let server = serve(small_account());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let output = run.output();

    let dana = resource(output, "user", "1");
    assert_eq!(dana["display_name"], "Dana Whitfield");
    assert_eq!(dana.get("description"), None);
    assert_eq!(
        dana["user_trait"]["emails"],
        json!([{"address": "dana.whitfield@example.com", "is_primary": true}])
    );
    assert_eq!(dana["user_trait"]["login"], "admin");
    assert_eq!(dana["user_trait"]["status"], "unspecified");
    // The empty signature and the zero `udate` mean "no value", so they are left out.
    assert_eq!(
        dana["user_trait"]["profile"],
        json!({
            "email": "dana.whitfield@example.com",
            "firstName": "Dana",
            "lang": "english",
            "lastName": "Whitfield",
            "localZoneid": 5,
            "phone": "+1 312 555 0147",
            "username": "admin",
        })
    );

    let ops = resource(output, "user", "2");
    assert_eq!(ops["display_name"], "ops");
    assert_eq!(ops["user_trait"]["login"], "ops");
}

#[test]
fn sync_small_account_group_fields() {
    let server = serve(small_account());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let output = run.output();

    let admin = resource(output, "group", "3");
    assert_eq!(admin["display_name"], "Admin");
    assert_eq!(admin["description"], "Account administrators");
    assert_eq!(admin.get("user_trait"), None);
    let profile = admin["group_trait"]["profile"]
        .as_object()
        .expect("group profile");
    assert_eq!(profile["p_admin"], json!(true));
    assert_eq!(profile["pgContactAdd"], json!(true));
    assert_eq!(profile["pgContactActions"], json!(false));
    assert_eq!(profile["pg_user_add"], json!(true));
    // `reqApproval1st` is not a permission flag, and "2" is no yes/no value anyway.
    assert_eq!(profile["reqApproval1st"], json!("2"));
    assert_eq!(profile["sdate"], json!("2018-04-04T10:51:14-05:00"));
    for key in ["id", "title", "descript", "links", "reqApprovalNotify"] {
        assert_eq!(profile.get(key), None, "profile key `{key}`");
    }
    // 48 permission flags, `p_admin`, and six settings fields.
    assert_eq!(profile.len(), 55);

    let sales = resource(output, "group", "4");
    assert_eq!(sales.get("description"), None);
    assert_eq!(sales["group_trait"]["profile"]["p_admin"], json!(false));
}

#[test]
fn sync_small_account_entitlement_fields() {
    let server = serve(small_account());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let output = run.output();

    assert_eq!(
        record(output, "entitlements", "group:3:admin"),
        &json!({
            "id": "group:3:admin",
            "resource": {"resource_type": "group", "resource": "3"},
            "slug": "admin",
            "purpose": "permission",
            "grantable_to": ["user"],
            "display_name": "Admin group admin",
            "description": "Account admin rights, held through membership of the admin group `Admin`",
        })
    );
    assert_eq!(
        record(output, "entitlements", "group:4:member"),
        &json!({
            "id": "group:4:member",
            "resource": {"resource_type": "group", "resource": "4"},
            "slug": "member",
            "purpose": "assignment",
            "grantable_to": ["user"],
            "display_name": "Sales group member",
            "description": "Member of the ActiveCampaign permission group `Sales`",
        })
    );
}

#[test]
fn sync_small_account_grant_fields() {
    let server = serve(small_account());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let output = run.output();

    assert_eq!(
        record(output, "grants", "group:3:admin:user:2"),
        &json!({
            "id": "group:3:admin:user:2",
            "entitlement": "group:3:admin",
            "principal": {"resource_type": "user", "resource": "2"},
        })
    );
    assert_eq!(
        record(output, "grants", "group:4:member:user:2"),
        &json!({
            "id": "group:4:member:user:2",
            "entitlement": "group:4:member",
            "principal": {"resource_type": "user", "resource": "2"},
        })
    );
}

/// 257 users and 105 groups, and group 1 contains every user, so every listing has more
/// than one page.
fn multi_page_account() -> Account {
    let mut account = Account::generated(257, 105);
    account.add_all_users_to_group(1);
    account
}

#[test]
fn sync_multi_page_exact_ids() {
    let account = multi_page_account();
    let server = serve(account.clone());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let output = run.output();

    let (resources, entitlements, grants) = expected_ids(&account);
    assert_eq!(resources.len(), 362);
    assert_eq!(ids(output, "resources"), resources);
    assert_eq!(ids(output, "entitlements"), entitlements);
    assert_eq!(ids(output, "grants"), grants);
}

#[test]
fn sync_multi_page_requests_at_floor() {
    let account = multi_page_account();
    let server = serve(account.clone());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let requests = server.requests();

    // users/me, 3 pages of users, 2 of groups, 3 of group 1's members, 1 of each other's.
    assert_eq!(support::request_floor(&account), 113);
    assert_eq!(requests.len(), 113);

    let lists: Vec<_> = requests
        .iter()
        .filter(|request| request.path != "/api/3/users/me")
        .collect();
    for request in &lists {
        let limits: Vec<&str> = request
            .query
            .split('&')
            .filter(|pair| pair.starts_with("limit="))
            .collect();
        assert_eq!(limits, ["limit=100"], "{} {}", request.path, request.query);
    }

    let per_user: Vec<&str> = requests
        .iter()
        .map(|request| request.path.as_str())
        .filter(|path| {
            path.strip_prefix("/api/3/users/")
                .is_some_and(|rest| rest != "me")
        })
        .collect();
    assert_eq!(per_user, Vec::<&str>::new());

    let mut seen = HashSet::new();
    for request in &requests {
        let page = format!("{}?{}", request.path, request.query);
        assert!(seen.insert(page.clone()), "requested twice: {page}");
    }
}

#[test]
fn sync_every_total_form_same_output() {
    let mut account = Account::generated(230, 3);
    account.add_all_users_to_group(2);
    let (resources, entitlements, grants) = expected_ids(&account);

    let baseline = {
        let server = serve(account.clone());
        let (_directory, run) = sync(&server, &[]);
        run.assert_success();
        run.output().clone()
    };
    assert_eq!(ids(&baseline, "resources"), resources);
    assert_eq!(ids(&baseline, "entitlements"), entitlements);
    assert_eq!(ids(&baseline, "grants"), grants);

    for form in [
        TotalForm::String,
        TotalForm::Number,
        TotalForm::Null,
        TotalForm::Absent,
        TotalForm::NoMeta,
    ] {
        let server = FakeServer::builder(account.clone())
            .api_token(TOKEN)
            .total_form(form)
            .start();
        let (_directory, run) = sync(&server, &[]);
        assert_eq!(run.code, Some(0), "total {form:?}; stderr:\n{}", run.stderr);
        assert_eq!(run.output(), &baseline, "total {form:?}");
    }
}

#[test]
fn sync_numeric_ids_exact_output() {
    let account = small_account();
    let strings = {
        let server = serve(account.clone());
        let (_directory, run) = sync(&server, &[]);
        run.assert_success();
        run.output().clone()
    };

    let server = FakeServer::builder(account.clone())
        .api_token(TOKEN)
        .numeric_ids(true)
        .start();
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let output = run.output();

    let (resources, entitlements, grants) = expected_ids(&account);
    assert_eq!(ids(output, "resources"), resources);
    assert_eq!(ids(output, "entitlements"), entitlements);
    assert_eq!(ids(output, "grants"), grants);
    assert_eq!(output, &strings);
}

#[test]
fn demo_sync_without_credentials() {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(support::host_binary());
    command
        .current_dir(directory.path())
        .arg("sync")
        .arg("--cache-dir")
        .arg(support::cache_dir());
    support::clear_environment(&mut command);
    let run = SyncRun::run(command, directory.path());

    run.assert_success();
    assert!(run.stderr.contains("DEMO account"), "{}", run.stderr);
    let output = run.output();
    let resources = ids(output, "resources");
    let users = resources
        .iter()
        .filter(|id| id.starts_with("user:"))
        .count();
    let groups = resources
        .iter()
        .filter(|id| id.starts_with("group:"))
        .count();
    assert_eq!(users, 25);
    assert_eq!(groups, 5);
    assert!(
        ids(output, "entitlements").contains(&"group:3:admin".to_owned()),
        "no admin entitlement"
    );
}

/// Runs `sync` in a new directory with only the given flags and environment.
fn sync_with(args: &[&str], env: &[(&str, &str)]) -> (tempfile::TempDir, SyncRun) {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(support::host_binary());
    command
        .current_dir(directory.path())
        .arg("sync")
        .arg("--cache-dir")
        .arg(support::cache_dir())
        .args(args);
    support::clear_environment(&mut command);
    command.envs(env.iter().copied());
    let run = SyncRun::run(command, directory.path());
    (directory, run)
}

#[test]
fn base_url_without_token_fails() {
    let server = serve(small_account());
    let base_url = server.base_url();
    let (directory, run) = sync_with(&["--base-url", &base_url], &[]);

    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("missing API token"), "{}", run.stderr);
    assert!(run.output.is_none());
    assert!(!directory.path().join("sync.json").exists());
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn token_without_base_url_fails() {
    let (directory, run) = sync_with(&[], &[("BATON_API_TOKEN", TOKEN)]);

    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("missing base URL"), "{}", run.stderr);
    assert!(run.output.is_none());
    assert!(!directory.path().join("sync.json").exists());
    support::assert_no_token(&run);
}

#[test]
fn bad_token_fails_credential_check() {
    let server = FakeServer::builder(small_account())
        .api_token("another-token-5b1d")
        .start();
    let (_directory, run) = sync(&server, &[]);

    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(run.stderr.contains("invalid"), "{}", run.stderr);
    assert!(run.stderr.contains("account admin"), "{}", run.stderr);
    assert!(run.output.is_none());
    support::assert_no_token(&run);
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|request| request.path.clone())
        .collect();
    assert_eq!(paths, ["/api/3/users/me"]);
}

#[test]
fn non_admin_token_fails() {
    let server = FakeServer::builder(small_account())
        .api_token("admin-token-7c2e")
        .non_admin_token(TOKEN)
        .start();
    let (_directory, run) = sync(&server, &[]);

    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.contains("must belong to an account admin"),
        "{}",
        run.stderr
    );
    assert!(run.output.is_none());
    support::assert_no_token(&run);
}

#[test]
fn failed_sync_keeps_previous_output() {
    let server = FakeServer::builder(small_account())
        .api_token(TOKEN)
        .fault(Fault::path("/api/3/groups", 100, FaultAction::status(500)))
        .start();
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("sync.json");
    let previous = "{\"previous\": true}\n";
    std::fs::write(&path, previous).expect("write the previous output");

    let mut command = sync_command(&server, directory.path());
    command.args(["--max-attempts", "2"]);
    let run = SyncRun::run(command, directory.path());

    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&path).expect("read sync.json"),
        previous
    );
    assert_eq!(
        support::files_starting_with(directory.path(), ".sync-"),
        Vec::<String>::new()
    );
}

#[test]
fn two_syncs_identical_bytes() {
    let server = serve(multi_page_account());
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("sync.json");
    let read = |path: &Path| std::fs::read(path).expect("read sync.json");

    SyncRun::run(sync_command(&server, directory.path()), directory.path()).assert_success();
    let first = read(&path);
    SyncRun::run(sync_command(&server, directory.path()), directory.path()).assert_success();
    let second = read(&path);

    assert_eq!(first.len(), second.len());
    assert!(first == second, "the two outputs differ");
}

#[test]
fn summary_reports_exact_figures() {
    let account = multi_page_account();
    let server = serve(account.clone());
    let (_directory, run) = sync(&server, &[]);
    run.assert_success();
    let (_, entitlements, grants) = expected_ids(&account);
    let figure = |label: &str| summary_numbers(&run.stderr, label);

    assert_eq!(figure("user resources"), Some(vec![257]));
    assert_eq!(figure("group resources"), Some(vec![105]));
    assert_eq!(
        figure("entitlements"),
        Some(vec![entitlements.len() as u64])
    );
    assert_eq!(figure("grants"), Some(vec![grants.len() as u64]));
    assert_eq!(figure("requests"), Some(vec![113, 0, 0]));
    assert_eq!(server.requests().len(), 113);
}

#[cfg(unix)]
#[test]
fn output_link_is_rejected_untouched() {
    let server = support::serve(small_account());
    let directory = tempfile::tempdir().expect("temp dir");
    let target = directory.path().join("target.json");
    std::fs::write(&target, "keep").expect("seed target");
    let link = directory.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    let mut command = Command::new(support::host_binary());
    support::clear_environment(&mut command);
    command
        .args(["sync", "--no-rate-limit", "--base-url", &server.base_url()])
        .arg("--output")
        .arg(&link)
        .env("BATON_API_TOKEN", TOKEN);
    let run = SyncRun::run(command, directory.path());

    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "keep");
    assert!(server.requests().is_empty(), "requests were sent");
}

#[test]
fn invalid_port_is_rejected_before_requests() {
    let server = support::serve(small_account());
    let directory = tempfile::tempdir().expect("temp dir");
    let command = support::sync_command_for_url("http://127.0.0.1:99999", directory.path());
    let run = SyncRun::run(command, directory.path());

    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("port"), "{}", run.stderr);
    assert!(run.output.is_none());
    assert!(server.requests().is_empty(), "requests were sent");
}
