//! Routing and the normal response to each request, before faults and rate limits.

use std::collections::HashSet;

use serde_json::Value;

use crate::account::Account;
use crate::render::{Wire, message};

/// Page size when the request has no valid `limit`, as in the real API.
pub(crate) const DEFAULT_LIMIT: usize = 20;

/// Largest page the real API returns, whatever `limit` requests.
pub(crate) const MAX_LIMIT: usize = 100;

// NOTE: the real wording of the bad-key message is not documented, so this text is made up.
const BAD_TOKEN_MESSAGE: &str =
    "You are not authorized to access this resource. Check the Api-Token header.";
const FORBIDDEN_MESSAGE: &str = "You do not have permission to access this resource";

/// The API tokens the server accepts.
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    /// Token of an account admin, accepted everywhere.
    pub admin: String,
    /// Token of a user outside the admin groups, accepted only by `/users/me`.
    pub non_admin: Option<String>,
}

/// The normal response to one request.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn message(status: u16, text: &str) -> Reply {
        Reply::json(status, message(text))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Admin,
    NonAdmin,
}

/// The endpoints the fake serves. Ids stay raw text so that error messages can echo them.
#[derive(Debug)]
enum Route<'a> {
    Me,
    Users,
    User(&'a str),
    Groups,
    Group(&'a str),
    GroupMembers(&'a str),
}

/// The part of a list that one request selects with `offset` and `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub offset: usize,
    pub limit: usize,
}

/// The parts of a request that decide its normal response.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub token: Option<&'a str>,
}

/// Builds the response the real API would send, checking the token, the route, the method and the permission in that order.
pub(crate) fn respond(
    account: &Account,
    wire: &Wire,
    tokens: &Tokens,
    request: &Request<'_>,
) -> Reply {
    let access = match request.token {
        Some(token) if token == tokens.admin => Access::Admin,
        Some(token) if tokens.non_admin.as_deref() == Some(token) => Access::NonAdmin,
        _ => return Reply::message(403, BAD_TOKEN_MESSAGE),
    };

    let Some(route) = parse_route(request.path) else {
        let text = format!("No route matches `{}`", request.path);
        return Reply::message(404, &text);
    };

    if request.method != "GET" {
        let text = format!(
            "Method `{}` is not allowed on `{}`, only GET is",
            request.method, request.path
        );
        let mut reply = Reply::message(405, &text);
        reply.headers.push(("Allow".to_owned(), "GET".to_owned()));
        return reply;
    }

    // A key without admin rights can identify itself but cannot read users or groups.
    if access == Access::NonAdmin && !matches!(route, Route::Me) {
        return Reply::message(403, FORBIDDEN_MESSAGE);
    }

    let page = parse_page(request.query);
    match route {
        Route::Me => me(account, access, wire),
        Route::Users => {
            let rows = page_of(&account.users, page)
                .iter()
                .map(|user| wire.user(user))
                .collect();
            Reply::json(200, wire.list("users", rows, account.users.len()))
        }
        Route::User(raw_id) => match find_by_id(&account.users, raw_id, |user| user.id) {
            Some(user) => Reply::json(200, serde_json::json!({ "user": wire.user(user) })),
            None => Reply::message(404, &format!("No Result found for User with id {raw_id}")),
        },
        Route::Groups => {
            let rows = page_of(&account.groups, page)
                .iter()
                .map(|group| wire.group(group))
                .collect();
            Reply::json(200, wire.list("groups", rows, account.groups.len()))
        }
        Route::Group(raw_id) => match find_by_id(&account.groups, raw_id, |group| group.id) {
            Some(group) => Reply::json(200, serde_json::json!({ "group": wire.group(group) })),
            None => missing_group(raw_id),
        },
        Route::GroupMembers(raw_id) => {
            let Some(group) = find_by_id(&account.groups, raw_id, |group| group.id) else {
                return missing_group(raw_id);
            };
            group_members(account, group.id, page, wire)
        }
    }
}

/// Builds the real API's response for a missing group: 403, not 404.
fn missing_group(raw_id: &str) -> Reply {
    Reply::message(403, &format!("No Result found for Group with id {raw_id}"))
}

/// Returns the owner of the token: the account owner for the admin token, a user outside the admin groups otherwise.
fn me(account: &Account, access: Access, wire: &Wire) -> Reply {
    let user = match access {
        Access::Admin => account.users.first(),
        Access::NonAdmin => {
            // Collecting the admins first keeps this linear on accounts with thousands of users.
            let admin_groups: HashSet<u64> = account
                .groups
                .iter()
                .filter(|group| group.admin)
                .map(|group| group.id)
                .collect();
            let admins: HashSet<u64> = account
                .memberships
                .iter()
                .filter(|row| admin_groups.contains(&row.group_id))
                .map(|row| row.user_id)
                .collect();
            account
                .users
                .iter()
                .find(|user| !admins.contains(&user.id))
                .or(account.users.first())
        }
    };

    match user {
        Some(user) => Reply::json(200, serde_json::json!({ "user": wire.user(user) })),
        None => Reply::message(404, "No Result found for User"),
    }
}

fn group_members(account: &Account, group_id: u64, page: Page, wire: &Wire) -> Reply {
    let mut total = 0;
    let mut rows = Vec::new();
    for row in account
        .memberships
        .iter()
        .filter(|row| row.group_id == group_id)
    {
        if total >= page.offset && rows.len() < page.limit {
            rows.push(wire.membership(row));
        }
        total += 1;
    }
    Reply::json(200, wire.list("userGroups", rows, total))
}

/// Splits `/api/3/...` into a route, or returns `None` for any other path.
fn parse_route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/api/3/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let route = match segments.as_slice() {
        ["users", "me"] => Route::Me,
        ["users"] => Route::Users,
        ["users", id] if !id.is_empty() => Route::User(id),
        ["groups"] => Route::Groups,
        ["groups", id] if !id.is_empty() => Route::Group(id),
        ["groups", id, "userGroups"] if !id.is_empty() => Route::GroupMembers(id),
        _ => return None,
    };
    Some(route)
}

/// Reads `limit` and `offset` from a query string and ignores every other parameter.
///
/// A missing, zero or unparsable `limit` means [`DEFAULT_LIMIT`], a larger one is cut to
/// [`MAX_LIMIT`], and a missing or unparsable `offset` means 0. The last occurrence of a
/// parameter wins.
pub(crate) fn parse_page(query: &str) -> Page {
    let mut page = Page {
        offset: 0,
        limit: DEFAULT_LIMIT,
    };
    for pair in query.split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        match key {
            "limit" => {
                page.limit = match value.parse::<usize>() {
                    Ok(0) | Err(_) => DEFAULT_LIMIT,
                    Ok(limit) => limit.min(MAX_LIMIT),
                };
            }
            "offset" => page.offset = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    page
}

/// Returns the rows of one page of a list sorted by id.
fn page_of<T>(rows: &[T], page: Page) -> &[T] {
    let rest = rows.get(page.offset..).unwrap_or(&[]);
    &rest[..rest.len().min(page.limit)]
}

/// Finds a row by the decimal id in a path, using the list's id order.
fn find_by_id<'a, T>(rows: &'a [T], raw_id: &str, id_of: impl Fn(&T) -> u64) -> Option<&'a T> {
    let id: u64 = raw_id.parse().ok()?;
    let position = rows.binary_search_by_key(&id, id_of).ok()?;
    rows.get(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_page_defaults_and_caps() {
        let cases = [
            ("", 0, 20),
            ("limit=5", 0, 5),
            ("limit=0", 0, 20),
            ("limit=abc", 0, 20),
            ("limit=1000", 0, 100),
            ("offset=40&limit=10", 40, 10),
            ("offset=-1", 0, 20),
            ("orders%5Bid%5D=ASC&limit=3&offset=6", 6, 3),
            ("limit=3&limit=7", 0, 7),
        ];
        for (query, offset, limit) in cases {
            assert_eq!(parse_page(query), Page { offset, limit }, "query `{query}`");
        }
    }

    #[test]
    fn parse_route_rejects_other_paths() {
        for path in [
            "/api/3/users/",
            "/api/3//users",
            "/api/2/users",
            "/users",
            "/api/3/groups/3/userGroups/1",
        ] {
            assert!(parse_route(path).is_none(), "path `{path}`");
        }
    }
}
