//! The connector's settings, read from `wasi:config/store`, and the API URL rules.

use crate::error::Error;

/// Config key of the account's API Access URL.
pub const BASE_URL: &str = "base-url";
/// Config key of the API token, used only when the host does not add the header itself.
pub const API_TOKEN: &str = "api-token";
/// Header that carries the API token on every request.
pub const API_TOKEN_HEADER: &str = "Api-Token";

const URL_HINT: &str = "copy the API Access URL from Settings > Developer in ActiveCampaign, \
     such as `https://myaccount.api-us1.com`";

/// URL scheme of the API origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP, accepted only for loopback addresses (local tests).
    Http,
    /// HTTPS, the only scheme real accounts use.
    Https,
}

/// The account's API origin, normalised from what a person pasted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and optional port, such as `myaccount.api-us1.com` or `127.0.0.1:8080`.
    pub authority: String,
}

impl ApiUrl {
    /// Parses an API Access URL, accepting the forms people paste: surrounding spaces, a
    /// trailing `/`, and `/api/3` or `/api/3/` appended.
    ///
    /// Rejects, before any request is made, what cannot be an API origin: no `http` or
    /// `https` scheme, `http` to a host other than loopback, user info, a query, a
    /// fragment, or any other path.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let value = raw.trim();
        let invalid = |reason: &str| {
            Error::InvalidConfiguration(format!(
                "invalid `{BASE_URL}` `{value}`: {reason}; {URL_HINT}"
            ))
        };

        if value.is_empty() {
            return Err(Error::InvalidConfiguration(format!(
                "missing `{BASE_URL}`: {URL_HINT}"
            )));
        }

        let (scheme, rest) = match value.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
            Some(_) => return Err(invalid("the scheme must be `https`")),
            None => return Err(invalid("the URL has no scheme, add `https://`")),
        };

        if rest.contains('#') {
            return Err(invalid("the URL must not have a fragment (`#...`)"));
        }
        if rest.contains('?') {
            return Err(invalid("the URL must not have a query (`?...`)"));
        }

        // The authority ends at the first `/`; everything after it is the path.
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(invalid("the URL must not contain a user name or password"));
        }
        if authority.is_empty() || authority.starts_with(':') {
            return Err(invalid("the URL has no host"));
        }
        if authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid("the host contains spaces or control characters"));
        }
        if let Some(port) = port_of(authority)
            && port.parse::<u16>().is_err()
        {
            return Err(invalid("the port is not a number between 0 and 65535"));
        }

        let path = path.trim_end_matches('/');
        if !(path.is_empty() || path.eq_ignore_ascii_case("/api/3")) {
            return Err(invalid(
                "the URL must be the account's origin, without a path other than `/api/3`",
            ));
        }

        if scheme == Scheme::Http && !is_loopback(authority) {
            return Err(invalid(
                "plain `http` is accepted only for 127.0.0.1, ::1 and localhost; use `https`",
            ));
        }

        Ok(ApiUrl {
            scheme,
            authority: authority.to_ascii_lowercase(),
        })
    }

    /// Returns the origin as a URL, such as `https://myaccount.api-us1.com`.
    pub fn origin(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.authority)
    }
}

/// Returns the port text of an authority, or `None` when it has no port.
fn port_of(authority: &str) -> Option<&str> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (_, after) = bracketed.split_once(']')?;
        return after.strip_prefix(':');
    }
    authority.rsplit_once(':').map(|(_, port)| port)
}

/// Returns the host part of an authority, without brackets or port.
fn host_of(authority: &str) -> &str {
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed
            .split_once(']')
            .map_or(bracketed, |(host, _)| host);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// Tells whether the authority names this machine: `localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback(authority: &str) -> bool {
    let host = host_of(authority);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(address) = host.parse::<std::net::IpAddr>() {
        return address.is_loopback();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> String {
        ApiUrl::parse(raw).expect("valid URL").origin()
    }

    fn rejected(raw: &str) -> String {
        match ApiUrl::parse(raw) {
            Err(Error::InvalidConfiguration(message)) => message,
            other => panic!("expected invalid configuration for `{raw}`, got {other:?}"),
        }
    }

    #[test]
    fn parse_accepts_pasted_forms() {
        let origin = "https://acme.api-us1.com";
        for raw in [
            "https://acme.api-us1.com",
            "  https://acme.api-us1.com  ",
            "https://acme.api-us1.com/",
            "https://acme.api-us1.com/api/3",
            "https://acme.api-us1.com/api/3/",
            "HTTPS://ACME.api-us1.com",
        ] {
            assert_eq!(parsed(raw), origin, "input `{raw}`");
        }
    }

    #[test]
    fn parse_keeps_port_and_loopback_http() {
        assert_eq!(parsed("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(parsed("http://localhost:1/api/3/"), "http://localhost:1");
        assert_eq!(parsed("http://[::1]:9000"), "http://[::1]:9000");
    }

    #[test]
    fn parse_rejects_non_origins() {
        assert!(rejected("").contains("missing"));
        assert!(rejected("acme.api-us1.com").contains("no scheme"));
        assert!(rejected("ftp://acme.api-us1.com").contains("scheme"));
        assert!(rejected("http://acme.api-us1.com").contains("plain `http`"));
        assert!(rejected("https://user:pw@acme.api-us1.com").contains("user name"));
        assert!(rejected("https://acme.api-us1.com?x=1").contains("query"));
        assert!(rejected("https://acme.api-us1.com#top").contains("fragment"));
        assert!(rejected("https://acme.api-us1.com/admin").contains("path"));
        assert!(rejected("https://").contains("no host"));
        assert!(rejected("https://acme.com:99999").contains("port"));
    }

    #[test]
    fn parse_error_shows_value() {
        assert!(rejected(" ftp://x.example ").contains("`ftp://x.example`"));
    }
}
