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
use agg_saga::{SagaEngine, SagaError, SagaId};

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
pub async fn with_engine<T>(
    store: &dyn Store,
    f: impl FnOnce(&mut SagaEngine) -> Result<T, Error>,
) -> Result<T, Error> {
    locked(store, change_held(store, f)).await
}

/// Load, change, save, for a caller that already holds the lease (the
/// engine's local lock is not reentrant: taking it again would wait
/// forever).
pub(crate) async fn change_held<T>(
    store: &dyn Store,
    f: impl FnOnce(&mut SagaEngine) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut engine = agg_agents::saga::load_engine(store)
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
    with_engine(store, |engine| {
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
