//! The ways this component misbehaves. Each either never ends, so the host must stop it,
//! or ends with an error whose message reports what the sandbox let it do.

use std::io::Read;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, HeaderError, Method, OutgoingRequest, Scheme};

use crate::conductorone::connector::types::ConnectorError;

/// One misbehaviour, named in the `base-url` path as shown on each case.
pub enum Behaviour {
    /// `reach-other-host/{authority}`: GET `http://{authority}/`, which is not the API
    /// origin. Reports the response status or the `wasi:http` error code.
    ReachOtherHost(String),
    /// `post-to-origin`: POST to the API origin. Reports as `reach-other-host` does.
    PostToOrigin,
    /// `set-api-token`: sets the `Api-Token` header through `set`, `append` and
    /// `from-list`, and reports whether each was `forbidden` or `accepted`.
    SetApiToken,
    /// `open-socket/{address}`: opens a TCP connection with `std::net`, past `wasi:http`.
    /// Reports whether it connected.
    OpenSocket(String),
    /// `read-files`: lists `/` and `.`, and reads `/etc/passwd` and `/proc/self/environ`.
    /// Reports, per path, whether it was readable.
    ReadFiles,
    /// `read-env-args`: reports the environment variables, the arguments and the bytes on
    /// stdin that the component can read.
    ReadEnvArgs,
    /// `read-config`: reports every `wasi:config` entry and the `api-token` setting.
    ReadConfig,
    /// `grow-memory`: allocates 1 MiB after another, touching each, without end.
    GrowMemory,
    /// `loop-forever`: computes without end and never calls the host.
    LoopForever,
    /// `block-forever`: waits on a clock that never fires, inside the host.
    BlockForever,
    /// `flood-stderr`: writes lines to stderr without end.
    FloodStderr,
}

impl Behaviour {
    /// Parses a behaviour's name and its argument, the rest of the path.
    pub fn parse(name: &str, argument: &str) -> Option<Behaviour> {
        let behaviour = match name {
            "reach-other-host" if !argument.is_empty() => {
                Behaviour::ReachOtherHost(argument.to_owned())
            }
            "post-to-origin" => Behaviour::PostToOrigin,
            "set-api-token" => Behaviour::SetApiToken,
            "open-socket" if !argument.is_empty() => Behaviour::OpenSocket(argument.to_owned()),
            "read-files" => Behaviour::ReadFiles,
            "read-env-args" => Behaviour::ReadEnvArgs,
            "read-config" => Behaviour::ReadConfig,
            "grow-memory" => Behaviour::GrowMemory,
            "loop-forever" => Behaviour::LoopForever,
            "block-forever" => Behaviour::BlockForever,
            "flood-stderr" => Behaviour::FloodStderr,
            _ => return None,
        };
        Some(behaviour)
    }

    /// Misbehaves, and returns the report when the behaviour ends.
    pub fn run(&self, origin: &str) -> ConnectorError {
        let report = match self {
            Behaviour::ReachOtherHost(authority) => format!(
                "reach-other-host: {}",
                send(Method::Get, Scheme::Http, authority)
            ),
            Behaviour::PostToOrigin => {
                let (scheme, authority) = split_origin(origin);
                format!("post-to-origin: {}", send(Method::Post, scheme, authority))
            }
            Behaviour::SetApiToken => set_api_token(),
            Behaviour::OpenSocket(address) => match std::net::TcpStream::connect(address) {
                Ok(_) => format!("open-socket: connected to `{address}`"),
                Err(error) => format!("open-socket: failed to connect to `{address}`: {error}"),
            },
            Behaviour::ReadFiles => read_files(),
            Behaviour::ReadEnvArgs => read_env_args(),
            Behaviour::ReadConfig => read_config(),
            Behaviour::GrowMemory => grow_memory(),
            Behaviour::LoopForever => loop_forever(),
            Behaviour::BlockForever => {
                wasip2::clocks::monotonic_clock::subscribe_duration(u64::MAX).block();
                "block-forever: the clock fired".to_owned()
            }
            Behaviour::FloodStderr => flood_stderr(),
        };
        ConnectorError::Other(report)
    }
}

/// Splits `scheme://authority` into its parts.
fn split_origin(origin: &str) -> (Scheme, &str) {
    match origin.split_once("://") {
        Some(("https", authority)) => (Scheme::Https, authority),
        Some((_, authority)) => (Scheme::Http, authority),
        None => (Scheme::Http, origin),
    }
}

/// Sends a request without a body and describes what came back.
fn send(method: Method, scheme: Scheme, authority: &str) -> String {
    let url = format!(
        "{}://{authority}/",
        if matches!(scheme, Scheme::Https) {
            "https"
        } else {
            "http"
        }
    );
    let method_name = match method {
        Method::Get => "GET",
        Method::Post => "POST",
        _ => "another method",
    };
    let request = OutgoingRequest::new(Fields::new());
    let applied = request
        .set_method(&method)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some("/")));
    if applied.is_err() {
        return format!("the request to `{url}` could not be built");
    }

    let pending = match outgoing_handler::handle(request, None) {
        Ok(pending) => pending,
        Err(code) => return format!("{method_name} `{url}` failed with {}", code_name(&code)),
    };
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => {
            format!(
                "{method_name} `{url}` was answered with HTTP {}",
                response.status()
            )
        }
        Some(Ok(Err(code))) => format!("{method_name} `{url}` failed with {}", code_name(&code)),
        Some(Err(())) | None => format!("{method_name} `{url}` has no response"),
    }
}

/// Returns the WIT name of the error code the tests look for, or its debug form.
fn code_name(code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => "`http-request-denied`".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Tries each way to set the `Api-Token` header on a request's fields.
fn set_api_token() -> String {
    let value = b"chosen-by-the-component".to_vec();
    let outcome = |result: Result<(), HeaderError>| match result {
        Ok(()) => "accepted".to_owned(),
        Err(HeaderError::Forbidden) => "forbidden".to_owned(),
        Err(other) => format!("{other:?}"),
    };

    let fields = Fields::new();
    let set = outcome(fields.set("Api-Token", std::slice::from_ref(&value)));
    let append = outcome(fields.append("api-token", &value));
    let from_list = outcome(Fields::from_list(&[("API-TOKEN".to_owned(), value)]).map(drop));
    format!("set-api-token: set {set}, append {append}, from-list {from_list}")
}

/// Tries to list or read paths the host never shares.
fn read_files() -> String {
    let listed = ["/", "."].map(|path| match std::fs::read_dir(path) {
        Ok(entries) => format!("`{path}` listed {} entries", entries.count()),
        Err(error) => format!("`{path}` failed ({error})"),
    });
    let read = ["/etc/passwd", "/proc/self/environ"].map(|path| match std::fs::read(path) {
        Ok(bytes) => format!("`{path}` read {} bytes", bytes.len()),
        Err(error) => format!("`{path}` failed ({error})"),
    });
    format!("read-files: {}; {}", listed.join("; "), read.join("; "))
}

/// Reports the process environment the host gave the component.
fn read_env_args() -> String {
    let vars: Vec<String> = std::env::vars().map(|(name, _)| name).collect();
    let args: Vec<String> = std::env::args().collect();
    let mut stdin = Vec::new();
    let stdin = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(count) => format!("{count} bytes"),
        Err(error) => format!("failed ({error})"),
    };
    format!("read-env-args: env {vars:?}, args {args:?}, stdin {stdin}")
}

/// Reports every setting the host gave the component, values included, since the tests
/// check that none of them is the token.
fn read_config() -> String {
    let all = crate::wasi::config::store::get_all();
    let token = crate::wasi::config::store::get("api-token");
    format!("read-config: all {all:?}, api-token {token:?}")
}

fn grow_memory() -> String {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1; 1024 * 1024]);
        std::hint::black_box(&hoard);
    }
}

fn loop_forever() -> String {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn flood_stderr() -> String {
    let mut line: u64 = 0;
    loop {
        line += 1;
        eprintln!("flood-stderr: line {line} of a component that never stops writing");
    }
}
