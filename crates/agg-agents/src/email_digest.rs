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
    /// SMTP URL; default `AGG_SMTP_URL`. A digest that would send needs
    /// one of them: `validate` says so, instead of the 7 o'clock run failing.
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
    /// Where `agg serve` answers feedback links; default `AGG_PUBLIC_URL`
    /// (what `agg serve --public-url` also reads). Required: a guessed
    /// default (localhost) mails links that work nowhere but on this host.
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
    let tz = timezone(&o, ctx)?;
    let to = checked_addresses(&o)?;
    check_limits(&o)?;
    let max_age = match &o.max_age {
        None => None,
        Some(s) => Some(parse_duration(s).ok_or_else(|| {
            OptionsError::at(&["max_age"], format!("`{s}` is not a duration"))
                .with_hint("a number and a unit: 36h, 7d, 2w")
        })?),
    };
    let mut warnings = Vec::new();
    let public_url = public_url(&o, &mut warnings)?;
    warnings.extend(smtp_warning(&o, &mode));
    let cfg = digest_config(&o, ctx, tz, to, max_age, public_url);
    let report = Report::default();
    Ok((
        Box::new(EmailDigest {
            cfg,
            secret_file: o.secret_file.as_deref().map(|p| ctx.resolve(p)),
            mode,
            force,
            report: report.clone(),
            warnings,
        }),
        report,
    ))
}

/// The digest's day is the reader's: the pipeline's time zone unless the
/// agent names its own.
fn timezone(o: &Options, ctx: &BuildCtx) -> Result<agg_digest::chrono_tz::Tz, OptionsError> {
    match &o.timezone {
        None => Ok(ctx.timezone),
        Some(t) => t.parse().map_err(|_| {
            OptionsError::at(&["timezone"], format!("unknown time zone `{t}`"))
                .with_hint("an IANA name such as Europe/London or America/New_York")
        }),
    }
}

/// The recipients, once `to`, `from` and `smtp` are known to parse: a
/// typo is found by `validate`, not by the morning's send.
fn checked_addresses(o: &Options) -> Result<Vec<String>, OptionsError> {
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
    Ok(to)
}

/// Limits of 0 would send an empty digest every day.
fn check_limits(o: &Options) -> Result<(), OptionsError> {
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
    Ok(())
}

/// Where feedback links point (empty: none). Without one the digest still
/// goes out, without 👍/👎, follow and unsubscribe links (never a localhost
/// guess that would break on the reader's phone); `validate` warns.
fn public_url(o: &Options, warnings: &mut Vec<OptionsError>) -> Result<String, OptionsError> {
    let public_url = o
        .public_url
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            std::env::var("AGG_PUBLIC_URL")
                .ok()
                .filter(|s| !s.trim().is_empty())
        });
    match &public_url {
        None => warnings.push(
            OptionsError::at(
                &["public_url"],
                "the digest has no public URL: it goes out without 👍/👎, follow and unsubscribe links",
            )
            .with_hint(
                "add `public_url: https://agg.example.org` (where `agg serve` answers) \
                 or set AGG_PUBLIC_URL",
            ),
        ),
        Some(u) => match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") => {}
            _ => {
                return Err(OptionsError::at(
                    &["public_url"],
                    format!("`{u}` is not an http(s) URL"),
                ));
            }
        },
    }
    Ok(public_url.unwrap_or_default())
}

/// Sending needs a server; the environment may name it at run time
/// (AGG_SMTP_URL), so its absence here is a warning, and a run without one
/// fails the stage with the items kept for the next run.
fn smtp_warning(o: &Options, mode: &Mode) -> Option<OptionsError> {
    let smtp_set = o.smtp.as_ref().is_some_and(|s| !s.trim().is_empty())
        || std::env::var("AGG_SMTP_URL").is_ok_and(|s| !s.trim().is_empty());
    (matches!(mode, Mode::Send) && !smtp_set).then(|| {
        OptionsError::at(
            &["smtp"],
            "the digest names no SMTP server and AGG_SMTP_URL is not set: a run cannot send it",
        )
        .with_hint(
            "add `smtp: smtp+starttls://user:${SMTP_PASSWORD}@host:587` or set AGG_SMTP_URL \
             where agg runs",
        )
    })
}

/// The checked options as `agg_digest`'s configuration.
fn digest_config(
    o: &Options,
    ctx: &BuildCtx,
    tz: agg_digest::chrono_tz::Tz,
    to: Vec<String>,
    max_age: Option<chrono::Duration>,
    public_url: String,
) -> DigestConfig {
    DigestConfig {
        pipeline: ctx.pipeline.clone(),
        select: SelectOptions {
            max_items: o.max_items,
            max_per_saga: o.max_per_saga,
            top: o.top,
            sections: o.sections.clone(),
            muted: o.muted,
            max_age,
            silent_days: o.silent_days,
            archive_age: agg_core::item::ARCHIVE_AGE,
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
    }
}

/// lettre's address types, for checking `to`/`from` at build time.
mod lettre_addr {
    pub use agg_digest::mail::{Mailbox, Mailboxes};
}

struct EmailDigest {
    cfg: DigestConfig,
    secret_file: Option<PathBuf>,
    mode: Mode,
    force: bool,
    report: Report,
    /// Build-time warnings (`validate` shows them).
    warnings: Vec<OptionsError>,
}

/// Saga details (start, outlets, follow/mute) from the saga engine's state.
async fn saga_infos(
    store: &dyn agg_core::Store,
    ids: &[u64],
) -> anyhow::Result<HashMap<u64, SagaInfo>> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let engine = crate::saga::load_engine(store).await?;
    let info = |s: &agg_saga::Saga| SagaInfo {
        title: s.title.clone(),
        first_seen: Some(s.first_seen),
        outlets: s.outlets.len(),
        followed: s.followed,
        muted: s.muted,
    };
    for s in engine.sagas() {
        if ids.contains(&s.id.0) {
            out.insert(s.id.0, info(s));
        }
    }
    // Sagas archived since their items were placed (an old item's saga
    // leaves at once) are read from the archive.
    let archived: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| engine.is_archived(agg_saga::SagaId(*id)))
        .collect();
    for a in crate::saga::archived_sagas(store, &archived).await? {
        out.insert(a.id().0, info(&a.saga));
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
        // The inbox holds every item not yet delivered by this digest (the
        // ledger's backlog: items an earlier run could not mail are here).
        let items = input.collect().await;
        let taken: Vec<i64> = items.iter().filter_map(|i| i.id).collect();
        let result = self.deliver(ctx, items).await;
        let ret = match &result {
            Ok(o) => {
                let note = o.note.clone().unwrap_or_else(|| format!("{:?}", o.status));
                match o.status {
                    // Delivered, or nothing worth sending among them: done.
                    Status::Sent | Status::Empty => {
                        // "Nothing new; no mail" belongs in the run's
                        // summary: a morning without a mail must say why.
                        if let (Status::Empty, Some(n)) = (&o.status, &o.note) {
                            ctx.skip(n.clone());
                        } else if let Some(n) = &o.note {
                            tracing::info!(agent = %ctx.agent, "{n}");
                        }
                        // Held back by the caps: offered again next time
                        // (within the backlog window), not dropped.
                        let sent: std::collections::HashSet<i64> =
                            o.items.iter().copied().collect();
                        let held: Vec<i64> = taken
                            .iter()
                            .copied()
                            .filter(|id| !sent.contains(id))
                            .collect();
                        if o.status == Status::Sent && !held.is_empty() {
                            ctx.skip(format!(
                                "{} more items held back by the digest's caps; offered again next time",
                                held.len()
                            ));
                            ctx.defer(held);
                        }
                    }
                    // The day's digest went out before this run: what it
                    // holds is delivered, the rest waits for the next one.
                    Status::AlreadyDone => {
                        ctx.skip(note);
                        let sent: std::collections::HashSet<i64> =
                            o.items.iter().copied().collect();
                        ctx.defer(taken.iter().copied().filter(|id| !sent.contains(id)));
                    }
                    // Not sent by this run: the items wait for the next digest.
                    Status::Interrupted
                    | Status::ClaimedElsewhere
                    | Status::DryRun
                    | Status::Previewed => ctx.defer_all(note),
                }
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        self.report.lock().expect("report lock").push(result);
        ret
    }

    fn warnings(&self) -> Vec<OptionsError> {
        self.warnings.clone()
    }
}

impl EmailDigest {
    async fn deliver(&self, ctx: &RunCtx, items: Vec<agg_core::Item>) -> anyhow::Result<Outcome> {
        // Pinned by `AGG_NOW`/`AGG_DIGEST_NOW` in tests (agg_core::clock).
        let now = agg_core::clock::now()?;
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
