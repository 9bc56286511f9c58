//! The sync's output file: its JSON shape, a stable order, the consistency check that
//! runs before it is published, and the atomic write.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::component::types;

/// Everything one sync produced, as written to the output file.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncOutput {
    /// The kinds of resource synced.
    pub resource_types: Vec<ResourceTypeRecord>,
    /// Every resource.
    pub resources: Vec<ResourceRecord>,
    /// Every entitlement.
    pub entitlements: Vec<EntitlementRecord>,
    /// Every grant.
    pub grants: Vec<GrantRecord>,
}

/// A resource type in the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceTypeRecord {
    /// Type id, such as `user`.
    pub id: String,
    /// Name for people.
    pub display_name: String,
    /// Description of the type.
    pub description: String,
    /// Traits, such as `user` or `group`.
    pub traits: Vec<String>,
}

/// The key of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    /// Type id.
    pub resource_type: String,
    /// Upstream id.
    pub resource: String,
}

/// A resource in the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// Key of the resource.
    pub id: ResourceKey,
    /// Key of the parent resource, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<ResourceKey>,
    /// Name for people.
    pub display_name: String,
    /// Free text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// User facts, on users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_trait: Option<UserTraitRecord>,
    /// Group facts, on groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_trait: Option<GroupTraitRecord>,
}

/// User facts of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserTraitRecord {
    /// E-mail addresses, the primary one first.
    pub emails: Vec<EmailRecord>,
    /// Sign-in name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// `unspecified`, `enabled`, `disabled` or `deleted`.
    pub status: String,
    /// Further upstream fields.
    pub profile: Map<String, Value>,
}

/// One e-mail address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailRecord {
    /// The address.
    pub address: String,
    /// Whether it is the primary one.
    pub is_primary: bool,
}

/// Group facts of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupTraitRecord {
    /// Upstream fields, such as permission flags.
    pub profile: Map<String, Value>,
}

/// An entitlement in the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitlementRecord {
    /// Entitlement id, such as `group:3:member`.
    pub id: String,
    /// The resource it is on.
    pub resource: ResourceKey,
    /// Short name on its resource, such as `member`.
    pub slug: String,
    /// `assignment`, `permission` or `unspecified`.
    pub purpose: String,
    /// Resource types that can hold it.
    pub grantable_to: Vec<String>,
    /// Name for people.
    pub display_name: String,
    /// Meaning of holding it.
    pub description: String,
}

/// A grant in the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Grant id, such as `group:3:member:user:7`.
    pub id: String,
    /// Id of the entitlement held.
    pub entitlement: String,
    /// The holder.
    pub principal: ResourceKey,
}

impl From<&types::ResourceId> for ResourceKey {
    fn from(id: &types::ResourceId) -> Self {
        ResourceKey {
            resource_type: id.resource_type.clone(),
            resource: id.resource.clone(),
        }
    }
}

impl From<&ResourceKey> for types::ResourceId {
    fn from(key: &ResourceKey) -> Self {
        types::ResourceId {
            resource_type: key.resource_type.clone(),
            resource: key.resource.clone(),
        }
    }
}

impl From<&types::ResourceType> for ResourceTypeRecord {
    fn from(resource_type: &types::ResourceType) -> Self {
        ResourceTypeRecord {
            id: resource_type.id.clone(),
            display_name: resource_type.display_name.clone(),
            description: resource_type.description.clone(),
            traits: resource_type
                .traits
                .iter()
                .map(|resource_trait| {
                    match resource_trait {
                        types::ResourceTrait::User => "user",
                        types::ResourceTrait::Group => "group",
                        types::ResourceTrait::Role => "role",
                        types::ResourceTrait::App => "app",
                    }
                    .to_owned()
                })
                .collect(),
        }
    }
}

impl From<&types::Resource> for ResourceRecord {
    fn from(resource: &types::Resource) -> Self {
        ResourceRecord {
            id: ResourceKey::from(&resource.id),
            parent_id: resource.parent_id.as_ref().map(ResourceKey::from),
            display_name: resource.display_name.clone(),
            description: resource.description.clone(),
            user_trait: resource.user_trait.as_ref().map(|user| UserTraitRecord {
                emails: user
                    .emails
                    .iter()
                    .map(|email| EmailRecord {
                        address: email.address.clone(),
                        is_primary: email.is_primary,
                    })
                    .collect(),
                login: user.login.clone(),
                status: match user.status {
                    types::UserStatus::Unspecified => "unspecified",
                    types::UserStatus::Enabled => "enabled",
                    types::UserStatus::Disabled => "disabled",
                    types::UserStatus::Deleted => "deleted",
                }
                .to_owned(),
                profile: profile_map(&user.profile),
            }),
            group_trait: resource.group_trait.as_ref().map(|group| GroupTraitRecord {
                profile: profile_map(&group.profile),
            }),
        }
    }
}

impl From<&ResourceRecord> for types::Resource {
    fn from(record: &ResourceRecord) -> Self {
        types::Resource {
            id: types::ResourceId::from(&record.id),
            parent_id: record.parent_id.as_ref().map(types::ResourceId::from),
            display_name: record.display_name.clone(),
            description: record.description.clone(),
            user_trait: record.user_trait.as_ref().map(|user| types::UserTrait {
                emails: user
                    .emails
                    .iter()
                    .map(|email| types::UserEmail {
                        address: email.address.clone(),
                        is_primary: email.is_primary,
                    })
                    .collect(),
                login: user.login.clone(),
                status: match user.status.as_str() {
                    "enabled" => types::UserStatus::Enabled,
                    "disabled" => types::UserStatus::Disabled,
                    "deleted" => types::UserStatus::Deleted,
                    _ => types::UserStatus::Unspecified,
                },
                profile: profile_entries(&user.profile),
            }),
            group_trait: record.group_trait.as_ref().map(|group| types::GroupTrait {
                profile: profile_entries(&group.profile),
            }),
        }
    }
}

impl From<&types::Entitlement> for EntitlementRecord {
    fn from(entitlement: &types::Entitlement) -> Self {
        EntitlementRecord {
            id: entitlement.id.clone(),
            resource: ResourceKey::from(&entitlement.resource),
            slug: entitlement.slug.clone(),
            purpose: match entitlement.purpose {
                types::EntitlementPurpose::Unspecified => "unspecified",
                types::EntitlementPurpose::Assignment => "assignment",
                types::EntitlementPurpose::Permission => "permission",
            }
            .to_owned(),
            grantable_to: entitlement.grantable_to.clone(),
            display_name: entitlement.display_name.clone(),
            description: entitlement.description.clone(),
        }
    }
}

impl From<&types::Grant> for GrantRecord {
    fn from(grant: &types::Grant) -> Self {
        GrantRecord {
            id: grant.id.clone(),
            entitlement: grant.entitlement.clone(),
            principal: ResourceKey::from(&grant.principal),
        }
    }
}

fn profile_map(entries: &[types::ProfileEntry]) -> Map<String, Value> {
    entries
        .iter()
        .map(|entry| {
            let value = match &entry.value {
                types::ProfileValue::Text(text) => Value::String(text.clone()),
                types::ProfileValue::Integer(integer) => Value::from(*integer),
                types::ProfileValue::Boolean(flag) => Value::Bool(*flag),
            };
            (entry.key.clone(), value)
        })
        .collect()
}

fn profile_entries(profile: &Map<String, Value>) -> Vec<types::ProfileEntry> {
    profile
        .iter()
        .filter_map(|(key, value)| {
            let value = match value {
                Value::String(text) => types::ProfileValue::Text(text.clone()),
                Value::Bool(flag) => types::ProfileValue::Boolean(*flag),
                Value::Number(number) => types::ProfileValue::Integer(number.as_i64()?),
                _ => return None,
            };
            Some(types::ProfileEntry {
                key: key.clone(),
                value,
            })
        })
        .collect()
}

/// Compares ids so that numeric ids sort as numbers (`2` before `10`) and others as text.
pub fn compare_ids(left: &str, right: &str) -> Ordering {
    match (left.parse::<u64>(), right.parse::<u64>()) {
        (Ok(left), Ok(right)) => left.cmp(&right),
        _ => left.cmp(right),
    }
}

/// Compares ids made of `:`-separated parts, part by part with `compare_ids`.
fn compare_compound_ids(left: &str, right: &str) -> Ordering {
    let mut left_parts = left.split(':');
    let mut right_parts = right.split(':');
    loop {
        match (left_parts.next(), right_parts.next()) {
            (Some(l), Some(r)) => match compare_ids(l, r) {
                Ordering::Equal => continue,
                other => return other,
            },
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
        }
    }
}

/// Records `finish` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleanup {
    /// Records that appeared twice, which offset paging yields when the account changes
    /// during a sync; the copies were dropped.
    pub duplicates_removed: usize,
}

impl SyncOutput {
    /// Sorts every list into its stable order and drops repeated records, keeping the
    /// first of each id. Resources sort by type, in the order the connector declared its
    /// types, then by id. The other lists sort by id.
    pub fn finish(&mut self) -> Cleanup {
        let type_rank: BTreeMap<String, usize> = self
            .resource_types
            .iter()
            .enumerate()
            .map(|(rank, resource_type)| (resource_type.id.clone(), rank))
            .collect();
        let rank =
            |resource_type: &str| type_rank.get(resource_type).copied().unwrap_or(usize::MAX);

        let before = self.resources.len() + self.entitlements.len() + self.grants.len();

        self.resources.sort_by(|left, right| {
            rank(&left.id.resource_type)
                .cmp(&rank(&right.id.resource_type))
                .then_with(|| left.id.resource_type.cmp(&right.id.resource_type))
                .then_with(|| compare_ids(&left.id.resource, &right.id.resource))
        });
        self.resources.dedup_by(|right, left| left.id == right.id);

        self.entitlements
            .sort_by(|left, right| compare_compound_ids(&left.id, &right.id));
        self.entitlements
            .dedup_by(|right, left| left.id == right.id);

        self.grants
            .sort_by(|left, right| compare_compound_ids(&left.id, &right.id));
        self.grants.dedup_by(|right, left| left.id == right.id);

        let after = self.resources.len() + self.entitlements.len() + self.grants.len();
        Cleanup {
            duplicates_removed: before - after,
        }
    }

    /// Checks that the output is consistent: every grant's entitlement and principal and
    /// every entitlement's resource were emitted, and no id appears twice. Returns one
    /// line per problem found, at most `limit` of them.
    pub fn check_references(&self, limit: usize) -> Vec<String> {
        let mut problems = Vec::new();
        let mut report = |problem: String| {
            if problems.len() < limit {
                problems.push(problem);
            }
        };

        let mut resources = HashSet::new();
        for resource in &self.resources {
            if !resources.insert(&resource.id) {
                report(format!(
                    "resource `{}:{}` appears twice",
                    resource.id.resource_type, resource.id.resource
                ));
            }
        }

        let mut entitlements = HashSet::new();
        for entitlement in &self.entitlements {
            if !entitlements.insert(entitlement.id.as_str()) {
                report(format!("entitlement `{}` appears twice", entitlement.id));
            }
            if !resources.contains(&entitlement.resource) {
                report(format!(
                    "entitlement `{}` is on resource `{}:{}`, which was not synced",
                    entitlement.id,
                    entitlement.resource.resource_type,
                    entitlement.resource.resource
                ));
            }
        }

        let mut grants = HashSet::new();
        for grant in &self.grants {
            if !grants.insert(grant.id.as_str()) {
                report(format!("grant `{}` appears twice", grant.id));
            }
            if !entitlements.contains(grant.entitlement.as_str()) {
                report(format!(
                    "grant `{}` is of entitlement `{}`, which was not synced",
                    grant.id, grant.entitlement
                ));
            }
            if !resources.contains(&grant.principal) {
                report(format!(
                    "grant `{}` is held by `{}:{}`, which was not synced",
                    grant.id, grant.principal.resource_type, grant.principal.resource
                ));
            }
        }
        problems
    }

    /// Counts resources of each type.
    pub fn count_by_type(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for resource in &self.resources {
            *counts.entry(resource.id.resource_type.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// Writes `output` to `path` atomically: to a temporary file in the same directory,
/// flushed to disk, then renamed over `path`. A failure leaves any earlier file as it was.
pub fn write_atomically(path: &Path, output: &SyncOutput) -> anyhow::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".sync-")
        .suffix(".json.partial")
        .tempfile_in(directory)
        .with_context(|| {
            format!(
                "failed to create a temporary file in `{}`",
                directory.display()
            )
        })?;

    {
        let mut writer = std::io::BufWriter::new(file.as_file_mut());
        serde_json::to_writer_pretty(&mut writer, output).context("failed to encode the output")?;
        writer.write_all(b"\n")?;
        writer.flush()?;
    }
    file.as_file()
        .sync_all()
        .context("failed to flush the output to disk")?;
    file.persist(path)
        .with_context(|| format!("failed to move the output into `{}`", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(resource_type: &str, resource: &str) -> ResourceKey {
        ResourceKey {
            resource_type: resource_type.to_owned(),
            resource: resource.to_owned(),
        }
    }

    fn resource(resource_type: &str, id: &str) -> ResourceRecord {
        ResourceRecord {
            id: key(resource_type, id),
            parent_id: None,
            display_name: id.to_owned(),
            description: None,
            user_trait: None,
            group_trait: None,
        }
    }

    fn grant(id: &str, entitlement: &str, user: &str) -> GrantRecord {
        GrantRecord {
            id: id.to_owned(),
            entitlement: entitlement.to_owned(),
            principal: key("user", user),
        }
    }

    fn entitlement(id: &str, group: &str) -> EntitlementRecord {
        EntitlementRecord {
            id: id.to_owned(),
            resource: key("group", group),
            slug: "member".to_owned(),
            purpose: "assignment".to_owned(),
            grantable_to: vec!["user".to_owned()],
            display_name: id.to_owned(),
            description: String::new(),
        }
    }

    fn type_record(id: &str) -> ResourceTypeRecord {
        ResourceTypeRecord {
            id: id.to_owned(),
            display_name: id.to_owned(),
            description: String::new(),
            traits: vec![],
        }
    }

    #[test]
    fn compare_ids_sorts_numbers_numerically() {
        let mut ids = vec!["10", "2", "b", "1", "a"];
        ids.sort_by(|l, r| compare_ids(l, r));
        assert_eq!(ids, ["1", "2", "10", "a", "b"]);
    }

    #[test]
    fn finish_orders_by_declared_type_then_id() {
        let mut output = SyncOutput {
            resource_types: vec![type_record("user"), type_record("group")],
            resources: vec![
                resource("group", "2"),
                resource("user", "10"),
                resource("user", "9"),
            ],
            ..SyncOutput::default()
        };
        output.finish();
        let order: Vec<(&str, &str)> = output
            .resources
            .iter()
            .map(|r| (r.id.resource_type.as_str(), r.id.resource.as_str()))
            .collect();
        assert_eq!(order, [("user", "9"), ("user", "10"), ("group", "2")]);
    }

    #[test]
    fn finish_removes_and_counts_duplicates() {
        let mut output = SyncOutput {
            resource_types: vec![type_record("user")],
            resources: vec![
                resource("user", "1"),
                resource("user", "2"),
                resource("user", "1"),
            ],
            grants: vec![
                grant("group:1:member:user:2", "group:1:member", "2"),
                grant("group:1:member:user:2", "group:1:member", "2"),
            ],
            ..SyncOutput::default()
        };
        let cleanup = output.finish();
        assert_eq!(cleanup.duplicates_removed, 2);
        assert_eq!(output.resources.len(), 2);
        assert_eq!(output.grants.len(), 1);
    }

    #[test]
    fn grants_sort_by_numeric_parts() {
        let mut output = SyncOutput {
            grants: vec![
                grant("group:10:member:user:1", "group:10:member", "1"),
                grant("group:2:member:user:10", "group:2:member", "10"),
                grant("group:2:member:user:9", "group:2:member", "9"),
            ],
            ..SyncOutput::default()
        };
        output.finish();
        let ids: Vec<&str> = output.grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "group:2:member:user:9",
                "group:2:member:user:10",
                "group:10:member:user:1"
            ]
        );
    }

    #[test]
    fn check_references_reports_dangling_ids() {
        let output = SyncOutput {
            resources: vec![resource("group", "1"), resource("user", "1")],
            entitlements: vec![
                entitlement("group:1:member", "1"),
                entitlement("group:9:member", "9"),
            ],
            grants: vec![
                grant("group:1:member:user:1", "group:1:member", "1"),
                grant("group:1:member:user:5", "group:1:member", "5"),
                grant("group:3:member:user:1", "group:3:member", "1"),
            ],
            ..SyncOutput::default()
        };
        let problems = output.check_references(10);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("group:9:member"));
        assert!(problems[1].contains("`user:5`"));
        assert!(problems[2].contains("`group:3:member`"));
    }

    #[test]
    fn check_references_passes_consistent_output() {
        let output = SyncOutput {
            resources: vec![resource("group", "1"), resource("user", "1")],
            entitlements: vec![entitlement("group:1:member", "1")],
            grants: vec![grant("group:1:member:user:1", "group:1:member", "1")],
            ..SyncOutput::default()
        };
        assert!(output.check_references(10).is_empty());
    }

    #[test]
    fn write_atomically_replaces_whole_file() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("sync.json");
        std::fs::write(&path, "old").expect("seed file");
        let output = SyncOutput {
            resources: vec![resource("user", "1")],
            ..SyncOutput::default()
        };
        write_atomically(&path, &output).expect("write");
        let written: SyncOutput =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
        assert_eq!(written, output);
        let leftovers: Vec<_> = std::fs::read_dir(directory.path())
            .expect("list")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name() != "sync.json")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}
