//! Saga controls: reading the sagas, and changing them under the engine
//! lease.
//!
//! The saga engine is one document in the store that runs, workers and
//! people all change. Every change must hold the engine lease
//! (`agg_agents::saga::lock_engine`) from load to save, or two writers lose
//! each other's work; and the lease must be given back whatever happened
//! in between, or every other writer waits for it to expire. That dance is
//! written once, in [`with_engine`] (and [`locked`] for a change that also
//! touches other rows under the same lease). Reading needs no lease: a
//! reader sees the last saved document, and taking the lease to read would
//! make `agg sagas list` wait behind a long run for nothing.

use agg_core::Store;
use agg_saga::{ListGroup, SagaEngine, SagaError, SagaId, SagaListing};

use crate::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control does not apply (no such saga, merged, same saga…).
    #[error(transparent)]
    Saga(#[from] SagaError),
    /// Some item ids given to a split do not exist.
    #[error(transparent)]
    UnknownItems(#[from] crate::items::UnknownItems),
    /// The pinned clock (`--now`, `AGG_NOW`) does not parse.
    #[error("{0:#}")]
    Clock(anyhow::Error),
    /// The store, the lease or the stored engine failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sagas as last saved, brought to now: sagas quiet for long enough
/// turn dormant with time, not only when items arrive, so a reader sees
/// their status as of now. Takes no lease and saves nothing.
pub async fn read(store: &dyn Store) -> Result<SagaEngine, Error> {
    let mut engine = agg_agents::saga::load_engine(store)
        .await
        .map_err(StoreError)?;
    engine.sweep(agg_core::clock::now().map_err(Error::Clock)?);
    Ok(engine)
}

/// The saga `id` stands for now (following merges), live or archived, with
/// its status as of now; `None` for an id never given. Takes no lease and
/// saves nothing.
pub async fn read_one(store: &dyn Store, id: u64) -> Result<Option<agg_saga::Saga>, Error> {
    let engine = read(store).await?;
    agg_agents::saga::find_saga(store, &engine, SagaId(id))
        .await
        .map_err(|e| Error::Store(StoreError(e)))
}

/// One page of the list of sagas.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The page's sagas with their group, in list order.
    pub rows: Vec<(ListGroup, SagaListing)>,
    /// One-item sagas in all (listed only when asked for).
    pub single: u64,
    /// Whether there is a next page.
    pub more: bool,
}

/// Page `page` (from 0) of the list of sagas, `per_page` a page: followed,
/// then several outlets, then several items, one-item sagas only with
/// `all`; newest first within a group; merged sagas never.
///
/// Read from the store's saga list, one page at a time: the engine's state
/// is not loaded (issue 23). Statuses are those of the last save (a run, a
/// control), so a saga gone quiet since then reads active until the next
/// run. A store whose list was never written (by an older version) gets the
/// same page computed from the engine until its first save.
pub async fn list_page(
    store: &dyn Store,
    all: bool,
    page: u64,
    per_page: u64,
) -> Result<ListPage, Error> {
    let max = if all {
        ListGroup::OneItem
    } else {
        ListGroup::SeveralItems
    };
    let complete = store
        .load_state(agg_agents::saga::LIST_KEY)
        .await
        .map_err(StoreError)?
        .is_some();
    if !complete {
        // As last saved, like the stored rows (no sweep to now).
        let engine = agg_agents::saga::load_engine(store)
            .await
            .map_err(StoreError)?;
        return Ok(list_from_engine(&engine, max, page, per_page));
    }
    let stored = store
        .saga_list(max.number(), page * per_page, per_page + 1)
        .await
        .map_err(StoreError)?;
    let more = stored.len() as u64 > per_page;
    let mut rows = Vec::with_capacity(stored.len());
    for r in stored.into_iter().take(per_page as usize) {
        let group = ListGroup::from_number(r.group).ok_or_else(|| {
            StoreError(anyhow::anyhow!(
                "saga {}: unknown list group {}",
                r.id,
                r.group
            ))
        })?;
        let listing: SagaListing = serde_json::from_str(&r.body)
            .map_err(|e| StoreError(anyhow::anyhow!("saga {}: unreadable list row: {e}", r.id)))?;
        rows.push((group, listing));
    }
    let single = store
        .saga_list_counts()
        .await
        .map_err(StoreError)?
        .into_iter()
        .find(|(g, _)| *g == ListGroup::OneItem.number())
        .map_or(0, |(_, n)| n);
    Ok(ListPage { rows, single, more })
}

/// Every saga, newest first: what `agg sagas list --all` prints. The live
/// ones (merged ones included) from `engine` as it is now; the archived
/// ones, which the engine no longer holds, from the stored list, read a
/// page at a time as [`list_page`] does.
pub async fn list_all(store: &dyn Store, engine: &SagaEngine) -> Result<Vec<SagaListing>, Error> {
    const PAGE: u64 = 1_000;
    let mut out: Vec<SagaListing> = engine.sagas().map(|s| s.listing()).collect();
    for page in 0.. {
        let p = list_page(store, true, page, PAGE).await?;
        out.extend(
            p.rows
                .into_iter()
                .map(|(_, l)| l)
                .filter(|l| engine.is_archived(l.id)),
        );
        if !p.more {
            break;
        }
    }
    out.sort_by_key(|l| (std::cmp::Reverse(l.last_seen), std::cmp::Reverse(l.id)));
    Ok(out)
}

/// [`list_page`] computed from the engine: the order the stored list keeps.
pub fn list_from_engine(engine: &SagaEngine, max: ListGroup, page: u64, per_page: u64) -> ListPage {
    let mut all: Vec<(ListGroup, SagaListing)> = engine
        .sagas()
        .filter(|s| s.merged_into.is_none())
        .map(|s| (s.list_group(), s.listing()))
        .collect();
    let single = all.iter().filter(|(g, _)| *g == ListGroup::OneItem).count() as u64;
    all.retain(|(g, _)| *g <= max);
    all.sort_by_key(|(g, s)| (*g, std::cmp::Reverse(s.last_seen), std::cmp::Reverse(s.id)));
    let start = (page * per_page) as usize;
    let more = all.len() > start + per_page as usize;
    let rows = all
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .collect();
    ListPage { rows, single, more }
}

/// Runs `f` while holding the engine lease, and gives the lease back
/// whatever `f` returned; an error of `f` wins over one of the release.
/// For a change that also reads or writes other rows which must not race
/// with engine writers (an email link used once).
pub async fn locked<T, E, F>(store: &dyn Store, f: F) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: From<StoreError>,
{
    let lease = agg_agents::saga::lock_engine(store)
        .await
        .map_err(StoreError)?;
    let result = f.await;
    let released = lease.release().await.map_err(StoreError);
    let value = result?;
    released?;
    Ok(value)
}

/// Loads the engine under the lease, applies `f`, saves the engine if `f`
/// succeeded (with the events it produced), and gives the lease back.
/// The archived sagas among `live` are restored first (with the merged
/// sagas they lead to), so that `f` finds every saga it is about.
pub async fn with_engine<T>(
    store: &dyn Store,
    live: &[u64],
    f: impl FnOnce(&mut SagaEngine) -> Result<T, Error>,
) -> Result<T, Error> {
    locked(store, change_held(store, live, f)).await
}

/// Load, change, save, for a caller that already holds the lease (the
/// engine's local lock is not reentrant: taking it again would wait
/// forever).
pub(crate) async fn change_held<T>(
    store: &dyn Store,
    live: &[u64],
    f: impl FnOnce(&mut SagaEngine) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut engine = agg_agents::saga::load_engine(store)
        .await
        .map_err(StoreError)?;
    agg_agents::saga::restore_sagas(store, &mut engine, live)
        .await
        .map_err(StoreError)?;
    let value = f(&mut engine)?;
    agg_agents::saga::save_engine(store, &mut engine)
        .await
        .map_err(StoreError)?;
    Ok(value)
}

/// A person's change to one saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Follow,
    Unfollow,
    Mute,
    Unmute,
    Rename(String),
    Close,
    Reopen,
    /// Merge this saga into the one the control is applied to.
    Merge {
        from: u64,
    },
    /// Undo the merge of `from` into the saga.
    Unmerge {
        from: u64,
    },
    /// Move these items (store ids) into a new saga.
    Split {
        items: Vec<i64>,
    },
}

/// What a control did beyond changing the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Done,
    /// Items left for a new saga (unmerge, split).
    NewSaga(SagaId),
}

impl From<crate::items::Error> for Error {
    fn from(e: crate::items::Error) -> Self {
        match e {
            crate::items::Error::Unknown(u) => Error::UnknownItems(u),
            crate::items::Error::Store(e) => Error::Store(e),
        }
    }
}

/// Applies `control` to saga `id`, under the lease.
pub async fn control(store: &dyn Store, id: u64, control: Control) -> Result<Changed, Error> {
    let id = SagaId(id);
    // The engine knows items by their stable key, people by their id; the
    // lookup needs no lease.
    let keys = match &control {
        Control::Split { items } => crate::items::all_stored(store, items)
            .await?
            .into_iter()
            .map(|i| i.key)
            .collect(),
        _ => Vec::new(),
    };
    let now = agg_core::clock::now().map_err(Error::Clock)?;
    let live = match &control {
        Control::Merge { from } | Control::Unmerge { from } => vec![id.0, *from],
        _ => vec![id.0],
    };
    with_engine(store, &live, |engine| {
        // Statuses as of now first (as `read` shows them), so a control
        // acts on the saga the person saw.
        engine.sweep(now);
        Ok(match control {
            Control::Follow => engine.follow(id, true).map(|_| Changed::Done)?,
            Control::Unfollow => engine.follow(id, false).map(|_| Changed::Done)?,
            Control::Mute => engine.mute(id, true).map(|_| Changed::Done)?,
            Control::Unmute => engine.mute(id, false).map(|_| Changed::Done)?,
            Control::Rename(title) => engine.rename(id, &title).map(|_| Changed::Done)?,
            Control::Close => engine.close(id).map(|_| Changed::Done)?,
            Control::Reopen => engine.reopen(id).map(|_| Changed::Done)?,
            Control::Merge { from } => engine.merge(id, SagaId(from)).map(|_| Changed::Done)?,
            Control::Unmerge { from } => Changed::NewSaga(engine.unmerge(id, SagaId(from))?),
            Control::Split { .. } => Changed::NewSaga(engine.split(id, &keys)?),
        })
    })
    .await
}
