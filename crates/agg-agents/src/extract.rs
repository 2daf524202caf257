//! `extract`: fetches each item's article page and replaces the feed's
//! teaser with the article's main text (dom_smoothie, through
//! [`agg_fetch::extract`]).
//!
//! ```yaml
//! full_text:
//!   kind: extract
//!   inputs: [news]
//!   min_text_chars: 300     # shorter "articles" keep the feed's summary
//! ```
//!
//! Politeness: robots.txt is read once per host per run and obeyed for
//! agg's product token (`respect_robots`, default true); requests run at
//! most `concurrency` at once (default 4), `per_host` per host (default 2),
//! each within the usual fetch limits (`timeout_secs`, `max_bytes`,
//! `user_agent`, `connect_timeout_secs`, `max_redirects`), and the page
//! itself is bounded (`max_elements`, default 60,000; `max_depth`, 400).
//!
//! Article links come from feeds, i.e. from strangers: every fetch (robots
//! and page, each redirect hop) goes through the SSRF guard, so a feed
//! cannot make agg read the user's router or a cloud metadata address.
//! `allow_private` lists the private hosts, addresses or networks that
//! may be reached anyway (a self-hosted blog on the home network).
//!
//! Nothing is lost: an item whose page cannot be fetched or holds no
//! article goes on with the feed's summary, and the reason is logged (a
//! warning naming the URL) and kept in the store. Nothing is fetched twice:
//! the outcome for each item (the article, or why not) is kept in the
//! store's state under `extract:<item key>`; later runs reuse the article,
//! and retry a failure only when it was transient (timeout, 5xx,
//! unreachable robots.txt) or older than `retry_failed_after` (default 7d).
//! The enriched items are written back to the store so every reader (the
//! web UI, `agg search`, digests) sees the full text.

use std::sync::Arc;

use agg_core::{Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx};
use agg_fetch::extract::{
    Article, ExtractError, ExtractOptions, decode_html, extract_article_with,
};
use agg_fetch::robots::{RobotsCache, RobotsDenied};
use agg_fetch::url::Url;
use agg_fetch::{FetchError, FetchLimits, Fetcher, HostLimiter};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::util::parse_duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default = "default_min_text")]
    min_text_chars: usize,
    #[serde(default = "default_max_elements")]
    max_elements: usize,
    #[serde(default = "default_max_depth")]
    max_depth: usize,
    #[serde(default = "default_true")]
    respect_robots: bool,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default = "default_per_host")]
    per_host: usize,
    #[serde(default)]
    retry_failed_after: Option<String>,
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
    #[serde(default)]
    allow_private: Vec<String>,
}

fn default_min_text() -> usize {
    ExtractOptions::default().min_text_chars
}
fn default_max_elements() -> usize {
    ExtractOptions::default().max_elements
}
fn default_max_depth() -> usize {
    ExtractOptions::default().max_depth
}
fn default_true() -> bool {
    true
}
fn default_concurrency() -> usize {
    4
}
fn default_per_host() -> usize {
    2
}

/// Article pages are larger than feeds' items but need not be huge.
const DEFAULT_MAX_BYTES: u64 = 5 * 1024 * 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 20;

pub const KIND: KindDef = KindDef {
    name: "extract",
    role: Role::Transform,
    summary: "fetch each item's article page and keep its main text (readability), respecting robots.txt",
    build,
};

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = agg_core::typed_options(v)?;
    if o.concurrency == 0 || o.concurrency > 64 {
        return Err(OptionsError::at(
            &["concurrency"],
            "`concurrency` must be 1 to 64",
        ));
    }
    if o.per_host == 0 || o.per_host > o.concurrency {
        return Err(OptionsError::at(
            &["per_host"],
            format!("`per_host` must be 1 to `concurrency` ({})", o.concurrency),
        ));
    }
    if o.max_depth < 32 {
        return Err(OptionsError::at(
            &["max_depth"],
            "`max_depth` must be at least 32",
        ));
    }
    if o.max_elements < 100 {
        return Err(OptionsError::at(
            &["max_elements"],
            "`max_elements` must be at least 100",
        ));
    }
    let retry_failed_after = match o.retry_failed_after.as_deref() {
        None => chrono::Duration::days(7),
        Some(s) => parse_duration(s).ok_or_else(|| {
            OptionsError::at(&["retry_failed_after"], format!("`{s}` is not a duration"))
                .with_hint("use a number and a unit: 90m, 36h, 7d, 2w")
        })?,
    };
    let d = FetchLimits::default();
    let limits = FetchLimits {
        timeout_secs: o.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS),
        connect_timeout_secs: o.connect_timeout_secs.unwrap_or(d.connect_timeout_secs),
        max_bytes: o.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
        max_redirects: o.max_redirects.unwrap_or(d.max_redirects),
        user_agent: o.user_agent.unwrap_or(d.user_agent),
        allow_private: crate::util::allowance(&o.allow_private)?,
    };
    Ok(Box::new(Extract {
        opts: ExtractOptions {
            min_text_chars: o.min_text_chars,
            max_elements: o.max_elements,
            max_depth: o.max_depth,
        },
        respect_robots: o.respect_robots,
        concurrency: o.concurrency,
        per_host: o.per_host,
        retry_failed_after,
        limits,
    }))
}

struct Extract {
    opts: ExtractOptions,
    respect_robots: bool,
    concurrency: usize,
    per_host: usize,
    retry_failed_after: chrono::Duration,
    limits: FetchLimits,
}

/// What the store keeps per item between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    url: String,
    at: DateTime<Utc>,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Outcome {
    Ok { article: Article },
    Failed { reason: String, transient: bool },
}

fn state_key(item: &Item) -> String {
    format!("extract:{}", item.key)
}

/// Everything one run shares across items.
struct Shared {
    fetcher: Fetcher,
    robots: Option<RobotsCache>,
    hosts: HostLimiter,
}

impl Extract {
    /// Fetches and extracts one page. Errors are reasons, phrased for the
    /// user, with whether trying again soon may help.
    async fn fetch_article(&self, sh: &Shared, url: &Url) -> Result<Article, (String, bool)> {
        if let Some(robots) = &sh.robots {
            let _permit = sh.hosts.acquire(url.as_str()).await;
            match robots.check(url).await {
                Ok(()) => {}
                Err(e @ RobotsDenied::Unavailable { .. }) => return Err((e.to_string(), true)),
                // Blocked by the SSRF guard, or disallowed by a rule: asking
                // again next run gives the same answer.
                Err(e) => return Err((e.to_string(), false)),
            }
        }
        let got = {
            let _permit = sh.hosts.acquire(url.as_str()).await;
            sh.fetcher.get_untrusted(url.as_str()).await
        };
        let (bytes, final_url, content_type) = got.map_err(|e| {
            let transient = e.is_transient() || matches!(e, FetchError::Timeout);
            (format!("fetching the page: {e}"), transient)
        })?;
        if let Some(ct) = content_type.as_deref() {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !mime.is_empty() && mime != "text/html" && mime != "application/xhtml+xml" {
                return Err((format!("not an HTML page (Content-Type: {mime})"), false));
            }
        }
        let final_url = Url::parse(&final_url).unwrap_or_else(|_| url.clone());
        let opts = self.opts.clone();
        tokio::task::spawn_blocking(move || {
            let html = decode_html(&bytes, content_type.as_deref());
            extract_article_with(&html, &final_url, &opts)
        })
        .await
        .map_err(|e| (format!("extraction crashed: {e}"), false))?
        .map_err(|e: ExtractError| (e.to_string(), false))
    }

    /// The outcome for one item: from the store when known and still
    /// valid, else fetched now (and then saved).
    async fn outcome(&self, ctx: &RunCtx, sh: &Shared, item: &Item, url: &Url) -> Outcome {
        let key = state_key(item);
        let now = Utc::now();
        let known = match ctx.store.load_state(&key).await {
            Ok(v) => v.and_then(|s| serde_json::from_str::<Record>(&s).ok()),
            Err(e) => {
                tracing::warn!(agent = %ctx.agent, "reading extraction state: {e:#}");
                None
            }
        };
        if let Some(r) = known.filter(|r| r.url == url.as_str()) {
            match &r.outcome {
                Outcome::Ok { .. } => return r.outcome,
                Outcome::Failed {
                    transient: false,
                    reason,
                } if now - r.at < self.retry_failed_after => {
                    tracing::debug!(agent = %ctx.agent, %url, "extraction failed before, not retried yet: {reason}");
                    return r.outcome;
                }
                _ => {}
            }
        }
        let outcome = match self.fetch_article(sh, url).await {
            Ok(article) => Outcome::Ok { article },
            Err((reason, transient)) => {
                tracing::warn!(
                    agent = %ctx.agent,
                    %url,
                    "no article extracted, the feed's summary is kept: {reason}"
                );
                Outcome::Failed { reason, transient }
            }
        };
        if !ctx.dry_run {
            let rec = Record {
                url: url.to_string(),
                at: now,
                outcome: outcome.clone(),
            };
            match serde_json::to_string(&rec) {
                Ok(json) => {
                    if let Err(e) = ctx.store.save_state(&key, &json).await {
                        tracing::warn!(agent = %ctx.agent, "saving extraction state: {e:#}");
                    }
                }
                Err(e) => tracing::warn!(agent = %ctx.agent, "encoding extraction state: {e}"),
            }
        }
        outcome
    }

    /// One item through: enriched when an article is known or found,
    /// unchanged otherwise. Never dropped.
    async fn process(&self, ctx: &RunCtx, sh: &Shared, mut item: Item) -> (Item, bool) {
        let Some(url) = item
            .url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
        else {
            return (item, false);
        };
        match self.outcome(ctx, sh, &item, &url).await {
            Outcome::Ok { article } => {
                apply(&mut item, article);
                (item, true)
            }
            Outcome::Failed { .. } => (item, false),
        }
    }
}

/// Puts an article into an item: its text and HTML replace the feed's
/// teaser; author and date fill in what the feed left out.
fn apply(item: &mut Item, a: Article) {
    item.text = a.text;
    item.html = Some(a.html);
    if item.author.as_deref().is_none_or(|s| s.trim().is_empty()) {
        item.author = a.byline;
    }
    if item.published.is_none() {
        item.published = a.published;
    }
    if item.title.trim().is_empty() && !a.title.is_empty() {
        item.title = a.title;
    }
    if !item.tags.iter().any(|t| t == "extracted") {
        item.tags.push("extracted".into());
    }
}

#[async_trait]
impl Agent for Extract {
    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let sh = Arc::new(Shared {
            fetcher: Fetcher::new(self.limits.clone())?,
            robots: if self.respect_robots {
                Some(RobotsCache::new(&self.limits)?)
            } else {
                None
            },
            hosts: HostLimiter::new(self.concurrency, self.per_host),
        });
        let (mut done, mut failed) = (0usize, 0usize);
        while let Some(batch) = input.next().await {
            let results: Vec<(Item, bool)> = futures::stream::iter(batch)
                .map(|item| {
                    let sh = sh.clone();
                    async move { self.process(ctx, &sh, item).await }
                })
                .buffered(self.concurrency)
                .collect()
                .await;
            let mut out = Vec::with_capacity(results.len());
            let mut enriched = Vec::new();
            for (item, ok) in results {
                if ok {
                    done += 1;
                    enriched.push(out.len());
                } else if item.url.is_some() {
                    failed += 1;
                }
                out.push(item);
            }
            // Write the full text back, so readers of the store see it; the
            // flag "new in this run" belongs to the source's store, keep it.
            if !ctx.dry_run && !enriched.is_empty() {
                let mut rows: Vec<Item> = enriched.iter().map(|&i| out[i].clone()).collect();
                // A store error is reported on this agent, but the items
                // still go downstream: nothing is lost for a failed write.
                match ctx.store.upsert_items(&mut rows).await {
                    Ok(_) => {
                        for (&i, row) in enriched.iter().zip(rows) {
                            out[i].id = row.id;
                        }
                    }
                    Err(e) => ctx.error(format!("storing extracted text: {e:#}")),
                }
            }
            output.send(out).await?;
        }
        tracing::info!(agent = %ctx.agent, extracted = done, kept_summary = failed, "extract done");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> BuildCtx {
        BuildCtx {
            pipeline: "p".into(),
            agent: "x".into(),
            base_dir: ".".into(),
            timezone: chrono_tz::UTC,
        }
    }

    #[test]
    fn options_are_checked() {
        let e = build(
            &serde_json::json!({"per_host": 9, "concurrency": 4}),
            &ctx(),
        )
        .err()
        .unwrap();
        assert_eq!(e.path.len(), 1);
        assert!(e.message.contains("per_host"));
        let e = build(&serde_json::json!({"retry_failed_after": "soon"}), &ctx())
            .err()
            .unwrap();
        assert!(e.message.contains("not a duration"));
        let e = build(&serde_json::json!({"min_chars": 3}), &ctx())
            .err()
            .unwrap();
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert!(build(&serde_json::json!({}), &ctx()).is_ok());
    }

    #[test]
    fn an_article_fills_the_item() {
        let mut it = Item {
            title: "T".into(),
            text: "teaser".into(),
            ..Item::default()
        };
        apply(
            &mut it,
            Article {
                title: "T".into(),
                text: "full text".into(),
                html: "<p>full text</p>".into(),
                byline: Some("A. Writer".into()),
                ..Article::default()
            },
        );
        assert_eq!(it.text, "full text");
        assert_eq!(it.author.as_deref(), Some("A. Writer"));
        assert_eq!(it.tags, ["extracted"]);
        apply(&mut it, Article::default());
        assert_eq!(it.tags, ["extracted"], "tag added once");
    }

    #[test]
    fn records_round_trip() {
        let r = Record {
            url: "https://x.org/a".into(),
            at: Utc::now(),
            outcome: Outcome::Failed {
                reason: "HTTP 404".into(),
                transient: false,
            },
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""status":"failed""#), "{json}");
        let back: Record = serde_json::from_str(&json).unwrap();
        assert!(matches!(
            back.outcome,
            Outcome::Failed {
                transient: false,
                ..
            }
        ));
    }
}
