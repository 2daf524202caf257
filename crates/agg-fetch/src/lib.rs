//! agg-fetch: getting items from the outside world.
//!
//! One module per concern: [`http`] fetches bytes politely and within limits,
//! [`parse`] turns feed bytes (RSS, Atom, JSON Feed, via feed-rs) into
//! [`agg_core::Item`]s, [`sanitize`] makes their HTML safe to show (and gives its plain text),
//! [`normalize`] makes text and URLs comparable and gives each item its
//! stable key. Nothing here touches the store: agents do that.

pub mod charset;
pub mod date;
pub mod extract;
pub mod http;
mod legacy;
pub mod netguard;
pub mod normalize;
pub mod opml;
pub mod parse;
pub mod robots;
pub mod sanitize;
pub mod schedule;

pub use extract::{Article, ExtractError, ExtractOptions, extract_article};
pub use http::{FetchError, FetchLimits, FetchOutcome, Fetcher, HostLimiter, Origin, RetryPolicy};
pub use netguard::Allowance;
pub use parse::{FeedSource, ParseError, ParsedFeed, parse_feed, parse_feed_from};
/// Re-exported for callers (the CLI) that handle feed URLs.
pub use url;
