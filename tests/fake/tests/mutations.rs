//! Account changes applied during a run.

mod common;

use activecampaign_fake::{Account, FakeServer, Mutation, User};
use common::{Connection, TOKEN, id_number, ids};
use serde_json::json;

#[test]
fn add_user_mutation_applies_after_request() {
    let server = FakeServer::builder(Account::generated(5, 2))
        .mutation(Mutation::AddUserAfterRequest {
            after: 2,
            user: User::new(6, "newcomer", "New", "Comer", "newcomer@example.com"),
            group_id: Some(1),
        })
        .start();
    let mut connection = Connection::open(&server);

    let totals: Vec<_> = (0..3)
        .map(|_| connection.get("/api/3/users", Some(TOKEN)).json()["meta"]["total"].clone())
        .collect();
    let members = connection
        .get("/api/3/groups/1/userGroups", Some(TOKEN))
        .json();
    let member_ids: Vec<u64> = members["userGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| id_number(&row["userid"]))
        .collect();

    assert_eq!(totals, [json!("5"), json!("5"), json!("6")]);
    assert_eq!(member_ids, [1, 3, 5, 6]);
    assert!(server.account().user(6).is_some());
}

#[test]
fn remove_user_mutation_applies_after_request() {
    let server = FakeServer::builder(Account::generated(5, 2))
        .mutation(Mutation::RemoveUserAfterRequest {
            after: 1,
            user_id: 3,
        })
        .start();
    let mut connection = Connection::open(&server);

    let before = connection.get("/api/3/users", Some(TOKEN)).json();
    let after = connection.get("/api/3/users", Some(TOKEN)).json();
    let members = connection
        .get("/api/3/groups/1/userGroups", Some(TOKEN))
        .json();

    assert_eq!(ids(&before, "users"), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&after, "users"), [1, 2, 4, 5]);
    assert_eq!(members["meta"]["total"], json!("2"));
    assert!(server.account().user(3).is_none());
}

#[test]
fn mutation_after_zero_applies_at_start() {
    let server = FakeServer::builder(Account::generated(2, 1))
        .mutation(Mutation::RemoveUserAfterRequest {
            after: 0,
            user_id: 2,
        })
        .start();

    assert_eq!(server.account().users.len(), 1);
}
