//! Which in-memory estimate would let search read fewer exact vectors
//! (issue 23: at stop 32, half of a search at 1M items was reading the
//! 3,000 exact vectors its sign-code estimate picked)? For queries taken from a store's
//! own vectors (left out of the answers), every stored vector is scored by
//! three estimates, and recall@10 is measured after reading the `R` best
//! of each exactly:
//!
//! - `sign`: `Σ qᵢ·sᵢ` with `sᵢ = ±1` the signs (what `agg_vindex` used
//!   until stop 33);
//! - `sign/l1`: the same divided by the vector's `Σ|xᵢ|` (a per-vector
//!   correction, one number a vector);
//! - `two-bit` (what `agg_vindex::code` keeps since): a second bit per
//!   dimension, set when `|xᵢ|` is above the median magnitude of a unit
//!   vector's coordinates (`0.6745/√d`), each
//!   coordinate read back as `sᵢ·0.33` or `sᵢ·1.27` (the means below and
//!   above that median, in units of `1/√d`).
//!
//! There is no Hamming prefilter here: every vector is scored, so this
//! measures the estimates alone. It reads every vector once (a minute at
//! 1M items).
//!
//!   cargo run --release --example estimate_recall -- DB MODEL [QUERIES]

use agg_score::embed::dot;

mod common;

const K: usize = 10;
const RERANKS: [usize; 5] = [500, 1000, 1500, 2000, 3000];

/// `(estimate, id, exact cosine)` of the best candidates of one query by
/// one estimate, cut to the largest rerank now and then.
type Best = Vec<(f32, i64, f32)>;

fn cut(v: &mut Best) {
    let r = RERANKS[RERANKS.len() - 1];
    if v.len() > 4 * r {
        v.select_nth_unstable_by(r, |a, b| b.0.total_cmp(&a.0));
        v.truncate(r);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(db), Some(model)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: estimate_recall DB MODEL [QUERIES]");
    };
    let nq: usize = args.get(2).and_then(|q| q.parse().ok()).unwrap_or(50);
    let store = agg_store::open(db).await?;
    let index = agg_app::search::read_index(store.as_ref(), model, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ids = index.ids().to_vec();
    anyhow::ensure!(ids.len() > nq * 2, "too few vectors of {model} in {db}");
    let qs: Vec<(i64, Vec<f32>)> = common::queries(store.as_ref(), model, &ids, nq)
        .await?
        .into_iter()
        .map(|(id, v)| (id, common::unit(&v)))
        .collect();
    let dim = qs[0].1.len() as f32;
    let median = 0.6745 / dim.sqrt();
    let mut exact: Vec<Vec<(f32, i64)>> = vec![Vec::new(); nq];
    // Per query, per estimate (sign, sign/l1, two-bit).
    let mut best: Vec<[Best; 3]> = (0..nq).map(|_| Default::default()).collect();
    for chunk in ids.chunks(common::PAGE) {
        let page = common::unit_page(store.as_ref(), model, chunk).await?;
        for (i, (qid, q)) in qs.iter().enumerate() {
            for (id, x) in page.iter().filter(|(id, _)| id != qid) {
                let (mut sign, mut l1, mut two) = (0f32, 0f32, 0f32);
                for (qi, xi) in q.iter().zip(x) {
                    let s = if *xi > 0.0 { *qi } else { -*qi };
                    sign += s;
                    l1 += xi.abs();
                    two += s * if xi.abs() < median { 0.33 } else { 1.27 };
                }
                let e = dot(q, x);
                exact[i].push((e, *id));
                best[i][0].push((sign, *id, e));
                best[i][1].push((sign / l1.max(1e-6), *id, e));
                best[i][2].push((two, *id, e));
            }
            exact[i].sort_by(|a, b| b.0.total_cmp(&a.0));
            exact[i].truncate(K);
            best[i].iter_mut().for_each(cut);
        }
    }
    for b in best.iter_mut().flatten() {
        b.sort_by(|a, b| b.0.total_cmp(&a.0));
    }
    println!("{} vectors, {nq} queries", ids.len());
    for r in RERANKS {
        let mut hits = [0usize; 3];
        for (truth, estimates) in exact.iter().zip(&best) {
            for (h, v) in hits.iter_mut().zip(estimates) {
                let mut read: Vec<(f32, i64)> = v.iter().take(r).map(|x| (x.2, x.1)).collect();
                read.sort_by(|a, b| b.0.total_cmp(&a.0));
                let found: Vec<i64> = read.iter().take(K).map(|x| x.1).collect();
                *h += truth.iter().filter(|t| found.contains(&t.1)).count();
            }
        }
        let rate = |h: usize| h as f64 / (nq * K) as f64;
        println!(
            "rerank {r:>5}: recall@10 sign {:.3}  sign/l1 {:.3}  two-bit {:.3}",
            rate(hits[0]),
            rate(hits[1]),
            rate(hits[2])
        );
    }
    Ok(())
}
