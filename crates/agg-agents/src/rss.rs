//! `rss`: items from feeds over HTTP (RSS, Atom, JSON Feed), fetched
//! concurrently with conditional GET and bounded time, size and redirects.

use agg_core::{
    Agent, BuildCtx, FeedState, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use agg_fetch::{FetchLimits, FetchOutcome, Fetcher};
use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    feeds: Vec<String>,
    /// Feeds fetched at the same time.
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    connect_timeout_secs: Option<u64>,
    #[serde(default)]
    max_bytes: Option<u64>,
    #[serde(default)]
    max_redirects: Option<usize>,
    #[serde(default)]
    user_agent: Option<String>,
}

fn default_concurrency() -> usize {
    8
}

pub const KIND: KindDef = KindDef {
    name: "rss",
    role: Role::Source,
    summary: "items from RSS/Atom/JSON feeds over HTTP, with conditional GET and limits",
    build,
};

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    if o.feeds.is_empty() {
        return Err(OptionsError::at(&["feeds"], "`feeds` lists no URLs"));
    }
    for (i, f) in o.feeds.iter().enumerate() {
        let ok = url::Url::parse(f).is_ok_and(|u| u.scheme() == "http" || u.scheme() == "https");
        if !ok {
            return Err(OptionsError {
                path: vec![
                    agg_core::yaml::PathSeg::Key("feeds".into()),
                    agg_core::yaml::PathSeg::Index(i),
                ],
                message: format!("`{f}` is not an http(s) URL"),
                hint: Some("for local files use `kind: file`".into()),
            });
        }
    }
    if o.concurrency == 0 {
        return Err(OptionsError::at(
            &["concurrency"],
            "`concurrency` must be at least 1",
        ));
    }
    let d = FetchLimits::default();
    let limits = FetchLimits {
        timeout_secs: o.timeout_secs.unwrap_or(d.timeout_secs),
        connect_timeout_secs: o.connect_timeout_secs.unwrap_or(d.connect_timeout_secs),
        max_bytes: o.max_bytes.unwrap_or(d.max_bytes),
        max_redirects: o.max_redirects.unwrap_or(d.max_redirects),
        user_agent: o.user_agent.unwrap_or(d.user_agent),
    };
    Ok(Box::new(RssSource {
        feeds: o.feeds,
        concurrency: o.concurrency,
        limits,
    }))
}

struct RssSource {
    feeds: Vec<String>,
    concurrency: usize,
    limits: FetchLimits,
}

#[async_trait]
impl Agent for RssSource {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let fetcher = Fetcher::new(self.limits.clone())?;
        let fetches = futures::stream::iter(self.feeds.iter().cloned())
            .map(|url| {
                let fetcher = fetcher.clone();
                async move {
                    let state =
                        ctx.store
                            .feed_state(&url)
                            .await
                            .ok()
                            .flatten()
                            .unwrap_or(FeedState {
                                url: url.clone(),
                                ..FeedState::default()
                            });
                    let r = fetcher
                        .get(&url, state.etag.as_deref(), state.last_modified.as_deref())
                        .await;
                    (state, r)
                }
            })
            .buffer_unordered(self.concurrency);
        futures::pin_mut!(fetches);
        let mut failed = 0;
        while let Some((mut state, result)) = fetches.next().await {
            let url = state.url.clone();
            let now = chrono::Utc::now();
            let outcome = match result {
                Ok(FetchOutcome::NotModified) => Ok((None, None, None)),
                // Items are keyed by the configured URL, not the one after
                // redirects, so a feed that moves does not duplicate items.
                Ok(FetchOutcome::Body {
                    bytes,
                    etag,
                    last_modified,
                    ..
                }) => agg_fetch::parse_feed(&bytes, &url, &ctx.agent, now)
                    .map(|f| (Some(f), etag, last_modified))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok((feed, etag, last_modified)) => {
                    if let Some(feed) = feed {
                        // Store the items before the validators: a crash in
                        // between re-fetches rather than losing items.
                        output.send(feed.items).await?;
                        state.etag = etag;
                        state.last_modified = last_modified;
                    }
                    state.last_success = Some(now);
                    state.last_error = None;
                    state.consecutive_failures = 0;
                }
                Err(msg) => {
                    failed += 1;
                    ctx.error(format!("{url}: {msg}"));
                    state.last_error = Some(msg);
                    state.consecutive_failures += 1;
                }
            }
            if !ctx.dry_run {
                ctx.store.save_feed_state(&state).await?;
            }
        }
        if failed > 0 && failed == self.feeds.len() {
            anyhow::bail!("all {failed} feed(s) failed");
        }
        Ok(())
    }
}
