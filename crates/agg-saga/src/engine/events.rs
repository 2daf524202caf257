//! Changes to sagas, for the store's event log.

use super::SagaId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A change to sagas, for the store's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SagaEvent {
    /// A saga was started by an item.
    Created {
        saga: SagaId,
        item: String,
        at: DateTime<Utc>,
    },
    /// An item joined a saga.
    Joined {
        saga: SagaId,
        item: String,
        score: f32,
        at: DateTime<Utc>,
    },
    /// A dormant saga woke up.
    Revived {
        saga: SagaId,
        item: String,
        at: DateTime<Utc>,
    },
    /// A saga went quiet.
    Dormant { saga: SagaId, at: DateTime<Utc> },
    /// A saga quiet for long left the live engine for the archive.
    Archived { saga: SagaId, at: DateTime<Utc> },
    /// Follow flag changed.
    Followed { saga: SagaId, on: bool },
    /// Mute flag changed.
    Muted { saga: SagaId, on: bool },
    /// Title set by the user.
    Renamed { saga: SagaId, title: String },
    /// Closed by the user.
    Closed { saga: SagaId },
    /// Reopened by the user.
    Reopened { saga: SagaId },
    /// `from` was merged into `into`, by the user or automatically (`auto`:
    /// two fragments of one story joined by a bridging item).
    Merged {
        into: SagaId,
        from: SagaId,
        auto: bool,
        /// The items that moved (a split of these undoes the merge).
        #[serde(default)]
        items: Vec<String>,
        /// Centroid cosine of the two sagas.
        #[serde(default)]
        evidence: f32,
    },
    /// `items` were split out of `from` into the new saga `into`.
    Split {
        from: SagaId,
        into: SagaId,
        items: Vec<String>,
    },
}
