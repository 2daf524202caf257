//! Development runner for the interest evaluation (what `agg eval interests`
//! does), with an embedding cache so that re-runs skip the slow part.
//!
//! ```text
//! cargo run -p agg-score --release --example eval_interests -- \
//!     --input ../shared/data/interests/agnews-dev.jsonl --agnews --labels 0,20,100 --seeds 5
//! cargo run -p agg-score --release --example eval_interests -- \
//!     --input FILE --like-label Sports --interest sports --labels 0,20,100 --seeds 5
//! ```
//!
//! `--agnews` runs the four AG News classes with the interest texts of the
//! issue. `--tune` runs the protocol inside the pool half only (labels from
//! the start of the pool, AUC on the rest of the pool), which is what the
//! default training options were chosen with: the test half is never looked at.
//! `--l2 X`, `--l2-alpha Y`, `--l2-features Z` override training options;
//! `--max-tokens N` the embedder's token cap (to measure what a cap costs);
//! `--model-dir DIR` another model directory (to compare models; give it
//! its own `--cache FILE` or `--no-cache`: a cache file holds one model's
//! vectors, so the default one would be overwritten).

use std::path::PathBuf;
use std::time::Instant;

use agg_score::cache::CachingEmbedder;
use agg_score::embed::{EmbedConfig, Embedder, OrtEmbedder, item_text};
use agg_score::eval::{EvalConfig, EvalRow, evaluate_embedded, read_jsonl, shuffled};
use agg_score::interest::{InterestModel, Interests, TrainOptions};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut input = None;
    let mut like_label = None;
    let mut interests: Vec<String> = Vec::new();
    let mut budgets = vec![0usize, 20, 100];
    let mut seeds = 5u64;
    let mut agnews = false;
    let mut tune = false;
    let mut cache = Some(PathBuf::from("/tmp/agg-embed-cache.json"));
    let mut opts = TrainOptions::default();
    let mut time_train: Vec<usize> = Vec::new();
    let mut embed_cfg = EmbedConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--input" => input = Some(PathBuf::from(val()?)),
            "--like-label" => like_label = Some(val()?),
            "--interest" => interests.push(val()?),
            "--labels" => {
                budgets = val()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--seeds" => seeds = val()?.parse()?,
            "--cache" => cache = Some(PathBuf::from(val()?)),
            "--no-cache" => cache = None,
            "--max-tokens" => embed_cfg.max_tokens = val()?.parse()?,
            "--model-dir" => embed_cfg.model_dir = Some(PathBuf::from(val()?)),
            "--agnews" => agnews = true,
            "--tune" => tune = true,
            "--time-train" => {
                time_train = val()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--l2" => opts.l2_embedding = val()?.parse()?,
            "--l2-alpha" => opts.l2_alpha = val()?.parse()?,
            "--l2-features" => opts.l2_features = val()?.parse()?,
            "--knn-k" => opts.knn_k = val()?.parse()?,
            "--knn-weight" => opts.knn_weight = val()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let input = input.ok_or("--input FILE is required")?;
    let rows = read_jsonl(&input)?;

    let t0 = Instant::now();
    let embedder = CachingEmbedder::new(OrtEmbedder::new(embed_cfg)?);
    if let Some(c) = &cache {
        embedder.load(c)?;
    }
    let texts: Vec<String> = rows.iter().map(|r| item_text(&r.title, &r.text)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vecs = embedder.embed(&refs)?;
    if let Some(c) = &cache
        && embedder.misses() > 0
    {
        embedder.save(c)?;
    }
    eprintln!(
        "embedded {} rows ({} new) in {:.1}s",
        rows.len(),
        embedder.misses(),
        t0.elapsed().as_secs_f64()
    );

    let tasks: Vec<(String, String)> = if agnews {
        vec![
            ("World".into(), "world politics".into()),
            ("Sports".into(), "sports".into()),
            ("Business".into(), "business and markets".into()),
            ("Sci/Tech".into(), "science and technology".into()),
        ]
    } else {
        let l = like_label.ok_or("--like-label LABEL (or --agnews) is required")?;
        if interests.is_empty() {
            return Err("--interest TEXT is required".into());
        }
        vec![(l, interests.join(" | "))]
    };

    let mut means: Vec<Vec<f64>> = vec![Vec::new(); budgets.len()];
    for (label, interest) in &tasks {
        let phrases: Vec<String> = interest.split(" | ").map(str::to_string).collect();
        let cold = InterestModel::cold_start(
            &embedder,
            &Interests {
                like: phrases.clone(),
                dislike: vec![],
            },
        )?;
        let cfg = EvalConfig {
            like_label: label.clone(),
            interests: Interests {
                like: phrases,
                dislike: vec![],
            },
            budgets: budgets.clone(),
            seeds,
            train: opts.clone(),
        };
        let t = Instant::now();
        let results = if tune {
            tune_on_pool(&cold, &rows, &vecs, &cfg)?
        } else {
            evaluate_embedded(&cold, &rows, &vecs, &cfg)?
        };
        let secs = t.elapsed().as_secs_f64();
        for (i, r) in results.iter().enumerate() {
            means[i].push(r.auc_mean);
            println!("{}", serde_json::to_string(r)?);
        }
        eprintln!(
            "{label}: {secs:.2}s for {} seeds x {} budgets",
            seeds,
            budgets.len()
        );
    }
    // Training time for n labels (like/dislike from the first task's label),
    // plus the time to score every row with the trained model.
    for &n in &time_train {
        let (label, interest) = &tasks[0];
        let cold = InterestModel::cold_start(
            &embedder,
            &Interests {
                like: vec![interest.clone()],
                dislike: vec![],
            },
        )?;
        let examples: Vec<agg_score::LabelledExample> = rows
            .iter()
            .zip(&vecs)
            .cycle()
            .take(n)
            .enumerate()
            .map(|(i, (r, v))| agg_score::LabelledExample {
                item_id: format!("{}-{i}", r.id),
                title: r.title.clone(),
                embedding: v.clone(),
                feedback: if &r.label == label {
                    agg_score::Feedback::Like
                } else if i % 5 == 0 {
                    agg_score::Feedback::Click
                } else {
                    agg_score::Feedback::Dislike
                },
                source: Some(format!("source-{}", i % 7)),
                saga_followed: i % 11 == 0,
                age_days: Some((i % 30) as f32),
            })
            .collect();
        let t = Instant::now();
        let trained = cold.train(&examples, &opts)?;
        let train_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let mut sum = 0.0f32;
        for v in &vecs {
            sum += trained.score(&agg_score::ItemFeatures::new(v))?.score;
        }
        let score_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{}",
            serde_json::json!({"train_labels": n, "train_ms": train_ms,
                "scored_with_reasons": vecs.len(), "score_ms": score_ms, "checksum": sum})
        );
    }
    if tasks.len() > 1 {
        for (k, m) in budgets.iter().zip(&means) {
            let avg = m.iter().sum::<f64>() / m.len() as f64;
            println!(
                "{}",
                serde_json::json!({"budget": k, "auc_mean_over_labels": avg, "mode": if tune {"pool-validation"} else {"test"}})
            );
        }
    }
    Ok(())
}

/// The protocol restricted to each seed's pool half: the pool's first half
/// feeds labels, its second half is the validation set. The test half of
/// every seed is never touched, so options chosen here are not tuned on test.
fn tune_on_pool(
    cold: &InterestModel,
    rows: &[EvalRow],
    vecs: &[Vec<f32>],
    cfg: &EvalConfig,
) -> Result<Vec<agg_score::eval::BudgetResult>, Box<dyn std::error::Error>> {
    let n_pool = rows.len() / 2;
    let mut all: Vec<agg_score::eval::BudgetResult> = Vec::new();
    for seed in 0..cfg.seeds {
        let order = shuffled(rows.len(), seed);
        let pool = &order[..n_pool];
        let sub_rows: Vec<EvalRow> = pool.iter().map(|&i| rows[i].clone()).collect();
        let sub_vecs: Vec<Vec<f32>> = pool.iter().map(|&i| vecs[i].clone()).collect();
        // One inner seed per outer seed: a different pool each time.
        let inner = EvalConfig {
            seeds: 1,
            ..cfg.clone()
        };
        let r = evaluate_embedded(cold, &sub_rows, &sub_vecs, &inner)?;
        if all.is_empty() {
            all = r;
        } else {
            for (a, b) in all.iter_mut().zip(r) {
                a.aucs.extend(b.aucs);
            }
        }
    }
    for a in &mut all {
        let n = a.aucs.len() as f64;
        a.auc_mean = a.aucs.iter().sum::<f64>() / n;
        a.auc_std = (a.aucs.iter().map(|x| (x - a.auc_mean).powi(2)).sum::<f64>() / n).sqrt();
        a.auc_min = a.aucs.iter().copied().fold(f64::INFINITY, f64::min);
        a.auc_max = a.aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        a.seeds = cfg.seeds;
    }
    Ok(all)
}
