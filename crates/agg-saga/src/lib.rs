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
//! Why lexical features first: embeddings are optional (the score stage may
//! not have run, or may have no model), so the engine must stand on its own
//! with TF-IDF over words, bigrams and entity-like spans; an embedding, when
//! given, is mixed in as one more piece of evidence.

pub mod engine;
pub mod eval;
pub mod metrics;
pub mod text;
pub mod vector;

pub use engine::{
    Assignment, Member, Saga, SagaConfig, SagaEngine, SagaError, SagaEvent, SagaId, SagaItem,
    SagaStatus,
};
pub use eval::{EvalError, EvalOutput, EvalRow, attach_embeddings, evaluate, read_rows, write_tsv};
pub use metrics::Metrics;
