//! The API token, in a type that cannot be printed, logged or serialised by accident.

use std::fmt;
use std::io::{IsTerminal, Read};
use std::path::Path;

use zeroize::Zeroizing;

use crate::exit::{Failure, FailureKind};

/// Largest token file or standard input accepted, in bytes: far more than any API token,
/// so only a wrong file is rejected.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

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
        // characters, and ActiveCampaign tokens have no spaces: a space means a paste
        // went wrong. The message never shows the token itself.
        if token
            .bytes()
            .any(|byte| byte.is_ascii_control() || byte.is_ascii_whitespace() || !byte.is_ascii())
        {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!(
                    "the API token from {source} contains spaces, control or non-ASCII \
                     characters; copy the token again from Settings > Developer"
                ),
            ));
        }
        Ok(ApiToken(Zeroizing::new(token.to_owned())))
    }

    /// Reads a token from a file, or from standard input when `path` is `-`.
    ///
    /// Reads at most `MAX_TOKEN_FILE_BYTES` into one buffer that is allocated up front and
    /// zeroed on drop, so reading leaves no copy of the token in freed memory (standard
    /// input's own buffer aside). The cap also stops a wrong path, such as a device file,
    /// from making the host read without end.
    pub fn from_file(path: &Path) -> Result<Self, Failure> {
        let mut raw = Zeroizing::new(Vec::with_capacity(MAX_TOKEN_FILE_BYTES as usize + 1));
        let (source, read) = if path == Path::new("-") {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "Reading the API token from standard input: paste it, then press Ctrl-D."
                );
            }
            let read = std::io::stdin()
                .lock()
                .take(MAX_TOKEN_FILE_BYTES + 1)
                .read_to_end(&mut raw);
            ("standard input".to_owned(), read)
        } else {
            let read = std::fs::File::open(path)
                .and_then(|file| file.take(MAX_TOKEN_FILE_BYTES + 1).read_to_end(&mut raw));
            (format!("`{}`", path.display()), read)
        };
        if let Err(error) = read {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!("failed to read the API token from {source}: {error}"),
            ));
        }

        if raw.len() as u64 > MAX_TOKEN_FILE_BYTES {
            return Err(Failure::new(
                FailureKind::Configuration,
                format!(
                    "the API token from {source} is longer than {} KiB; it must contain only \
                     the token",
                    MAX_TOKEN_FILE_BYTES / 1024
                ),
            ));
        }
        let text = String::from_utf8(std::mem::take(&mut *raw)).map_err(|error| {
            drop(Zeroizing::new(error.into_bytes()));
            Failure::new(
                FailureKind::Configuration,
                format!(
                    "the API token from {source} is not UTF-8 text; copy the token again from \
                     Settings > Developer"
                ),
            )
        })?;
        Self::new(text, &source)
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
    fn token_file_is_read_and_trimmed() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("token");
        std::fs::write(&path, "file-token\n").expect("write");

        let token = ApiToken::from_file(&path).expect("token");

        assert_eq!(token.expose(), "file-token");
    }

    #[test]
    fn oversized_token_file_is_rejected() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("token");
        std::fs::write(&path, "x".repeat(MAX_TOKEN_FILE_BYTES as usize + 1)).expect("write");

        let error = ApiToken::from_file(&path).unwrap_err();

        assert_eq!(error.kind, FailureKind::Configuration);
        assert!(
            error.message.contains("longer than 64 KiB"),
            "{}",
            error.message
        );
    }

    #[test]
    fn non_utf8_token_file_is_rejected() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("token");
        std::fs::write(&path, [0xff, 0xfe, b'a']).expect("write");

        let error = ApiToken::from_file(&path).unwrap_err();

        assert!(error.message.contains("not UTF-8"), "{}", error.message);
    }

    #[test]
    fn empty_token_is_rejected() {
        assert!(ApiToken::new("   ".to_owned(), "a test").is_err());
    }
}
