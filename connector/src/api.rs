//! The ActiveCampaign v3 JSON bodies the connector reads, parsed leniently: ids may be
//! strings or numbers, `meta.total` may be a string, a number, `null` or absent, `null` and
//! `""` both mean absent, and unknown fields are kept for the profile.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Body of `GET /api/3/users/me`, parsed only to check that it is a user.
#[derive(Debug, Deserialize)]
pub struct CurrentUser {
    /// The key's owner.
    #[allow(dead_code)]
    pub user: User,
}

/// Body of `GET /api/3/users`.
#[derive(Debug, Deserialize)]
pub struct UserList {
    /// The users on this page.
    pub users: Vec<User>,
    /// Paging metadata, when sent.
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// Body of `GET /api/3/groups`.
#[derive(Debug, Deserialize)]
pub struct GroupList {
    /// The groups on this page.
    pub groups: Vec<Group>,
    /// Paging metadata, when sent.
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// Body of `GET /api/3/groups/{id}/userGroups`.
#[derive(Debug, Deserialize)]
pub struct UserGroupList {
    /// Membership rows on this page.
    #[serde(rename = "userGroups")]
    pub user_groups: Vec<UserGroup>,
    /// Paging metadata, when sent.
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// Paging metadata of a list body.
#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    /// Size of the whole listing, a hint only.
    #[serde(default, deserialize_with = "lenient_count")]
    pub total: Option<u64>,
}

/// Returns the `meta.total` hint of an optional `meta` object.
pub fn total_of(meta: &Option<Meta>) -> Option<u64> {
    meta.as_ref().and_then(|meta| meta.total)
}

/// A back-office user of the account (not a marketing contact).
#[derive(Debug, Deserialize)]
pub struct User {
    /// The user's id, as text.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Every other field, for the trait and profile.
    #[serde(flatten)]
    pub fields: BTreeMap<String, Value>,
}

/// A permission group of the account.
#[derive(Debug, Deserialize)]
pub struct Group {
    /// The group's id, as text.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Every other field: title, description, `p_admin` and the permission flags.
    #[serde(flatten)]
    pub fields: BTreeMap<String, Value>,
}

/// One row of a group's membership listing.
#[derive(Debug, Deserialize)]
pub struct UserGroup {
    /// The member's user id.
    #[serde(default, deserialize_with = "lenient_optional_id")]
    pub userid: Option<String>,
    /// The group's id.
    #[serde(default, deserialize_with = "lenient_optional_id")]
    pub groupid: Option<String>,
}

/// Returns the text of a field, treating `null`, `""` and zero dates as absent, and
/// numbers and booleans as their text.
pub fn text_field(fields: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(text) => {
            let text = text.trim();
            if text.is_empty() || is_zero_date(text) {
                None
            } else {
                Some(text.to_owned())
            }
        }
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Reads a yes/no flag written as `"1"`/`"0"`, `1`/`0` or `true`/`false`. Returns `None`
/// for anything else, such as `"2"`.
pub fn flag_value(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(text) => match text.trim() {
            "0" | "false" => Some(false),
            "1" | "true" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// Tells whether a date field contains MySQL's zero date, which means "no date".
pub fn is_zero_date(text: &str) -> bool {
    text.starts_with("0000-00-00")
}

fn lenient_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    lenient_optional_id(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("the `id` field is missing or empty"))
}

fn lenient_optional_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => Ok(Some(text.trim().to_owned())),
        Value::Number(number) if number.is_u64() => Ok(Some(number.to_string())),
        Value::Null => Ok(None),
        other => Err(serde::de::Error::custom(format!(
            "expected an id as text or a whole number, found `{other}`"
        ))),
    }
}

fn lenient_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    // A total that cannot be read is only a missing hint, never a failed page.
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_accepts_every_form() {
        let cases = [
            (r#"{"users": [], "meta": {"total": "120"}}"#, Some(120)),
            (r#"{"users": [], "meta": {"total": 120}}"#, Some(120)),
            (r#"{"users": [], "meta": {"total": null}}"#, None),
            (r#"{"users": [], "meta": {}}"#, None),
            (r#"{"users": []}"#, None),
            (r#"{"users": [], "meta": {"total": "many"}}"#, None),
        ];
        for (body, expected) in cases {
            let list: UserList = serde_json::from_str(body).expect(body);
            assert_eq!(total_of(&list.meta), expected, "body {body}");
        }
    }

    #[test]
    fn ids_accept_strings_and_numbers() {
        let list: UserList =
            serde_json::from_str(r#"{"users": [{"id": "7"}, {"id": 8}, {"id": " 9 "}]}"#)
                .expect("users");
        let ids: Vec<&str> = list.users.iter().map(|user| user.id.as_str()).collect();
        assert_eq!(ids, ["7", "8", "9"]);
    }

    #[test]
    fn user_without_id_is_rejected() {
        assert!(serde_json::from_str::<UserList>(r#"{"users": [{"id": ""}]}"#).is_err());
        assert!(serde_json::from_str::<UserList>(r#"{"users": [{"username": "x"}]}"#).is_err());
        assert!(serde_json::from_str::<UserList>(r#"{"users": [{"id": [1]}]}"#).is_err());
    }

    #[test]
    fn text_field_treats_blank_as_absent() {
        let user: User = serde_json::from_str(
            r#"{"id": "1", "phone": "", "signature": null, "cdate": "0000-00-00 00:00:00",
                "lang": "english", "localZoneid": 5}"#,
        )
        .expect("user");
        assert_eq!(text_field(&user.fields, "phone"), None);
        assert_eq!(text_field(&user.fields, "signature"), None);
        assert_eq!(text_field(&user.fields, "cdate"), None);
        assert_eq!(text_field(&user.fields, "lang").as_deref(), Some("english"));
        assert_eq!(
            text_field(&user.fields, "localZoneid").as_deref(),
            Some("5")
        );
        assert_eq!(text_field(&user.fields, "missing"), None);
    }

    #[test]
    fn flag_value_reads_each_form() {
        for (json, expected) in [
            (r#""1""#, Some(true)),
            (r#""0""#, Some(false)),
            ("1", Some(true)),
            ("0", Some(false)),
            ("true", Some(true)),
            ("false", Some(false)),
            (r#""2""#, None),
            ("null", None),
        ] {
            let value: Value = serde_json::from_str(json).expect(json);
            assert_eq!(flag_value(&value), expected, "flag {json}");
        }
    }

    #[test]
    fn docs_fixtures_parse() {
        let users: UserList = serde_json::from_str(include_str!(
            "../../tests/fixtures/docs/list-all-users.200.json"
        ))
        .expect("users fixture");
        assert_eq!(users.users.len(), 2);
        assert_eq!(total_of(&users.meta), Some(2));

        let groups: GroupList = serde_json::from_str(include_str!(
            "../../tests/fixtures/docs/list-all-groups.200.json"
        ))
        .expect("groups fixture");
        assert_eq!(groups.groups.len(), 4);
        assert_eq!(groups.groups[0].id, "3");

        let me: CurrentUser = serde_json::from_str(include_str!(
            "../../tests/fixtures/docs/get-user-loggedin.200.json"
        ))
        .expect("users/me fixture");
        assert_eq!(me.user.id, "1");
    }
}
