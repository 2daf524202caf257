//! What the notification sinks (`webhook`, `ntfy`) share: the options, the
//! rule that picks the items worth a notification, the rate limits, and the
//! delivery loop. The two kinds differ only in how one item becomes a
//! request ([`Format`]).
//!
//! Guarantees, and where they come from:
//! - **Once per item.** Each send is recorded in the store
//!   (`record_notification`) as it happens, and items already recorded are
//!   skipped: a source may send an item it stored before (a feed fetched
//!   again) and the executor passes it on again, but it notifies once.
//! - **Nothing lost, nothing blocked.** A POST that fails after its retries
//!   (bounded time each, backoff between) is `item_failed`: pending, tried
//!   again next run, parked after the pipeline's `max_attempts`. When the
//!   target looks down, the items not tried yet are deferred (pending, no
//!   attempt counted: an outage is not their fault) and the run goes on.
//! - **Rate limits.** At most `max_per_run` per run and `max_per_hour` in any
//!   hour (counted from the recorded sends); items over the limit are
//!   deferred to a later run, highest scores sent first.
//! - **SSRF.** The target passes the same guard as URLs from content:
//!   loopback, private and metadata addresses only when `allow_private`
//!   names them.

use std::time::Duration;

use agg_core::{Agent, BuildCtx, Inbox, Item, OptionsError, Outbox, RunCtx};
use agg_fetch::{FetchError, FetchLimits, Fetcher, RetryPolicy};
use async_trait::async_trait;

use serde::Deserialize;

/// Options of both notification kinds (`priority` is ntfy's alone).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Options {
    /// Where to POST: the webhook's URL, or the ntfy topic URL
    /// (`https://ntfy.sh/my-topic`).
    url: String,
    /// Notify items scored at least this (0..1).
    #[serde(default)]
    min_score: Option<f32>,
    /// Notify items whose title or text contains any of these words
    /// (case-insensitive).
    #[serde(default)]
    words: Vec<String>,
    /// Notify items that joined a saga you follow.
    #[serde(default)]
    followed_sagas: bool,
    /// Notifications sent per run at most; the rest wait for the next run.
    #[serde(default = "max_per_run")]
    max_per_run: u32,
    /// Notifications sent in any hour at most.
    #[serde(default = "max_per_hour")]
    max_per_hour: u32,
    /// Seconds one request may take, connection included.
    #[serde(default = "timeout_secs")]
    timeout_secs: u64,
    /// Extra attempts of a request within the run, on a timeout, a refused
    /// connection, 408, 429 or 5xx.
    #[serde(default = "retries")]
    retries: u32,
    /// First wait between attempts; doubles each retry, with jitter.
    #[serde(default = "retry_base_ms")]
    retry_base_ms: u64,
    /// The name of the environment variable (or secrets-file key) holding
    /// the access token, sent as `Authorization: Bearer`; never the token.
    #[serde(default)]
    token_env: Option<String>,
    /// Non-public hosts, addresses or networks the target may be on.
    #[serde(default)]
    allow_private: Vec<String>,
    /// ntfy message priority, 1 (min) to 5 (max); default 3.
    #[serde(default)]
    priority: Option<u8>,
}

fn max_per_run() -> u32 {
    20
}
fn max_per_hour() -> u32 {
    60
}
fn timeout_secs() -> u64 {
    10
}
fn retries() -> u32 {
    2
}
fn retry_base_ms() -> u64 {
    500
}

/// How an item becomes a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// A JSON object per item.
    Json,
    /// ntfy: the text as the body, `Title`, `Priority`, `Click`, `Tags`
    /// headers.
    Ntfy { priority: u8 },
}

/// A built notification sink.
pub(crate) struct Notifier {
    url: String,
    format: Format,
    rule: Rule,
    max_per_run: u32,
    max_per_hour: u32,
    token_env: Option<String>,
    limits: FetchLimits,
    retry: RetryPolicy,
}

/// Which items are worth a notification: any one trigger suffices.
#[derive(Debug)]
struct Rule {
    min_score: Option<f32>,
    /// Lower-cased.
    words: Vec<String>,
    followed_sagas: bool,
}

impl Rule {
    /// The triggers `item` meets, in words (empty: no notification).
    fn matches(&self, item: &Item) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(s) = item
            .saga
            .as_ref()
            .filter(|s| self.followed_sagas && s.followed)
        {
            why.push(format!("joined the followed saga \"{}\"", s.title));
        }
        if let (Some(min), Some(score)) = (self.min_score, item.score)
            && score >= min
        {
            why.push(format!("score {score:.2} ≥ {min}"));
        }
        if !self.words.is_empty() {
            let hay = format!("{}\n{}", item.title, item.text).to_lowercase();
            let hits: Vec<&str> = self
                .words
                .iter()
                .filter(|w| hay.contains(w.as_str()))
                .map(String::as_str)
                .collect();
            if !hits.is_empty() {
                why.push(format!("mentions {}", hits.join(", ")));
            }
        }
        why
    }
}

/// Builds a notifier of `format` from options (no I/O: validation builds it).
pub(crate) fn build(
    v: &serde_json::Value,
    _ctx: &BuildCtx,
    ntfy: bool,
) -> Result<Notifier, OptionsError> {
    let o: Options = agg_core::typed_options(v)?;
    if !crate::feedpoll::check_url(&o.url) {
        return Err(OptionsError::at(
            &["url"],
            format!("`{}` is not an http(s) URL", o.url),
        ));
    }
    if o.min_score.is_none() && o.words.is_empty() && !o.followed_sagas {
        return Err(
            OptionsError::at(&[], "no rule: this sink would notify every item").with_hint(
                "set `min_score: 0.8`, `words: [outage]` or `followed_sagas: true` \
                 (any one that holds sends a notification)",
            ),
        );
    }
    if let Some(m) = o.min_score
        && !(0.0..=1.0).contains(&m)
    {
        return Err(OptionsError::at(
            &["min_score"],
            "`min_score` is a score between 0 and 1",
        ));
    }
    if o.max_per_run == 0 || o.max_per_hour == 0 {
        return Err(OptionsError::at(
            &[if o.max_per_run == 0 {
                "max_per_run"
            } else {
                "max_per_hour"
            }],
            "a limit of 0 would never notify anything",
        ));
    }
    if o.timeout_secs == 0 {
        return Err(OptionsError::at(
            &["timeout_secs"],
            "`timeout_secs` must be at least 1",
        ));
    }
    if let Some(t) = &o.token_env
        && !crate::util::valid_env_name(t)
    {
        return Err(OptionsError::at(
            &["token_env"],
            format!("`{t}` is not an environment variable name"),
        )
        .with_hint(
            "give the variable's name, e.g. `token_env: NTFY_TOKEN`, never the token itself",
        ));
    }
    let format = if ntfy {
        let p = o.priority.unwrap_or(3);
        if !(1..=5).contains(&p) {
            return Err(OptionsError::at(
                &["priority"],
                "ntfy priorities are 1 (min) to 5 (max)",
            ));
        }
        Format::Ntfy { priority: p }
    } else {
        if o.priority.is_some() {
            return Err(OptionsError::at(
                &["priority"],
                "`priority` is an option of `ntfy`, not of `webhook`",
            ));
        }
        Format::Json
    };
    let d = FetchLimits::default();
    let limits = FetchLimits {
        connect_timeout_secs: o.timeout_secs.min(d.connect_timeout_secs),
        timeout_secs: o.timeout_secs,
        // The answer is read and dropped: a receiver has nothing to say.
        max_bytes: 64 * 1024,
        allow_private: crate::util::allowance(&o.allow_private)?,
        ..d
    };
    Ok(Notifier {
        url: o.url,
        format,
        rule: Rule {
            min_score: o.min_score,
            words: o.words.iter().map(|w| w.to_lowercase()).collect(),
            followed_sagas: o.followed_sagas,
        },
        max_per_run: o.max_per_run,
        max_per_hour: o.max_per_hour,
        token_env: o.token_env,
        limits,
        retry: RetryPolicy {
            retries: o.retries,
            base: Duration::from_millis(o.retry_base_ms),
            max_wait: Duration::from_secs(30),
        },
    })
}

/// Consecutive failed items after which the target is taken to be down and
/// the rest of the run's notifications wait for the next run.
const DOWN_AFTER: u32 = 2;

/// Both sinks (`webhook`, `ntfy`) are this agent; only the message form
/// chosen at build time differs.
#[async_trait]
impl Agent for Notifier {
    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        _output: &mut Outbox,
    ) -> anyhow::Result<()> {
        self.notify_all(ctx, input).await
    }
}

impl Notifier {
    async fn notify_all(&self, ctx: &RunCtx, input: &mut Inbox) -> anyhow::Result<()> {
        let items = input.collect().await;
        if items.is_empty() {
            return Ok(());
        }
        let mut due = self.due(ctx, &items).await?;
        if due.is_empty() {
            return Ok(());
        }
        let now = agg_core::clock::current();
        self.hold_over_limits(ctx, &mut due, now).await?;
        if ctx.dry_run {
            for (i, why) in &due {
                tracing::info!(item = ?i.id, title = %i.title, why = %why.join("; "), "dry run: would notify");
            }
            return Ok(());
        }
        let token = self.token()?;
        let fetcher = Fetcher::new(self.limits.clone())?;
        self.send_all(ctx, &fetcher, &due, token.as_deref(), now)
            .await
    }

    /// The items the rule picks that this sink has not notified yet, each
    /// with why, highest scores first so that limits hold back the least
    /// interesting.
    async fn due<'i>(
        &self,
        ctx: &RunCtx,
        items: &'i [Item],
    ) -> anyhow::Result<Vec<(&'i Item, Vec<String>)>> {
        // A source may send an item it stored before (the feed was fetched
        // again): what this sink handled on an earlier run is not sent twice.
        let ids: Vec<i64> = items.iter().filter_map(|i| i.id).collect();
        let done = if ctx.dry_run || ids.is_empty() {
            Default::default()
        } else {
            ctx.store.notified(&ctx.pipeline, &ctx.agent, &ids).await?
        };
        let mut due: Vec<(&Item, Vec<String>)> = items
            .iter()
            .filter(|i| i.id.is_none_or(|id| !done.contains(&id)))
            .filter_map(|i| {
                let why = self.rule.matches(i);
                (!why.is_empty()).then_some((i, why))
            })
            .collect();
        due.sort_by(|(a, _), (b, _)| {
            b.score
                .unwrap_or(0.0)
                .total_cmp(&a.score.unwrap_or(0.0))
                .then(a.id.cmp(&b.id))
        });
        Ok(due)
    }

    /// Applies `max_per_run` and `max_per_hour` (counted from the recorded
    /// sends): the items over them are deferred to a later run, and the run
    /// says so.
    async fn hold_over_limits(
        &self,
        ctx: &RunCtx,
        due: &mut Vec<(&Item, Vec<String>)>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        let recent = ctx
            .store
            .notifications_since(&ctx.pipeline, &ctx.agent, now - chrono::Duration::hours(1))
            .await? as usize;
        let hour_left = (self.max_per_hour as usize).saturating_sub(recent);
        let budget = hour_left.min(self.max_per_run as usize);
        if due.len() > budget {
            let held: Vec<i64> = due[budget..].iter().filter_map(|(i, _)| i.id).collect();
            ctx.defer(held.iter().copied());
            let which = if hour_left < self.max_per_run as usize {
                format!("max_per_hour {}", self.max_per_hour)
            } else {
                format!("max_per_run {}", self.max_per_run)
            };
            ctx.skip(format!(
                "{} notification(s) held for a later run ({which})",
                due.len() - budget
            ));
            due.truncate(budget);
        }
        Ok(())
    }

    /// The access token from its variable, registered as a secret so that
    /// no log or error shows it.
    fn token(&self) -> anyhow::Result<Option<String>> {
        let Some(name) = &self.token_env else {
            return Ok(None);
        };
        let t = std::env::var(name).map_err(|_| {
            anyhow::anyhow!("the token variable `{name}` is not set (environment or secrets file)")
        })?;
        agg_core::secrets::register(&t);
        Ok(Some(t))
    }

    /// Sends `due` in order, recording each send; stops when the target
    /// looks down (or is refused by the guard) and defers what was not
    /// tried.
    async fn send_all(
        &self,
        ctx: &RunCtx,
        fetcher: &Fetcher,
        due: &[(&Item, Vec<String>)],
        token: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        let mut failed_in_a_row = 0;
        let mut sent_now = 0usize;
        let mut iter = due.iter();
        for (item, why) in iter.by_ref() {
            let (headers, body) = self.request(item, why, token);
            match self.post(fetcher, &headers, body).await {
                Ok(()) => {
                    failed_in_a_row = 0;
                    sent_now += 1;
                    // Recorded per send: a crash mid-run must neither send
                    // it again nor forget what counts against the hour.
                    if let Some(id) = item.id {
                        ctx.store
                            .record_notification(&ctx.pipeline, &ctx.agent, id, now)
                            .await?;
                    }
                }
                // A target the SSRF guard refuses is the configuration's
                // fault, not the item's: nothing is counted against it (it
                // would be parked and never sent once the rule is fixed).
                Err(e @ FetchError::Blocked(_)) => {
                    if let Some(id) = item.id {
                        ctx.defer([id]);
                    }
                    ctx.error(format!("{}: {e}", self.url));
                    break;
                }
                Err(e) => {
                    failed_in_a_row += 1;
                    if let Some(id) = item.id {
                        ctx.item_failed(id, format!("notification not delivered: {e}"));
                    }
                    if failed_in_a_row >= DOWN_AFTER {
                        ctx.error(format!("{}: {e}", self.url));
                        break;
                    }
                }
            }
        }
        let rest: Vec<i64> = iter.filter_map(|(i, _)| i.id).collect();
        if !rest.is_empty() {
            ctx.defer(rest.iter().copied());
            ctx.skip(format!(
                "{} notification(s) left for the next run: the target is not answering",
                rest.len()
            ));
        } else if failed_in_a_row > 0 && failed_in_a_row < DOWN_AFTER {
            ctx.error(format!(
                "{}: {} notification(s) not delivered; retried next run",
                self.url, failed_in_a_row
            ));
        }
        tracing::info!(agent = %ctx.agent, sent = sent_now, "notifications sent");
        Ok(())
    }

    /// One POST with the retries of the policy, each attempt bounded by
    /// `timeout_secs`. A server's `Retry-After` is not waited for within the
    /// run (it could be hours): the item is retried next run.
    async fn post(
        &self,
        fetcher: &Fetcher,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(), FetchError> {
        let mut attempt = 0;
        loop {
            match fetcher.post(&self.url, headers, body.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_transient() && attempt < self.retry.retries => {
                    tracing::debug!(url = %self.url, "notification attempt failed, retrying: {e}");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The headers and body for one item.
    fn request(
        &self,
        item: &Item,
        why: &[String],
        token: Option<&str>,
    ) -> (Vec<(&'static str, String)>, Vec<u8>) {
        let mut headers = Vec::new();
        if let Some(t) = token {
            headers.push(("Authorization", format!("Bearer {t}")));
        }
        match self.format {
            Format::Json => {
                headers.push(("Content-Type", "application/json".to_string()));
                let body = serde_json::json!({
                    "id": item.id,
                    "title": item.title,
                    "url": item.url,
                    "source": item.source,
                    "feed": item.feed_title.as_ref().or(item.feed.as_ref()),
                    "published": item.dated(),
                    "score": item.score,
                    "reasons": item.reasons,
                    "saga": item.saga.as_ref().map(|s| serde_json::json!({
                        "id": s.id, "title": s.title, "followed": s.followed,
                    })),
                    "summary": summary(&item.text, 500),
                    "why": why,
                });
                (headers, body.to_string().into_bytes())
            }
            Format::Ntfy { priority } => {
                headers.push(("Content-Type", "text/plain; charset=utf-8".to_string()));
                headers.push(("Title", header_text(&item.title)));
                headers.push(("Priority", priority.to_string()));
                if let Some(u) = &item.url {
                    headers.push(("Click", u.clone()));
                }
                let mut text = summary(&item.text, 300);
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&format!("Why: {}", why.join("; ")));
                (headers, text.into_bytes())
            }
        }
    }
}

/// The first `max` characters of `text`, on one line, with an ellipsis
/// when cut.
fn summary(text: &str, max: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        return one;
    }
    let mut s: String = one.chars().take(max).collect();
    s.push('…');
    s
}

/// A header value for any title: ASCII as it is, anything else as an
/// RFC 2047 encoded word (ntfy decodes `=?UTF-8?B?…?=`). Control characters
/// (a newline in a title would end the header) become spaces.
fn header_text(s: &str) -> String {
    use base64::Engine;
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.is_ascii() {
        return clean;
    }
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(clean.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str, score: Option<f32>, followed: Option<bool>) -> Item {
        let mut i = Item {
            source: "s".into(),
            title: title.into(),
            ..Item::default()
        };
        i.score = score;
        i.saga = followed.map(|f| agg_core::SagaRef {
            id: 7,
            title: "Mars mission".into(),
            followed: f,
            muted: false,
        });
        i
    }

    #[test]
    fn any_trigger_is_enough_and_each_says_why() {
        let r = Rule {
            min_score: Some(0.8),
            words: vec!["outage".into()],
            followed_sagas: true,
        };
        assert!(
            r.matches(&item("quiet day", Some(0.5), Some(false)))
                .is_empty()
        );
        assert_eq!(
            r.matches(&item("quiet day", Some(0.9), None)),
            vec!["score 0.90 ≥ 0.8"]
        );
        assert_eq!(
            r.matches(&item("Big OUTAGE today", None, None)),
            vec!["mentions outage"]
        );
        assert_eq!(
            r.matches(&item("x", None, Some(true))),
            vec!["joined the followed saga \"Mars mission\""]
        );
    }

    #[test]
    fn titles_become_safe_header_values() {
        assert_eq!(
            header_text("plain\r\nInjected: yes"),
            "plain  Injected: yes"
        );
        assert_eq!(header_text("Zürich"), "=?UTF-8?B?WsO8cmljaA==?=");
    }

    #[test]
    fn a_sink_without_a_rule_is_refused() {
        let ctx = BuildCtx {
            pipeline: "p".into(),
            agent: "a".into(),
            base_dir: ".".into(),
            timezone: chrono_tz::UTC,
        };
        let e = build(
            &serde_json::json!({"url": "https://x.example/h"}),
            &ctx,
            false,
        )
        .err()
        .expect("refused");
        assert!(e.message.contains("no rule"), "{}", e.message);
        let e = build(
            &serde_json::json!({"url": "https://x.example/h", "min_score": 0.5, "priority": 4}),
            &ctx,
            false,
        )
        .err()
        .expect("refused");
        assert_eq!(
            e.message,
            "`priority` is an option of `ntfy`, not of `webhook`"
        );
        assert!(
            build(
                &serde_json::json!({"url": "https://ntfy.sh/t", "words": ["a"], "priority": 5}),
                &ctx,
                true
            )
            .is_ok()
        );
    }
}
