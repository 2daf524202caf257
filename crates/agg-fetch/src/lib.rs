//! agg-fetch: getting items from the outside world.
//!
//! One module per concern: [`http`] fetches bytes politely and within limits,
//! [`parse`] turns feed bytes (RSS, Atom, JSON Feed, via feed-rs) into
//! [`agg_core::Item`]s, [`normalize`] makes text and URLs comparable and gives
//! each item its stable key. Nothing here touches the store: agents do that.

pub mod http;
pub mod normalize;
pub mod parse;

pub use http::{FetchLimits, FetchOutcome, Fetcher};
pub use parse::{ParsedFeed, parse_feed};
