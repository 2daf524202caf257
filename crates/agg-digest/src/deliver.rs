//! One digest, exactly once: claim (pipeline, day) in the store, send, mark.
//!
//! The record is written `pending` (with the Message-ID and item ids) before
//! the SMTP conversation and marked `sent` after it. A run that finds its day
//! `pending` knows a previous process died mid-send: the mail may or may not
//! have gone out, so the day is marked `interrupted` and never sent again,
//! and its items (not counted as sent) go in the next digest. An SMTP failure
//! marks the day `failed`, which the next run retries.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use agg_core::{DigestRecord, DigestStatus, Item, Store};
use chrono::{DateTime, Utc};

use crate::mail::{self, SendOptions, SmtpUrl};
use crate::render::{self, RenderConfig, Rendered};
use crate::select::{self, SagaInfo, SelectOptions, Selection};

/// Everything a digest sink is configured with.
#[derive(Clone, Debug)]
pub struct DigestConfig {
    pub pipeline: String,
    pub select: SelectOptions,
    pub render: RenderConfig,
    pub from: String,
    pub to: Vec<String>,
    /// SMTP URL; `None`: `AGG_SMTP_URL`.
    pub smtp: Option<String>,
    pub send: SendOptions,
    /// Send a digest even when nothing is new.
    pub send_empty: bool,
}

/// What to do with the digest.
#[derive(Clone, Debug, Default)]
pub enum Mode {
    /// Record and send (the normal run).
    #[default]
    Send,
    /// Say what would be sent; write and send nothing.
    DryRun,
    /// Write the HTML and/or the whole message (.eml); record and send nothing.
    Preview {
        html: Option<PathBuf>,
        eml: Option<PathBuf>,
    },
}

/// How a digest run ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Sent,
    /// The day already has a digest (`sent` or `interrupted`): nothing sent.
    AlreadyDone,
    /// The day was found `pending`: a previous process died mid-send.
    Interrupted,
    /// Another worker claimed the day first.
    ClaimedElsewhere,
    /// Nothing new to send.
    Empty,
    DryRun,
    Previewed,
}

/// The result of [`run`], for the CLI and logs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    pub pipeline: String,
    pub day: String,
    pub status: Status,
    pub subject: Option<String>,
    pub to: Vec<String>,
    pub message_id: Option<String>,
    /// The items of the digest: sent, previewed or that would be sent; for
    /// [`Status::AlreadyDone`], those the day's sent digest holds.
    pub items: Vec<i64>,
    /// One line per section, for `--dry-run`.
    pub summary: Vec<String>,
    /// Plain-text body, for `--dry-run`.
    #[serde(skip)]
    pub text: Option<String>,
    pub note: Option<String>,
}

/// Test hook: `AGG_DIGEST_TEST_CRASH=after-begin|after-send` aborts the
/// process at that point, as a kill -9 would.
fn crash_point(at: &str) {
    if std::env::var("AGG_DIGEST_TEST_CRASH").is_ok_and(|v| v == at) {
        eprintln!("AGG_DIGEST_TEST_CRASH: aborting {at}");
        std::process::abort();
    }
}

/// How long a `pending` record may belong to a live sender: every attempt
/// at its time bound, plus the waits between them. Older, it was abandoned.
pub fn in_flight(send: &SendOptions) -> chrono::Duration {
    let attempts = send.attempts.max(1);
    let mut total = send.timeout * attempts;
    let mut wait = send.backoff;
    for _ in 1..attempts {
        total += wait;
        wait = wait
            .saturating_mul(2)
            .min(std::time::Duration::from_secs(300));
    }
    chrono::Duration::from_std(total).unwrap_or(chrono::Duration::hours(1))
        + chrono::Duration::seconds(30)
}

/// Per-section lines for a dry run.
pub fn summarize(sel: &Selection) -> Vec<String> {
    let mut out = Vec::new();
    let titles = |v: &[Item]| -> Vec<String> {
        v.iter()
            .map(|i| format!("    - {} ({})", i.title, select::source_name(i)))
            .collect()
    };
    if !sel.top.is_empty() {
        out.push(format!("top stories: {}", sel.top.len()));
        out.extend(titles(&sel.top));
    }
    for (name, groups) in [
        ("followed", &sel.followed),
        ("story", &sel.sagas),
        ("muted", &sel.muted),
    ] {
        for g in groups {
            out.push(format!("{name}: {}", g.saga.line()));
            out.extend(titles(&g.items));
        }
    }
    for g in &sel.sources {
        out.push(format!("source {}: {}", g.source, g.items.len()));
        out.extend(titles(&g.items));
    }
    if !sel.archive.is_empty() {
        out.push(format!("from feeds' archives: {}", sel.archive.len()));
        out.extend(titles(&sel.archive));
    }
    for h in &sel.health {
        out.push(format!(
            "feed health: [{}] {}: {}",
            h.kind, h.feed, h.reason
        ));
    }
    if !sel.archive_passed.is_empty() {
        out.push(format!(
            "older archive items not listed (not offered again): {}",
            sel.archive_passed.len()
        ));
    }
    if sel.held_back > 0 {
        out.push(format!("held back by the caps: {}", sel.held_back));
    }
    out
}

/// The SMTP URL to use: the option, else `AGG_SMTP_URL`.
pub fn smtp_url(opt: Option<&str>) -> anyhow::Result<SmtpUrl> {
    let s = match opt {
        Some(s) if !s.trim().is_empty() => s.to_string(),
        _ => std::env::var("AGG_SMTP_URL").map_err(|_| {
            anyhow::anyhow!(
                "no SMTP server: set the digest's `smtp:` option or AGG_SMTP_URL \
                 (e.g. smtp://127.0.0.1:2525, smtp+starttls://user:pass@host:587)"
            )
        })?,
    };
    SmtpUrl::parse(&s)
}

/// Builds, records and sends (or previews) the digest of `day` for the
/// items of this run.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    store: &dyn Store,
    cfg: &DigestConfig,
    items: Vec<Item>,
    sagas: &HashMap<u64, SagaInfo>,
    mode: &Mode,
    force: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let tz = cfg.render.tz;
    let today = now.with_timezone(&tz).date_naive();
    let day = today.format("%Y-%m-%d").to_string();
    let mut out = Outcome {
        pipeline: cfg.pipeline.clone(),
        day: day.clone(),
        status: Status::Empty,
        subject: None,
        to: cfg.to.clone(),
        message_id: None,
        items: Vec::new(),
        summary: Vec::new(),
        text: None,
        note: None,
    };
    let sending = matches!(mode, Mode::Send);
    if (sending || matches!(mode, Mode::DryRun))
        && let Some(rec) = store.digest(&cfg.pipeline, &day).await?
        && settled_by_record(store, cfg, rec, sending, force, now, &mut out).await?
    {
        return Ok(out);
    }

    let sent: HashSet<i64> = store.sent_items(&cfg.pipeline).await?;
    let feeds = if cfg.select.sections.contains(&select::Section::Health) {
        store.list_feeds().await?
    } else {
        Vec::new()
    };
    let sel = select::select(items, &sent, sagas, &feeds, &cfg.select, now, today, tz);
    out.items = sel.covered_ids();
    out.summary = summarize(&sel);
    if sel.is_empty() && !cfg.send_empty && sending {
        out.note = Some(format!(
            "nothing new since the last digest; no mail for {day}"
        ));
        return Ok(out);
    }
    let rendered: Rendered = render::render(&sel, &cfg.render, now, today)?;
    let message_id = mail::message_id(&cfg.pipeline, &day, &cfg.from);
    out.subject = Some(rendered.subject.clone());
    out.text = Some(rendered.text.clone());
    out.message_id = Some(message_id.clone());
    let msg = mail::build_message(&rendered, &cfg.from, &cfg.to, &message_id, now.into())?;

    match mode {
        Mode::DryRun => {
            out.status = Status::DryRun;
            return Ok(out);
        }
        Mode::Preview { html, eml } => {
            if let Some(p) = html {
                write_atomic(p, rendered.html.as_bytes())?;
            }
            if let Some(p) = eml {
                write_atomic(p, &msg.formatted())?;
            }
            out.status = Status::Previewed;
            return Ok(out);
        }
        Mode::Send => {}
    }
    send_recorded(store, cfg, &msg, message_id, now, out).await
}

/// What the store says about today, when it has a record of the day's
/// digest: whether that settles the run (`true`: `out` says how), so that
/// a day gets one digest whatever the crashes and workers. A failed digest
/// is retried, and `--force` sends again.
async fn settled_by_record(
    store: &dyn Store,
    cfg: &DigestConfig,
    rec: DigestRecord,
    sending: bool,
    force: bool,
    now: DateTime<Utc>,
    out: &mut Outcome,
) -> anyhow::Result<bool> {
    let day = out.day.clone();
    match rec.status {
        DigestStatus::Failed => {
            out.note = Some(format!(
                "retrying the digest of {day}, which failed: {}",
                rec.error.as_deref().unwrap_or("unknown error")
            ));
            Ok(false)
        }
        _ if force => {
            if sending {
                store.digest_forget(&cfg.pipeline, &day).await?;
            }
            out.note = Some(format!(
                "--force: sending the digest of {day} again (it was {})",
                rec.status
            ));
            Ok(false)
        }
        // Recorded moments ago: another worker may be in its SMTP
        // conversation right now. Leave it alone.
        DigestStatus::Pending if now - rec.created < in_flight(&cfg.send) => {
            out.status = Status::ClaimedElsewhere;
            out.message_id = Some(rec.message_id);
            out.note = Some(format!(
                "the digest of {day} is being sent by another process (since {}); nothing sent",
                rec.created.format("%H:%M:%S UTC")
            ));
            Ok(true)
        }
        DigestStatus::Pending => {
            let note = format!(
                "the digest of {day} was being sent by a process that stopped \
                     (Message-ID {}); it may have arrived, so it is not sent again; \
                     its {} items will be in the next digest (--force to send now)",
                rec.message_id,
                rec.items.len()
            );
            if sending {
                store
                    .digest_finish(&cfg.pipeline, &day, DigestStatus::Interrupted, Some(&note))
                    .await?;
            }
            out.status = Status::Interrupted;
            out.message_id = Some(rec.message_id);
            out.note = Some(note);
            Ok(true)
        }
        other => {
            out.status = Status::AlreadyDone;
            out.message_id = Some(rec.message_id);
            // A sent digest's items were delivered, whichever process sent
            // it (one killed before it could say so leaves them pending):
            // they are done, not material for the next digest.
            if other == DigestStatus::Sent {
                out.items = rec.items;
            }
            let at = rec
                .sent_at
                .unwrap_or(rec.created)
                .with_timezone(&cfg.render.tz)
                .format("%H:%M");
            out.note = Some(format!(
                "digest of {day} already {other} at {at}; new items wait for the next one \
                 (--force to send again)"
            ));
            Ok(true)
        }
    }
}

/// Records the digest as pending, then sends it and records how that
/// went: a crash between the two leaves a `pending` record, which the
/// next run reads as "may have arrived" rather than sending twice.
async fn send_recorded(
    store: &dyn Store,
    cfg: &DigestConfig,
    msg: &lettre::Message,
    message_id: String,
    now: DateTime<Utc>,
    mut out: Outcome,
) -> anyhow::Result<Outcome> {
    let day = out.day.clone();
    let url = smtp_url(cfg.smtp.as_deref())?;
    let rec = DigestRecord {
        pipeline: cfg.pipeline.clone(),
        day: day.clone(),
        message_id,
        items: out.items.clone(),
        status: DigestStatus::Pending,
        // The digest's clock (pinned in tests), so "in flight" is judged on it.
        created: now,
        sent_at: None,
        error: None,
    };
    if !store.digest_begin(&rec).await? {
        out.status = Status::ClaimedElsewhere;
        out.note = Some(format!(
            "another worker claimed the digest of {day}; nothing sent"
        ));
        return Ok(out);
    }
    crash_point("after-begin");
    match mail::send(msg, &url, &cfg.send).await {
        Ok(()) => {
            crash_point("after-send");
            store
                .digest_finish(&cfg.pipeline, &day, DigestStatus::Sent, None)
                .await?;
            out.status = Status::Sent;
            Ok(out)
        }
        Err(e) => {
            let why = format!("{e:#}");
            store
                .digest_finish(&cfg.pipeline, &day, DigestStatus::Failed, Some(&why))
                .await?;
            Err(anyhow::anyhow!(
                "the digest of {day} was not sent: {why}; it will be retried on the next run"
            ))
        }
    }
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    agg_core::fsutil::write_atomic(path, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
