//! The `group` resource type: permission groups, their `member` entitlement, an `admin`
//! entitlement on admin groups, and the grants of both from each group's membership.

use crate::api::{self, text_field};
use crate::client::Client;
use crate::conductorone::connector::types::{
    Entitlement, EntitlementPage, EntitlementPurpose, Grant, GrantPage, GroupTrait, Resource,
    ResourceId, ResourcePage, ResourceTrait, ResourceType,
};
use crate::error::Error;
use crate::pagination::{self, PageToken};
use crate::profile;
use crate::response::{self, RequestContext};
use crate::users;

/// Resource type id of groups.
pub const RESOURCE_TYPE: &str = "group";

/// Slug of the entitlement every group has: membership.
pub const MEMBER: &str = "member";

/// Slug of the entitlement admin groups have: account admin rights.
pub const ADMIN: &str = "admin";

/// The flag that marks an admin group.
const ADMIN_FLAG: &str = "p_admin";

/// Fields that are part of the resource itself rather than its profile.
const NOT_PROFILE: &[&str] = &["id", "links", "title", "descript"];

/// Returns the `group` resource type.
pub fn resource_type() -> ResourceType {
    ResourceType {
        id: RESOURCE_TYPE.to_owned(),
        display_name: "Group".to_owned(),
        description: "A permission group of the ActiveCampaign account".to_owned(),
        traits: vec![ResourceTrait::Group],
        skip_entitlements_and_grants: false,
    }
}

/// Lists one page of groups.
pub fn list(client: &Client, page_token: Option<&str>) -> Result<ResourcePage, Error> {
    let token = PageToken::parse(page_token)?;
    let origin = client.origin();
    let context = RequestContext {
        action: "list groups",
        origin: &origin,
        credential_check: false,
    };

    let path = format!("/api/3/groups?{}&orders%5Bid%5D=ASC", token.query());
    let answer = client.get(&context, &path)?;
    let page: api::GroupList = response::parse(&context, answer)?;

    let total = api::total_of(&page.meta);
    let next = token.next_tokens(page.groups.len(), total);
    Ok(ResourcePage {
        resources: page.groups.into_iter().map(group_resource).collect(),
        next_page_tokens: pagination::encode_all(&next),
        total,
    })
}

/// Maps an API group to a resource: the title as display name, `descript` as
/// description, and every other field, permission flags as booleans, in the profile.
pub fn group_resource(group: api::Group) -> Resource {
    let display_name =
        text_field(&group.fields, "title").unwrap_or_else(|| format!("Group {}", group.id));
    Resource {
        id: ResourceId {
            resource_type: RESOURCE_TYPE.to_owned(),
            resource: group.id.clone(),
        },
        parent_id: None,
        display_name,
        description: text_field(&group.fields, "descript"),
        user_trait: None,
        group_trait: Some(GroupTrait {
            profile: profile::from_fields(&group.fields, NOT_PROFILE, is_permission_flag),
        }),
    }
}

/// Tells whether a group field is a permission flag: `p_admin` and the `pg…` family.
fn is_permission_flag(key: &str) -> bool {
    key == ADMIN_FLAG || key.starts_with("pg")
}

/// Tells whether a group resource is an admin group: its `p_admin` flag is true.
pub fn is_admin_group(group: &Resource) -> bool {
    group
        .group_trait
        .as_ref()
        .and_then(|traits| profile::flag_of(&traits.profile, ADMIN_FLAG))
        .unwrap_or(false)
}

/// Returns the entitlements of a group: `member`, and `admin` on admin groups. They come
/// from the resource alone, so this makes no request and has one page.
pub fn entitlements(group: &Resource, page_token: Option<&str>) -> Result<EntitlementPage, Error> {
    let group_id = group_id(group)?;
    if page_token.is_some() {
        return Err(Error::InvalidArgument(format!(
            "entitlements of group `{group_id}` have one page; no page token was issued"
        )));
    }

    let title = &group.display_name;
    let mut entitlements = vec![Entitlement {
        id: entitlement_id(group_id, MEMBER),
        resource: group.id.clone(),
        display_name: format!("{title} group member"),
        description: format!("Member of the ActiveCampaign permission group `{title}`"),
        slug: MEMBER.to_owned(),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![users::RESOURCE_TYPE.to_owned()],
    }];
    if is_admin_group(group) {
        entitlements.push(Entitlement {
            id: entitlement_id(group_id, ADMIN),
            resource: group.id.clone(),
            display_name: format!("{title} group admin"),
            description: format!(
                "Account admin rights, held through membership of the admin group `{title}`"
            ),
            slug: ADMIN.to_owned(),
            purpose: EntitlementPurpose::Permission,
            grantable_to: vec![users::RESOURCE_TYPE.to_owned()],
        });
    }

    Ok(EntitlementPage {
        entitlements,
        next_page_tokens: Vec::new(),
    })
}

/// Lists one page of a group's grants from `GET /api/3/groups/{id}/userGroups`: a
/// `member` grant for each member, and an `admin` grant too on admin groups.
pub fn list_grants(
    client: &Client,
    group: &Resource,
    page_token: Option<&str>,
) -> Result<GrantPage, Error> {
    let group_id = group_id(group)?;
    let token = PageToken::parse(page_token)?;
    let origin = client.origin();
    let action = format!("list members of group `{group_id}`");
    let context = RequestContext {
        action: &action,
        origin: &origin,
        credential_check: false,
    };

    let path = format!("/api/3/groups/{group_id}/userGroups?{}", token.query());
    let answer = client.get(&context, &path)?;
    let page: api::UserGroupList = response::parse(&context, answer)?;

    let slugs: &[&str] = if is_admin_group(group) {
        &[MEMBER, ADMIN]
    } else {
        &[MEMBER]
    };
    let mut grants = Vec::with_capacity(page.user_groups.len() * slugs.len());
    for row in &page.user_groups {
        if row.groupid.as_deref().is_some_and(|id| id != group_id) {
            return Err(Error::InvalidResponse(format!(
                "failed to {action}: the API returned a membership row of group `{}`",
                row.groupid.as_deref().unwrap_or_default()
            )));
        }
        let Some(user_id) = row.userid.as_deref() else {
            return Err(Error::InvalidResponse(format!(
                "failed to {action}: a membership row has no `userid`"
            )));
        };
        for slug in slugs {
            grants.push(member_grant(group_id, slug, user_id));
        }
    }

    let total = api::total_of(&page.meta);
    let next = token.next_tokens(page.user_groups.len(), total);
    Ok(GrantPage {
        grants,
        next_page_tokens: pagination::encode_all(&next),
        total: total.map(|rows| rows * slugs.len() as u64),
    })
}

/// Returns the id of a group resource, checking that it is one this connector produced.
fn group_id(group: &Resource) -> Result<&str, Error> {
    let id = &group.id;
    if id.resource_type != RESOURCE_TYPE {
        return Err(Error::InvalidArgument(format!(
            "expected a `{RESOURCE_TYPE}` resource, got type `{}`",
            id.resource_type
        )));
    }
    // The id goes into a URL path, so only the API's own id characters are accepted.
    let valid = !id.resource.is_empty()
        && id
            .resource
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(Error::InvalidArgument(format!(
            "invalid group id `{}`: pass back a resource this connector returned",
            id.resource
        )));
    }
    Ok(&id.resource)
}

/// Returns the id of entitlement `slug` on group `group_id`, such as `group:3:member`.
pub fn entitlement_id(group_id: &str, slug: &str) -> String {
    format!("{RESOURCE_TYPE}:{group_id}:{slug}")
}

/// Returns the grant of entitlement `slug` on group `group_id` to user `user_id`.
fn member_grant(group_id: &str, slug: &str, user_id: &str) -> Grant {
    let entitlement = entitlement_id(group_id, slug);
    Grant {
        id: format!("{entitlement}:{}:{user_id}", users::RESOURCE_TYPE),
        entitlement,
        principal: ResourceId {
            resource_type: users::RESOURCE_TYPE.to_owned(),
            resource: user_id.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conductorone::connector::types::ProfileValue;

    fn docs_groups() -> Vec<Resource> {
        let list: api::GroupList = serde_json::from_str(include_str!(
            "../../tests/fixtures/docs/list-all-groups.200.json"
        ))
        .expect("fixture");
        list.groups.into_iter().map(group_resource).collect()
    }

    fn group(json: &str) -> Resource {
        group_resource(serde_json::from_str(json).expect("group JSON"))
    }

    #[test]
    fn group_resource_maps_docs_example() {
        let groups = docs_groups();
        let first = &groups[0];
        assert_eq!(first.id.resource, "3");
        assert_eq!(first.display_name, "TEST TITLE");
        assert_eq!(
            first.description.as_deref(),
            Some("This is a group for admin users (people that can manage content)")
        );
        let profile = &first.group_trait.as_ref().expect("group trait").profile;
        let value = |key: &str| {
            profile
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.clone())
        };
        assert_eq!(value("pgContactAdd"), Some(ProfileValue::Boolean(true)));
        assert_eq!(
            value("pgContactActions"),
            Some(ProfileValue::Boolean(false))
        );
        assert_eq!(value("pg_user_add"), Some(ProfileValue::Boolean(true)));
        assert_eq!(
            value("reqApproval1st"),
            Some(ProfileValue::Text("2".to_owned()))
        );
        assert_eq!(value("reqApprovalNotify"), None);
        assert_eq!(value("title"), None);
        assert_eq!(value("links"), None);
        assert!(groups[1].description.is_none());
    }

    #[test]
    fn admin_flag_forms_are_read() {
        for (flag, admin) in [
            (r#""1""#, true),
            ("1", true),
            ("true", true),
            (r#""0""#, false),
        ] {
            let resource = group(&format!(
                r#"{{"id": "5", "title": "G", "p_admin": {flag}}}"#
            ));
            assert_eq!(is_admin_group(&resource), admin, "p_admin {flag}");
        }
        assert!(!is_admin_group(&group(r#"{"id": "5"}"#)));
    }

    #[test]
    fn admin_group_has_both_entitlements() {
        let admin = group(r#"{"id": "3", "title": "Admin", "p_admin": "1"}"#);
        let page = entitlements(&admin, None).expect("entitlements");
        let ids: Vec<&str> = page.entitlements.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["group:3:member", "group:3:admin"]);
        assert_eq!(page.entitlements[1].purpose, EntitlementPurpose::Permission);
        assert_eq!(page.entitlements[0].grantable_to, ["user"]);
        assert!(page.next_page_tokens.is_empty());
    }

    #[test]
    fn plain_group_has_member_only() {
        let sales = group(r#"{"id": "4", "title": "Sales", "p_admin": "0"}"#);
        let page = entitlements(&sales, None).expect("entitlements");
        let ids: Vec<&str> = page.entitlements.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["group:4:member"]);
        assert_eq!(page.entitlements[0].purpose, EntitlementPurpose::Assignment);
    }

    #[test]
    fn grant_ids_follow_baton_form() {
        let grant = member_grant("3", MEMBER, "7");
        assert_eq!(grant.id, "group:3:member:user:7");
        assert_eq!(grant.entitlement, "group:3:member");
        assert_eq!(grant.principal.resource_type, "user");
        assert_eq!(grant.principal.resource, "7");
    }

    #[test]
    fn group_id_rejects_foreign_resources() {
        let mut resource = group(r#"{"id": "3"}"#);
        resource.id.resource = "3/../../users".to_owned();
        assert!(matches!(
            group_id(&resource),
            Err(Error::InvalidArgument(_))
        ));
        resource.id.resource_type = "user".to_owned();
        assert!(matches!(
            group_id(&resource),
            Err(Error::InvalidArgument(_))
        ));
    }
}
