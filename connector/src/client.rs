//! The HTTP client: one GET through `wasi:http/outgoing-handler`, read whole.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, HeaderError, OutgoingRequest, Scheme as WasiScheme};
use wasip2::io::error::Error as IoError;
use wasip2::io::streams::StreamError;

use crate::error::Error;
use crate::response::{HttpResponse, RequestContext, excerpt};
use crate::settings::{API_TOKEN, API_TOKEN_HEADER, ApiUrl, Scheme};

/// Largest response body the connector reads, in bytes. A page of 100 users is ~100 KB.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Bytes asked for per read of the body stream.
const READ_CHUNK: u64 = 64 * 1024;

const USER_AGENT: &str = concat!("activecampaign-connector/", env!("CARGO_PKG_VERSION"));

/// Sends requests to one account's API.
pub struct Client {
    api_url: ApiUrl,
    api_token: Option<String>,
}

impl Client {
    /// Creates a client. Without a token, the host must add the `Api-Token` header.
    pub fn new(api_url: ApiUrl, api_token: Option<String>) -> Self {
        Client { api_url, api_token }
    }

    /// Returns the API origin, for messages.
    pub fn origin(&self) -> String {
        self.api_url.origin()
    }

    /// Sends `GET {origin}{path_and_query}` and returns the whole response, whatever its
    /// status. Fails only when no response arrived or its body was cut off.
    pub fn get(
        &self,
        context: &RequestContext<'_>,
        path_and_query: &str,
    ) -> Result<HttpResponse, Error> {
        let request = self.request(path_and_query)?;

        // Send, then block until the response head arrives. The host enforces timeouts.
        let pending = outgoing_handler::handle(request, None)
            .map_err(|code| transport_error(context, &self.origin(), code))?;
        pending.subscribe().block();
        let incoming = match pending.get() {
            Some(Ok(Ok(incoming))) => incoming,
            Some(Ok(Err(code))) => return Err(transport_error(context, &self.origin(), code)),
            Some(Err(())) | None => {
                return Err(Error::Other(format!(
                    "failed to {}: the host's HTTP response future was already consumed",
                    context.action
                )));
            }
        };

        let headers = incoming.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .first()
                .map(|value| String::from_utf8_lossy(value).into_owned())
        };
        let mut response = HttpResponse {
            status: incoming.status(),
            content_type: header("content-type"),
            location: header("location"),
            retry_after: header("retry-after"),
            body: Vec::new(),
        };
        drop(headers);

        response.body = read_body(context, &incoming)?;
        Ok(response)
    }

    /// Builds the outgoing request with its headers.
    fn request(&self, path_and_query: &str) -> Result<OutgoingRequest, Error> {
        let headers = Fields::new();
        let set = |name: &str, value: &str| headers.set(name, &[value.as_bytes().to_vec()]);
        set("accept", "application/json").map_err(header_error)?;
        set("user-agent", USER_AGENT).map_err(header_error)?;
        if let Some(token) = &self.api_token {
            set(API_TOKEN_HEADER, token).map_err(|error| match error {
                HeaderError::Forbidden => Error::InvalidConfiguration(format!(
                    "the host adds the `{API_TOKEN_HEADER}` header itself and forbids the \
                     component to set it; remove `{API_TOKEN}` from the component's config"
                )),
                other => header_error(other),
            })?;
        }

        let request = OutgoingRequest::new(headers);
        let scheme = match self.api_url.scheme {
            Scheme::Http => WasiScheme::Http,
            Scheme::Https => WasiScheme::Https,
        };
        let applied = request
            .set_scheme(Some(&scheme))
            .and_then(|()| request.set_authority(Some(&self.api_url.authority)))
            .and_then(|()| request.set_path_with_query(Some(path_and_query)));
        if applied.is_err() {
            return Err(Error::InvalidConfiguration(format!(
                "the host rejected the request URL `{}{path_and_query}`",
                self.origin()
            )));
        }
        Ok(request)
    }
}

/// Reads a response body to its end, up to `MAX_BODY_BYTES`.
fn read_body(
    context: &RequestContext<'_>,
    incoming: &wasip2::http::types::IncomingResponse,
) -> Result<Vec<u8>, Error> {
    let body = incoming.consume().map_err(|()| {
        Error::Other(format!(
            "failed to {}: the response body was already read",
            context.action
        ))
    })?;
    let stream = body.stream().map_err(|()| {
        Error::Other(format!(
            "failed to {}: the response body has no stream",
            context.action
        ))
    })?;

    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_BODY_BYTES {
                    return Err(Error::InvalidResponse(format!(
                        "failed to {}: the response body is larger than {MAX_BODY_BYTES} bytes",
                        context.action
                    )));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(body_error(context, bytes.len(), &error));
            }
        }
    }
    drop(stream);
    Ok(bytes)
}

/// Converts a failure while reading a response body into the connector's error: a body
/// over the host's size limit is final, any other failure is worth a retry.
fn body_error(context: &RequestContext<'_>, received: usize, error: &IoError) -> Error {
    let action = context.action;
    let code = wasip2::http::types::http_error_code(error);

    // NOTE: wasmtime-wasi-http 48 returns no code for errors of an incoming body, because
    // it stores them as its own error type and looks for `error-code`. The error's debug
    // text is then the only clue. It may span lines and carry a backtrace, so only its
    // first line is kept.
    let text = error.to_debug_string();
    let first_line = excerpt(text.lines().next().unwrap_or_default());
    let too_large = matches!(code, Some(ErrorCode::HttpResponseBodySize(_)))
        || first_line.contains("response body size exceeds limit");
    let cause = code.map_or(first_line, |code| describe(&code));

    if too_large {
        return Error::InvalidResponse(format!(
            "failed to {action}: the response body is larger than the host accepts ({cause}); \
             raise the host's response size limit"
        ));
    }
    Error::UpstreamUnavailable(format!(
        "failed to {action}: the response body was cut off after {received} bytes ({cause}); \
         retry later"
    ))
}

/// Converts a failure to get any response into the connector's error.
fn transport_error(context: &RequestContext<'_>, origin: &str, code: ErrorCode) -> Error {
    let action = context.action;
    match code {
        ErrorCode::HttpRequestDenied => Error::Other(format!(
            "failed to {action}: the host denied the request to `{origin}`; allow this origin \
             in the host's network policy"
        )),
        ErrorCode::DnsError(_) if context.credential_check => Error::InvalidConfiguration(format!(
            "failed to {action}: the host name of `{origin}` could not be resolved; check the API Access URL"
        )),
        ErrorCode::HttpRequestUriInvalid => Error::InvalidConfiguration(format!(
            "failed to {action}: the host rejected the URL of `{origin}` as invalid"
        )),
        other => Error::UpstreamUnavailable(format!(
            "failed to {action}: no response from `{origin}` ({}); retry later",
            describe(&other)
        )),
    }
}

/// Describes a `wasi:http` error code in a few words.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionRefused => "connection refused".to_owned(),
        ErrorCode::ConnectionTimeout => "connection timed out".to_owned(),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => "timed out".to_owned(),
        ErrorCode::ConnectionTerminated | ErrorCode::ConnectionLimitReached => {
            "connection closed".to_owned()
        }
        ErrorCode::HttpResponseIncomplete => "response incomplete".to_owned(),
        ErrorCode::HttpResponseBodySize(_) => "response body too large".to_owned(),
        ErrorCode::TlsCertificateError | ErrorCode::TlsAlertReceived(_) => "TLS failed".to_owned(),
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout => "host name not resolved".to_owned(),
        ErrorCode::InternalError(Some(detail)) => detail.clone(),
        other => format!("{other:?}"),
    }
}

fn header_error(error: HeaderError) -> Error {
    Error::Other(format!("failed to build request headers: {error:?}"))
}
