//! Feedback: a reader's like or dislike of an item (and follow or mute of a
//! saga from an email link), which the next scoring run learns from.
//!
//! Written once so that every front end checks the same things before
//! recording: the item exists (a mark on a missing id would train the model
//! on nothing and say "recorded"), and an email link counts once however
//! often it is opened or replayed.

use agg_core::{Item, Store};
use agg_digest::token::{Action, Token};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// What the reader thinks of an item, and where they said it: the store's
/// closed sets, named for this module's callers.
pub use agg_core::{FeedbackKind as Kind, FeedbackVia as Via};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Unknown(#[from] crate::items::UnknownItems),
    #[error(transparent)]
    Saga(#[from] crate::sagas::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::items::Error> for Error {
    fn from(e: crate::items::Error) -> Self {
        match e {
            crate::items::Error::Unknown(u) => Error::Unknown(u),
            crate::items::Error::Store(e) => Error::Store(e),
        }
    }
}

/// Records `kind` for every item of `ids` and returns the items, in the
/// order of `ids`. Nothing is recorded unless every id exists: a typo in
/// the third id must not leave the first two half-applied.
pub async fn record(
    store: &dyn Store,
    ids: &[i64],
    kind: Kind,
    via: Via,
) -> Result<Vec<Item>, Error> {
    let items = crate::items::all_stored(store, ids).await?;
    for id in ids {
        store
            .add_feedback(*id, kind, via)
            .await
            .map_err(StoreError)?;
    }
    Ok(items)
}

/// What an email link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Recorded,
    /// The link was used before: nothing changed.
    AlreadyRecorded,
}

/// Applies a verified email-link token once. `raw` is the token as it came
/// in the URL: a digest of it marks the link used. The saga engine lease
/// also serialises the "used already?" check, so two clicks racing apply
/// once.
pub async fn apply_link(store: &dyn Store, raw: &str, t: &Token) -> Result<Link, Error> {
    let used_key = format!(
        "token-used:{}",
        hex::encode(&Sha256::digest(raw.as_bytes())[..16])
    );
    crate::sagas::locked(store, async {
        if store
            .load_state(&used_key)
            .await
            .map_err(StoreError)?
            .is_some()
        {
            return Ok(Link::AlreadyRecorded);
        }
        match t.action {
            Action::Like => store.add_feedback(t.target, Kind::Like, Via::Email).await,
            Action::Dislike => {
                store
                    .add_feedback(t.target, Kind::Dislike, Via::Email)
                    .await
            }
            Action::Follow | Action::Mute => {
                crate::sagas::change_held(store, &[t.target as u64], |engine| {
                    let id = agg_saga::SagaId(t.target as u64);
                    let id = engine.resolve(id).unwrap_or(id);
                    if t.action == Action::Follow {
                        engine.follow(id, true)?;
                    } else {
                        engine.mute(id, true)?;
                    }
                    Ok(())
                })
                .await?;
                Ok(())
            }
            Action::Unsubscribe => Ok(()),
        }
        .map_err(StoreError)?;
        store
            .save_state(&used_key, &agg_core::clock::current().to_rfc3339())
            .await
            .map_err(StoreError)?;
        Ok(Link::Recorded)
    })
    .await
}
