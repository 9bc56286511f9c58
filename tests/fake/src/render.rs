//! JSON bodies in the shape of ActiveCampaign's v3 API.

use serde_json::{Map, Value, json};

use crate::account::{Group, Membership, User};

/// How list responses write `meta.total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TotalForm {
    /// `"total": "42"`, the usual form.
    #[default]
    String,
    /// `"total": 42`.
    Number,
    /// `"total": null`.
    Null,
    /// `"meta": {}` with no `total` key.
    Absent,
    /// No `meta` object at all.
    NoMeta,
}

/// The settings that change the wire shape of every body.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    /// Base URL of the server, used to build the absolute URLs in `links`.
    pub base_url: String,
    pub total_form: TotalForm,
    /// Write ids as JSON numbers instead of strings.
    pub numeric_ids: bool,
}

impl Wire {
    fn id(&self, id: u64) -> Value {
        if self.numeric_ids {
            Value::from(id)
        } else {
            Value::from(id.to_string())
        }
    }

    fn link(&self, collection: &str, id: u64, relation: &str) -> Value {
        Value::from(format!(
            "{}/api/3/{collection}/{id}/{relation}",
            self.base_url
        ))
    }

    /// Builds the body of a list: `{"<key>": [...], "meta": {"total": ...}}`.
    pub fn list(&self, key: &str, rows: Vec<Value>, total: usize) -> Value {
        let mut body = Map::new();
        body.insert(key.to_owned(), Value::Array(rows));

        let total = match self.total_form {
            TotalForm::String => Some(Value::from(total.to_string())),
            TotalForm::Number => Some(Value::from(total)),
            TotalForm::Null => Some(Value::Null),
            TotalForm::Absent => None,
            TotalForm::NoMeta => return Value::Object(body),
        };
        let mut meta = Map::new();
        if let Some(total) = total {
            meta.insert("total".to_owned(), total);
        }
        body.insert("meta".to_owned(), Value::Object(meta));
        Value::Object(body)
    }

    pub fn user(&self, user: &User) -> Value {
        let links: Map<String, Value> = [
            "lists",
            "userGroup",
            "dealGroupTotals",
            "dealGroupUsers",
            "configs",
        ]
        .into_iter()
        .map(|relation| (relation.to_owned(), self.link("users", user.id, relation)))
        .collect();

        let mut fields = Map::new();
        fields.insert("username".to_owned(), Value::from(user.username.as_str()));
        fields.insert(
            "firstName".to_owned(),
            Value::from(user.first_name.as_str()),
        );
        fields.insert("lastName".to_owned(), Value::from(user.last_name.as_str()));
        fields.insert("email".to_owned(), Value::from(user.email.as_str()));
        fields.insert("phone".to_owned(), Value::from(user.phone.as_str()));
        fields.insert(
            "signature".to_owned(),
            user.signature.as_deref().map_or(Value::Null, Value::from),
        );
        fields.insert("links".to_owned(), Value::Object(links));
        fields.insert("id".to_owned(), self.id(user.id));

        // Extra fields go last so that a test can replace a standard field with an odd value.
        for (key, value) in &user.extra {
            fields.insert(key.clone(), value.clone());
        }
        Value::Object(fields)
    }

    pub fn group(&self, group: &Group) -> Value {
        let links: Map<String, Value> = [
            "userGroups",
            "groupLimit",
            "dealGroupGroups",
            "listGroups",
            "addressGroups",
            "automationGroups",
        ]
        .into_iter()
        .map(|relation| (relation.to_owned(), self.link("groups", group.id, relation)))
        .collect();

        let mut fields = Map::new();
        fields.insert("title".to_owned(), Value::from(group.title.as_str()));
        fields.insert(
            "descript".to_owned(),
            group.descript.as_deref().map_or(Value::Null, Value::from),
        );
        fields.insert("unsubscribelink".to_owned(), Value::from("0"));
        fields.insert("optinconfirm".to_owned(), Value::from("0"));
        fields.insert(
            "p_admin".to_owned(),
            Value::from(if group.admin { "1" } else { "0" }),
        );
        for (flag, value) in &group.permissions {
            fields.insert(flag.clone(), Value::from(value.as_str()));
        }
        fields.insert("sdate".to_owned(), group_sdate(group.id));
        fields.insert("reqApproval".to_owned(), Value::from("0"));
        fields.insert("reqApproval1st".to_owned(), Value::from("2"));
        fields.insert("reqApprovalNotify".to_owned(), Value::from(""));
        fields.insert("socialdata".to_owned(), Value::from("0"));
        fields.insert("links".to_owned(), Value::Object(links));
        fields.insert("id".to_owned(), self.id(group.id));
        Value::Object(fields)
    }

    pub fn membership(&self, row: &Membership) -> Value {
        json!({
            "userid": self.id(row.user_id),
            "groupid": self.id(row.group_id),
            "links": {
                "group": self.link("userGroups", row.id, "group"),
                "user": self.link("userGroups", row.id, "user"),
            },
            "id": self.id(row.id),
        })
    }
}

/// Builds a group's creation date from its id, or `null` for every third id because real groups can lack one.
fn group_sdate(id: u64) -> Value {
    if id % 3 == 2 {
        return Value::Null;
    }
    let month = id % 12 + 1;
    let day = id % 28 + 1;
    Value::from(format!("2018-{month:02}-{day:02}T10:51:14-05:00"))
}

/// Builds an error body in ActiveCampaign's `{"message": "..."}` form.
pub(crate) fn message(text: &str) -> Value {
    json!({ "message": text })
}
