//! Sagas: ongoing news stories followed across outlets and weeks.
//!
//! The [`SagaEngine`] assigns items online, in time order, to the best
//! matching saga or starts a new one; it keeps each saga's lifecycle
//! (active → dormant → revived, closed by the user), title, timeline and
//! outlet counts, and applies the user's controls (follow, mute, rename,
//! merge, split, close), which later assignment respects. Its whole state is
//! serde-serialisable so a store can persist it between runs.
//!
//! [`evaluate`] runs the same engine over a labelled JSONL stream (the
//! `agg eval sagas` command) and [`metrics::score`] computes BCubed, pairwise,
//! ARI and NMI exactly as the reference scorer does.
//!
//! ```
//! use agg_saga::{SagaEngine, SagaItem};
//! use chrono::{TimeZone, Utc};
//!
//! let now = Utc.with_ymd_and_hms(2015, 9, 22, 12, 0, 0).unwrap();
//! let mut engine = SagaEngine::default(); // or SagaEngine::from_json(&saved)?
//! let item = |id: &str, title: &str| SagaItem {
//!     id: id.into(),
//!     time: Some(now),
//!     title: title.into(),
//!     source: Some("Example Times".into()),
//!     ..Default::default()
//! };
//! let a = engine.assign(&item("1", "Volkswagen admits diesel emissions cheating"), now);
//! let b = engine.assign(&item("2", "Volkswagen diesel emissions scandal widens"), now);
//! assert_eq!(a.saga, b.saga);
//! engine.follow(a.saga, true).unwrap();
//! let saga = engine.saga(a.saga).unwrap();
//! assert_eq!(saga.item_count(), 2);
//! let events = engine.take_events(); // Created, Joined, Followed: for the store's log
//! assert_eq!(events.len(), 3);
//! let saved = engine.to_json().unwrap(); // persist; SagaEngine::from_json to resume
//! # let _ = saved;
//! ```
//!
//! Why lexical features first: embeddings are optional (the score stage may
//! not have run, or may have no model), so the engine must stand on its own
//! with TF-IDF over words, bigrams and entity-like spans; an embedding, when
//! given, is mixed in as one more piece of evidence.

pub mod engine;
pub mod eval;
pub mod listing;
pub mod metrics;
pub mod text;
pub mod vector;

pub use engine::{
    ArchivedSaga, Assignment, ItemRow, Member, MergeRecord, Needs, Origin, PostingRow, Saga,
    SagaConfig, SagaEngine, SagaError, SagaEvent, SagaId, SagaItem, SagaStatus, SagaSummary,
    StateParts, date_range,
};
pub use eval::{
    EvalError, EvalOutput, EvalRow, attach_embeddings, evaluate, evaluate_in_runs, read_rows,
    write_tsv,
};
pub use listing::{ListGroup, SagaListing};
pub use metrics::Metrics;
pub use vector::TermRow;
