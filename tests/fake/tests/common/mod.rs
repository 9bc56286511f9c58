//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, enough to talk to the fake.
//!
//! It writes requests by hand and reads responses by `Content-Length`, so tests can see
//! exactly what went over the wire, including bodies cut short.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use activecampaign_fake::FakeServer;
use serde_json::Value;

/// Token the fake accepts unless a test sets another.
pub const TOKEN: &str = "test-token";

/// How long a read may block before the test fails instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as read from the socket.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    /// Body bytes received, which can be fewer than `Content-Length` when the body was cut.
    pub body: Vec<u8>,
}

impl Response {
    /// Returns the first value of a header, matching the name without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.parse().ok()
    }

    /// Parses the body as JSON, failing the test with the body text when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One keep-alive connection to a fake server.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    #[track_caller]
    pub fn open(server: &FakeServer) -> Connection {
        let base_url = server.base_url();
        let address = base_url
            .strip_prefix("http://")
            .expect("base URL starts with http://");
        let stream = TcpStream::connect(address).expect("connect to the fake server");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        Connection {
            reader: BufReader::new(stream),
        }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
    }

    /// Writes raw bytes, for requests that are not valid HTTP.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Sends a request without a body and reads the response.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        let mut request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if method != "GET" && method != "HEAD" {
            request.push_str("Content-Length: 0\r\n");
        }
        request.push_str("\r\n");
        self.write_raw(request.as_bytes())?;
        self.read_response()
    }

    /// Sends a GET with the given token, or none, and reads the response.
    #[track_caller]
    pub fn get(&mut self, target: &str, token: Option<&str>) -> Response {
        let headers: Vec<(&str, &str)> = token
            .map(|token| ("Api-Token", token))
            .into_iter()
            .collect();
        self.send("GET", target, &headers)
            .unwrap_or_else(|error| panic!("GET {target} failed: {error}"))
    }

    /// Reads one response, keeping a partial body when the connection closes early.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad status line `{status_line}`"),
                )
            })?;

        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }

        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        match response.content_length() {
            Some(length) => {
                // Read until the announced length or the end of the connection, whichever comes first.
                let mut limited = (&mut self.reader).take(length as u64);
                limited.read_to_end(&mut response.body)?;
            }
            None => {
                self.reader.read_to_end(&mut response.body)?;
            }
        }
        Ok(response)
    }

    /// Reads until the server closes the connection and returns how many bytes came.
    pub fn read_to_end(&mut self) -> io::Result<usize> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        Ok(rest.len())
    }
}

/// Sends one GET with the default token on a new connection.
#[track_caller]
pub fn get(server: &FakeServer, target: &str) -> Response {
    Connection::open(server).get(target, Some(TOKEN))
}

/// Sends one GET with the given token, or none, on a new connection.
#[track_caller]
pub fn get_with_token(server: &FakeServer, target: &str, token: Option<&str>) -> Response {
    Connection::open(server).get(target, token)
}

/// Returns the ids of a list's rows as numbers, accepting ids written as strings or numbers.
#[track_caller]
pub fn ids(body: &Value, key: &str) -> Vec<u64> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is not an array in {body}"))
        .iter()
        .map(|row| id_number(&row["id"]))
        .collect()
}

#[track_caller]
pub fn id_number(value: &Value) -> u64 {
    match value {
        Value::String(text) => text.parse().expect("id string is a number"),
        Value::Number(number) => number.as_u64().expect("id is a positive integer"),
        other => panic!("id is neither a string nor a number: {other}"),
    }
}
