//! The user's controls on one saga (follow, mute, rename, close, reopen)
//! and their errors.

#[cfg(doc)]
use super::Assignment;
use super::{SagaEngine, SagaEvent, SagaId, SagaStatus, truncate_chars};
use std::fmt;

/// Errors of user controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaError {
    /// No saga has this id.
    UnknownSaga(SagaId),
    /// The saga was merged into another one; act on that one.
    MergedSaga { saga: SagaId, into: SagaId },
    /// A saga cannot be merged with itself.
    SameSaga(SagaId),
    /// The item is not a member of the saga.
    NotMember { saga: SagaId, item: String },
    /// A split needs at least one item and must leave at least one behind.
    BadSplit(String),
}

impl fmt::Display for SagaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SagaError::UnknownSaga(s) => write!(f, "no saga with id {s}"),
            SagaError::MergedSaga { saga, into } => {
                write!(f, "saga {saga} was merged into saga {into}; use {into}")
            }
            SagaError::SameSaga(s) => write!(f, "cannot merge saga {s} with itself"),
            SagaError::NotMember { saga, item } => {
                write!(f, "item {item:?} is not in saga {saga}")
            }
            SagaError::BadSplit(why) => write!(f, "cannot split: {why}"),
        }
    }
}

impl std::error::Error for SagaError {}

impl SagaEngine {
    pub(super) fn live(&self, id: SagaId) -> Result<usize, SagaError> {
        let s = self.saga(id).ok_or(SagaError::UnknownSaga(id))?;
        if let Some(into) = s.merged_into {
            return Err(SagaError::MergedSaga {
                saga: id,
                into: self.resolve(into).unwrap_or(into),
            });
        }
        Ok(id.index())
    }

    /// Follow or unfollow a saga.
    pub fn follow(&mut self, id: SagaId, on: bool) -> Result<(), SagaError> {
        let i = self.live(id)?;
        self.sagas[i].followed = on;
        self.events.push(SagaEvent::Followed { saga: id, on });
        Ok(())
    }

    /// Mute or unmute a saga. Muted sagas still collect their items (so they do
    /// not leak into other sagas); [`Assignment::muted`] tells the digest to
    /// rank them low.
    pub fn mute(&mut self, id: SagaId, on: bool) -> Result<(), SagaError> {
        let i = self.live(id)?;
        self.sagas[i].muted = on;
        self.events.push(SagaEvent::Muted { saga: id, on });
        Ok(())
    }

    /// Set a saga's title; it is never changed automatically afterwards.
    pub fn rename(&mut self, id: SagaId, title: &str) -> Result<(), SagaError> {
        let i = self.live(id)?;
        let title = truncate_chars(title.trim(), 160);
        self.sagas[i].title = title.clone();
        self.sagas[i].title_fixed = true;
        self.events.push(SagaEvent::Renamed { saga: id, title });
        Ok(())
    }

    /// Close a saga: it keeps its items but takes no new ones.
    pub fn close(&mut self, id: SagaId) -> Result<(), SagaError> {
        let i = self.live(id)?;
        let s = &mut self.sagas[i];
        self.active.remove(&(s.last_seen.timestamp(), i as u32));
        s.status = SagaStatus::Closed;
        self.events.push(SagaEvent::Closed { saga: id });
        Ok(())
    }

    /// Reopen a closed saga (it becomes active, or dormant at the next sweep).
    pub fn reopen(&mut self, id: SagaId) -> Result<(), SagaError> {
        let i = self.live(id)?;
        let s = &mut self.sagas[i];
        if s.status == SagaStatus::Closed {
            s.status = SagaStatus::Active;
            self.active.insert((s.last_seen.timestamp(), i as u32));
            self.events.push(SagaEvent::Reopened { saga: id });
        }
        Ok(())
    }
}
