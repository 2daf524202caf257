//! Commands around the interest classifier: `agg eval interests`,
//! `agg feedback`, `agg search`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use agg_core::Store;
use agg_score::{Device, EmbedConfig, Embedder, Interests, OrtEmbedder};
use clap::Args;

#[derive(Args)]
pub struct EvalInterests {
    /// JSONL rows `{id, title, text, label}`.
    #[arg(long)]
    pub input: PathBuf,
    /// Rows with this label are the ones the simulated reader likes.
    #[arg(long)]
    pub like_label: String,
    /// Interest phrase the model starts from (repeatable).
    #[arg(long = "interest", required = true)]
    pub interests: Vec<String>,
    /// Phrase the reader dislikes (repeatable).
    #[arg(long = "dislike")]
    pub dislikes: Vec<String>,
    /// Label budgets, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,20,100")]
    pub labels: Vec<usize>,
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Where the sentence model is and what runs it.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// auto | cpu | cuda | webgpu
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Folder with model.onnx and tokenizer.json (default: AGG_MODEL_DIR or
    /// the data dir, where scripts/setup-model.sh puts them).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

impl ModelArgs {
    pub fn embedder(&self) -> anyhow::Result<OrtEmbedder> {
        let device: Device = self.device.parse().map_err(|_| {
            anyhow::anyhow!(
                "unknown device `{}`: use auto, cpu, cuda or webgpu",
                self.device
            )
        })?;
        let cfg = EmbedConfig {
            device,
            model_dir: self.model_dir.clone(),
            ..EmbedConfig::default()
        };
        let e = OrtEmbedder::new(cfg)?;
        eprintln!("embedding with {} on {}", e.model_id(), e.provider());
        Ok(e)
    }
}

fn progress(total: usize, what: &str) -> indicatif::ProgressBar {
    if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_message(what.to_string());
        b
    } else {
        indicatif::ProgressBar::hidden()
    }
}

pub fn eval_interests(a: &EvalInterests) -> anyhow::Result<ExitCode> {
    let rows = agg_score::read_jsonl(&a.input)?;
    anyhow::ensure!(!rows.is_empty(), "{} has no rows", a.input.display());
    anyhow::ensure!(
        rows.iter().any(|r| r.label == a.like_label),
        "no row has label `{}`",
        a.like_label
    );
    let embedder = a.model.embedder()?;
    let cfg = agg_score::EvalConfig {
        like_label: a.like_label.clone(),
        interests: Interests {
            like: a.interests.clone(),
            dislike: a.dislikes.clone(),
        },
        budgets: a.labels.clone(),
        seeds: a.seeds,
        train: Default::default(),
    };
    let bar = progress(rows.len(), "embedding");
    let results = agg_score::evaluate_with_progress(&embedder, &rows, &cfg, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    for r in results {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn feedback(
    store: &dyn Store,
    kind: agg_app::feedback::Kind,
    ids: &[i64],
) -> anyhow::Result<ExitCode> {
    let items = agg_app::feedback::record(store, ids, kind, agg_app::feedback::Via::Cli).await?;
    for item in &items {
        println!(
            "{}: {} {}",
            kind.as_str(),
            item.id.unwrap_or_default(),
            item.title
        );
    }
    println!("the next run of a pipeline with a `score` agent retrains the model");
    Ok(ExitCode::SUCCESS)
}

/// `agg search`: the model is loaded as `--device`/`--model-dir` say, and
/// a model that cannot load is an error here (the person asked for this
/// model); the ranking is `agg_app::search`'s, the same as the UI's.
pub async fn search(
    store: &dyn Store,
    req: agg_app::search::Request,
    model: &ModelArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let m = model.clone();
    // Without the model (not installed, runtime missing) search still finds
    // items by their words, and says so: a missing model degrades search,
    // it does not break it (the same rule as /ui/search).
    let model = match tokio::task::spawn_blocking(move || m.embedder()).await? {
        Ok(e) => agg_app::search::Model::Loaded(std::sync::Arc::new(e)),
        Err(e) => agg_app::search::Model::Unavailable(format!("{e:#}")),
    };
    let results = agg_app::search::search(store, &req, model).await?;
    if let agg_app::search::Ranking::Words { why } = &results.ranking {
        eprintln!("keyword matches only: the sentence model is not available ({why})");
    }
    for h in &results.hits {
        let item = &h.item;
        if json {
            println!(
                "{}",
                serde_json::json!({"id": item.id, "score": h.score,
                    "similarity": h.similarity.unwrap_or(0.0),
                    "keyword_match": h.keyword_match, "title": item.title, "url": item.url,
                    "when": item.when()})
            );
        } else {
            println!(
                "{:>6}  {:.3}  {}  {}",
                item.id.unwrap_or_default(),
                h.score,
                item.when().format("%Y-%m-%d"),
                item.title
            );
        }
    }
    if results.hits.is_empty() && !json {
        println!("nothing matches");
    }
    Ok(ExitCode::SUCCESS)
}
