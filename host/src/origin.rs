//! The API origin: the one scheme, host and port the component may reach, and the only
//! place the token may be sent.

use http::Uri;

use crate::exit::{Failure, FailureKind};

/// Scheme, host and port of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host name or address, without brackets.
    pub host: String,
    /// Port, with the scheme's default filled in.
    pub port: u16,
}

impl Origin {
    /// Parses the origin of a base URL, rejecting before any request what cannot be an API
    /// origin: a scheme other than `https` (or `http` to loopback), user info, a query or
    /// a fragment. The path is left for the component to check.
    pub fn from_base_url(base_url: &str) -> Result<Origin, Failure> {
        let value = base_url.trim();
        let invalid = |reason: &str| {
            Failure::new(
                FailureKind::Configuration,
                format!(
                    "invalid base URL `{value}`: {reason}; copy the API Access URL from \
                     Settings > Developer in ActiveCampaign, such as \
                     `https://myaccount.api-us1.com`"
                ),
            )
        };

        if value.contains('#') {
            return Err(invalid("it must not have a fragment (`#...`)"));
        }
        let uri: Uri = value.parse().map_err(|_| invalid("it is not a URL"))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| invalid("it has no scheme, add `https://`"))?
            .to_ascii_lowercase();
        let authority = uri.authority().ok_or_else(|| invalid("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("it must not contain a user name or password"));
        }
        if uri.query().is_some() {
            return Err(invalid("it must not have a query (`?...`)"));
        }

        if port_text(authority.as_str()).is_some_and(|port| port.parse::<u16>().is_err()) {
            return Err(invalid("the port is not a number between 0 and 65535"));
        }

        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(invalid("it has no host"));
        }
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" if is_loopback(&host) => 80,
            "http" => {
                return Err(invalid(
                    "plain `http` is accepted only for 127.0.0.1, ::1 and localhost; use `https`",
                ));
            }
            _ => return Err(invalid("the scheme must be `https`")),
        };

        Ok(Origin {
            scheme,
            port: authority.port_u16().unwrap_or(default_port),
            host,
        })
    }

    /// Tells whether a request URI goes to this origin.
    pub fn matches(&self, uri: &Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else {
            return false;
        };
        let Some(authority) = uri.authority() else {
            return false;
        };
        if port_text(authority.as_str()).is_some_and(|port| port.parse::<u16>().is_err()) {
            return false;
        }
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        scheme.eq_ignore_ascii_case(&self.scheme)
            && host.eq_ignore_ascii_case(&self.host)
            && authority.port_u16().unwrap_or(default_port) == self.port
    }

    /// Tells whether the origin is on this machine.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(formatter, "{}://{host}:{}", self.scheme, self.port)
    }
}

/// Returns the origin of a request URI for logs, such as `https://example.com:443`.
pub fn origin_of(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("?");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("?");
    format!("{scheme}://{authority}")
}

/// Returns the port text of an authority, if it has a `:port` part, even one that is not
/// a valid port (which `http::uri::Authority::port` hides by returning `None`).
fn port_text(authority: &str) -> Option<&str> {
    let after_host = match authority.rsplit_once(']') {
        Some((_, rest)) => rest,
        None => authority,
    };
    after_host.rsplit_once(':').map(|(_, port)| port)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(base_url: &str) -> Origin {
        Origin::from_base_url(base_url).expect("valid base URL")
    }

    #[test]
    fn https_origin_gets_default_port() {
        let parsed = origin(" https://Acme.api-us1.com/api/3/ ");
        assert_eq!(parsed.scheme, "https");
        assert_eq!(parsed.host, "acme.api-us1.com");
        assert_eq!(parsed.port, 443);
    }

    #[test]
    fn loopback_http_is_accepted() {
        assert_eq!(origin("http://127.0.0.1:8080").port, 8080);
        assert!(origin("http://[::1]:9").is_loopback());
    }

    #[test]
    fn unsafe_urls_are_rejected() {
        for bad in [
            "acme.api-us1.com",
            "http://acme.api-us1.com",
            "ftp://acme.api-us1.com",
            "https://u:p@acme.api-us1.com",
            "https://acme.api-us1.com/?a=1",
            "https://acme.api-us1.com/#x",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:abc",
        ] {
            let failure = Origin::from_base_url(bad).unwrap_err();
            assert_eq!(failure.kind, FailureKind::Configuration, "{bad}");
            assert!(
                failure.message.contains(bad.trim()),
                "{bad}: {}",
                failure.message
            );
        }
    }

    #[test]
    fn matches_compares_scheme_host_and_port() {
        let api = origin("https://acme.api-us1.com");
        assert!(api.matches(&"https://ACME.api-us1.com/api/3/users".parse().unwrap()));
        assert!(api.matches(&"https://acme.api-us1.com:443/x".parse().unwrap()));
        assert!(!api.matches(&"http://acme.api-us1.com/x".parse().unwrap()));
        assert!(!api.matches(&"https://acme.api-us1.com:8443/x".parse().unwrap()));
        assert!(!api.matches(&"https://evil.example/x".parse().unwrap()));
    }
}
