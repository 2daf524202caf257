//! `rss`: items from RSS/Atom/JSON feeds over HTTP, fetched politely:
//! conditional GET; bounded time, size and redirects; per-host and global
//! concurrency limits; retries with backoff; Retry-After; permanent
//! redirects followed from then on; feed health (pause after repeated
//! failures) and adaptive polling. Options: `feeds` plus those of
//! [`crate::feedpoll::PollOptions`].
//!
//! Schedule and re-runs: after each successful fetch a feed is due again
//! after its typical gap between items (clamped to `min_interval` ..
//! `max_interval`, raised by its `ttl`). With `respect_schedule: true` (the
//! default) a feed that is not due is skipped, with a note in the log, so an
//! `agg run` right after another fetches nothing; `respect_schedule: false`
//! fetches every feed each run (a conditional GET). The first fetch of a feed
//! is always due. Holds after failures (backoff, Retry-After) and pauses are
//! honoured either way; `agg feeds resume URL` clears them.

use agg_core::{Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx};
use async_trait::async_trait;
use serde::Deserialize;

use crate::feedpoll::{self, FeedSpec, PollConfig};

pub const KIND: KindDef = KindDef {
    name: "rss",
    role: Role::Source,
    summary: "items from RSS/Atom/JSON feeds over HTTP, polite (limits, backoff, schedule, health)",
    build,
};

#[derive(Debug, Deserialize)]
struct Feeds {
    feeds: Vec<FeedSpec>,
}

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    // The etiquette options first: a typo (`feds`) is reported as unknown,
    // with a "did you mean", rather than as `feeds` missing.
    let cfg = feedpoll::options(v, &["feeds"])?;
    let Some(feeds) = v.get("feeds") else {
        return Err(OptionsError::at(&[], "missing field `feeds`"));
    };
    let f: Feeds = agg_core::typed_options(&serde_json::json!({ "feeds": feeds }))?;
    if f.feeds.is_empty() {
        return Err(OptionsError::at(&["feeds"], "`feeds` lists no URLs"));
    }
    for (i, spec) in f.feeds.iter().enumerate() {
        if !feedpoll::check_url(spec.url()) {
            return Err(OptionsError {
                path: vec![
                    agg_core::yaml::PathSeg::Key("feeds".into()),
                    agg_core::yaml::PathSeg::Index(i),
                ],
                message: format!("`{}` is not an http(s) URL", spec.url()),
                hint: Some("for local files use `kind: file`".into()),
            });
        }
    }
    Ok(Box::new(RssSource {
        feeds: f.feeds,
        cfg,
    }))
}

struct RssSource {
    feeds: Vec<FeedSpec>,
    cfg: PollConfig,
}

#[async_trait]
impl Agent for RssSource {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        feedpoll::poll(ctx, output, &self.feeds, &self.cfg).await
    }
}
