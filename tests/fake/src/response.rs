//! Building the HTTP response for a request: the normal one, a rate-limit rejection or a fault.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::body::FakeBody;
use crate::fault::FaultAction;
use crate::render::message;

/// The response decided for one request, and how to deliver it.
pub(crate) struct Plan {
    pub response: Response<FakeBody>,
    pub delay: Duration,
    pub hang: bool,
    /// Status to record: the sent status, or 0 when the body is cut or the request hangs.
    pub recorded_status: u16,
}

/// Builds the 429 response for a request over the rate limit.
pub(crate) fn rate_limited(limit: u32) -> Plan {
    let text = format!("Rate limit exceeded: at most {limit} requests per second are allowed");
    let body = Bytes::from(message(&text).to_string());
    let headers = [
        (
            CONTENT_TYPE.as_str().to_owned(),
            "application/json".to_owned(),
        ),
        ("Retry-After".to_owned(), "1".to_owned()),
        ("RateLimit-Limit".to_owned(), limit.to_string()),
        ("RateLimit-Remaining".to_owned(), "0".to_owned()),
    ];
    Plan {
        response: build_response(429, &headers, FakeBody::full(body)),
        delay: Duration::ZERO,
        hang: false,
        recorded_status: 429,
    }
}

/// Turns a fault action and the normal headers and body into the plan for the faulty response.
pub(crate) fn apply_fault(
    action: FaultAction,
    mut headers: Vec<(String, String)>,
    normal_body: Bytes,
) -> Plan {
    let status = StatusCode::from_u16(action.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);

    // A replacement body has no Content-Type unless the fault sets one, as some real error pages do.
    let body = match action.body {
        Some(body) => {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case(CONTENT_TYPE.as_str()));
            Bytes::from(body)
        }
        None if status.is_success() => normal_body,
        None => {
            let text = status.canonical_reason().unwrap_or("Injected fault");
            Bytes::from(message(text).to_string())
        }
    };

    // Fault headers replace the normal headers of the same name.
    headers.retain(|(name, _)| {
        !action
            .headers
            .iter()
            .any(|(fault_name, _)| fault_name.eq_ignore_ascii_case(name))
    });
    headers.extend(action.headers);

    let full_len = body.len();
    let (body, recorded_status) = match action.cut_after {
        Some(sent) if sent < full_len => {
            headers.push((CONTENT_LENGTH.as_str().to_owned(), full_len.to_string()));
            (FakeBody::cut(body.slice(..sent), full_len as u64), 0)
        }
        _ => (FakeBody::full(body), status.as_u16()),
    };

    Plan {
        response: build_response(status.as_u16(), &headers, body),
        delay: action.delay.unwrap_or(Duration::ZERO),
        hang: action.hang,
        recorded_status: if action.hang { 0 } else { recorded_status },
    }
}

/// Builds a response, skipping headers whose name or value is not valid HTTP.
pub(crate) fn build_response(
    status: u16,
    headers: &[(String, String)],
    body: FakeBody,
) -> Response<FakeBody> {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        response.headers_mut().append(name, value);
    }
    response
}
