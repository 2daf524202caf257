//! Recall and latency of search's vector index (issue 23): how many of the
//! exact ten nearest vectors the index's path finds, and how long it takes.
//!
//! The path measured is search's own: `agg_vindex::CodeIndex::nearest`
//! with `agg_app::search::{SHORTLIST, RERANK}` (or the shortlists given),
//! then the guesses' compact copies (`agg_vindex::compact`, as search
//! reads them back) ranked by cosine. Each query is a
//! stored vector, left out of both answers (leave one out), so the truth
//! is the store's own neighbourhood, not a made-up one.
//!
//!   cargo run --release --example search_recall -- store DB MODEL [QUERIES] [SHORTLIST:RERANK …]
//!   cargo run --release --example search_recall -- jsonl FILE… [-- SHORTLIST:RERANK …]
//!
//! `store` reads the index from a store as `agg serve` does (the read is
//! timed) and the exact answer by a pass over every vector; `jsonl` reads
//! real sentence vectors from `agg eval sagas --embeddings-cache` files
//! (field `embedding`), every 50th a query.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use agg_score::embed::{cosine, dot};
use agg_vindex::{CodeIndex, code, compact, expand};

mod common;

const K: usize = 10;

/// The `K` best of `(score, id)` pairs, best first, `skip` left out.
fn top(mut v: Vec<(f32, i64)>, skip: i64) -> Vec<i64> {
    v.retain(|x| x.1 != skip);
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    v.into_iter().take(K).map(|x| x.1).collect()
}

fn settings(args: &[String]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = args
        .iter()
        .filter_map(|a| {
            let (s, r) = a.split_once(':')?;
            Some((s.parse().ok()?, r.parse().ok()?))
        })
        .collect();
    if out.is_empty() {
        out.push((agg_app::search::SHORTLIST, agg_app::search::RERANK));
    }
    out
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// One line per setting: recall@10 and the index step's and the
/// re-rank read's latencies; from a store, also the recall had the
/// guesses been re-ranked by their stored vectors (what the copies cost).
struct Line {
    shortlist: usize,
    rerank: usize,
    hits: usize,
    hits_stored: Option<usize>,
    queries: usize,
    index: Vec<Duration>,
    read: Vec<Duration>,
}

impl Line {
    fn print(mut self, n: usize) {
        println!(
            "vectors {n}  shortlist {:>6}  rerank {:>5}  recall@10 {:.4}  index p50 {:.1} ms p95 {:.1} ms  rerank read p50 {:.1} ms p95 {:.1} ms",
            self.shortlist,
            self.rerank,
            self.hits as f64 / (self.queries * K) as f64,
            pct(&mut self.index, 0.5),
            pct(&mut self.index, 0.95),
            pct(&mut self.read, 0.5),
            pct(&mut self.read, 0.95),
        );
        if let Some(h) = self.hits_stored {
            println!(
                "    re-ranked by the stored vectors instead of their copies: recall@10 {:.4}",
                h as f64 / (self.queries * K) as f64
            );
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("store") if args.len() >= 3 => store(&args[1], &args[2], &args[3..]).await,
        Some("jsonl") if args.len() >= 2 => jsonl(&args[1..]),
        _ => anyhow::bail!(
            "usage: search_recall store DB MODEL [QUERIES] [SHORTLIST:RERANK …] | jsonl FILE… [-- SHORTLIST:RERANK …]"
        ),
    }
}

async fn store(db: &str, model: &str, rest: &[String]) -> anyhow::Result<()> {
    let queries: usize = rest.first().and_then(|q| q.parse().ok()).unwrap_or(50);
    let store = agg_store::open(db).await?;
    let t = Instant::now();
    let index = agg_app::search::read_index(store.as_ref(), model, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "index read: {} vectors in {:.2} s, {:.1} MB held",
        index.len(),
        t.elapsed().as_secs_f64(),
        index.heap_bytes() as f64 / 1e6
    );
    anyhow::ensure!(index.len() > queries, "too few vectors of {model} in {db}");
    let ids = index.ids().to_vec();
    let qs = common::queries(store.as_ref(), model, &ids, queries).await?;
    // The exact answer: one pass over every vector, a page at a time.
    let t = Instant::now();
    let mut scores: Vec<Vec<(f32, i64)>> = vec![Vec::new(); qs.len()];
    let qunit: Vec<Vec<f32>> = qs.iter().map(|(_, q)| common::unit(q)).collect();
    for chunk in ids.chunks(common::PAGE) {
        let page = common::unit_page(store.as_ref(), model, chunk).await?;
        for (i, q) in qunit.iter().enumerate() {
            let mut s: Vec<(f32, i64)> = page.iter().map(|(id, v)| (dot(q, v), *id)).collect();
            s.append(&mut scores[i]);
            s.sort_by(|a, b| b.0.total_cmp(&a.0));
            s.truncate(K + 1);
            scores[i] = s;
        }
    }
    let truth: Vec<Vec<i64>> = scores
        .into_iter()
        .zip(&qs)
        .map(|(s, (id, _))| top(s, *id))
        .collect();
    println!("exact pass: {:.1} s", t.elapsed().as_secs_f64());
    for (shortlist, rerank) in settings(&rest[1.min(rest.len())..]) {
        let mut line = Line {
            shortlist,
            rerank,
            hits: 0,
            hits_stored: Some(0),
            queries: qs.len(),
            index: vec![],
            read: vec![],
        };
        for ((qid, q), truth) in qs.iter().zip(&truth) {
            let t = Instant::now();
            let guesses = index.nearest(q, shortlist, rerank + 1);
            line.index.push(t.elapsed());
            let t = Instant::now();
            let copies = agg_app::search::vector_copies(store.as_ref(), model, &guesses)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            line.read.push(t.elapsed());
            let found = top(
                copies.iter().map(|(id, v)| (cosine(q, v), *id)).collect(),
                *qid,
            );
            line.hits += truth.iter().filter(|t| found.contains(t)).count();
            let stored = store.get_embeddings(model, &guesses).await?;
            let found = top(
                stored.iter().map(|(id, v)| (cosine(q, v), *id)).collect(),
                *qid,
            );
            *line.hits_stored.get_or_insert(0) +=
                truth.iter().filter(|t| found.contains(t)).count();
        }
        line.print(index.len());
    }
    Ok(())
}

fn jsonl(args: &[String]) -> anyhow::Result<()> {
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut vectors: Vec<Vec<f32>> = Vec::new();
    for f in &args[..split] {
        let text = std::fs::read_to_string(f)?;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            if let Some(e) = v.get("embedding").and_then(|e| e.as_array()) {
                vectors.push(
                    e.iter()
                        .filter_map(|x| x.as_f64())
                        .map(|x| x as f32)
                        .collect(),
                );
            }
        }
    }
    anyhow::ensure!(
        vectors.len() > 100,
        "too few vectors in {:?}",
        &args[..split]
    );
    let mut index = CodeIndex::new(code(&vectors[0]).len());
    let by_id: HashMap<i64, &Vec<f32>> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v))
        .collect();
    for (i, v) in vectors.iter().enumerate() {
        index.push(i as i64, &code(v))?;
    }
    let copies: HashMap<i64, Vec<f32>> = by_id
        .iter()
        .map(|(id, v)| (*id, expand(&compact(v)).expect("a copy made here")))
        .collect();
    let queries: Vec<usize> = (0..vectors.len()).step_by(50).collect();
    let truth: Vec<Vec<i64>> = queries
        .iter()
        .map(|&q| {
            top(
                vectors
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (cosine(&vectors[q], v), i as i64))
                    .collect(),
                q as i64,
            )
        })
        .collect();
    for (shortlist, rerank) in settings(&args[split..]) {
        let mut line = Line {
            shortlist,
            rerank,
            hits: 0,
            hits_stored: None,
            queries: queries.len(),
            index: vec![],
            read: vec![],
        };
        for (&q, truth) in queries.iter().zip(&truth) {
            let t = Instant::now();
            let guesses = index.nearest(&vectors[q], shortlist, rerank + 1);
            line.index.push(t.elapsed());
            // Re-ranked as search does: by the guesses' compact copies.
            let found = top(
                guesses
                    .iter()
                    .map(|id| (cosine(&vectors[q], &copies[id]), *id))
                    .collect(),
                q as i64,
            );
            line.hits += truth.iter().filter(|t| found.contains(t)).count();
        }
        line.print(vectors.len());
    }
    Ok(())
}
