//! Clustering quality metrics, computed exactly as the reference scorer
//! (`shared/data/score_clusters.py`) does: BCubed (item-averaged), pairwise
//! pair counting, adjusted Rand index, and NMI with the arithmetic-mean
//! normaliser (scikit-learn's default).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

/// Scores of a predicted clustering against gold labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of items scored.
    pub n: usize,
    /// Number of gold stories.
    pub gold_clusters: usize,
    /// Number of predicted clusters.
    pub pred_clusters: usize,
    /// BCubed precision.
    pub bcubed_p: f64,
    /// BCubed recall.
    pub bcubed_r: f64,
    /// BCubed F1.
    pub bcubed_f1: f64,
    /// Pairwise precision.
    pub pair_p: f64,
    /// Pairwise recall.
    pub pair_r: f64,
    /// Pairwise F1.
    pub pair_f1: f64,
    /// Adjusted Rand index.
    pub ari: f64,
    /// Normalised mutual information (arithmetic mean of the entropies).
    pub nmi: f64,
}

fn c2(x: u64) -> f64 {
    (x as f64) * (x as f64 - 1.0) / 2.0
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// Score `pairs` of (gold label, predicted label), one per item.
pub fn score<G: Eq + Hash, P: Eq + Hash>(pairs: &[(G, P)]) -> Metrics {
    let n = pairs.len();
    let mut cell: HashMap<(&G, &P), u64> = HashMap::new();
    let mut gsz: HashMap<&G, u64> = HashMap::new();
    let mut psz: HashMap<&P, u64> = HashMap::new();
    for (g, p) in pairs {
        *cell.entry((g, p)).or_insert(0) += 1;
        *gsz.entry(g).or_insert(0) += 1;
        *psz.entry(p).or_insert(0) += 1;
    }
    let nf = n as f64;
    let (mut bp, mut br) = (0.0, 0.0);
    for ((g, p), &c) in &cell {
        let c = c as f64;
        bp += c * c / psz[p] as f64;
        br += c * c / gsz[g] as f64;
    }
    if n > 0 {
        bp /= nf;
        br /= nf;
    }
    let tp: f64 = cell.values().map(|&v| c2(v)).sum();
    let tpfp: f64 = psz.values().map(|&v| c2(v)).sum();
    let tpfn: f64 = gsz.values().map(|&v| c2(v)).sum();
    let pp = if tpfp > 0.0 { tp / tpfp } else { 0.0 };
    let pr = if tpfn > 0.0 { tp / tpfn } else { 0.0 };

    // ARI (Hubert & Arabie), with scikit-learn's conventions for the
    // degenerate cases (a perfect or trivial match scores 1).
    let total = c2(n as u64);
    let expected = if total > 0.0 {
        tpfp * tpfn / total
    } else {
        0.0
    };
    let max_index = (tpfp + tpfn) / 2.0;
    let ari = if (max_index - expected).abs() < 1e-12 {
        1.0
    } else {
        (tp - expected) / (max_index - expected)
    };

    // NMI with natural logs; 1 when both sides have a single cluster.
    let nmi = if n == 0 || (gsz.len() == 1 && psz.len() == 1) {
        1.0
    } else {
        let h = |m: &dyn Fn() -> Vec<u64>| -> f64 {
            m().iter()
                .map(|&c| {
                    let p = c as f64 / nf;
                    -p * p.ln()
                })
                .sum()
        };
        let hg = h(&|| gsz.values().copied().collect());
        let hp = h(&|| psz.values().copied().collect());
        let mut mi = 0.0;
        for ((g, p), &c) in &cell {
            let c = c as f64;
            mi += c / nf * (nf * c / (gsz[g] as f64 * psz[p] as f64)).ln();
        }
        let norm = (hg + hp) / 2.0;
        if norm <= f64::EPSILON {
            1.0
        } else {
            (mi / norm).clamp(0.0, 1.0)
        }
    };

    Metrics {
        n,
        gold_clusters: gsz.len(),
        pred_clusters: psz.len(),
        bcubed_p: bp,
        bcubed_r: br,
        bcubed_f1: f1(bp, br),
        pair_p: pp,
        pair_r: pr,
        pair_f1: f1(pp, pr),
        ari,
        nmi,
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "n={} gold_stories={} pred_clusters={}",
            self.n, self.gold_clusters, self.pred_clusters
        )?;
        writeln!(
            f,
            "BCubed   P={:.4} R={:.4} F1={:.4}",
            self.bcubed_p, self.bcubed_r, self.bcubed_f1
        )?;
        writeln!(
            f,
            "Pairwise P={:.4} R={:.4} F1={:.4}",
            self.pair_p, self.pair_r, self.pair_f1
        )?;
        write!(f, "NMI={:.4} ARI={:.4}", self.nmi, self.ari)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_clustering_scores_one() {
        let m = score(&[("a", 1), ("a", 1), ("b", 2), ("b", 2)]);
        assert!((m.bcubed_f1 - 1.0).abs() < 1e-12);
        assert!((m.pair_f1 - 1.0).abs() < 1e-12);
        assert!((m.ari - 1.0).abs() < 1e-12);
        assert!((m.nmi - 1.0).abs() < 1e-12);
    }

    #[test]
    fn known_values() {
        // Checked against score_clusters.py / scikit-learn.
        let pairs = [("a", 1), ("a", 1), ("a", 2), ("b", 2), ("b", 2), ("c", 3)];
        let m = score(&pairs);
        assert!((m.bcubed_p - 0.777_777_777_8).abs() < 1e-9, "{m:?}");
        assert!((m.bcubed_r - 0.777_777_777_8).abs() < 1e-9, "{m:?}");
        assert!((m.pair_f1 - 0.5).abs() < 1e-9, "{m:?}");
        assert!((m.ari - 0.318_181_818_2).abs() < 1e-9, "{m:?}");
        assert!((m.nmi - 0.685_331_478_961_586_6).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn singletons_have_zero_pairwise() {
        let m = score(&[("a", 1), ("a", 2)]);
        assert_eq!(m.pair_p, 0.0);
        assert_eq!(m.pair_f1, 0.0);
        assert!((m.bcubed_p - 1.0).abs() < 1e-12);
    }
}
