//! agg-core: the engine of agg.
//!
//! It owns the data model ([`Item`]), the [`Agent`] trait and the table agent
//! kinds register in, the pipeline file (parsing, `use:`, `${ENV}`,
//! validation with located diagnostics), the DAG, the executor, and the
//! [`Store`] interface. It names no agent kind and no database.

pub mod agent;
pub mod clock;
pub mod dag;
pub mod diag;
pub mod exec;
pub mod fsutil;
pub mod item;
pub mod pipeline;
pub mod secrets;
pub mod store;
pub mod yaml;

pub use agent::{
    Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Registry, Role, RunCtx, typed_options,
};
pub use diag::{Diagnostic, Severity, SourceMap};
pub use item::{Enclosure, Item, SagaRef};
pub use pipeline::{AgentDecl, Loaded, Pipeline};
pub use store::{
    AgentOutcome, AgentStatus, ArchivedSagaRow, CodePage, DigestRecord, DigestStatus, FeedState,
    FeedbackKind, FeedbackRow, FeedbackVia, ItemMark, ItemQuery, ItemState, RunId, RunRecord,
    RunStatus, SagaListRow, SagaStateParts, ScoreRow, Store, TextQuery, VectorCopies,
};
