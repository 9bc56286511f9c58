//! Property tests of the code that reads what the API and the host send: response
//! classification and parsing, page tokens, the API URL and profiles. Inputs are the
//! ActiveCampaign reference's example bodies, truncated, with bytes flipped or values
//! retyped, and arbitrary bytes and strings. Nothing may panic, and the round trips hold.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;

use crate::api::{CurrentUser, GroupList, UserGroupList, UserList, flag_value, is_zero_date};
use crate::conductorone::connector::types::ProfileValue;
use crate::error::Error;
use crate::pagination::{PAGE_SIZE, PageToken};
use crate::profile;
use crate::response::{self, HttpResponse, RequestContext};
use crate::settings::{ApiUrl, Scheme};
use crate::{groups, users};

/// The reference's example bodies of the calls the connector makes, each with the list
/// type that reads it.
const FIXTURES: [(&str, Body); 4] = [
    (
        include_str!("../../tests/fixtures/docs/list-all-users.200.json"),
        Body::Users,
    ),
    (
        include_str!("../../tests/fixtures/docs/list-all-groups.200.json"),
        Body::Groups,
    ),
    (
        include_str!("../../tests/fixtures/docs/update-user.200.json"),
        Body::Members,
    ),
    (
        include_str!("../../tests/fixtures/docs/get-user-loggedin.200.json"),
        Body::Me,
    ),
];

/// The body type of a fixture.
#[derive(Debug, Clone, Copy)]
enum Body {
    Users,
    Groups,
    Members,
    Me,
}

/// Maximum length of an error message for any response, in characters. The upstream
/// part is an excerpt of at most 200 characters, so a whole page never gets into a
/// message.
const MAX_MESSAGE_CHARS: usize = 1_000;

const ORIGIN: &str = "https://acme.api-us1.com";

fn listing() -> RequestContext<'static> {
    RequestContext {
        action: "list users",
        origin: ORIGIN,
        credential_check: false,
    }
}

fn context(credential_check: bool) -> RequestContext<'static> {
    RequestContext {
        action: "list users",
        origin: ORIGIN,
        credential_check,
    }
}

fn json_answer(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        content_type: Some("application/json".to_owned()),
        body,
        ..HttpResponse::default()
    }
}

/// Returns the message of an error, whatever its case.
fn message_of(error: &Error) -> &str {
    match error {
        Error::Unauthorized(message)
        | Error::Forbidden(message)
        | Error::NotFound(message)
        | Error::UpstreamUnavailable(message)
        | Error::InvalidResponse(message)
        | Error::InvalidConfiguration(message)
        | Error::InvalidArgument(message)
        | Error::Other(message) => message,
        Error::RateLimited { message, .. } => message,
    }
}

/// Parses `body` as the type a fixture of kind `kind` is read as, maps what it can to
/// resources, and checks what every successful parse guarantees.
fn parse_and_map(kind: Body, body: &[u8]) -> Result<(), Error> {
    let answer = json_answer(body.to_vec());
    match kind {
        Body::Users => {
            let list: UserList = response::parse(&listing(), answer)?;
            for user in list.users {
                assert_valid_id(&user.id);
                let resource = users::user_resource(user);
                assert!(!resource.display_name.is_empty());
            }
        }
        Body::Groups => {
            let list: GroupList = response::parse(&listing(), answer)?;
            for group in list.groups {
                assert_valid_id(&group.id);
                let resource = groups::group_resource(group);
                assert!(!resource.display_name.is_empty());
                let entitlements = groups::entitlements(&resource, None);
                if let Ok(page) = entitlements {
                    let expected = if groups::is_admin_group(&resource) {
                        2
                    } else {
                        1
                    };
                    assert_eq!(page.entitlements.len(), expected);
                }
            }
        }
        Body::Members => {
            let list: UserGroupList = response::parse(&listing(), answer)?;
            for row in list.user_groups {
                for id in [row.userid, row.groupid].into_iter().flatten() {
                    assert_valid_id(&id);
                }
            }
        }
        Body::Me => {
            let me: CurrentUser = response::parse(&listing(), answer)?;
            assert_valid_id(&me.user.id);
        }
    }
    Ok(())
}

/// Asserts that an id the connector accepted is not empty and has no surrounding spaces.
fn assert_valid_id(id: &str) {
    assert!(!id.is_empty());
    assert_eq!(id, id.trim());
}

/// Tells whether an authority's host is `localhost` or a loopback address, the only hosts
/// plain `http` may reach.
fn names_this_machine(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |number| number.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("0"),
            Just("1"),
            Just(""),
            Just(" 7 "),
            Just("0000-00-00 00:00:00"),
            Just("true"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Counts the values in `value`, itself included.
fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(fields) => fields.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces the value at position `target` of a pre-order walk of `value`.
fn replace_node(value: &mut Value, target: &mut usize, replacement: &Value) -> bool {
    if *target == 0 {
        *value = replacement.clone();
        return true;
    }
    *target -= 1;
    let children: Vec<&mut Value> = match value {
        Value::Array(items) => items.iter_mut().collect(),
        Value::Object(fields) => fields.values_mut().collect(),
        _ => Vec::new(),
    };
    for child in children {
        if replace_node(child, target, replacement) {
            return true;
        }
    }
    false
}

/// A fixture with one of its values, at any depth, replaced by another JSON value.
fn retyped_fixture() -> impl Strategy<Value = (Body, Vec<u8>)> {
    (
        0..FIXTURES.len(),
        any::<prop::sample::Index>(),
        json_value(),
    )
        .prop_map(|(which, index, replacement)| {
            let (text, kind) = FIXTURES[which];
            let mut value: Value = serde_json::from_str(text).expect("fixture is JSON");
            let mut target = index.index(count_nodes(&value));
            replace_node(&mut value, &mut target, &replacement);
            (kind, serde_json::to_vec(&value).expect("JSON encodes"))
        })
}

/// Any HTTP response: status, headers and a body of arbitrary bytes or of JSON.
fn any_response() -> impl Strategy<Value = HttpResponse> {
    let content_type = prop::option::of(prop_oneof![
        Just("application/json".to_owned()),
        Just("application/json; charset=utf-8".to_owned()),
        Just("text/html".to_owned()),
        Just("text/plain".to_owned()),
        ".{0,20}",
    ]);
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|value| value.to_string().into_bytes()),
        ".{0,300}".prop_map(String::into_bytes),
        (0..FIXTURES.len()).prop_map(|which| FIXTURES[which].0.as_bytes().to_vec()),
    ];
    (
        prop_oneof![100u16..=599, any::<u16>()],
        content_type,
        prop::option::of(".{0,300}"),
        prop::option::of(".{0,12}"),
        body,
    )
        .prop_map(
            |(status, content_type, location, retry_after, body)| HttpResponse {
                status,
                content_type,
                location,
                retry_after,
                body,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn check_any_response_never_panics(
        answer in any_response(),
        credential_check in any::<bool>(),
    ) {
        let _ = response::check(&context(credential_check), answer);
    }

    #[test]
    fn check_error_is_one_bounded_line(
        answer in any_response(),
        credential_check in any::<bool>(),
    ) {
        if let Err(error) = response::check(&context(credential_check), answer) {
            let message = message_of(&error);
            prop_assert!(!message.contains('\n'), "{message}");
            prop_assert!(message.chars().count() <= MAX_MESSAGE_CHARS, "{message}");
        }
    }

    #[test]
    fn check_passes_json_success_unchanged(
        status in 200u16..=299,
        value in json_value(),
        content_type in prop::option::of(Just("application/json".to_owned())),
    ) {
        let body = serde_json::json!({ "data": value }).to_string().into_bytes();
        let answer = HttpResponse {
            status,
            content_type,
            body: body.clone(),
            ..HttpResponse::default()
        };
        prop_assert_eq!(response::check(&listing(), answer), Ok(body));
    }

    #[test]
    fn check_classifies_by_status(answer in any_response(), credential_check in any::<bool>()) {
        let status = answer.status;
        let result = response::check(&context(credential_check), answer);
        match status {
            429 => prop_assert!(matches!(result, Err(Error::RateLimited { .. })), "{result:?}"),
            500 | 502 | 504 => {
                prop_assert!(matches!(result, Err(Error::UpstreamUnavailable(_))), "{result:?}")
            }
            300..=399 => {
                prop_assert!(matches!(result, Err(Error::InvalidConfiguration(_))), "{result:?}")
            }
            401 => prop_assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}"),
            403 if credential_check => {
                prop_assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}")
            }
            200..=299 => prop_assert!(
                !matches!(
                    result,
                    Err(Error::RateLimited { .. } | Error::Unauthorized(_) | Error::NotFound(_))
                ),
                "{result:?}"
            ),
            _ => prop_assert!(result.is_err(), "{result:?}"),
        }
    }

    #[test]
    fn truncated_fixture_is_transient(
        which in 0..FIXTURES.len(),
        cut in any::<prop::sample::Index>(),
    ) {
        let (text, kind) = FIXTURES[which];
        let whole = text.trim_end();
        let body = &whole.as_bytes()[..cut.index(whole.len())];
        let result = parse_and_map(kind, body);
        prop_assert!(matches!(result, Err(Error::UpstreamUnavailable(_))), "{result:?}");
    }

    #[test]
    fn flipped_fixture_never_panics(
        which in 0..FIXTURES.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let (text, kind) = FIXTURES[which];
        let mut body = text.as_bytes().to_vec();
        for (at, mask) in flips {
            let at = at.index(body.len());
            body[at] ^= mask;
        }
        let _ = parse_and_map(kind, &body);
    }

    #[test]
    fn retyped_fixture_never_panics((kind, body) in retyped_fixture()) {
        let _ = parse_and_map(kind, &body);
    }

    #[test]
    fn arbitrary_body_never_panics(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        for kind in [Body::Users, Body::Groups, Body::Members, Body::Me] {
            let _ = parse_and_map(kind, &body);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let body = value.to_string().into_bytes();
        for kind in [Body::Users, Body::Groups, Body::Members, Body::Me] {
            let _ = parse_and_map(kind, &body);
        }
    }

    #[test]
    fn page_token_round_trips(page in 0..u64::MAX / PAGE_SIZE, chained in any::<bool>()) {
        let token = PageToken { offset: page * PAGE_SIZE, chained };
        prop_assert_eq!(PageToken::parse(Some(&token.encode())), Ok(token));
    }

    #[test]
    fn page_token_parse_any_string(text in prop_oneof![".{0,40}", "v1:[0-9+]{0,22}:[cpx]{0,2}"]) {
        match PageToken::parse(Some(&text)) {
            Ok(token) => {
                prop_assert_eq!(token.offset % PAGE_SIZE, 0);
                prop_assert_eq!(PageToken::parse(Some(&token.encode())), Ok(token));
            }
            Err(error) => prop_assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}"),
        }
    }

    #[test]
    fn next_tokens_move_forward(
        page in prop_oneof![
            Just(0),
            0..20u64,
            Just(u64::MAX / PAGE_SIZE),
            0..=u64::MAX / PAGE_SIZE,
        ],
        chained in any::<bool>(),
        rows in prop_oneof![Just(PAGE_SIZE as usize), 0usize..=200],
        total in prop::option::of(prop_oneof![0u64..100_000, any::<u64>()]),
    ) {
        let token = PageToken { offset: page * PAGE_SIZE, chained };
        let next = token.next_tokens(rows, total);
        prop_assert!(next.len() <= 1_000, "{} tokens", next.len());
        let mut previous = token.offset;
        for (position, successor) in next.iter().enumerate() {
            prop_assert!(successor.offset > previous);
            prop_assert_eq!(successor.offset % PAGE_SIZE, 0);
            prop_assert_eq!(successor.chained, position + 1 == next.len());
            previous = successor.offset;
        }
    }

    #[test]
    fn first_page_plans_every_page(total in 101u64..=100_000) {
        let planned = PageToken::FIRST.next_tokens(PAGE_SIZE as usize, Some(total));
        let offsets: Vec<u64> = planned.iter().map(|token| token.offset).collect();
        let expected: Vec<u64> = (1..total.div_ceil(PAGE_SIZE))
            .map(|page| page * PAGE_SIZE)
            .collect();
        prop_assert_eq!(offsets, expected);
    }

    #[test]
    fn api_url_parse_any_string(text in prop_oneof![
        ".{0,40}",
        "(https?|HTTP|ftp)://[a-z0-9.:@\\[\\]?#/ -]{0,30}",
    ]) {
        match ApiUrl::parse(&text) {
            Ok(url) => {
                let origin = url.origin();
                prop_assert_eq!(ApiUrl::parse(&origin), Ok(url.clone()));
                prop_assert!(!origin.contains(['?', '#', '@', ' ']), "{origin}");
                if url.scheme == Scheme::Http {
                    prop_assert!(names_this_machine(&url.authority), "{origin}");
                }
            }
            Err(error) => {
                prop_assert!(matches!(error, Error::InvalidConfiguration(_)), "{error:?}");
            }
        }
    }

    #[test]
    fn api_url_accepts_pasted_forms(
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){1,3}",
        port in prop::option::of(any::<u16>()),
        suffix in prop_oneof![Just(""), Just("/"), Just("/api/3"), Just("/api/3/"), Just("/API/3")],
        spaces in "[ \t]{0,3}",
    ) {
        let authority = match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        let pasted = format!("{spaces}https://{authority}{suffix}{spaces}");
        let url = ApiUrl::parse(&pasted);
        prop_assert_eq!(url.map(|url| url.origin()), Ok(format!("https://{authority}")));
    }

    #[test]
    fn profile_keeps_only_values(
        fields in prop::collection::btree_map("[a-zA-Z_]{1,10}", json_value(), 0..12),
        skip in prop::collection::vec("[a-zA-Z_]{1,10}", 0..3),
    ) {
        let fields: BTreeMap<String, Value> = fields;
        let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
        let is_flag = |key: &str| key.starts_with('p');
        let entries = profile::from_fields(&fields, &skip, is_flag);

        let keys: Vec<&str> = entries.iter().map(|entry| entry.key.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(&keys, &sorted);
        for entry in &entries {
            prop_assert!(!skip.contains(&entry.key.as_str()));
            let source = &fields[&entry.key];
            match &entry.value {
                ProfileValue::Text(text) => {
                    prop_assert!(!text.trim().is_empty());
                    prop_assert!(!is_zero_date(text));
                    if is_flag(&entry.key) {
                        prop_assert_eq!(flag_value(source), None);
                    }
                }
                ProfileValue::Boolean(flag) => {
                    let read = flag_value(source).or(source.as_bool());
                    prop_assert_eq!(read, Some(*flag));
                }
                ProfileValue::Integer(number) => prop_assert_eq!(source.as_i64(), Some(*number)),
            }
        }
    }

    #[test]
    fn excerpt_is_one_short_line(text in ".{0,400}") {
        let excerpt = response::excerpt(&text);
        prop_assert!(excerpt.chars().count() <= 201);
        prop_assert!(!excerpt.chars().any(char::is_control), "{excerpt:?}");
    }
}
