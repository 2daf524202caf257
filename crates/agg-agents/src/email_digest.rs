//! `email_digest`: the daily digest email (a sink).
//!
//! Selection, rendering and sending live in `agg-digest`; this file is the
//! options, the saga details from the saga engine, and the agent plumbing.
//! Once per (pipeline, local day), exactly: see `agg_digest::deliver`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agg_core::{
    Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use agg_digest::{
    DigestConfig, MutedPolicy, RenderConfig, SagaInfo, Section, SelectOptions, SendOptions, Signer,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::util::{OneOrMany, parse_duration};

/// What `agg digest` needs to drive the agent (the binary does not depend
/// on agg-digest directly).
pub use agg_digest::{Mode, Outcome, Status};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Recipient address(es).
    to: OneOrMany,
    /// Sender, e.g. `agg <agg@example.org>`.
    #[serde(default = "default_from")]
    from: String,
    /// SMTP URL; default `AGG_SMTP_URL`.
    #[serde(default)]
    smtp: Option<String>,
    /// Shown at the top and in the subject (default: the pipeline's name).
    #[serde(default)]
    title: Option<String>,
    #[serde(default = "default_max_items")]
    max_items: usize,
    #[serde(default = "default_max_per_saga")]
    max_per_saga: usize,
    /// Items in the top stories section.
    #[serde(default = "default_top")]
    top: usize,
    #[serde(default = "Section::all")]
    sections: Vec<Section>,
    /// `drop` (default) or `last`.
    #[serde(default)]
    muted: MutedPolicy,
    /// Leave out items older than this (`36h`, `7d`).
    #[serde(default)]
    max_age: Option<String>,
    /// A feed without new items for this many days is reported.
    #[serde(default = "default_silent_days")]
    silent_days: u32,
    /// IANA time zone of the reader's day (a digest is one per local day).
    #[serde(default)]
    timezone: Option<String>,
    /// Folder of templates overriding the shipped ones by file name.
    #[serde(default)]
    templates: Option<String>,
    /// Where `agg serve` answers feedback links; default `AGG_PUBLIC_URL`,
    /// else http://localhost:8080.
    #[serde(default)]
    public_url: Option<String>,
    /// Days feedback links stay valid.
    #[serde(default = "default_link_days")]
    link_days: u32,
    /// Key file for signing links (default: `AGG_SECRET`, else
    /// `$XDG_DATA_HOME/agg/feedback.key`, created once, mode 0600).
    #[serde(default)]
    secret_file: Option<String>,
    /// Send a digest even when nothing is new.
    #[serde(default)]
    send_empty: bool,
    /// Also offer unsent items stored by earlier runs from this pipeline's
    /// sources, up to this old (a feed that answered 304 re-emits nothing;
    /// items held back by the caps come back). `0d` turns it off.
    #[serde(default = "default_backfill")]
    backfill: String,
    /// Source agents to backfill from, besides those seen in the input.
    #[serde(default)]
    sources: Vec<String>,
    /// SMTP attempts on transient errors.
    #[serde(default = "default_attempts")]
    attempts: u32,
    /// First wait between attempts, in milliseconds (doubles each time).
    #[serde(default = "default_backoff_ms")]
    retry_backoff_ms: u64,
    /// Extra trusted root certificates (PEM) for the SMTP server's TLS, on
    /// top of the system's: a relay with a private CA.
    #[serde(default)]
    tls_ca_file: Option<String>,
    /// Bound on one SMTP attempt (connect and every command), in seconds.
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
}

fn default_from() -> String {
    "agg <agg@localhost>".into()
}
fn default_max_items() -> usize {
    25
}
fn default_max_per_saga() -> usize {
    5
}
fn default_top() -> usize {
    5
}
fn default_silent_days() -> u32 {
    3
}
fn default_backfill() -> String {
    "3d".into()
}
fn default_link_days() -> u32 {
    30
}
fn default_attempts() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    2000
}
fn default_timeout_secs() -> u64 {
    30
}

pub const KIND: KindDef = KindDef {
    name: "email_digest",
    role: Role::Sink,
    summary: "email a daily digest (grouped by saga, explained, with feedback links), once a day",
    build,
};

/// What `agg digest` learns from the agent after a run.
pub type Report = Arc<Mutex<Vec<anyhow::Result<Outcome>>>>;

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    build_with(v, ctx, Mode::Send, false).map(|(a, _)| a)
}

/// Builds the agent for `agg digest`: with a mode (preview, dry run) and
/// `--force`, and a report the command reads after the run.
pub fn build_with(
    v: &serde_json::Value,
    ctx: &BuildCtx,
    mode: Mode,
    force: bool,
) -> Result<(Box<dyn Agent>, Report), OptionsError> {
    let o: Options = typed_options(v)?;
    // The digest's day is the reader's: the pipeline's time zone unless the
    // agent names its own.
    let tz: agg_digest::chrono_tz::Tz = match &o.timezone {
        None => ctx.timezone,
        Some(t) => t.parse().map_err(|_| {
            OptionsError::at(&["timezone"], format!("unknown time zone `{t}`"))
                .with_hint("an IANA name such as Europe/London or America/New_York")
        })?,
    };
    let to = o.to.to_vec();
    if to.is_empty() {
        return Err(OptionsError::at(&["to"], "`to` needs at least one address"));
    }
    for t in &to {
        t.parse::<lettre_addr::Mailboxes>().map_err(|e| {
            OptionsError::at(&["to"], format!("`{t}` is not an email address: {e}"))
        })?;
    }
    o.from.parse::<lettre_addr::Mailbox>().map_err(|e| {
        OptionsError::at(
            &["from"],
            format!("`{}` is not an email address: {e}", o.from),
        )
    })?;
    if let Some(s) = &o.smtp
        && !s.trim().is_empty()
    {
        agg_digest::SmtpUrl::parse(s).map_err(|e| OptionsError::at(&["smtp"], format!("{e:#}")))?;
    }
    if o.max_items == 0 {
        return Err(OptionsError::at(
            &["max_items"],
            "`max_items` must be at least 1",
        ));
    }
    if o.max_per_saga == 0 {
        return Err(OptionsError::at(
            &["max_per_saga"],
            "`max_per_saga` must be at least 1",
        ));
    }
    let max_age = match &o.max_age {
        None => None,
        Some(s) => Some(parse_duration(s).ok_or_else(|| {
            OptionsError::at(&["max_age"], format!("`{s}` is not a duration"))
                .with_hint("a number and a unit: 36h, 7d, 2w")
        })?),
    };
    let backfill = parse_duration(&o.backfill).ok_or_else(|| {
        OptionsError::at(&["backfill"], format!("`{}` is not a duration", o.backfill))
            .with_hint("a number and a unit: 36h, 3d, 1w; 0d turns it off")
    })?;
    let public_url = o
        .public_url
        .clone()
        .or_else(|| {
            std::env::var("AGG_PUBLIC_URL")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "http://localhost:8080".into());
    match url::Url::parse(&public_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => {
            return Err(OptionsError::at(
                &["public_url"],
                format!("`{public_url}` is not an http(s) URL"),
            ));
        }
    }
    let cfg = DigestConfig {
        pipeline: ctx.pipeline.clone(),
        select: SelectOptions {
            max_items: o.max_items,
            max_per_saga: o.max_per_saga,
            top: o.top,
            sections: o.sections.clone(),
            muted: o.muted,
            max_age,
            silent_days: o.silent_days,
        },
        render: RenderConfig {
            title: o.title.clone().unwrap_or_else(|| ctx.pipeline.clone()),
            pipeline: ctx.pipeline.clone(),
            templates: o.templates.as_deref().map(|t| ctx.resolve(t)),
            public_url,
            // Replaced by the real key at run time (building does no I/O).
            signer: Signer::new(Vec::new()),
            link_ttl: chrono::Duration::days(i64::from(o.link_days)),
            tz,
        },
        from: o.from.clone(),
        to,
        smtp: o.smtp.clone().filter(|s| !s.trim().is_empty()),
        send: SendOptions {
            attempts: o.attempts.max(1),
            backoff: std::time::Duration::from_millis(o.retry_backoff_ms),
            timeout: std::time::Duration::from_secs(o.timeout_secs.max(1)),
            tls_ca_file: o.tls_ca_file.as_deref().map(|p| ctx.resolve(p)),
        },
        send_empty: o.send_empty,
    };
    let report = Report::default();
    Ok((
        Box::new(EmailDigest {
            cfg,
            secret_file: o.secret_file.as_deref().map(|p| ctx.resolve(p)),
            backfill,
            sources: o.sources.clone(),
            mode,
            force,
            report: report.clone(),
        }),
        report,
    ))
}

/// lettre's address types, for checking `to`/`from` at build time.
mod lettre_addr {
    pub use agg_digest::mail::{Mailbox, Mailboxes};
}

struct EmailDigest {
    cfg: DigestConfig,
    secret_file: Option<PathBuf>,
    backfill: chrono::Duration,
    sources: Vec<String>,
    mode: Mode,
    force: bool,
    report: Report,
}

/// Saga details (start, outlets, follow/mute) from the saga engine's state.
async fn saga_infos(
    store: &dyn agg_core::Store,
    ids: &[u64],
) -> anyhow::Result<HashMap<u64, SagaInfo>> {
    let mut out = HashMap::new();
    if ids.is_empty() || store.load_state(crate::saga::STATE_KEY).await?.is_none() {
        return Ok(out);
    }
    let engine = crate::saga::load_engine(store).await?;
    for s in engine.sagas() {
        if ids.contains(&s.id.0) {
            out.insert(
                s.id.0,
                SagaInfo {
                    title: s.title.clone(),
                    first_seen: Some(s.first_seen),
                    outlets: s.outlets.len(),
                    followed: s.followed,
                    muted: s.muted,
                },
            );
        }
    }
    Ok(out)
}

#[async_trait]
impl Agent for EmailDigest {
    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        _output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let items = input.collect().await;
        let result = self.deliver(ctx, items).await;
        let ret = match &result {
            Ok(o) => {
                if let Some(n) = &o.note {
                    tracing::info!(agent = %ctx.agent, "{n}");
                }
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        self.report.lock().expect("report lock").push(result);
        ret
    }
}

impl EmailDigest {
    /// Unsent items stored by earlier runs from the pipeline's sources
    /// (remembered in the store, since a run may see none of them), after
    /// the run's own items.
    async fn with_backfill(
        &self,
        ctx: &RunCtx,
        mut items: Vec<agg_core::Item>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<agg_core::Item>> {
        if self.backfill <= chrono::Duration::zero() {
            return Ok(items);
        }
        let key = format!("email_digest.sources.{}.{}", ctx.pipeline, ctx.agent);
        let mut known: std::collections::BTreeSet<String> = match ctx.store.load_state(&key).await?
        {
            Some(j) => serde_json::from_str(&j).unwrap_or_default(),
            None => Default::default(),
        };
        let before = known.len();
        known.extend(items.iter().map(|i| i.source.clone()));
        known.extend(self.sources.iter().cloned());
        if known.len() != before && !ctx.dry_run {
            ctx.store
                .save_state(&key, &serde_json::to_string(&known)?)
                .await?;
        }
        let have: std::collections::HashSet<i64> = items.iter().filter_map(|i| i.id).collect();
        for source in &known {
            let q = agg_core::ItemQuery {
                source: Some(source.clone()),
                since: Some(now - self.backfill),
                limit: Some(1000),
                ..agg_core::ItemQuery::default()
            };
            for i in ctx.store.list_items(&q).await? {
                if i.id.is_some_and(|id| !have.contains(&id)) {
                    items.push(i);
                }
            }
        }
        Ok(items)
    }

    async fn deliver(&self, ctx: &RunCtx, items: Vec<agg_core::Item>) -> anyhow::Result<Outcome> {
        // Pinned by `AGG_NOW`/`AGG_DIGEST_NOW` in tests (agg_core::clock).
        let now = agg_core::clock::now()?;
        let items = self.with_backfill(ctx, items, now).await?;
        let mut cfg = self.cfg.clone();
        cfg.pipeline = ctx.pipeline.clone();
        let key = match &self.secret_file {
            Some(p) => match std::env::var("AGG_SECRET") {
                Ok(s) if !s.is_empty() => s.into_bytes(),
                _ => agg_digest::token::load_key_file(p)?,
            },
            None => agg_digest::token::load_key(&agg_digest::token::default_key_dir())?,
        };
        cfg.render.signer = Signer::new(key);
        let mut ids: Vec<u64> = items
            .iter()
            .filter_map(|i| i.saga.as_ref().map(|s| s.id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let sagas = saga_infos(ctx.store.as_ref(), &ids).await?;
        // `agg run --dry-run` never mails.
        let mode = if ctx.dry_run && matches!(self.mode, Mode::Send) {
            Mode::DryRun
        } else {
            self.mode.clone()
        };
        agg_digest::deliver::run(
            ctx.store.as_ref(),
            &cfg,
            items,
            &sagas,
            &mode,
            self.force,
            now,
        )
        .await
    }
}
