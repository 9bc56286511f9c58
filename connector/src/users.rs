//! The `user` resource type: the account's back-office users, never its contacts.

use crate::api::{self, text_field};
use crate::client::Client;
use crate::conductorone::connector::types::{
    Resource, ResourceId, ResourcePage, ResourceTrait, ResourceType, UserEmail, UserStatus,
    UserTrait,
};
use crate::error::Error;
use crate::pagination::{self, PageToken};
use crate::profile;
use crate::response::{self, RequestContext};

/// Resource type id of users.
pub const RESOURCE_TYPE: &str = "user";

/// Fields that are part of the resource itself rather than its profile.
const NOT_PROFILE: &[&str] = &["id", "links"];

/// Returns the `user` resource type.
pub fn resource_type() -> ResourceType {
    ResourceType {
        id: RESOURCE_TYPE.to_owned(),
        display_name: "User".to_owned(),
        description: "A back-office user of the ActiveCampaign account (not a contact)".to_owned(),
        traits: vec![ResourceTrait::User],
        // Users hold grants of group entitlements, and have none of their own.
        skip_entitlements_and_grants: true,
    }
}

/// Checks the API token with `GET /api/3/users/me`, the cheapest authenticated call.
pub fn check_credentials(client: &Client) -> Result<(), Error> {
    let origin = client.origin();
    let context = RequestContext {
        action: "check the API token",
        origin: &origin,
        credential_check: true,
    };
    let answer = client.get(&context, "/api/3/users/me")?;
    response::parse::<api::CurrentUser>(&context, answer)?;
    Ok(())
}

/// Lists one page of users.
pub fn list(client: &Client, page_token: Option<&str>) -> Result<ResourcePage, Error> {
    let token = PageToken::parse(page_token)?;
    let origin = client.origin();
    let context = RequestContext {
        action: "list users",
        origin: &origin,
        credential_check: false,
    };

    let path = format!("/api/3/users?{}&orders%5Bid%5D=ASC", token.query());
    let answer = client.get(&context, &path)?;
    let page: api::UserList = response::parse(&context, answer)?;

    let total = api::total_of(&page.meta);
    let next = token.next_tokens(page.users.len(), total);
    Ok(ResourcePage {
        resources: page.users.into_iter().map(user_resource).collect(),
        next_page_tokens: pagination::encode_all(&next),
        total,
    })
}

/// Maps an API user to a resource: display name from first and last name, else the
/// username, the e-mail address as the primary e-mail, the username as login, and every
/// other field in the profile.
pub fn user_resource(user: api::User) -> Resource {
    let fields = &user.fields;
    let full_name = [
        text_field(fields, "firstName"),
        text_field(fields, "lastName"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let username = text_field(fields, "username");
    let email = text_field(fields, "email");

    let display_name = if !full_name.is_empty() {
        full_name
    } else if let Some(name) = username.clone().or_else(|| email.clone()) {
        name
    } else {
        format!("User {}", user.id)
    };

    let emails = email
        .into_iter()
        .map(|address| UserEmail {
            address,
            is_primary: true,
        })
        .collect();

    Resource {
        id: ResourceId {
            resource_type: RESOURCE_TYPE.to_owned(),
            resource: user.id.clone(),
        },
        parent_id: None,
        display_name,
        description: None,
        user_trait: Some(UserTrait {
            emails,
            login: username,
            // NOTE: the API exposes no enabled/disabled state for users.
            status: UserStatus::Unspecified,
            profile: profile::from_fields(fields, NOT_PROFILE, |_| false),
        }),
        group_trait: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conductorone::connector::types::ProfileValue;

    fn user(json: &str) -> Resource {
        user_resource(serde_json::from_str(json).expect("user JSON"))
    }

    #[test]
    fn user_resource_maps_docs_example() {
        let list: api::UserList = serde_json::from_str(include_str!(
            "../../tests/fixtures/docs/list-all-users.200.json"
        ))
        .expect("fixture");
        let resource = user_resource(list.users.into_iter().next().expect("one user"));

        assert_eq!(resource.id.resource_type, "user");
        assert_eq!(resource.id.resource, "1");
        assert_eq!(resource.display_name, "John Doe");
        let traits = resource.user_trait.expect("user trait");
        assert_eq!(traits.login.as_deref(), Some("admin"));
        assert_eq!(traits.emails.len(), 1);
        assert_eq!(traits.emails[0].address, "johndoe@example.com");
        assert!(traits.emails[0].is_primary);
        let keys: Vec<&str> = traits.profile.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["email", "firstName", "lastName", "username"]);
    }

    #[test]
    fn display_name_falls_back_to_username() {
        let resource = user(r#"{"id": 4, "firstName": "", "lastName": null, "username": "ops"}"#);
        assert_eq!(resource.display_name, "ops");
        assert_eq!(resource.id.resource, "4");
    }

    #[test]
    fn display_name_falls_back_to_id() {
        assert_eq!(user(r#"{"id": "9"}"#).display_name, "User 9");
    }

    #[test]
    fn profile_keeps_unknown_scalars() {
        let resource = user(r#"{"id": "2", "mfaEnabled": true, "localZoneid": 3, "x": {"a": 1}}"#);
        let profile = resource.user_trait.expect("user trait").profile;
        assert_eq!(profile.len(), 2);
        assert_eq!(profile[0].key, "localZoneid");
        assert_eq!(profile[0].value, ProfileValue::Integer(3));
        assert_eq!(profile[1].key, "mfaEnabled");
        assert_eq!(profile[1].value, ProfileValue::Boolean(true));
    }
}
