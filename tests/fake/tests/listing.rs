//! Lists, paging and the wire shape of users, groups and memberships.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use activecampaign_fake::{Account, FakeServer, PERMISSION_FLAGS, TotalForm};
use common::{Connection, TOKEN, get, id_number, ids};
use serde_json::{Value, json};

#[test]
fn users_default_limit_is_20() {
    let server = FakeServer::builder(Account::generated(45, 3)).start();

    let body = get(&server, "/api/3/users").json();

    assert_eq!(ids(&body, "users"), (1..=20).collect::<Vec<u64>>());
    assert_eq!(body["meta"]["total"], json!("45"));
}

#[test]
fn users_limit_is_capped_at_100() {
    let server = FakeServer::builder(Account::generated(250, 3)).start();

    let body = get(&server, "/api/3/users?limit=500").json();

    assert_eq!(ids(&body, "users"), (1..=100).collect::<Vec<u64>>());
    assert_eq!(body["meta"]["total"], json!("250"));
}

#[test]
fn users_offset_pages_through_all() {
    let server = FakeServer::builder(Account::generated(45, 3)).start();
    let mut connection = Connection::open(&server);

    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    for offset in [0, 20, 40] {
        let body = connection
            .get(
                &format!("/api/3/users?limit=20&offset={offset}"),
                Some(TOKEN),
            )
            .json();
        let page = ids(&body, "users");
        page_sizes.push(page.len());
        seen.extend(page);
    }
    let past_end = connection
        .get("/api/3/users?limit=20&offset=60", Some(TOKEN))
        .json();

    assert_eq!(page_sizes, [20, 20, 5]);
    assert_eq!(seen, (1..=45).collect::<Vec<u64>>());
    assert_eq!(past_end["users"], json!([]));
    assert_eq!(past_end["meta"]["total"], json!("45"));
}

#[test]
fn users_ignore_order_and_filter_parameters() {
    let server = FakeServer::builder(Account::generated(30, 3)).start();

    let plain = get(&server, "/api/3/users?limit=10&offset=5").json();
    let ordered = get(
        &server,
        "/api/3/users?orders%5Bid%5D=ASC&filters[email]=x&limit=10&offset=5",
    )
    .json();

    assert_eq!(plain, ordered);
    assert_eq!(ids(&plain, "users"), (6..=15).collect::<Vec<u64>>());
}

#[test]
fn users_sorted_when_built_unsorted() {
    let mut account = Account::generated(5, 1);
    account.users.reverse();
    let server = FakeServer::builder(account).start();

    let body = get(&server, "/api/3/users").json();

    assert_eq!(ids(&body, "users"), [1, 2, 3, 4, 5]);
}

#[test]
fn user_json_has_real_field_names() {
    let server = FakeServer::builder(Account::demo()).start();
    let base_url = server.base_url();

    let body = get(&server, "/api/3/users?limit=100").json();
    let owner = &body["users"][0];
    let plain = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["id"] == json!("2"))
        .expect("demo user 2 is listed");

    assert_eq!(owner["id"], json!("1"));
    assert_eq!(owner["username"], json!("admin"));
    assert_eq!(owner["firstName"], json!("Dana"));
    assert_eq!(owner["lastName"], json!("Whitfield"));
    assert_eq!(owner["email"], json!("dana.whitfield@example.com"));
    assert_eq!(owner["signature"], Value::Null);
    assert_eq!(owner["lang"], json!("english"));
    assert_eq!(owner["udate"], json!("2024-02-12T08:30:00-06:00"));
    assert_eq!(
        owner["links"]["userGroup"],
        json!(format!("{base_url}/api/3/users/1/userGroup"))
    );
    assert_eq!(plain["phone"], json!(""));
    assert!(plain.get("lang").is_none(), "user 2 has no extras: {plain}");
}

#[test]
fn user_extra_replaces_standard_field() {
    let mut account = Account::generated(1, 1);
    account.users[0]
        .extra
        .insert("phone".to_owned(), Value::Null);
    let server = FakeServer::builder(account).start();

    let body = get(&server, "/api/3/users").json();

    assert_eq!(body["users"][0]["phone"], Value::Null);
}

#[test]
fn groups_list_has_all_permission_flags() {
    let server = FakeServer::builder(Account::demo()).start();
    let base_url = server.base_url();

    let body = get(&server, "/api/3/groups").json();
    let groups = body["groups"].as_array().expect("groups array");

    assert_eq!(ids(&body, "groups"), [3, 5, 6, 7, 9]);
    assert_eq!(body["meta"]["total"], json!("5"));
    for group in groups {
        for flag in PERMISSION_FLAGS {
            let value = &group[flag];
            assert!(
                value == "0" || value == "1",
                "group {} flag {flag} is {value}",
                group["id"]
            );
        }
        assert_eq!(group["reqApproval1st"], json!("2"), "group {}", group["id"]);
        assert!(
            group.get("sdate").is_some(),
            "group {} lacks sdate",
            group["id"]
        );
        let id = group["id"].as_str().expect("group id is a string");
        assert_eq!(
            group["links"]["userGroups"],
            json!(format!("{base_url}/api/3/groups/{id}/userGroups"))
        );
    }
    assert_eq!(groups[0]["title"], json!("Admin"));
    assert_eq!(groups[0]["p_admin"], json!("1"));
    assert_eq!(groups[1]["p_admin"], json!("0"));
    assert_eq!(groups[2]["descript"], Value::Null);
}

#[test]
fn group_by_id_returns_group() {
    let server = FakeServer::builder(Account::demo()).start();

    let body = get(&server, "/api/3/groups/5").json();

    assert_eq!(body["group"]["title"], json!("Sales"));
}

#[test]
fn user_by_id_returns_user() {
    let server = FakeServer::builder(Account::demo()).start();

    let body = get(&server, "/api/3/users/5").json();

    assert_eq!(body["user"]["username"], json!("janedoe"));
}

#[test]
fn unknown_user_is_404() {
    let server = FakeServer::builder(Account::demo()).start();

    let response = get(&server, "/api/3/users/3");

    assert_eq!(response.status, 404);
    assert_eq!(
        response.json()["message"],
        json!("No Result found for User with id 3")
    );
}

#[test]
fn users_me_returns_owner() {
    let server = FakeServer::builder(Account::demo()).start();

    let response = get(&server, "/api/3/users/me");

    assert_eq!(response.status, 200);
    assert_eq!(response.json()["user"]["id"], json!("1"));
}

#[test]
fn group_members_lists_rows() {
    let server = FakeServer::builder(Account::demo()).start();
    let base_url = server.base_url();

    let body = get(&server, "/api/3/groups/3/userGroups").json();
    let rows = body["userGroups"].as_array().expect("userGroups array");
    let members: Vec<u64> = rows.iter().map(|row| id_number(&row["userid"])).collect();

    assert_eq!(members, [1, 2, 8, 14]);
    assert_eq!(body["meta"]["total"], json!("4"));
    for row in rows {
        assert_eq!(row["groupid"], json!("3"));
        assert!(row["id"].is_string(), "row id is not a string: {row}");
        let id = row["id"].as_str().unwrap();
        assert_eq!(
            row["links"]["user"],
            json!(format!("{base_url}/api/3/userGroups/{id}/user"))
        );
    }
}

#[test]
fn group_members_pages_large_group() {
    let mut account = Account::generated(250, 4);
    account.add_all_users_to_group(2);
    let server = FakeServer::builder(account).start();
    let mut connection = Connection::open(&server);

    let first = connection
        .get("/api/3/groups/2/userGroups", Some(TOKEN))
        .json();
    let mut members = BTreeSet::new();
    for offset in [0, 100, 200] {
        let body = connection
            .get(
                &format!("/api/3/groups/2/userGroups?limit=100&offset={offset}"),
                Some(TOKEN),
            )
            .json();
        for row in body["userGroups"].as_array().unwrap() {
            members.insert(id_number(&row["userid"]));
        }
    }

    assert_eq!(first["userGroups"].as_array().unwrap().len(), 20);
    assert_eq!(first["meta"]["total"], json!("250"));
    assert_eq!(members, (1..=250).collect::<BTreeSet<u64>>());
}

#[test]
fn unknown_group_members_is_403_with_message() {
    let server = FakeServer::builder(Account::demo()).start();

    let response = get(&server, "/api/3/groups/10/userGroups");

    assert_eq!(response.status, 403);
    assert_eq!(
        response.json(),
        json!({"message": "No Result found for Group with id 10"})
    );
}

#[test]
fn unknown_group_is_403_with_message() {
    let server = FakeServer::builder(Account::demo()).start();

    let response = get(&server, "/api/3/groups/10");

    assert_eq!(response.status, 403);
    assert_eq!(
        response.json(),
        json!({"message": "No Result found for Group with id 10"})
    );
}

#[test]
fn unknown_path_is_404_json() {
    let server = FakeServer::builder(Account::demo()).start();

    for path in [
        "/api/3/contacts",
        "/api/3/users/",
        "/",
        "/api/3/groups/3/userGroups/1",
    ] {
        let response = get(&server, path);
        assert_eq!(response.status, 404, "path {path}");
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "path {path}"
        );
        assert!(response.json()["message"].is_string(), "path {path}");
    }
}

#[test]
fn post_is_405() {
    let server = FakeServer::builder(Account::demo()).start();
    let mut connection = Connection::open(&server);

    for method in ["POST", "PUT", "DELETE"] {
        let response = connection
            .send(method, "/api/3/users", &[("Api-Token", TOKEN)])
            .expect("response");
        assert_eq!(response.status, 405, "method {method}");
        assert_eq!(response.header("allow"), Some("GET"), "method {method}");
        assert!(response.json()["message"].is_string(), "method {method}");
    }
}

/// Returns the `meta` object a list of `total` rows should carry for each form.
fn expected_meta(form: TotalForm, total: u64) -> Option<Value> {
    match form {
        TotalForm::String => Some(json!({"total": total.to_string()})),
        TotalForm::Number => Some(json!({"total": total})),
        TotalForm::Null => Some(json!({"total": null})),
        TotalForm::Absent => Some(json!({})),
        TotalForm::NoMeta => None,
    }
}

#[test]
fn total_form_controls_meta_total() {
    let forms = [
        TotalForm::String,
        TotalForm::Number,
        TotalForm::Null,
        TotalForm::Absent,
        TotalForm::NoMeta,
    ];
    for form in forms {
        let server = FakeServer::builder(Account::generated(7, 2))
            .total_form(form)
            .start();

        // Group 1 contains users 1, 3, 5 and 7.
        for (path, total) in [
            ("/api/3/users", 7),
            ("/api/3/groups", 2),
            ("/api/3/groups/1/userGroups", 4),
        ] {
            let body = get(&server, path).json();
            assert_eq!(
                body.get("meta").cloned(),
                expected_meta(form, total),
                "{form:?} on {path}"
            );
        }
    }
}

#[test]
fn numeric_ids_writes_numbers() {
    let server = FakeServer::builder(Account::demo())
        .numeric_ids(true)
        .start();

    let users = get(&server, "/api/3/users").json();
    let groups = get(&server, "/api/3/groups").json();
    let members = get(&server, "/api/3/groups/3/userGroups").json();
    let me = get(&server, "/api/3/users/me").json();

    assert_eq!(users["users"][0]["id"], json!(1));
    assert_eq!(groups["groups"][0]["id"], json!(3));
    assert_eq!(members["userGroups"][0]["userid"], json!(1));
    assert_eq!(members["userGroups"][0]["groupid"], json!(3));
    assert!(members["userGroups"][0]["id"].is_u64());
    assert_eq!(me["user"]["id"], json!(1));
    assert_eq!(
        users["meta"]["total"],
        json!("25"),
        "totals keep their own form"
    );
}

#[test]
fn string_ids_by_default() {
    let server = FakeServer::builder(Account::demo()).start();

    let members = get(&server, "/api/3/groups/3/userGroups").json();

    assert_eq!(members["userGroups"][0]["userid"], json!("1"));
    assert_eq!(members["userGroups"][0]["groupid"], json!("3"));
    assert!(members["userGroups"][0]["id"].is_string());
}

#[test]
fn ten_thousand_users_page_quickly() {
    let server = FakeServer::builder(Account::generated(10_000, 10)).start();
    let mut connection = Connection::open(&server);
    let started = Instant::now();

    let mut seen = BTreeSet::new();
    let mut offset = 0;
    loop {
        let body = connection
            .get(
                &format!("/api/3/users?limit=100&offset={offset}"),
                Some(TOKEN),
            )
            .json();
        let page = ids(&body, "users");
        if page.is_empty() {
            break;
        }
        offset += page.len();
        seen.extend(page);
    }
    let elapsed = started.elapsed();

    assert_eq!(seen.len(), 10_000);
    assert_eq!(server.connections(), 1);
    // A generous bound that still catches per-request work proportional to the account size.
    assert!(
        elapsed.as_secs() < 20,
        "paging 10,000 users took {elapsed:?}"
    );
}
