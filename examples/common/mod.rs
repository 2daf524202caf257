//! What the recall examples (`search_recall`, `estimate_recall`) share:
//! queries taken from a store's own vectors, and a pass over every stored
//! vector a page at a time. (A folder with `mod.rs`, so Cargo does not take
//! it for an example of its own.)

use agg_core::Store;
use agg_score::embed::dot;

/// Vectors read per statement by a pass over every vector.
pub const PAGE: usize = 20_000;

/// `v` scaled to length one, so that a dot product is the cosine.
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// `n` of `ids` spread evenly (the middle of each of `n` equal runs), with
/// their vectors as stored.
pub async fn queries(
    store: &dyn Store,
    model: &str,
    ids: &[i64],
    n: usize,
) -> anyhow::Result<Vec<(i64, Vec<f32>)>> {
    let step = ids.len() / n.max(1);
    let qids: Vec<i64> = (0..n).map(|i| ids[i * step + step / 2]).collect();
    let mut vectors = store.get_embeddings(model, &qids).await?;
    qids.iter()
        .map(|id| {
            let v = vectors
                .remove(id)
                .ok_or_else(|| anyhow::anyhow!("no vector of {model} for item {id}"))?;
            Ok((*id, v))
        })
        .collect()
}

/// The vectors of `ids` (at most [`PAGE`] of them), unit length.
pub async fn unit_page(
    store: &dyn Store,
    model: &str,
    ids: &[i64],
) -> anyhow::Result<Vec<(i64, Vec<f32>)>> {
    Ok(store
        .get_embeddings(model, ids)
        .await?
        .into_iter()
        .map(|(id, v)| (id, unit(&v)))
        .collect())
}
