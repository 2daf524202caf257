//! `agg replay PIPELINE --day D`: run a pipeline again over the items one
//! day brought, into a scratch store, as of that day.
//!
//! Why a scratch store: a replay must not touch what the reader has (their
//! ledger, their sent digests, their sagas), and it must give the same
//! output every time — so it starts from nothing each time: the day's items
//! (and the items the reader gave feedback on, so the learned interests
//! are the same) are copied from the real store into an empty one, the
//! clock is pinned to the end of that day, no source runs (no network),
//! every file a sink writes goes under `--out`, the digest is rendered to
//! files instead of sent, and sinks that reach outside agg (webhooks,
//! notifications) do not run at all. Saga history before the day is not
//! carried over: the replay groups the day's items on their own.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agg_core::exec::{Backlog, Quiet, RunOptions};
use agg_core::{ItemQuery, Role, RunStatus, Store};
use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// The day to replay (YYYY-MM-DD, in the pipeline's time zone): items
    /// first stored that day.
    #[arg(long)]
    pub day: NaiveDate,
    /// The store to read the day from (default: the pipeline's store, or
    /// the default database). The scratch store is the global `--db`.
    #[arg(long, value_name = "DB")]
    pub from: Option<String>,
    /// Where sinks write their files and the digest its preview
    /// (default: ./replay-DAY).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The day's bounds in the pipeline's time zone, as UTC instants.
fn day_bounds<Z: TimeZone + std::fmt::Display>(
    day: NaiveDate,
    tz: Z,
) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| anyhow::anyhow!("{d} has no midnight in {tz}"))
    };
    let next = day
        .succ_opt()
        .ok_or_else(|| anyhow::anyhow!("--day {day}: no day after it"))?;
    Ok((at(day)?, at(next)?))
}

pub async fn run(args: ReplayArgs, scratch_db: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(scratch_db) = scratch_db else {
        anyhow::bail!(
            "agg replay writes into a scratch store: name it with --db (e.g. `agg --db scratch.db replay …`)"
        );
    };
    let Some((mut p, _)) = crate::load_or_report(&args.pipeline)? else {
        return Ok(ExitCode::from(1));
    };
    let (start, end) = day_bounds(args.day, p.timezone)?;
    // The last moment of the day: everything stored that day is in the
    // past, the digest is that day's. An explicit --now wins (first pin).
    agg_core::clock::pin(end - chrono::Duration::seconds(1));
    let now = agg_core::clock::now()?;
    anyhow::ensure!(
        now >= start,
        "--now {now} is before the day replayed ({}): its items would be in the future",
        args.day
    );

    let source_target = crate::store_target(args.from.as_deref(), Some(&p));
    let scratch_target = crate::store_target(Some(scratch_db), Some(&p));
    anyhow::ensure!(
        !same_store(&source_target, &scratch_target),
        "the scratch store (--db) is the store replayed from: pick another file"
    );
    let source = agg_store::open(&source_target)
        .await
        .with_context(|| format!("cannot open {}", agg_store::redact(&source_target)))?;
    let scratch = agg_store::open(&scratch_target)
        .await
        .with_context(|| format!("cannot open {}", agg_store::redact(&scratch_target)))?;
    let held = scratch.count_items(&ItemQuery::default()).await?;
    anyhow::ensure!(
        held == 0,
        "the scratch store {} already holds {held} items; a replay starts from an empty one \
         (remove it or name another --db)",
        agg_store::redact(&scratch_target)
    );

    let copied = copy_day(source.as_ref(), scratch.as_ref(), start, end).await?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("replay-{}", args.day)));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let plan = agg_app::replay::redirect(&mut p, &out)?;

    println!(
        "replay of {} ({} to {}): {} items stored that day, {} feedback marks copied into {}",
        args.day,
        start.format("%Y-%m-%d %H:%M UTC"),
        end.format("%Y-%m-%d %H:%M UTC"),
        copied.items,
        copied.feedback,
        agg_store::redact(&scratch_target)
    );
    for name in &plan.left_out {
        let why = match p.agent(name).map(|a| a.role) {
            Some(Role::Source) => "a replay fetches nothing: it reads the day's stored items",
            _ => "a replay reaches nothing outside agg",
        };
        println!("  {name}: not run ({why})");
    }
    let opts = RunOptions {
        backlog: Backlog::Window(now - start),
        exclude: plan.left_out.clone(),
        ..RunOptions::default()
    };
    let scratch: Arc<dyn Store> = scratch;
    let summary = agg_app::run(&p, scratch, &opts, Arc::new(Quiet))
        .await?
        .summary;
    println!("{} replay: {}", p.name, summary.status.as_str());
    crate::print_outcomes(&summary.outcomes);
    let mut ok = summary.status == RunStatus::Ok;
    for (name, report) in &plan.digests {
        for r in std::mem::take(&mut *report.lock().expect("report lock")) {
            match r {
                Ok(o) => println!(
                    "  {name}: digest of {} ({} items) written to {}",
                    o.day,
                    o.items.len(),
                    out.join(format!("digest-{name}.html")).display()
                ),
                Err(e) => {
                    ok = false;
                    eprintln!("error: digest `{name}`: {e:#}");
                }
            }
        }
    }
    for f in &plan.files {
        println!("  wrote {}", f.display());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn same_store(a: &str, b: &str) -> bool {
    let canon = |s: &str| {
        let path = s.strip_prefix("sqlite://").unwrap_or(s);
        std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path))
    };
    a == b || canon(a) == canon(b)
}

struct Copied {
    items: usize,
    feedback: usize,
}

/// Copies the items first stored in `[start, end)`, and the items with
/// feedback (so the interest model trains on the same labels), with that
/// feedback. Items are inserted oldest first so ids, and everything ordered
/// by them, come out the same in every replay.
async fn copy_day(
    from: &dyn Store,
    to: &dyn Store,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Copied> {
    let mut items = from
        .list_items(&ItemQuery {
            fetched_since: Some(start),
            fetched_until: Some(end),
            ..ItemQuery::default()
        })
        .await?;
    let feedback = from.list_feedback().await?;
    let day_count = items.len();
    let day_ids: std::collections::HashSet<i64> = items.iter().filter_map(|i| i.id).collect();
    let mut labelled: Vec<i64> = feedback
        .iter()
        .map(|f| f.item_id)
        .filter(|id| !day_ids.contains(id))
        .collect();
    labelled.sort_unstable();
    labelled.dedup();
    items.extend(from.get_items(&labelled).await?);
    items.sort_by_key(|i| (i.fetched, i.id));
    let old_ids: Vec<Option<i64>> = items.iter().map(|i| i.id).collect();
    for chunk in items.chunks_mut(500) {
        for it in chunk.iter_mut() {
            it.id = None;
        }
        to.upsert_items(chunk).await?;
    }
    let map: std::collections::HashMap<i64, i64> = old_ids
        .iter()
        .zip(&items)
        .filter_map(|(old, it)| Some(((*old)?, it.id?)))
        .collect();
    let mut marks = 0;
    for f in &feedback {
        if let Some(&id) = map.get(&f.item_id) {
            to.add_feedback(id, f.kind, f.via).await?;
            marks += 1;
        }
    }
    Ok(Copied {
        items: day_count,
        feedback: marks,
    })
}
