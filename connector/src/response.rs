//! Turns an HTTP response into a JSON body or a typed error that quotes the API's message.
//!
//! Pure functions over status, headers and body, so every odd response the API is known to
//! give can be tested without a network.

use serde::de::DeserializeOwned;

use crate::error::Error;

/// Maximum length of an upstream message excerpt that goes into an error, in characters.
const EXCERPT_CHARS: usize = 200;

/// The response the connector received for one request.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if sent.
    pub content_type: Option<String>,
    /// The `Location` header, if sent.
    pub location: Option<String>,
    /// The `Retry-After` header, if sent.
    pub retry_after: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// The request a response belongs to, for messages and for rules that differ by call.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    /// The request's action, such as "list users", used as "failed to list users".
    pub action: &'a str,
    /// The API origin, such as `https://acme.api-us1.com`.
    pub origin: &'a str,
    /// Whether this is the credential check, the first request of a sync.
    pub credential_check: bool,
}

/// Parses a successful answer's JSON body into `T`, or classifies the failure.
pub fn parse<T: DeserializeOwned>(
    context: &RequestContext<'_>,
    response: HttpResponse,
) -> Result<T, Error> {
    let body = check(context, response)?;
    serde_json::from_slice(&body).map_err(|error| {
        let kind = if error.is_eof() {
            "is cut off"
        } else {
            "does not have the expected shape"
        };
        let message = format!(
            "failed to {}: the API's JSON {kind} ({error}): {}",
            context.action,
            excerpt(&String::from_utf8_lossy(&body))
        );
        if error.is_eof() {
            Error::UpstreamUnavailable(message)
        } else {
            Error::InvalidResponse(message)
        }
    })
}

/// Returns the body of a 2xx response that looks like the API's JSON, or the error that
/// the status and body mean.
pub fn check(context: &RequestContext<'_>, response: HttpResponse) -> Result<Vec<u8>, Error> {
    let action = context.action;
    let status = response.status;
    let json = looks_like_json(&response);
    let success = (200..=299).contains(&status);
    if success && response.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::UpstreamUnavailable(format!(
            "failed to {action}: the API answered HTTP {status} with an empty body; this is \
             usually brief, retry later"
        )));
    }
    if success && json {
        return Ok(response.body);
    }

    // Only a failure needs the API's own message, and finding it parses the whole body.
    let upstream = upstream_message(&response);
    match status {
        200..=299 => Err(not_the_api(context, &upstream)),
        300..=399 => {
            let target = response
                .location
                .as_deref()
                .unwrap_or("an unnamed location");
            Err(Error::InvalidConfiguration(format!(
                "failed to {action}: `{}` redirected (HTTP {status}) to `{}`, so it is probably \
                 not the account's API URL; copy the API Access URL from Settings > Developer",
                context.origin,
                excerpt(target)
            )))
        }
        401 | 403 if context.credential_check => Err(Error::Unauthorized(format!(
            "the API rejected the API token (HTTP {status}: {upstream}): the token is invalid \
             or revoked, or its user is not an account admin; create a token as an account \
             admin in Settings > Developer"
        ))),
        401 => Err(Error::Unauthorized(format!(
            "failed to {action}: the API rejected the API token (HTTP 401: {upstream}); check \
             the token in Settings > Developer"
        ))),
        403 if upstream.starts_with("No Result found") => {
            Err(Error::NotFound(format!("failed to {action}: {upstream}")))
        }
        403 => Err(Error::Forbidden(format!(
            "failed to {action}: the API denied access (HTTP 403: {upstream}); the API token \
             must belong to an account admin, who can read users and groups"
        ))),
        // The credential check's path exists on every account, so a 404 there means the
        // URL leads somewhere else, whatever the body.
        404 if context.credential_check => Err(not_the_api(context, &upstream)),
        404 => Err(Error::NotFound(format!(
            "failed to {action}: not found (HTTP 404: {upstream})"
        ))),
        429 => Err(Error::RateLimited {
            retry_after_ms: retry_after_ms(response.retry_after.as_deref()),
            message: format!(
                "failed to {action}: the API's rate limit was reached (HTTP 429: {upstream})"
            ),
        }),
        // Some clients of this API saw a 503 page in place of a 429 when over the limit.
        503 if !json => Err(Error::RateLimited {
            retry_after_ms: retry_after_ms(response.retry_after.as_deref()),
            message: format!(
                "failed to {action}: the API is unavailable or rate limited (HTTP 503 without \
                 a JSON body: {upstream})"
            ),
        }),
        500 | 502..=504 => Err(Error::UpstreamUnavailable(format!(
            "failed to {action}: the API failed (HTTP {status}: {upstream}); retry later"
        ))),
        _ if context.credential_check && !json => Err(not_the_api(context, &upstream)),
        _ => Err(Error::InvalidResponse(format!(
            "failed to {action}: unexpected HTTP {status} ({upstream})"
        ))),
    }
}

/// Returns the error for a response that did not come from the ActiveCampaign API.
fn not_the_api(context: &RequestContext<'_>, upstream: &str) -> Error {
    let message = format!(
        "failed to {}: `{}` did not answer like the ActiveCampaign API ({upstream}); check \
         the API Access URL in Settings > Developer",
        context.action, context.origin
    );
    if context.credential_check {
        Error::InvalidConfiguration(message)
    } else {
        Error::InvalidResponse(message)
    }
}

/// Tells whether the body is JSON: by `Content-Type` when sent, else by its first byte,
/// because the API sometimes omits the header.
fn looks_like_json(response: &HttpResponse) -> bool {
    let first = response
        .body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace());
    let starts_like_json = matches!(first, Some(b'{') | Some(b'['));
    match response.content_type.as_deref() {
        Some(content_type) => {
            let content_type = content_type.to_ascii_lowercase();
            (content_type.contains("json") || content_type.starts_with("text/plain"))
                && starts_like_json
        }
        None => starts_like_json,
    }
}

/// Returns the API's own explanation of an answer, trimmed: a JSON `message`, the
/// `errors` titles and details, an HTML page's title, or the start of the text.
pub fn upstream_message(response: &HttpResponse) -> String {
    let text = String::from_utf8_lossy(&response.body);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_owned();
    }

    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        if let Some(message) = value.get("message").and_then(|m| m.as_str()) {
            return excerpt(message);
        }
        if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
            let parts: Vec<String> = errors.iter().filter_map(error_text).collect();
            if !parts.is_empty() {
                return excerpt(&parts.join("; "));
            }
        }
        return excerpt(text);
    }

    if let Some(title) = html_title(text) {
        return format!("HTML page titled `{}`", excerpt(&title));
    }
    if text.starts_with('<') {
        return "an HTML page".to_owned();
    }
    excerpt(text)
}

/// Returns `title: detail` of one entry of an `errors` array.
fn error_text(error: &serde_json::Value) -> Option<String> {
    let title = error.get("title").and_then(|t| t.as_str());
    let detail = error.get("detail").and_then(|d| d.as_str());
    match (title, detail) {
        (Some(title), Some(detail)) => Some(format!("{title}: {detail}")),
        (Some(text), None) | (None, Some(text)) => Some(text.to_owned()),
        (None, None) => None,
    }
}

/// Returns the text of an HTML `<title>` element, if any.
fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = text.get(start..end)?.trim();
    (!title.is_empty()).then(|| title.to_owned())
}

/// Returns at most `EXCERPT_CHARS` characters of `text` on one line.
pub fn excerpt(text: &str) -> String {
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if one_line.chars().count() <= EXCERPT_CHARS {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(EXCERPT_CHARS).collect();
    cut.push('…');
    cut
}

/// Reads a `Retry-After` header given in seconds. Dates are not used by this API.
fn retry_after_ms(header: Option<&str>) -> Option<u64> {
    let seconds: f64 = header?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "https://acme.api-us1.com";

    fn listing() -> RequestContext<'static> {
        RequestContext {
            action: "list users",
            origin: ORIGIN,
            credential_check: false,
        }
    }

    fn credential_check() -> RequestContext<'static> {
        RequestContext {
            action: "check the API token",
            origin: ORIGIN,
            credential_check: true,
        }
    }

    fn answer(status: u16, content_type: Option<&str>, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            content_type: content_type.map(str::to_owned),
            body: body.as_bytes().to_vec(),
            ..HttpResponse::default()
        }
    }

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn ok_json_passes() {
        let body = check(&listing(), answer(200, JSON, r#"{"users": []}"#)).expect("ok");
        assert_eq!(body, br#"{"users": []}"#);
    }

    #[test]
    fn ok_json_without_content_type_passes() {
        assert!(check(&listing(), answer(200, None, r#"{"users": []}"#)).is_ok());
    }

    #[test]
    fn empty_ok_body_is_transient() {
        let error = check(&listing(), answer(200, JSON, "  ")).unwrap_err();
        assert!(matches!(error, Error::UpstreamUnavailable(_)), "{error:?}");
    }

    #[test]
    fn html_ok_body_is_invalid_response() {
        let page = "<html><head><title>Maintenance</title></head><body>x</body></html>";
        let error = check(&listing(), answer(200, Some("text/html"), page)).unwrap_err();
        let Error::InvalidResponse(message) = error else {
            panic!("expected invalid response, got {error:?}");
        };
        assert!(message.contains("`Maintenance`"), "{message}");
    }

    #[test]
    fn html_on_credential_check_names_url() {
        let page = "<html><title>Not Found</title></html>";
        let error = check(&credential_check(), answer(404, Some("text/html"), page)).unwrap_err();
        let Error::InvalidConfiguration(message) = error else {
            panic!("expected invalid configuration, got {error:?}");
        };
        assert!(message.contains(ORIGIN), "{message}");
        assert!(message.contains("Settings > Developer"), "{message}");
    }

    #[test]
    fn redirect_names_location() {
        let mut response = answer(302, Some("text/html"), "");
        response.location = Some("https://www.activecampaign.com/login".to_owned());
        let error = check(&credential_check(), response).unwrap_err();
        let Error::InvalidConfiguration(message) = error else {
            panic!("expected invalid configuration, got {error:?}");
        };
        assert!(
            message.contains("https://www.activecampaign.com/login"),
            "{message}"
        );
    }

    #[test]
    fn forbidden_on_credential_check_is_unauthorized() {
        let error = check(&credential_check(), answer(403, None, "")).unwrap_err();
        let Error::Unauthorized(message) = error else {
            panic!("expected unauthorized, got {error:?}");
        };
        assert!(message.contains("account admin"), "{message}");
    }

    #[test]
    fn forbidden_listing_says_admin_needed() {
        let body = r#"{"message": "You do not have permission"}"#;
        let error = check(&listing(), answer(403, JSON, body)).unwrap_err();
        let Error::Forbidden(message) = error else {
            panic!("expected forbidden, got {error:?}");
        };
        assert!(message.contains("account admin"), "{message}");
        assert!(message.contains("You do not have permission"), "{message}");
    }

    #[test]
    fn missing_group_403_is_not_found() {
        let body = include_str!("../../tests/fixtures/docs/retrieve-a-group.403.json");
        let error = check(&listing(), answer(403, JSON, body)).unwrap_err();
        assert!(matches!(error, Error::NotFound(_)), "{error:?}");
    }

    #[test]
    fn too_many_requests_reads_retry_after() {
        let mut response = answer(429, JSON, r#"{"message": "slow down"}"#);
        response.retry_after = Some("2".to_owned());
        let error = check(&listing(), response).unwrap_err();
        assert_eq!(
            error,
            Error::RateLimited {
                retry_after_ms: Some(2_000),
                message: "failed to list users: the API's rate limit was reached (HTTP 429: \
                          slow down)"
                    .to_owned(),
            }
        );
    }

    #[test]
    fn unavailable_html_is_possible_rate_limit() {
        let error = check(&listing(), answer(503, Some("text/html"), "<h1>busy</h1>")).unwrap_err();
        assert!(
            matches!(
                error,
                Error::RateLimited {
                    retry_after_ms: None,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn server_errors_are_transient() {
        for status in [500, 502, 503, 504] {
            let error =
                check(&listing(), answer(status, JSON, r#"{"message": "oops"}"#)).unwrap_err();
            assert!(
                matches!(error, Error::UpstreamUnavailable(_)),
                "status {status}: {error:?}"
            );
        }
    }

    #[test]
    fn errors_array_is_quoted() {
        let body = r#"{"errors": [{"title": "Invalid", "detail": "limit too big", "code": "x"}]}"#;
        let message = upstream_message(&answer(422, JSON, body));
        assert_eq!(message, "Invalid: limit too big");
    }

    #[test]
    fn long_message_is_trimmed() {
        let body = format!(r#"{{"message": "{}"}}"#, "x".repeat(5_000));
        let message = upstream_message(&answer(500, JSON, &body));
        assert_eq!(message.chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn wrong_shape_is_invalid_response() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Users {
            users: Vec<u32>,
        }
        let error =
            parse::<Users>(&listing(), answer(200, JSON, r#"{"contacts": []}"#)).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse(_)), "{error:?}");
    }

    #[test]
    fn cut_off_json_is_transient() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Users {
            users: Vec<u32>,
        }
        let error =
            parse::<Users>(&listing(), answer(200, JSON, r#"{"users": [1, 2"#)).unwrap_err();
        assert!(matches!(error, Error::UpstreamUnavailable(_)), "{error:?}");
    }
}
