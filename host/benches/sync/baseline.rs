//! The native baseline: a plain Rust program, with no sandbox, that fetches and parses the
//! pages the host fetches, in the order the host fetches them at `--concurrency 1`.
//!
//! It uses what the host uses outside the sandbox: a tokio multi-thread runtime and
//! hyper-util's pooled keep-alive client. It parses each body with serde_json into structs
//! shaped like the connector's, with lenient string-or-number ids, every other field kept
//! in a map for the profile, and `meta.total` read as a hint. It maps nothing to resources
//! and writes no output file, so the host's extra work shows up in the comparison.

use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Rows per page, the API's maximum and what the connector requests.
const PAGE_SIZE: u64 = 100;

/// Record counts the baseline read, printed as JSON on stdout for the benchmark to check.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Requests sent.
    pub requests: u64,
    /// Users read.
    pub users: u64,
    /// Groups read.
    pub groups: u64,
    /// Membership rows read.
    pub memberships: u64,
    /// Fields kept in user and group maps, so that parsing cannot be skipped.
    pub fields: u64,
}

/// Runs the baseline against `base_url` with the token in `BATON_API_TOKEN`, as the
/// benchmark's child process.
pub fn run_child(base_url: &str) -> ExitCode {
    let outcome = std::env::var("BATON_API_TOKEN")
        .context("BATON_API_TOKEN is not set")
        .and_then(|token| {
            let runtime = tokio::runtime::Runtime::new().context("failed to start tokio")?;
            runtime.block_on(fetch_all(base_url, &token))
        });
    match outcome {
        Ok(counts) => {
            println!(
                "{}",
                serde_json::to_string(&counts).expect("counts serialize")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: the baseline failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One page to fetch.
enum Page {
    CurrentUser,
    Users { offset: u64 },
    Groups { offset: u64 },
    Members { group_id: String, offset: u64 },
}

/// Fetches every page one at a time. The queue reproduces the host driver's order: a
/// group page queues each group's first membership page before the group pages planned
/// after it, and a first page queues the rest of its listing.
async fn fetch_all(base_url: &str, token: &str) -> anyhow::Result<Counts> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let fetch = |path: String| get(&client, base_url, token, path);

    let mut counts = Counts::default();
    let mut queue = VecDeque::from([
        Page::CurrentUser,
        Page::Users { offset: 0 },
        Page::Groups { offset: 0 },
    ]);
    while let Some(page) = queue.pop_front() {
        counts.requests += 1;
        match page {
            Page::CurrentUser => {
                let body: CurrentUser = parse(&fetch("/api/3/users/me".to_owned()).await?)?;
                counts.fields += body.user.fields.len() as u64;
            }
            Page::Users { offset } => {
                let path = format!("/api/3/users?{}&orders%5Bid%5D=ASC", query(offset));
                let body: UserList = parse(&fetch(path).await?)?;
                let total = body.meta.and_then(|meta| meta.total);
                counts.users += body.users.len() as u64;
                for user in &body.users {
                    counts.fields += user.fields.len() as u64;
                }
                let next = next_offsets(offset, body.users.len(), total);
                queue.extend(next.map(|offset| Page::Users { offset }));
            }
            Page::Groups { offset } => {
                let path = format!("/api/3/groups?{}&orders%5Bid%5D=ASC", query(offset));
                let body: GroupList = parse(&fetch(path).await?)?;
                let total = body.meta.and_then(|meta| meta.total);
                counts.groups += body.groups.len() as u64;
                let next = next_offsets(offset, body.groups.len(), total);
                for group in body.groups {
                    counts.fields += group.fields.len() as u64;
                    queue.push_back(Page::Members {
                        group_id: group.id,
                        offset: 0,
                    });
                }
                queue.extend(next.map(|offset| Page::Groups { offset }));
            }
            Page::Members { group_id, offset } => {
                let path = format!("/api/3/groups/{group_id}/userGroups?{}", query(offset));
                let body: UserGroupList = parse(&fetch(path).await?)?;
                let total = body.meta.and_then(|meta| meta.total);
                for row in &body.user_groups {
                    if row.userid.is_none() || row.groupid.as_deref() != Some(&group_id) {
                        bail!(
                            "a membership row of group `{group_id}` has no user or another group"
                        );
                    }
                }
                counts.memberships += body.user_groups.len() as u64;
                let next = next_offsets(offset, body.user_groups.len(), total);
                queue.extend(next.map(|offset| Page::Members {
                    group_id: group_id.clone(),
                    offset,
                }));
            }
        }
    }
    Ok(counts)
}

fn query(offset: u64) -> String {
    format!("limit={PAGE_SIZE}&offset={offset}")
}

/// Returns the offsets that follow a page of `rows` rows at `offset`: a full first page
/// plans the rest from `meta.total` as the connector does, and without a total each full
/// page is followed by the next.
fn next_offsets(offset: u64, rows: usize, total: Option<u64>) -> impl Iterator<Item = u64> {
    let full = rows as u64 == PAGE_SIZE;
    let end = match total {
        Some(total) if full && offset == 0 => total,
        None if full => offset + 2 * PAGE_SIZE,
        _ => 0,
    };
    (offset + PAGE_SIZE..end).step_by(PAGE_SIZE as usize)
}

/// Sends one GET with the connector's headers and returns the body of a 200 response.
async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    base_url: &str,
    token: &str,
    path: String,
) -> anyhow::Result<Bytes> {
    let request = http::Request::get(format!("{base_url}{path}"))
        .header("accept", "application/json")
        .header("user-agent", "sync-bench-baseline")
        .header("api-token", token)
        .body(Empty::new())
        .context("failed to build a request")?;
    let response = client
        .request(request)
        .await
        .with_context(|| format!("failed to GET `{path}`"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("failed to read the body of `{path}`"))?
        .to_bytes();
    if status != http::StatusCode::OK {
        bail!("GET `{path}` returned {status}");
    }
    Ok(body)
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> anyhow::Result<T> {
    serde_json::from_slice(body).context("failed to parse a response body")
}

#[derive(Deserialize)]
struct CurrentUser {
    user: Record,
}

#[derive(Deserialize)]
struct UserList {
    users: Vec<Record>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct GroupList {
    groups: Vec<Record>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct UserGroupList {
    #[serde(rename = "userGroups")]
    user_groups: Vec<UserGroup>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default, deserialize_with = "lenient_count")]
    total: Option<u64>,
}

/// A user or group: its id, and every other field for the profile.
#[derive(Deserialize)]
struct Record {
    #[serde(deserialize_with = "lenient_id")]
    id: String,
    #[serde(flatten)]
    fields: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct UserGroup {
    #[serde(default, deserialize_with = "lenient_optional_id")]
    userid: Option<String>,
    #[serde(default, deserialize_with = "lenient_optional_id")]
    groupid: Option<String>,
}

fn lenient_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    lenient_optional_id(deserializer)?.ok_or_else(|| serde::de::Error::custom("missing id"))
}

fn lenient_optional_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => Ok(Some(text.trim().to_owned())),
        Value::Number(number) if number.is_u64() => Ok(Some(number.to_string())),
        Value::Null => Ok(None),
        other => Err(serde::de::Error::custom(format!("invalid id `{other}`"))),
    }
}

fn lenient_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    })
}
