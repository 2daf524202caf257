//! agg-store: the [`agg_core::Store`] over real databases.
//!
//! SQLite (embedded, one file, WAL) is the default. The backend is chosen by
//! URL so that a PostgreSQL implementation can slot in beside it and pass the
//! same test suite (`tests/store.rs` is written against the trait).

mod history;
mod ledger;
mod packed;
mod postgres;
mod rows;
mod runs;
mod search;
mod shared;
mod sqlite;
mod state;
mod subs;
mod vpages;

use std::path::PathBuf;
use std::sync::Arc;

use agg_core::Store;
pub use postgres::{PgStore, redact};
pub use sqlite::SqliteStore;

/// Where the store lives when neither `--db` nor `AGG_DB` nor the pipeline
/// says: `$XDG_DATA_HOME/agg/agg.db` (usually `~/.local/share/agg/agg.db`).
pub fn default_db_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("agg")
        .join("agg.db")
}

/// Opens the store named by `target`: a `postgres://` URL, a `sqlite://` URL
/// or a plain file path.
/// Creates the file and applies migrations as needed.
pub async fn open(target: &str) -> anyhow::Result<Arc<dyn Store>> {
    if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::open(target).await?));
    }
    let path = target.strip_prefix("sqlite://").unwrap_or(target);
    Ok(Arc::new(SqliteStore::open(path).await?))
}
