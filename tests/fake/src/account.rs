//! The account data the fake serves: users, groups and group memberships.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

/// Permission flags of an ActiveCampaign group, named and ordered as `GET /api/3/groups` returns them.
///
/// Most are camelCase, but the three user flags are snake_case in the real API.
pub const PERMISSION_FLAGS: [&str; 48] = [
    "pgListAdd",
    "pgListEdit",
    "pgListDelete",
    "pgListHeaders",
    "pgListEmailaccount",
    "pgListBounce",
    "pgMessageAdd",
    "pgMessageEdit",
    "pgMessageDelete",
    "pgMessageSend",
    "pgContactAdd",
    "pgContactEdit",
    "pgContactDelete",
    "pgContactMerge",
    "pgContactImport",
    "pgContactApprove",
    "pgContactExport",
    "pgContactSync",
    "pgContactFilters",
    "pgContactActions",
    "pgContactFields",
    "pg_user_add",
    "pg_user_edit",
    "pg_user_delete",
    "pgGroupAdd",
    "pgGroupEdit",
    "pgGroupDelete",
    "pgTemplateAdd",
    "pgTemplateEdit",
    "pgTemplateDelete",
    "pgPersonalizationAdd",
    "pgPersonalizationEdit",
    "pgPersonalizationDelete",
    "pgAutomationManage",
    "pgFormEdit",
    "pgReportsCampaign",
    "pgReportsList",
    "pgReportsUser",
    "pgReportsTrend",
    "pgStartupReports",
    "pgStartupGettingstarted",
    "pgDeal",
    "pgDealDelete",
    "pgDealReassign",
    "pgDealGroupAdd",
    "pgDealGroupEdit",
    "pgDealGroupDelete",
    "pgSavedResponsesManage",
];

/// Flags that ActiveCampaign's example non-admin group has set to `"1"`: reports and deals only.
const BASIC_FLAGS: [&str; 8] = [
    "pgReportsTrend",
    "pgStartupGettingstarted",
    "pgDeal",
    "pgDealDelete",
    "pgDealReassign",
    "pgDealGroupAdd",
    "pgDealGroupEdit",
    "pgDealGroupDelete",
];

/// An ActiveCampaign account: its users, its groups and which user is in which group.
///
/// The methods keep each vector sorted by id, which is the order the fake serves them in.
/// Vectors changed directly are sorted again when a server starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// Users, sorted by id. The first one is the account owner that `/users/me` returns.
    pub users: Vec<User>,
    /// Groups, sorted by id.
    pub groups: Vec<Group>,
    /// User-to-group rows, sorted by id.
    pub memberships: Vec<Membership>,
}

/// An ActiveCampaign user as `GET /api/3/users` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// User id, written as `"id"`.
    pub id: u64,
    /// Login name, written as `"username"`.
    pub username: String,
    /// Written as `"firstName"`.
    pub first_name: String,
    /// Written as `"lastName"`.
    pub last_name: String,
    /// Written as `"email"`.
    pub email: String,
    /// Phone number, often `""` on real accounts.
    pub phone: String,
    /// E-mail signature, written as `null` when `None`.
    pub signature: Option<String>,
    /// Further fields written after the standard ones, so a key here replaces a standard value.
    ///
    /// Real accounts carry fields such as `lang`, `localZoneid`, `cdate`, `udate` and `mfaEnabled`.
    pub extra: Map<String, Value>,
}

/// An ActiveCampaign user group, which sets the permissions of its members.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group id, written as `"id"`.
    pub id: u64,
    /// Group name, written as `"title"`.
    pub title: String,
    /// Description, written as `"descript"` and `null` when `None`.
    pub descript: Option<String>,
    /// Admin privileges, written as `"p_admin": "1"` or `"0"`.
    pub admin: bool,
    /// Permission flag name to value (`"0"` or `"1"`), each written as a field of the group.
    ///
    /// Names outside [`PERMISSION_FLAGS`] are written too, like the undocumented flags of real accounts.
    pub permissions: BTreeMap<String, String>,
}

/// One user's membership of one group, served by `GET /api/3/groups/{id}/userGroups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// Row id of the membership itself.
    pub id: u64,
    /// Member user id, written as `"userid"`.
    pub user_id: u64,
    /// Group id, written as `"groupid"`.
    pub group_id: u64,
}

impl User {
    /// Creates a user with an empty phone, a `null` signature and no extra fields.
    pub fn new(id: u64, username: &str, first_name: &str, last_name: &str, email: &str) -> User {
        User {
            id,
            username: username.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            email: email.to_owned(),
            phone: String::new(),
            signature: None,
            extra: Map::new(),
        }
    }
}

impl Group {
    /// Creates a group with [`Group::default_permissions`] and no description.
    pub fn new(id: u64, title: &str, admin: bool) -> Group {
        Group {
            id,
            title: title.to_owned(),
            descript: None,
            admin,
            permissions: Group::default_permissions(admin),
        }
    }

    /// Builds a value for every flag in [`PERMISSION_FLAGS`], like ActiveCampaign's example groups.
    ///
    /// An admin group has every flag `"1"` except `pgContactActions`. Any other group has
    /// only the report and deal flags set.
    pub fn default_permissions(admin: bool) -> BTreeMap<String, String> {
        PERMISSION_FLAGS
            .iter()
            .map(|&flag| {
                let on = if admin {
                    flag != "pgContactActions"
                } else {
                    BASIC_FLAGS.contains(&flag)
                };
                (flag.to_owned(), flag_value(on))
            })
            .collect()
    }

    /// Sets one permission flag to `"1"` or `"0"`, adding it when the group lacks it.
    pub fn set_permission(&mut self, flag: &str, on: bool) {
        self.permissions.insert(flag.to_owned(), flag_value(on));
    }
}

fn flag_value(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

impl Account {
    /// Builds a realistic account for demos: 25 users and 5 groups, always the same.
    ///
    /// The groups are Admin (id 3, admin, 4 members, like ActiveCampaign's own example), Sales,
    /// Marketing, Support and Read only. Every user is in exactly one group. Phones, signatures
    /// and extra fields vary the way they do on real accounts, including a zero `udate`.
    pub fn demo() -> Account {
        crate::demo::account()
    }

    /// Builds an account of `users` users and `groups` groups with ids from 1, always the same.
    ///
    /// Group 1 is "Admin" with admin privileges and the others are not admin groups. User `i` is
    /// in group `((i - 1) % groups) + 1` through membership `i`, so every user is in exactly one
    /// group. With `groups == 0` there are no memberships.
    pub fn generated(users: usize, groups: usize) -> Account {
        crate::demo::generated(users, groups)
    }

    /// Adds a membership of `group_id` for every user that is not in it yet, so the group has many members.
    ///
    /// Users keep their other memberships. New rows take the next free membership ids.
    pub fn add_all_users_to_group(&mut self, group_id: u64) {
        // One pass over the rows, because large generated accounts make a lookup per user too slow.
        let members: HashSet<u64> = self
            .memberships
            .iter()
            .filter(|row| row.group_id == group_id)
            .map(|row| row.user_id)
            .collect();
        let mut next_id = self.next_membership_id();

        for user in &self.users {
            if members.contains(&user.id) {
                continue;
            }
            self.memberships.push(Membership {
                id: next_id,
                user_id: user.id,
                group_id,
            });
            next_id += 1;
        }
    }

    /// Inserts a user at its place in id order, replacing any user with the same id.
    pub fn push_user(&mut self, user: User) {
        match self.users.binary_search_by_key(&user.id, |known| known.id) {
            Ok(position) => self.users[position] = user,
            Err(position) => self.users.insert(position, user),
        }
    }

    /// Inserts a group at its place in id order, replacing any group with the same id.
    pub fn push_group(&mut self, group: Group) {
        match self
            .groups
            .binary_search_by_key(&group.id, |known| known.id)
        {
            Ok(position) => self.groups[position] = group,
            Err(position) => self.groups.insert(position, group),
        }
    }

    /// Puts a user in a group and returns the membership id, reusing the existing row if there is one.
    ///
    /// Neither id has to exist, so tests can build memberships that point at missing users.
    pub fn add_membership(&mut self, user_id: u64, group_id: u64) -> u64 {
        let existing = self
            .memberships
            .iter()
            .find(|row| row.user_id == user_id && row.group_id == group_id);
        if let Some(row) = existing {
            return row.id;
        }

        let id = self.next_membership_id();
        self.memberships.push(Membership {
            id,
            user_id,
            group_id,
        });
        id
    }

    /// Removes a user and all of its memberships, returning the user if it existed.
    pub fn remove_user(&mut self, user_id: u64) -> Option<User> {
        self.memberships.retain(|row| row.user_id != user_id);
        let position = self.users.iter().position(|user| user.id == user_id)?;
        Some(self.users.remove(position))
    }

    /// Returns the user with this id.
    pub fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|user| user.id == id)
    }

    /// Returns the group with this id.
    pub fn group(&self, id: u64) -> Option<&Group> {
        self.groups.iter().find(|group| group.id == id)
    }

    /// Returns the account owner: the user with the lowest id.
    pub fn owner(&self) -> Option<&User> {
        self.users.iter().min_by_key(|user| user.id)
    }

    /// Lists the membership rows of one group in id order.
    pub fn members_of(&self, group_id: u64) -> Vec<Membership> {
        let mut rows: Vec<Membership> = self
            .memberships
            .iter()
            .filter(|row| row.group_id == group_id)
            .copied()
            .collect();
        rows.sort_by_key(|row| row.id);
        rows
    }

    /// Checks whether the user is a member of at least one admin group.
    pub fn is_admin(&self, user_id: u64) -> bool {
        self.memberships.iter().any(|row| {
            row.user_id == user_id && self.group(row.group_id).is_some_and(|group| group.admin)
        })
    }

    /// Returns one more than the highest user id, or 1 for an account without users.
    pub fn next_user_id(&self) -> u64 {
        self.users.iter().map(|user| user.id).max().unwrap_or(0) + 1
    }

    /// Returns one more than the highest group id, or 1 for an account without groups.
    pub fn next_group_id(&self) -> u64 {
        self.groups.iter().map(|group| group.id).max().unwrap_or(0) + 1
    }

    /// Returns one more than the highest membership id, or 1 for an account without memberships.
    pub fn next_membership_id(&self) -> u64 {
        self.memberships.iter().map(|row| row.id).max().unwrap_or(0) + 1
    }

    /// Sorts users, groups and memberships by id, which the server's paging relies on.
    pub(crate) fn sort_by_id(&mut self) {
        self.users.sort_by_key(|user| user.id);
        self.groups.sort_by_key(|group| group.id);
        self.memberships.sort_by_key(|row| row.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_all_users_to_group_skips_existing_members() {
        let mut account = Account::generated(6, 2);

        account.add_all_users_to_group(1);

        let members: Vec<u64> = account
            .members_of(1)
            .iter()
            .map(|row| row.user_id)
            .collect();
        assert_eq!(members, [1, 3, 5, 2, 4, 6]);
        assert_eq!(account.memberships.len(), 9);
        assert_eq!(account.next_membership_id(), 10);
    }

    #[test]
    fn push_user_keeps_id_order() {
        let mut account = Account::generated(3, 1);
        account.remove_user(2);

        account.push_user(User::new(2, "back", "Back", "Again", "back@example.com"));
        account.push_user(User::new(
            3,
            "renamed",
            "Re",
            "Named",
            "renamed@example.com",
        ));

        let ids: Vec<u64> = account.users.iter().map(|user| user.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(
            account.user(3).map(|user| user.username.as_str()),
            Some("renamed")
        );
    }

    #[test]
    fn remove_user_drops_memberships() {
        let mut account = Account::generated(4, 2);

        let removed = account.remove_user(3);

        assert_eq!(removed.map(|user| user.id), Some(3));
        assert!(account.memberships.iter().all(|row| row.user_id != 3));
        assert_eq!(account.remove_user(3), None);
    }

    #[test]
    fn add_membership_reuses_existing_row() {
        let mut account = Account::generated(2, 2);

        let existing = account.add_membership(1, 1);
        let added = account.add_membership(1, 2);

        assert_eq!(existing, 1);
        assert_eq!(added, 3);
        assert!(account.is_admin(1));
        assert!(!account.is_admin(2));
    }

    #[test]
    fn default_permissions_cover_every_flag() {
        for admin in [true, false] {
            let permissions = Group::default_permissions(admin);
            assert_eq!(permissions.len(), PERMISSION_FLAGS.len(), "admin {admin}");
            assert!(
                permissions
                    .values()
                    .all(|value| value == "0" || value == "1"),
                "admin {admin}"
            );
        }
        assert_eq!(Group::default_permissions(true)["pg_user_add"], "1");
        assert_eq!(Group::default_permissions(false)["pg_user_add"], "0");
    }
}
