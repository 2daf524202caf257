//! One error type for the crate.
//!
//! Every failure a user can cause (missing files, a corrupt model, the wrong
//! ONNX Runtime, a GPU that is not there) becomes a [`ScoreError`] with a
//! message that says what to do, instead of a panic deep inside a run.

use std::path::PathBuf;

/// Errors from embedding, scoring, training and evaluation.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// One or more model files are absent. The message names the setup script,
    /// because that is the only supported way to get them.
    #[error(
        "embedding model files missing in {dir}: {missing}. Run `bash scripts/setup-model.sh {dir}` \
         (or set AGG_MODEL_DIR / ORT_DYLIB_PATH to where they are)",
        dir = dir.display(),
        missing = missing.join(", ")
    )]
    MissingFiles {
        /// The directory that was searched.
        dir: PathBuf,
        /// File names (or full paths for overrides) that were not found.
        missing: Vec<String>,
    },

    /// The ONNX Runtime shared library could not be loaded or has the wrong version.
    #[error(
        "cannot load ONNX Runtime from {path}: {reason}. agg needs ONNX Runtime 1.24 or newer \
         (scripts/setup-model.sh installs 1.32.0); check ORT_DYLIB_PATH",
        path = path.display()
    )]
    Runtime {
        /// The library path that was tried.
        path: PathBuf,
        /// What ONNX Runtime or the loader said.
        reason: String,
    },

    /// The model file exists but ONNX Runtime refused it (truncated, not ONNX,
    /// or not a sentence-embedding model with the expected inputs/outputs).
    #[error(
        "cannot use embedding model {path}: {reason}. Re-run `bash scripts/setup-model.sh` to restore it",
        path = path.display()
    )]
    Model {
        /// The model path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The tokenizer file exists but could not be parsed.
    #[error("cannot load tokenizer {path}: {reason}", path = path.display())]
    Tokenizer {
        /// The tokenizer path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// An explicitly requested execution provider is not available. agg never
    /// silently falls back to the CPU when a GPU was asked for.
    #[error("device `{device}` requested but not available: {reason}")]
    DeviceUnavailable {
        /// The requested device (`cuda`, `webgpu`).
        device: String,
        /// Why it is not available and what to do about it.
        reason: String,
    },

    /// Running the model failed on a batch.
    #[error("embedding failed: {0}")]
    Inference(String),

    /// Input that does not fit the API (mismatched dimensions, bad options).
    #[error("invalid input: {0}")]
    Invalid(String),

    /// A serialised interest model could not be read.
    #[error("cannot read interest model: {0}")]
    Format(String),

    /// Reading an evaluation file or a cache failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = ScoreError> = std::result::Result<T, E>;

impl ScoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ScoreError::Io {
            context: context.into(),
            source,
        }
    }
}
