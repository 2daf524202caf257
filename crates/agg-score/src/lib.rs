//! agg-score: the interest classifier of `agg`.
//!
//! * [`embed`]: the [`Embedder`] trait and [`OrtEmbedder`], all-MiniLM-L6-v2 run
//!   by ONNX Runtime (CPU, CUDA or the WebGPU plugin), mean-pooled and
//!   L2-normalised; files from `scripts/setup-model.sh`.
//! * [`interest`]: [`InterestModel`]: cold start from interest phrases,
//!   training on feedback, scores with plain-language [`Reason`]s; versioned
//!   and serialisable so the store can keep every revision.
//! * [`eval`]: the `agg eval interests` protocol and ROC AUC.
//! * [`search`]: ranking for `agg search`.
//! * [`cache`]: an embedding cache for repeated texts.
//! * [`runtime`]: which ONNX Runtime build to load; the NVIDIA driver probe
//!   and the CUDA libraries from `scripts/setup-model.sh --gpu cuda`.
//!
//! Typical use (the score agent):
//!
//! ```no_run
//! use agg_score::{EmbedConfig, Embedder, InterestModel, Interests, ItemFeatures, OrtEmbedder};
//! # fn main() -> agg_score::Result<()> {
//! let embedder = OrtEmbedder::new(EmbedConfig::default())?; // device: auto
//! let interests = Interests { like: vec!["formula 1".into()], dislike: vec!["celebrity gossip".into()] };
//! let model = InterestModel::cold_start(&embedder, &interests)?;
//! let text = agg_score::item_text("Verstappen wins in Suzuka", "The Dutch driver ...");
//! let v = embedder.embed(&[text.as_str()])?.remove(0);
//! let scored = model.score(&ItemFeatures::new(&v))?;
//! println!("{:.2} because {}", scored.score, scored.explain());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod cache;
pub mod embed;
pub mod error;
pub mod eval;
pub mod interest;
mod optim;
mod pooled_head;
pub mod runtime;
pub mod search;

pub use cache::CachingEmbedder;
pub use embed::{
    Device, EmbedConfig, Embedder, ModelFiles, OrtEmbedder, cosine, default_model_dir, item_text,
};
pub use error::{Result, ScoreError};
pub use eval::{
    BudgetResult, EvalConfig, EvalRow, evaluate, evaluate_embedded, evaluate_with_progress,
    read_jsonl, roc_auc,
};
pub use interest::{
    Feedback, InterestModel, Interests, ItemFeatures, LabelCounts, LabelledExample, Phrase, Reason,
    Scored, TrainOptions,
};
