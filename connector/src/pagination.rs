//! Page tokens and the paging plan of ActiveCampaign's `limit`/`offset` listings.
//!
//! A token is opaque to the host. It contains the offset of its page and whether the page
//! continues the listing when full (`chained`) or is one of the pages planned at once
//! from the first page's `meta.total` (`planned`). Planning lets a host fetch every page
//! of a large listing in parallel. The last planned page is chained, so rows added during
//! the sync are still read.

use crate::error::Error;

/// Rows requested per page: the API's maximum. Its default is 20.
pub const PAGE_SIZE: u64 = 100;

/// Maximum number of pages planned at once from a first page's `meta.total`, which is
/// 100,000 rows. Pages past them are read one after another from the last planned page,
/// so a wrong total costs requests but cannot make a page record with millions of tokens.
const MAX_PLANNED_PAGES: u64 = 1_000;

const VERSION: &str = "v1";

/// Position of one page in a listing, and whether the page continues the listing when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    /// Zero-based row offset of the page.
    pub offset: u64,
    /// Whether a full page is followed by the next offset.
    pub chained: bool,
}

impl PageToken {
    /// The token of a listing's first page.
    pub const FIRST: PageToken = PageToken {
        offset: 0,
        chained: true,
    };

    /// Parses a token from the host; an absent token means the first page.
    pub fn parse(token: Option<&str>) -> Result<Self, Error> {
        let Some(token) = token else {
            return Ok(Self::FIRST);
        };
        let invalid = || {
            Error::InvalidArgument(format!(
                "invalid page token `{token}`: pass back a token this connector returned"
            ))
        };

        let mut parts = token.split(':');
        if parts.next() != Some(VERSION) {
            return Err(invalid());
        }
        let offset = parts
            .next()
            .and_then(|offset| offset.parse::<u64>().ok())
            .ok_or_else(invalid)?;
        let chained = match parts.next() {
            Some("c") => true,
            Some("p") => false,
            _ => return Err(invalid()),
        };
        if parts.next().is_some() || offset % PAGE_SIZE != 0 {
            return Err(invalid());
        }

        Ok(PageToken { offset, chained })
    }

    /// Encodes the token for the host.
    pub fn encode(&self) -> String {
        let kind = if self.chained { "c" } else { "p" };
        format!("{VERSION}:{}:{kind}", self.offset)
    }

    /// Returns the query string that fetches this page.
    pub fn query(&self) -> String {
        format!("limit={PAGE_SIZE}&offset={}", self.offset)
    }

    /// Returns the tokens of the pages that follow this one, given how many rows it held
    /// and the listing's total, if the API sent one.
    ///
    /// A short or empty page ends the listing, and so does a full page that ends exactly
    /// at this page's `meta.total`. A full first page with a larger total plans the
    /// remaining pages at once, up to `MAX_PLANNED_PAGES`. Any other full, chained page is
    /// followed by the next offset, which includes a page whose total is below the rows
    /// already read, because that total is stale. A page at the largest offset that fits
    /// in a `u64` has no successor.
    pub fn next_tokens(&self, rows: usize, total: Option<u64>) -> Vec<PageToken> {
        if (rows as u64) < PAGE_SIZE || !self.chained {
            return Vec::new();
        }

        let Some(next) = self.offset.checked_add(PAGE_SIZE) else {
            return Vec::new();
        };
        if total == Some(next) {
            return Vec::new();
        }
        match total {
            Some(total) if self.offset == 0 && total > next => {
                let last = ((total - 1) / PAGE_SIZE * PAGE_SIZE).min(MAX_PLANNED_PAGES * PAGE_SIZE);
                (next..=last)
                    .step_by(PAGE_SIZE as usize)
                    .map(|offset| PageToken {
                        offset,
                        chained: offset == last,
                    })
                    .collect()
            }
            _ => vec![PageToken {
                offset: next,
                chained: true,
            }],
        }
    }
}

/// Encodes tokens for a page record.
pub fn encode_all(tokens: &[PageToken]) -> Vec<String> {
    tokens.iter().map(PageToken::encode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(tokens: &[PageToken]) -> Vec<(u64, bool)> {
        tokens.iter().map(|t| (t.offset, t.chained)).collect()
    }

    #[test]
    fn token_round_trips() {
        for token in [
            PageToken::FIRST,
            PageToken {
                offset: 300,
                chained: false,
            },
            PageToken {
                offset: 9_900,
                chained: true,
            },
        ] {
            assert_eq!(PageToken::parse(Some(&token.encode())), Ok(token));
        }
        assert_eq!(PageToken::parse(None), Ok(PageToken::FIRST));
    }

    #[test]
    fn parse_rejects_foreign_tokens() {
        for token in [
            "",
            "100",
            "v2:100:c",
            "v1:x:c",
            "v1:100:z",
            "v1:150:c",
            "v1:100:c:1",
        ] {
            assert!(
                matches!(
                    PageToken::parse(Some(token)),
                    Err(Error::InvalidArgument(_))
                ),
                "token `{token}`"
            );
        }
    }

    #[test]
    fn short_or_empty_page_ends_listing() {
        assert!(PageToken::FIRST.next_tokens(0, Some(500)).is_empty());
        assert!(PageToken::FIRST.next_tokens(99, Some(500)).is_empty());
    }

    #[test]
    fn first_page_plans_rest_from_total() {
        let planned = PageToken::FIRST.next_tokens(100, Some(257));
        assert_eq!(offsets(&planned), [(100, false), (200, true)]);
    }

    #[test]
    fn planned_page_has_no_successor() {
        let planned = PageToken {
            offset: 100,
            chained: false,
        };
        assert!(planned.next_tokens(100, Some(257)).is_empty());
    }

    #[test]
    fn chained_pages_follow_without_total() {
        let next = PageToken::FIRST.next_tokens(100, None);
        assert_eq!(offsets(&next), [(100, true)]);
        let after = next[0].next_tokens(100, None);
        assert_eq!(offsets(&after), [(200, true)]);
    }

    #[test]
    fn last_planned_page_continues_when_full() {
        // The account grew during the sync: the page planned as last came back full.
        let last = PageToken {
            offset: 200,
            chained: true,
        };
        assert_eq!(offsets(&last.next_tokens(100, Some(257))), [(300, true)]);
    }

    #[test]
    fn full_page_reaching_total_ends_listing() {
        assert!(PageToken::FIRST.next_tokens(100, Some(100)).is_empty());
        let last = PageToken {
            offset: 9_900,
            chained: true,
        };
        assert!(last.next_tokens(100, Some(10_000)).is_empty());
    }

    #[test]
    fn huge_total_plans_bounded_pages() {
        let planned = PageToken::FIRST.next_tokens(100, Some(u64::MAX));
        assert_eq!(planned.len() as u64, MAX_PLANNED_PAGES);
        let last = planned.last().expect("a last page");
        assert_eq!(
            (last.offset, last.chained),
            (MAX_PLANNED_PAGES * PAGE_SIZE, true)
        );
    }

    #[test]
    fn largest_offset_has_no_successor() {
        let last = PageToken {
            offset: u64::MAX / PAGE_SIZE * PAGE_SIZE,
            chained: true,
        };
        assert!(last.next_tokens(100, None).is_empty());
    }

    #[test]
    fn stale_total_below_rows_read_is_ignored() {
        assert_eq!(
            offsets(&PageToken::FIRST.next_tokens(100, Some(50))),
            [(100, true)]
        );
    }
}
