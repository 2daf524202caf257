//! agg's use cases, written once for both front ends.
//!
//! The CLI (`src/`) and the HTTP server (`agg-server`) offer the same
//! things — running a pipeline, search, a digest and its preview, saga
//! controls, feedback, subscribing — and each used to write them itself, so the two
//! drifted apart (different search limits and keyword rules, a digest
//! preview built by hand, the saga lease taken in several places with
//! slightly different care, retention applied after `agg run` but never by
//! `agg serve`). Here each use case is one function with a typed result and
//! a typed error; the front ends parse their input, call it, and print or
//! render what comes back. This crate never depends on `agg-server`, and
//! knows nothing of HTTP or of terminals.

pub mod digest;
pub mod feedback;
pub mod items;
pub mod replay;
pub mod retention;
pub mod run;
pub mod sagas;
pub mod search;
pub mod subscriptions;

pub use run::run;

/// The store failed under a use case: the database, not the request, is
/// at fault (a front end answers "server error", not "bad request").
///
/// The whole chain of causes is kept in the message, as `anyhow` prints
/// it with `{:#}`, because that is what a person needs to act on it.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct StoreError(pub anyhow::Error);

impl From<anyhow::Error> for StoreError {
    fn from(e: anyhow::Error) -> Self {
        StoreError(e)
    }
}
