//! The API token, in a type that cannot be printed, logged or serialised by accident.

use std::fmt;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::exit::{Failure, FailureKind};

/// An API token. Its `Debug` output is redacted, it has no `Display` or `Serialize`, and
/// its memory is zeroed on drop.
#[derive(Clone)]
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    /// Wraps a token read from a flag, the environment, a file or standard input, with
    /// surrounding whitespace removed. `source` names where it came from, for errors.
    pub fn new(raw: String, source: &str) -> Result<Self, Failure> {
        let raw = Zeroizing::new(raw);
        let token = raw.trim();
        if token.is_empty() {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!("the API token from {source} is empty; pass the token of an account admin"),
            ));
        }
        // The token travels in an HTTP header, which cannot hold line breaks or control
        // characters. The message never shows the token itself.
        if token
            .bytes()
            .any(|byte| byte.is_ascii_control() || !byte.is_ascii())
        {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!(
                    "the API token from {source} contains control or non-ASCII characters; \
                     copy the token again from Settings > Developer"
                ),
            ));
        }
        Ok(ApiToken(Zeroizing::new(token.to_owned())))
    }

    /// Reads a token from a file, or from standard input when `path` is `-`.
    pub fn from_file(path: &Path) -> Result<Self, Failure> {
        let mut raw = String::new();
        let (source, read) = if path == Path::new("-") {
            (
                "standard input".to_owned(),
                std::io::stdin().read_to_string(&mut raw),
            )
        } else {
            let source = format!("`{}`", path.display());
            let read = std::fs::File::open(path).and_then(|mut file| file.read_to_string(&mut raw));
            (source, read)
        };
        if let Err(error) = read {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!("failed to read the API token from {source}: {error}"),
            ));
        }
        Self::new(raw, &source)
    }

    /// Returns the token's text, for the one place that puts it in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ApiToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted() {
        let token = ApiToken::new("s3cret-value".to_owned(), "a test").expect("token");
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
        assert_eq!(token.expose(), "s3cret-value");
    }

    #[test]
    fn surrounding_whitespace_is_removed() {
        let token = ApiToken::new("  abc\n".to_owned(), "a test").expect("token");
        assert_eq!(token.expose(), "abc");
    }

    #[test]
    fn line_break_inside_is_rejected_without_echo() {
        let error = ApiToken::new("abc\ndef".to_owned(), "a test").unwrap_err();
        assert_eq!(error.kind, FailureKind::Configuration);
        assert!(!error.to_string().contains("abc"));
    }

    #[test]
    fn empty_token_is_rejected() {
        assert!(ApiToken::new("   ".to_owned(), "a test").is_err());
    }
}
