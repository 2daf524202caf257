//! The evaluation behind `agg eval interests`.
//!
//! Protocol (issue 4, item 6): rows `{id, title, text, label}`; for each seed,
//! shuffle; the first half is the feedback pool, the second half the test
//! set; with budget k the simulated user labels the first k pool items (like
//! iff `label == like_label`, else dislike); the model starts from the
//! interest text and trains on those k; ROC AUC on the test set. Reported per
//! budget: mean and spread over seeds.
//!
//! Every row is embedded once (the expensive part), then all seeds and budgets
//! reuse the vectors. Seed `s` is the integer `s` fed to a SplitMix64
//! generator and a Fisher–Yates shuffle, so runs are reproducible anywhere.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::embed::{Embedder, item_text};
use crate::error::{Result, ScoreError};
use crate::interest::{
    Feedback, InterestModel, Interests, ItemFeatures, LabelledExample, TrainOptions,
};

/// One evaluation row. `label` may be a JSON string or number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalRow {
    /// Row id.
    pub id: String,
    /// Headline.
    pub title: String,
    /// Lead / body.
    #[serde(default)]
    pub text: String,
    /// Class label.
    pub label: String,
}

/// Reads JSONL rows (`{id, title, text, label}`); blank lines are skipped;
/// errors name the line.
pub fn read_jsonl(path: &Path) -> Result<Vec<EvalRow>> {
    let data = std::fs::read_to_string(path)
        .map_err(|e| ScoreError::io(format!("read {}", path.display()), e))?;
    let mut rows = Vec::new();
    for (n, line) in data.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| ScoreError::Invalid(format!("{}:{}: {e}", path.display(), n + 1)))?;
        let field = |k: &str| -> Option<String> {
            match v.get(k)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            }
        };
        let (Some(title), Some(label)) = (field("title"), field("label")) else {
            return Err(ScoreError::Invalid(format!(
                "{}:{}: a row needs `title` and `label`",
                path.display(),
                n + 1
            )));
        };
        rows.push(EvalRow {
            id: field("id").unwrap_or_else(|| format!("row-{}", n + 1)),
            title,
            text: field("text").unwrap_or_default(),
            label,
        });
    }
    Ok(rows)
}

/// What to evaluate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Rows whose label equals this are "liked".
    pub like_label: String,
    /// The interest text(s) the model starts from.
    pub interests: Interests,
    /// Label budgets, e.g. `[0, 20, 100]`.
    pub budgets: Vec<usize>,
    /// Number of seeds (0..seeds).
    pub seeds: u64,
    /// Training options.
    #[serde(default)]
    pub train: TrainOptions,
}

/// Result for one budget: what `agg eval interests` prints as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetResult {
    /// The like label.
    pub like_label: String,
    /// The interest phrase(s) the model started from (joined with " | ").
    pub interest: String,
    /// Labels given to the model (k, or the pool size if smaller).
    pub budget: usize,
    /// Mean ROC AUC over seeds.
    pub auc_mean: f64,
    /// Standard deviation of the AUC over seeds (population).
    pub auc_std: f64,
    /// Lowest AUC over seeds.
    pub auc_min: f64,
    /// Highest AUC over seeds.
    pub auc_max: f64,
    /// Per-seed AUCs, seed 0 first.
    pub aucs: Vec<f64>,
    /// Number of seeds.
    pub seeds: u64,
    /// Pool size.
    pub n_pool: usize,
    /// Test size.
    pub n_test: usize,
}

/// Embeds all rows with `embedder` (title + lead, as for stored items) and runs
/// [`evaluate_embedded`].
pub fn evaluate(
    embedder: &dyn Embedder,
    rows: &[EvalRow],
    cfg: &EvalConfig,
) -> Result<Vec<BudgetResult>> {
    evaluate_with_progress(embedder, rows, cfg, &mut |_, _| {})
}

/// [`evaluate`] with a progress callback `(rows embedded, total)`, called after
/// each chunk of 512 rows, for a progress bar: embedding a few thousand rows
/// takes a minute or more on a small CPU.
pub fn evaluate_with_progress(
    embedder: &dyn Embedder,
    rows: &[EvalRow],
    cfg: &EvalConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<BudgetResult>> {
    let texts: Vec<String> = rows.iter().map(|r| item_text(&r.title, &r.text)).collect();
    let mut vecs = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(512) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vecs.extend(embedder.embed(&refs)?);
        progress(vecs.len(), texts.len());
    }
    let model = InterestModel::cold_start(embedder, &cfg.interests)?;
    evaluate_embedded(&model, rows, &vecs, cfg)
}

/// The protocol on already-embedded rows, from a given cold-start model.
pub fn evaluate_embedded(
    cold: &InterestModel,
    rows: &[EvalRow],
    vecs: &[Vec<f32>],
    cfg: &EvalConfig,
) -> Result<Vec<BudgetResult>> {
    if rows.len() != vecs.len() {
        return Err(ScoreError::Invalid("one embedding per row needed".into()));
    }
    if rows.len() < 4 {
        return Err(ScoreError::Invalid(format!(
            "need at least 4 rows to split into pool and test, got {}",
            rows.len()
        )));
    }
    if cfg.seeds == 0 {
        return Err(ScoreError::Invalid("seeds must be at least 1".into()));
    }
    let n_pool = rows.len() / 2;
    let n_test = rows.len() - n_pool;
    let mut per_budget: Vec<Vec<f64>> = vec![Vec::new(); cfg.budgets.len()];
    for seed in 0..cfg.seeds {
        let order = shuffled(rows.len(), seed);
        let (pool, test) = order.split_at(n_pool);
        let test_labels: Vec<bool> = test
            .iter()
            .map(|&i| rows[i].label == cfg.like_label)
            .collect();
        for (bi, &k) in cfg.budgets.iter().enumerate() {
            let k = k.min(n_pool);
            let examples: Vec<LabelledExample> = pool[..k]
                .iter()
                .map(|&i| LabelledExample {
                    item_id: rows[i].id.clone(),
                    title: rows[i].title.clone(),
                    embedding: vecs[i].clone(),
                    feedback: if rows[i].label == cfg.like_label {
                        Feedback::Like
                    } else {
                        Feedback::Dislike
                    },
                    source: None,
                    saga_followed: false,
                    age_days: None,
                })
                .collect();
            let model = if k == 0 {
                cold.clone()
            } else {
                cold.train(&examples, &cfg.train)?
            };
            let scores: Vec<f64> = test
                .iter()
                .map(|&i| f64::from(model.score_value(&ItemFeatures::new(&vecs[i]))))
                .collect();
            let auc = roc_auc(&scores, &test_labels).ok_or_else(|| {
                ScoreError::Invalid(format!(
                    "the test half has no {} rows with label `{}`; AUC is undefined",
                    if test_labels.iter().any(|&b| b) {
                        "other"
                    } else {
                        ""
                    },
                    cfg.like_label
                ))
            })?;
            per_budget[bi].push(auc);
        }
    }
    Ok(cfg
        .budgets
        .iter()
        .zip(per_budget)
        .map(|(&k, aucs)| {
            let n = aucs.len() as f64;
            let mean = aucs.iter().sum::<f64>() / n;
            let var = aucs.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n;
            BudgetResult {
                like_label: cfg.like_label.clone(),
                interest: cfg.interests.like.join(" | "),
                budget: k.min(n_pool),
                auc_mean: mean,
                auc_std: var.sqrt(),
                auc_min: aucs.iter().copied().fold(f64::INFINITY, f64::min),
                auc_max: aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                aucs,
                seeds: cfg.seeds,
                n_pool,
                n_test,
            }
        })
        .collect())
}

/// ROC AUC by the rank-sum (Mann–Whitney) formula, ties counted as half.
/// `None` if either class is absent.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        // ranks i+1 ..= j+1 share their average
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if positive[k] {
                rank_sum_pos += avg;
            }
        }
        i = j + 1;
    }
    let np = n_pos as f64;
    Some((rank_sum_pos - np * (np + 1.0) / 2.0) / (np * n_neg as f64))
}

/// A permutation of `0..n` determined by `seed` (SplitMix64 + Fisher–Yates).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_basics() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.5, 0.6], &[true, true]), None);
    }

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let a = shuffled(100, 3);
        assert_eq!(a, shuffled(100, 3));
        assert_ne!(a, shuffled(100, 4));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
    }
}
