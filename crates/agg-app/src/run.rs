//! Running a pipeline once, the way every front end does it: the run
//! itself, then the upkeep a run owes the store (retention, when due).
//!
//! `agg run` and `agg serve` each called the executor themselves and only
//! `agg run` applied `retention_days` afterwards, so a store kept by
//! `agg serve` never shrank. Here the two steps are one function, and what
//! each did comes back typed for the front end to print or log.

use std::sync::Arc;

use agg_core::exec::{Observer, RunOptions, RunSummary};
use agg_core::store::RetentionReport;
use agg_core::{Pipeline, Store};
use chrono::{DateTime, Utc};

use crate::retention;

/// The executor could not run the pipeline at all (an unknown `--only`
/// agent, the store refusing to record the run, an unreadable clock). A
/// run whose agents failed is not this: it comes back as an [`Outcome`]
/// whose summary says so.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Error(pub anyhow::Error);

/// What one run did.
#[derive(Debug)]
pub struct Outcome {
    /// The executor's report: run id, status, each agent's outcome.
    pub summary: RunSummary,
    /// What retention did after the run.
    pub retention: Retention,
}

/// What retention did after a run.
#[derive(Debug)]
pub enum Retention {
    /// Applied with the pipeline's `retention_days`.
    Applied { days: u32, report: RetentionReport },
    /// Not applied, and why.
    Skipped(Skip),
    /// Applying it failed. The run itself is done and recorded, so this is
    /// reported, not the run's error; the next run tries again (the time of
    /// the last retention is noted only when one succeeds).
    Failed { days: u32, error: retention::Error },
}

/// Why a run did not apply retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The pipeline has no `retention_days:`: nothing is ever deleted.
    NoPeriod,
    /// A dry run, or a run of some agents only (`--only`, a replay's left
    /// out agents): it is not the pipeline's regular run, and a dry run
    /// writes nothing.
    PartialRun,
    /// Retention ran less than [`retention::EVERY`] ago, at this time.
    NotDue { last: DateTime<Utc> },
}

/// Runs `p` once with `opts`, then applies the pipeline's `retention_days`
/// if this was a full run and retention is due (at most once in
/// [`retention::EVERY`] per store).
///
/// Retention runs after the executor returned, whatever the run's status:
/// a failed feed is no reason to let the store grow. When the executor
/// itself fails, nothing else is done.
pub async fn run(
    p: &Pipeline,
    store: Arc<dyn Store>,
    opts: &RunOptions,
    observer: Arc<dyn Observer>,
) -> Result<Outcome, Error> {
    let summary = agg_core::exec::run(p, store.clone(), opts, observer)
        .await
        .map_err(Error)?;
    let retention = after_run(p, store.as_ref(), opts).await;
    Ok(Outcome { summary, retention })
}

/// Retention after a run of `p` with `opts`, when it is due.
async fn after_run(p: &Pipeline, store: &dyn Store, opts: &RunOptions) -> Retention {
    let Some(days) = p.retention_days else {
        return Retention::Skipped(Skip::NoPeriod);
    };
    if opts.dry_run || opts.only.is_some() || opts.alone || !opts.exclude.is_empty() {
        return Retention::Skipped(Skip::PartialRun);
    }
    match retention::not_due_since(store).await {
        Ok(Some(last)) => Retention::Skipped(Skip::NotDue { last }),
        Ok(None) => match retention::apply(store, days).await {
            Ok(report) => Retention::Applied { days, report },
            Err(error) => Retention::Failed { days, error },
        },
        Err(error) => Retention::Failed { days, error },
    }
}
