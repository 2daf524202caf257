//! Time-ordered cross-validation of the engine's settings across streams.
//!
//! `cargo run -p agg-saga --release --example cv -- STREAM.jsonl... [--embeddings-dir DIR]`
//!
//! Each stream is cut in two by its stories: the stories that start in the
//! first half of the stream (by date) are the *fit* part, the others the
//! *test* part; each part is evaluated as a stream of its own (the fit part
//! is what a method could have been tuned on, the test part is the future).
//! Every setting of a small grid is scored on the fit parts; the setting
//! whose *worst* fit-part BCubed F1 across streams is best is chosen, and its
//! test-part figures are reported, per stream and worst (ties on the worst
//! case go to the best mean). No setting is
//! chosen for one stream: one configuration for all of them.
//!
//! With `--write-parts DIR`, the fit and test parts are written as
//! `DIR/<stem>.fit.jsonl` and `DIR/<stem>.test.jsonl` (the input lines
//! unchanged), so that other engines can be scored on the same parts, and
//! nothing else is done.
//!
//! With `--embeddings-dir DIR`, `DIR/<stream file stem>.emb.jsonl` (lines
//! `{"id", "embedding"}`, e.g. the cache `agg eval sagas --embeddings-cache`
//! writes) is attached when present, and every stream is evaluated twice,
//! with words only and with embeddings: the worst is over both modes.

use agg_saga::eval::effective_dates;
use agg_saga::{EvalRow, SagaConfig, attach_embeddings, evaluate, read_rows};
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;

fn split(rows: &[EvalRow]) -> (Vec<EvalRow>, Vec<EvalRow>) {
    let dates = effective_dates(rows);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| dates[i]);
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (pos, &i) in order.iter().enumerate() {
        first
            .entry(rows[i].story.as_deref().unwrap_or(""))
            .or_insert(pos);
    }
    let cut = order.len() / 2;
    let (mut fit, mut test) = (Vec::new(), Vec::new());
    for r in rows {
        if first[r.story.as_deref().unwrap_or("")] < cut {
            fit.push(r.clone());
        } else {
            test.push(r.clone());
        }
    }
    (fit, test)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let emb_dir = args.iter().position(|a| a == "--embeddings-dir").map(|i| {
        let v = args.remove(i + 1);
        args.remove(i);
        v
    });
    let parts_dir = args.iter().position(|a| a == "--write-parts").map(|i| {
        let v = args.remove(i + 1);
        args.remove(i);
        v
    });
    let mut parts = Vec::new();
    for p in &args {
        let mut rows = read_rows(BufReader::new(File::open(p)?))?;
        let stem = std::path::Path::new(p)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        if let Some(d) = &emb_dir {
            let e = format!("{d}/{stem}.emb.jsonl");
            if let Ok(f) = File::open(&e) {
                let n = attach_embeddings(&mut rows, BufReader::new(f))?;
                eprintln!("{stem}: {n} embeddings");
            }
        }
        let (fit, test) = split(&rows);
        if let Some(d) = &parts_dir {
            let fit_ids: std::collections::HashSet<&str> =
                fit.iter().map(|r| r.id.as_str()).collect();
            let (mut f, mut t) = (String::new(), String::new());
            for line in std::fs::read_to_string(p)?.lines() {
                if line.trim().is_empty() {
                    continue;
                }
                let id = agg_saga::eval::parse_row(line)?.id;
                let out = if fit_ids.contains(id.as_str()) {
                    &mut f
                } else {
                    &mut t
                };
                out.push_str(line);
                out.push('\n');
            }
            std::fs::write(format!("{d}/{stem}.fit.jsonl"), f)?;
            std::fs::write(format!("{d}/{stem}.test.jsonl"), t)?;
        }
        eprintln!("{stem}: fit {} rows, test {} rows", fit.len(), test.len());
        if emb_dir.is_some() {
            // Both modes: the configuration must hold with and without
            // embeddings (the saga agent runs without them when no model
            // is installed).
            let strip = |v: &[EvalRow]| -> Vec<EvalRow> {
                v.iter()
                    .cloned()
                    .map(|mut r| {
                        r.embedding = None;
                        r
                    })
                    .collect()
            };
            parts.push((format!("{stem} (words)"), strip(&fit), strip(&test)));
            parts.push((format!("{stem} (embeddings)"), fit, test));
        } else {
            parts.push((stem, fit, test));
        }
    }
    if parts_dir.is_some() {
        return Ok(());
    }
    let mut grid = Vec::new();
    for strong in [2.0f32, 3.0, 4.0] {
        for quiet in [0.0f32, 10.0, 20.0, 40.0] {
            for cap in [10usize, 25, 100] {
                for merge_strong in [false, true] {
                    grid.push(SagaConfig {
                        strong_factor: strong,
                        quiet_pace_factor: quiet,
                        auto_merge_max_items: cap,
                        auto_merge_strong: merge_strong,
                        ..SagaConfig::default()
                    });
                }
            }
        }
    }
    let f1 = |rows: &[EvalRow], c: &SagaConfig| {
        evaluate(rows, c.clone())
            .metrics
            .map(|m| (m.bcubed_f1, m.pair_f1))
            .unwrap_or((0.0, 0.0))
    };
    let mut best: Option<(f64, f64, usize)> = None;
    for (g, c) in grid.iter().enumerate() {
        let scores: Vec<f64> = parts.iter().map(|(_, fit, _)| f1(fit, c).0).collect();
        let worst = scores.iter().cloned().fold(f64::INFINITY, f64::min);
        println!(
            "fit  strong {} quiet {} cap {} merge_strong {}: {} worst {worst:.4}",
            c.strong_factor,
            c.quiet_pace_factor,
            c.auto_merge_max_items,
            c.auto_merge_strong,
            scores
                .iter()
                .map(|s| format!("{s:.4}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        // Best worst case; ties (common: one hard stream bounds many
        // settings) go to the best mean.
        let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
        if best.is_none_or(|(b, m, _)| worst > b + 1e-9 || (worst > b - 1e-9 && mean > m + 1e-9)) {
            best = Some((worst, mean, g));
        }
    }
    let (_, _, g) = best.ok_or("no streams")?;
    let c = &grid[g];
    println!(
        "chosen on the fit parts: strong_factor {} quiet_pace_factor {} auto_merge_max_items {} auto_merge_strong {}",
        c.strong_factor, c.quiet_pace_factor, c.auto_merge_max_items, c.auto_merge_strong
    );
    let mut worst = f64::INFINITY;
    for (name, _, test) in &parts {
        let (b, p) = f1(test, c);
        let (b0, p0) = f1(test, &SagaConfig::default());
        worst = worst.min(b);
        println!("test {name}: BCubed F1 {b:.4} pairwise F1 {p:.4} (defaults: {b0:.4} / {p0:.4})");
    }
    println!("test worst BCubed F1 {worst:.4}");
    Ok(())
}
