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

pub async fn feedback(store: &dyn Store, kind: &str, ids: &[i64]) -> anyhow::Result<ExitCode> {
    let found = store.get_items(ids).await?;
    for id in ids {
        let Some(item) = found.iter().find(|i| i.id == Some(*id)) else {
            anyhow::bail!("no item with id {id} (see `agg items`)");
        };
        store.add_feedback(*id, kind, "cli").await?;
        println!("{kind}: {id} {}", item.title);
    }
    println!("the next run of a pipeline with a `score` agent retrains the model");
    Ok(ExitCode::SUCCESS)
}

pub async fn search(
    store: &dyn Store,
    query: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
    limit: usize,
    model: &ModelArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let m = model.clone();
    let q = query.to_string();
    let (embedder, qv) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let e = m.embedder()?;
        let v = e.embed(&[q.as_str()])?.remove(0);
        Ok((e, v))
    })
    .await??;
    // One read of the items in range serves both rankings and the output.
    let items = store
        .list_items(&agg_core::ItemQuery {
            since,
            ..Default::default()
        })
        .await?;
    let by_id: std::collections::HashMap<i64, &agg_core::Item> =
        items.iter().filter_map(|i| Some((i.id?, i))).collect();
    let vectors = store.all_embeddings(embedder.model_id()).await?;
    let embedded: std::collections::HashSet<i64> = vectors.iter().map(|(id, _)| *id).collect();
    let candidates = vectors.iter().filter_map(|(id, v)| {
        let item = by_id.get(id)?;
        Some(agg_score::search::Candidate {
            key: *id,
            embedding: v.as_slice(),
            title: &item.title,
            text: &item.text,
        })
    });
    let mut hits = agg_score::search::rank(query, &qv, candidates, limit);
    // Items never embedded (stored by pipelines without `score`) are still
    // found by their words.
    for (id, item) in by_id.iter().filter(|(id, _)| !embedded.contains(id)) {
        let k = agg_score::search::keyword_match(query, &item.title, &item.text);
        if k > 0.0 {
            hits.push(agg_score::search::Hit {
                key: *id,
                score: agg_score::search::KEYWORD_BOOST * k,
                similarity: 0.0,
                keyword_match: k,
            });
        }
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(limit);
    for h in &hits {
        let Some(item) = by_id.get(&h.key) else {
            continue;
        };
        if json {
            println!(
                "{}",
                serde_json::json!({"id": h.key, "score": h.score, "similarity": h.similarity,
                    "keyword_match": h.keyword_match, "title": item.title, "url": item.url,
                    "when": item.when()})
            );
        } else {
            println!(
                "{:>6}  {:.3}  {}  {}",
                h.key,
                h.score,
                item.when().format("%Y-%m-%d"),
                item.title
            );
        }
    }
    if hits.is_empty() && !json {
        println!("nothing matches");
    }
    Ok(ExitCode::SUCCESS)
}
