//! agg-agents: every agent kind, one file each, and the one table that
//! registers them.
//!
//! A kind is a typed options struct (`#[serde(deny_unknown_fields)]`, so typos
//! are caught by `agg validate`) plus an [`agg_core::Agent`] impl, exposed as a
//! `KIND` constant. Adding a kind means adding a file and a line in
//! [`registry`]; the engine does not change.

mod util;

pub mod dedupe;
pub mod email_digest;
pub mod extract;
pub mod feedpoll;

pub mod file;
pub mod filter;
pub mod hacker_news;
pub mod html;
pub mod imap;
pub mod jsonl;
mod notify;
pub mod ntfy;
pub mod opml;
pub mod reddit;
pub mod rss;
pub mod saga;
pub mod score;
pub mod subscriptions;
pub mod webhook;
pub mod website;

use agg_core::Registry;

/// The table of agent kinds.
pub fn registry() -> Registry {
    Registry::new(vec![
        file::KIND,
        rss::KIND,
        opml::KIND,
        subscriptions::KIND,
        hacker_news::KIND,
        reddit::KIND,
        website::KIND,
        imap::KIND,
        dedupe::KIND,
        filter::KIND,
        extract::KIND,
        score::KIND,
        saga::KIND,
        jsonl::KIND,
        html::KIND,
        email_digest::KIND,
        webhook::KIND,
        ntfy::KIND,
    ])
}
