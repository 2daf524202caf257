//! Retention (`retention_days:`, issue 23): what `agg gc` applies at once
//! and a run applies when it is due.
//!
//! Old items lose their vectors and bodies at half the retention period and
//! are deleted at the full period, leaving a tombstone per key so that a
//! feed still carrying one does not bring it back as new. Items of followed
//! sagas, liked and saved items are kept whole. The saga engine forgets the
//! vectors of items past the thinning cutoff (its state shrinks with them)
//! and saga events older than the period are pruned.
//!
//! Written here, not in a front end, because both `agg run` and `agg serve`
//! run pipelines: when only the CLI applied it, a store kept by `agg serve`
//! grew for ever.

use agg_core::Store;
use agg_core::store::{RetentionPlan, RetentionReport};
use chrono::{DateTime, Duration, Utc};

use crate::StoreError;

/// State key: when retention last ran. One key for the whole store, since
/// retention deletes items whatever pipeline stored them.
pub const LAST_KEY: &str = "retention:last";
/// How often a run applies retention: about once a day, a little less so
/// that a daily schedule whose runs drift by minutes never skips a day.
pub const EVERY: Duration = Duration::hours(20);

/// Why retention could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pinned clock (`--now`, `AGG_NOW`) does not parse.
    #[error("{0:#}")]
    Clock(anyhow::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The saga engine (which says what followed sagas keep) could not be
    /// loaded, changed or saved.
    #[error(transparent)]
    Sagas(#[from] crate::sagas::Error),
}

/// The cutoffs for `days` of retention at `now`: bodies and vectors go at
/// half the period (at least a day), rows at the full period.
pub fn plan(days: u32, now: DateTime<Utc>, keep_sagas: Vec<u64>) -> RetentionPlan {
    let days = i64::from(days.max(1));
    RetentionPlan {
        thin_before: now - Duration::days((days / 2).max(1)),
        delete_before: now - Duration::days(days),
        keep_sagas,
        now,
    }
}

/// Applies `days` of retention now, whenever it last ran (`agg gc`): the
/// saga engine first (followed sagas are what retention keeps; vectors past
/// the cutoff are forgotten), then the store. Notes the time, so that a run
/// soon after does not apply it again.
pub async fn apply(store: &dyn Store, days: u32) -> Result<RetentionReport, Error> {
    let now = agg_core::clock::now().map_err(Error::Clock)?;
    let mut p = plan(days, now, Vec::new());
    // The engine is read only when some item is old enough to be touched:
    // a young store pays nothing.
    // (By item date, which an index answers; `apply_retention` itself goes
    // by fetch time.)
    let old = !store
        .list_items(&agg_core::ItemQuery {
            until: Some(p.thin_before),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .map_err(StoreError)?
        .is_empty();
    if old
        && store
            .load_state(agg_agents::saga::STATE_KEY)
            .await
            .map_err(StoreError)?
            .is_some()
    {
        p.keep_sagas = crate::sagas::with_engine(store, &[], |engine| {
            let keep = engine
                .sagas()
                .filter(|s| s.followed)
                .map(|s| s.id.0)
                .collect();
            engine.forget_vectors_before(p.thin_before);
            Ok(keep)
        })
        .await?;
    }
    let mut report = if old {
        store.apply_retention(&p).await.map_err(StoreError)?
    } else {
        RetentionReport::default()
    };
    // An archived saga whose items are all past the period goes with them
    // (followed and muted sagas are never archived, so they stay).
    report.sagas = store
        .prune_saga_archive(p.delete_before)
        .await
        .map_err(StoreError)?;
    store
        .prune_saga_events(p.delete_before)
        .await
        .map_err(StoreError)?;
    store
        .save_state(LAST_KEY, &now.to_rfc3339())
        .await
        .map_err(StoreError)?;
    Ok(report)
}

/// When retention last ran, if it is not due yet (it ran less than
/// [`EVERY`] ago); `None` when it is due. A note that does not parse counts
/// as never: applying once too often costs little, never applying costs
/// the disk.
pub async fn not_due_since(store: &dyn Store) -> Result<Option<DateTime<Utc>>, Error> {
    let now = agg_core::clock::now().map_err(Error::Clock)?;
    let last = store
        .load_state(LAST_KEY)
        .await
        .map_err(StoreError)?
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc));
    Ok(last.filter(|t| now - *t < EVERY))
}
