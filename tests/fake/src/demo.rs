//! Ready-made accounts: the hand-written demo account and generated accounts of any size.

use serde_json::{Map, Value};

use crate::account::{Account, Group, Membership, User};

/// One demo user: id, username, first name, last name, e-mail, phone, signature, group id.
type DemoUser = (
    u64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    u64,
);

const ADMIN_GROUP: u64 = 3;
const SALES_GROUP: u64 = 5;
const MARKETING_GROUP: u64 = 6;
const SUPPORT_GROUP: u64 = 7;
const READ_ONLY_GROUP: u64 = 9;

/// Users 3 and 17 are missing, as on an account where users were deleted.
#[rustfmt::skip]
const DEMO_USERS: [DemoUser; 25] = [
    (1, "admin", "Dana", "Whitfield", "dana.whitfield@example.com", "+1 312 555 0147", None, ADMIN_GROUP),
    (2, "mreyes", "Marco", "Reyes", "marco.reyes@example.com", "", None, ADMIN_GROUP),
    (4, "priya.n", "Priya", "Natarajan", "priya.natarajan@example.com", "+1 415 555 0199", Some("Priya Natarajan\nSales Lead"), SALES_GROUP),
    (5, "janedoe", "Jane", "Doe", "janedoe@example.com", "", None, SALES_GROUP),
    (6, "tokafor", "Tobi", "Okafor", "tobi.okafor@example.com", "", Some(""), SALES_GROUP),
    (7, "lchen", "Lin", "Chen", "lin.chen@example.com", "+44 20 7946 0321", None, MARKETING_GROUP),
    (8, "rgarcia", "Rosa", "García", "rosa.garcia@example.com", "", None, ADMIN_GROUP),
    (9, "bkowalski", "Bartek", "Kowalski", "bartek.kowalski@example.com", "", None, SALES_GROUP),
    (10, "amartin", "Aline", "Martin", "aline.martin@example.com", "+33 1 84 88 00 12", Some("Aline Martin, Marketing"), MARKETING_GROUP),
    (11, "sjohansson", "Sven", "Johansson", "sven.johansson@example.com", "", None, SUPPORT_GROUP),
    (12, "hnguyen", "Hoa", "Nguyen", "hoa.nguyen@example.com", "", Some(""), SUPPORT_GROUP),
    (13, "omurphy", "Orla", "Murphy", "Orla.Murphy@example.com", "+353 1 555 0173", None, SALES_GROUP),
    (14, "kwatanabe", "Kenji", "Watanabe", "kenji.watanabe@example.com", "", None, ADMIN_GROUP),
    (15, "fdiallo", "Fatou", "Diallo", "fatou.diallo@example.com", "", None, MARKETING_GROUP),
    (16, "jbrooks", "Jordan", "Brooks", "jordan.brooks@example.com", "", None, SUPPORT_GROUP),
    (18, "eschmidt", "Eva", "Schmidt", "eva.schmidt@example.com", "+49 30 555 0110", None, SALES_GROUP),
    (19, "dpatel", "Dev", "Patel", "dev.patel@example.com", "", None, MARKETING_GROUP),
    (20, "cmoreau", "Camille", "Moreau", "camille.moreau@example.com", "", Some(""), SUPPORT_GROUP),
    (21, "iivanova", "Irina", "Ivanova", "irina.ivanova@example.com", "", None, READ_ONLY_GROUP),
    (22, "tbaker", "Tom", "Baker", "tom.baker@example.com", "", None, SALES_GROUP),
    (23, "nsilva", "Nadia", "Silva", "nadia.silva@example.com", "", None, MARKETING_GROUP),
    (24, "wkim", "Won", "Kim", "won.kim@example.com", "", None, SUPPORT_GROUP),
    (25, "agreen", "Ava", "Green", "ava.green@example.com", "", None, READ_ONLY_GROUP),
    (26, "ylevi", "Yael", "Levi", "yael.levi@example.com", "+972 3 555 0166", None, SUPPORT_GROUP),
    (27, "rfoster", "Rex", "Foster", "rex.foster@example.com", "", None, READ_ONLY_GROUP),
];

const FIRST_NAMES: [&str; 16] = [
    "Alex", "Blake", "Casey", "Dana", "Elliot", "Frankie", "Gale", "Harper", "Indy", "Jules",
    "Kai", "Logan", "Morgan", "Noel", "Parker", "Quinn",
];

const LAST_NAMES: [&str; 16] = [
    "Adams", "Baker", "Clark", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Khan", "Lopez", "Meyer", "Novak", "Olsen", "Park",
];

/// Titles of generated groups 2 to 5. Later groups are called "Team {id}".
const GENERATED_TITLES: [&str; 4] = ["Sales", "Marketing", "Support", "Read only"];

/// Builds the demo account documented on `Account::demo`.
pub(crate) fn account() -> Account {
    let users = DEMO_USERS
        .iter()
        .map(|&(id, username, first, last, email, phone, signature, _)| {
            let mut user = User::new(id, username, first, last, email);
            user.phone = phone.to_owned();
            user.signature = signature.map(str::to_owned);
            user.extra = demo_extra(id);
            user
        })
        .collect();

    let memberships = DEMO_USERS
        .iter()
        .zip(1..)
        .map(|(&(user_id, .., group_id), id)| Membership {
            id,
            user_id,
            group_id,
        })
        .collect();

    Account {
        users,
        groups: demo_groups(),
        memberships,
    }
}

/// Builds the extra fields of one demo user, which only some users have.
fn demo_extra(user_id: u64) -> Map<String, Value> {
    let pairs: &[(&str, &str)] = match user_id {
        1 => &[
            ("lang", "english"),
            ("localZoneid", "America/Chicago"),
            ("cdate", "2018-09-20T10:51:14-05:00"),
            ("udate", "2024-02-12T08:30:00-06:00"),
            ("mfaEnabled", "1"),
        ],
        4 | 7 | 13 => &[("lang", "english"), ("localZoneid", "Europe/London")],
        10 => &[
            ("lang", "french"),
            ("cdate", "2021-06-01T09:00:00+02:00"),
            ("udate", "2023-11-15T17:42:10+01:00"),
        ],
        // A zero date, which real accounts use for "never".
        11 => &[("udate", "0000-00-00 00:00:00")],
        18 => &[
            ("mfaEnabled", "0"),
            ("password_updated_utc_timestamp", "2023-04-11 09:12:44"),
        ],
        _ => &[],
    };

    pairs
        .iter()
        .map(|&(key, value)| (key.to_owned(), Value::String(value.to_owned())))
        .collect()
}

fn demo_groups() -> Vec<Group> {
    let mut admin = Group::new(ADMIN_GROUP, "Admin", true);
    admin.descript =
        Some("This is a group for admin users (people that can manage content)".to_owned());

    let mut sales = Group::new(SALES_GROUP, "Sales", false);
    sales.descript = Some("Account executives and sales development".to_owned());
    for flag in [
        "pgContactAdd",
        "pgContactEdit",
        "pgContactImport",
        "pgContactExport",
        "pgReportsUser",
    ] {
        sales.set_permission(flag, true);
    }

    let mut marketing = Group::new(MARKETING_GROUP, "Marketing", false);
    for flag in [
        "pgListAdd",
        "pgListEdit",
        "pgMessageAdd",
        "pgMessageEdit",
        "pgMessageSend",
        "pgTemplateAdd",
        "pgTemplateEdit",
        "pgAutomationManage",
        "pgFormEdit",
        "pgReportsCampaign",
        "pgReportsList",
    ] {
        marketing.set_permission(flag, true);
    }

    let mut support = Group::new(SUPPORT_GROUP, "Support", false);
    support.descript = Some("Customer support team".to_owned());
    for flag in ["pgContactEdit", "pgContactMerge", "pgSavedResponsesManage"] {
        support.set_permission(flag, true);
    }

    let mut read_only = Group::new(READ_ONLY_GROUP, "Read only", false);
    read_only.descript = Some(String::new());
    let deal_flags: Vec<String> = read_only
        .permissions
        .keys()
        .filter(|flag| flag.starts_with("pgDeal"))
        .cloned()
        .collect();
    for flag in deal_flags {
        read_only.set_permission(&flag, false);
    }

    vec![admin, sales, marketing, support, read_only]
}

/// Builds the generated account documented on `Account::generated`.
pub(crate) fn generated(users: usize, groups: usize) -> Account {
    let groups_list: Vec<Group> = (1..=groups as u64).map(generated_group).collect();
    let users_list: Vec<User> = (1..=users as u64).map(generated_user).collect();

    let memberships = if groups == 0 {
        Vec::new()
    } else {
        let groups = groups as u64;
        (1..=users as u64)
            .map(|id| Membership {
                id,
                user_id: id,
                group_id: (id - 1) % groups + 1,
            })
            .collect()
    };

    Account {
        users: users_list,
        groups: groups_list,
        memberships,
    }
}

fn generated_group(id: u64) -> Group {
    if id == 1 {
        return Group::new(1, "Admin", true);
    }

    let title = match GENERATED_TITLES.get((id - 2) as usize) {
        Some(title) => (*title).to_owned(),
        None => format!("Team {id}"),
    };
    let mut group = Group::new(id, &title, false);
    if id.is_multiple_of(2) {
        group.descript = Some(format!("{title} members"));
    }
    group
}

/// Builds user `id` of a generated account, varying the optional fields by id.
fn generated_user(id: u64) -> User {
    let index = (id - 1) as usize;
    let first = FIRST_NAMES[index % FIRST_NAMES.len()];
    let last = LAST_NAMES[(index / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let username = format!("{}{}{id}", first[..1].to_lowercase(), last.to_lowercase());
    let email = format!("{username}@example.com");
    let mut user = User::new(id, &username, first, last, &email);

    if id.is_multiple_of(3) {
        user.phone = format!("+1 555 01{:02}", id % 100);
    }
    if id.is_multiple_of(4) {
        user.signature = Some(String::new());
    }
    if id.is_multiple_of(5) {
        user.extra.insert("lang".to_owned(), Value::from("english"));
        user.extra
            .insert("localZoneid".to_owned(), Value::from("America/New_York"));
    }
    if id.is_multiple_of(7) {
        let month = id % 12 + 1;
        let day = id % 28 + 1;
        user.extra.insert(
            "cdate".to_owned(),
            Value::from(format!("2022-{month:02}-{day:02}T09:30:00-05:00")),
        );
        user.extra.insert(
            "udate".to_owned(),
            Value::from(format!("2024-{month:02}-{day:02}T16:05:00-05:00")),
        );
    }
    user
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Counts the groups of each user.
    fn groups_per_user(account: &Account) -> BTreeMap<u64, usize> {
        let mut counts: BTreeMap<u64, usize> =
            account.users.iter().map(|user| (user.id, 0)).collect();
        for row in &account.memberships {
            *counts.entry(row.user_id).or_default() += 1;
        }
        counts
    }

    #[test]
    fn demo_has_25_users_and_5_groups() {
        let account = Account::demo();

        assert_eq!(account.users.len(), 25);
        assert_eq!(account.groups.len(), 5);
        assert_eq!(account.owner().map(|user| user.id), Some(1));
    }

    #[test]
    fn demo_puts_every_user_in_one_group() {
        let account = Account::demo();

        for (user_id, count) in groups_per_user(&account) {
            assert_eq!(count, 1, "user {user_id}");
        }
        for row in &account.memberships {
            assert!(
                account.group(row.group_id).is_some(),
                "membership {} points at a missing group",
                row.id
            );
        }
    }

    #[test]
    fn demo_admin_group_is_3_with_4_members() {
        let account = Account::demo();
        let admin_groups: Vec<u64> = account
            .groups
            .iter()
            .filter(|group| group.admin)
            .map(|group| group.id)
            .collect();

        assert_eq!(admin_groups, [3]);
        assert_eq!(
            account.group(3).map(|group| group.title.as_str()),
            Some("Admin")
        );
        assert_eq!(account.members_of(3).len(), 4);
    }

    #[test]
    fn demo_ids_are_sorted_and_unique() {
        let account = Account::demo();
        let user_ids: Vec<u64> = account.users.iter().map(|user| user.id).collect();
        let membership_ids: Vec<u64> = account.memberships.iter().map(|row| row.id).collect();

        assert!(
            user_ids.windows(2).all(|pair| pair[0] < pair[1]),
            "{user_ids:?}"
        );
        assert!(
            membership_ids.windows(2).all(|pair| pair[0] < pair[1]),
            "{membership_ids:?}"
        );
    }

    #[test]
    fn generated_assigns_users_round_robin() {
        let account = Account::generated(10, 3);

        let group_of: Vec<u64> = account.memberships.iter().map(|row| row.group_id).collect();

        assert_eq!(group_of, [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]);
        assert!(
            account
                .group(1)
                .is_some_and(|group| group.admin && group.title == "Admin")
        );
        assert!(account.groups[1..].iter().all(|group| !group.admin));
        assert!(groups_per_user(&account).values().all(|&count| count == 1));
    }

    #[test]
    fn generated_usernames_are_unique() {
        let account = Account::generated(1000, 4);
        let mut usernames: Vec<&str> = account
            .users
            .iter()
            .map(|user| user.username.as_str())
            .collect();
        usernames.sort_unstable();
        usernames.dedup();

        assert_eq!(usernames.len(), 1000);
    }

    #[test]
    fn generated_without_groups_has_no_memberships() {
        let account = Account::generated(3, 0);

        assert_eq!(account.users.len(), 3);
        assert!(account.memberships.is_empty());
    }

    #[test]
    fn generated_names_many_groups() {
        let account = Account::generated(0, 7);
        let titles: Vec<&str> = account
            .groups
            .iter()
            .map(|group| group.title.as_str())
            .collect();

        assert_eq!(
            titles,
            [
                "Admin",
                "Sales",
                "Marketing",
                "Support",
                "Read only",
                "Team 6",
                "Team 7"
            ]
        );
    }
}
