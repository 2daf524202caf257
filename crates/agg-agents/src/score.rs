//! `score`: how much this reader will care about each item, and why.
//!
//! Items are embedded with the sentence model (cached per item and model in
//! the store, so a re-run embeds nothing twice) and scored by the interest
//! model: at first from the pipeline's `interests` phrases, then from the
//! reader's feedback. When the phrases or the feedback changed since the
//! stored model revision, a new revision is trained and kept, and every score
//! names the revision that produced it.

use std::collections::HashMap;
use std::sync::Arc;

use agg_core::{
    Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx, ScoreRow, Store,
    typed_options,
};
use agg_score::{
    Device, EmbedConfig, Embedder, Feedback, InterestModel, Interests, ItemFeatures,
    LabelledExample, OrtEmbedder, TrainOptions,
};
use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::OnceCell;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterestsOpt {
    #[serde(default)]
    like: Vec<String>,
    #[serde(default)]
    dislike: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// What the reader cares about, in their words: the model's starting point.
    #[serde(default)]
    interests: InterestsOpt,
    /// `auto` (CUDA, then WebGPU, then CPU), `cpu`, `cuda` or `webgpu`.
    #[serde(default)]
    device: Option<String>,
    /// Folder with the model files (default: `AGG_MODEL_DIR`, else the data dir).
    #[serde(default)]
    model_dir: Option<String>,
    /// Texts per model call.
    #[serde(default)]
    batch_size: Option<usize>,
    /// On the CPU, the int8 model (`setup-model.sh --int8`): faster, vectors
    /// at cosine ~0.99 of the default model's (`EmbedConfig::cpu_int8`).
    #[serde(default)]
    cpu_int8: bool,
    /// Name the interest model's revisions are stored under; pipelines that
    /// share a name share what the reader taught.
    #[serde(default)]
    model: Option<String>,
}

pub const KIND: KindDef = KindDef {
    name: "score",
    role: Role::Transform,
    summary: "score items by the reader's interests and feedback, with reasons",
    build,
};

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    let device = match &o.device {
        None => Device::Auto,
        Some(d) => d.parse::<Device>().map_err(|_| {
            OptionsError::at(&["device"], format!("unknown device `{d}`"))
                .with_hint("one of: auto, cpu, cuda, webgpu")
        })?,
    };
    if o.interests.like.is_empty() && o.interests.dislike.is_empty() {
        return Err(OptionsError::at(&["interests"], "no interests given")
            .with_hint("add `interests: { like: [\"rust programming\"], dislike: [\"celebrity gossip\"] }`"));
    }
    if o.batch_size == Some(0) {
        return Err(OptionsError::at(
            &["batch_size"],
            "`batch_size` must be at least 1",
        ));
    }
    let mut cfg = EmbedConfig {
        device,
        model_dir: o.model_dir.as_deref().map(|d| ctx.resolve(d)),
        cpu_int8: o.cpu_int8,
        ..EmbedConfig::default()
    };
    if let Some(b) = o.batch_size {
        cfg.batch_size = b;
    }
    Ok(Box::new(Score {
        cfg,
        interests: Interests {
            like: o.interests.like,
            dislike: o.interests.dislike,
        },
        model_name: o.model.unwrap_or_else(|| "interest".into()),
        embedder: OnceCell::new(),
    }))
}

struct Score {
    cfg: EmbedConfig,
    interests: Interests,
    model_name: String,
    /// Loaded at the first run and kept: `agg serve` runs many times.
    embedder: OnceCell<Arc<OrtEmbedder>>,
}

/// Loads the embedder on a blocking thread (it reads ~25 MB and may probe GPUs).
pub(crate) async fn load_embedder(cfg: EmbedConfig) -> anyhow::Result<Arc<OrtEmbedder>> {
    let e = tokio::task::spawn_blocking(move || OrtEmbedder::new(cfg)).await??;
    tracing::info!(
        provider = e.provider(),
        model = e.model_id(),
        "embedding model loaded"
    );
    Ok(Arc::new(e))
}

/// Embeddings for items: from the store's cache, the rest computed (on a
/// blocking thread) and cached. Items without an id (dry runs) are embedded
/// but not cached.
pub(crate) async fn embed_items(
    store: &dyn Store,
    embedder: &Arc<OrtEmbedder>,
    items: &[Item],
    cache: bool,
) -> anyhow::Result<Vec<Arc<[f32]>>> {
    let model = embedder.model_id().to_string();
    let ids: Vec<i64> = items.iter().filter_map(|i| i.id).collect();
    let cached = if cache {
        store.get_embeddings(&model, &ids).await?
    } else {
        HashMap::new()
    };
    let missing: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].id.is_none_or(|id| !cached.contains_key(&id)))
        .collect();
    let texts: Vec<String> = missing
        .iter()
        .map(|&i| agg_score::item_text(&items[i].title, &items[i].text))
        .collect();
    let e = embedder.clone();
    let fresh = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        e.embed(&refs)
    })
    .await??;
    let mut out: Vec<Option<Arc<[f32]>>> = items
        .iter()
        .map(|i| {
            i.id.and_then(|id| cached.get(&id))
                .map(|v| Arc::from(v.as_slice()))
        })
        .collect();
    let mut to_cache = Vec::new();
    for (&i, v) in missing.iter().zip(fresh) {
        if cache && let Some(id) = items[i].id {
            to_cache.push((id, v.clone()));
        }
        out[i] = Some(Arc::from(v));
    }
    tracing::info!(
        embedded = missing.len(),
        cached = items.len() - missing.len(),
        "embeddings"
    );
    if !to_cache.is_empty() {
        store.put_embeddings(&model, &to_cache).await?;
    }
    Ok(out
        .into_iter()
        .map(|v| v.expect("every item embedded"))
        .collect())
}

/// The last feedback per item (a later like overrides an earlier dislike).
fn latest_feedback(rows: &[agg_core::FeedbackRow]) -> Vec<(i64, Feedback)> {
    let mut last: HashMap<i64, (usize, Feedback)> = HashMap::new();
    for (n, r) in rows.iter().enumerate() {
        let kind = match r.kind {
            agg_core::FeedbackKind::Like => Feedback::Like,
            agg_core::FeedbackKind::Dislike => Feedback::Dislike,
            agg_core::FeedbackKind::Click => Feedback::Click,
        };
        // A click never overrides an explicit judgement.
        let keep = !(kind == Feedback::Click
            && matches!(
                last.get(&r.item_id),
                Some((_, Feedback::Like | Feedback::Dislike))
            ));
        if keep {
            last.insert(r.item_id, (n, kind));
        }
    }
    let mut v: Vec<(usize, i64, Feedback)> =
        last.into_iter().map(|(id, (n, k))| (n, id, k)).collect();
    v.sort_unstable_by_key(|(n, _, _)| *n);
    v.into_iter().map(|(_, id, k)| (id, k)).collect()
}

fn age_days(item: &Item, now: chrono::DateTime<chrono::Utc>) -> f32 {
    ((now - item.when()).num_seconds().max(0) as f32) / 86_400.0
}

fn source_of(item: &Item) -> &str {
    item.feed_title.as_deref().unwrap_or(&item.source)
}

impl Score {
    /// The current interest model: the stored revision when it still matches
    /// the phrases, the embedder and the feedback; else a new revision.
    async fn model(
        &self,
        ctx: &RunCtx,
        embedder: &Arc<OrtEmbedder>,
    ) -> anyhow::Result<InterestModel> {
        let store = ctx.store.as_ref();
        let latest = match store.latest_model(&self.model_name).await? {
            Some((_, json)) => match InterestModel::from_json(&json) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!("stored interest model unreadable, retraining: {e}");
                    None
                }
            },
            None => None,
        };
        let feedback = latest_feedback(&store.list_feedback().await?);
        let counts = |m: &InterestModel| {
            (m.labels.like + m.labels.dislike + m.labels.click) == feedback.len()
                && m.labels.like == feedback.iter().filter(|f| f.1 == Feedback::Like).count()
                && m.labels.dislike == feedback.iter().filter(|f| f.1 == Feedback::Dislike).count()
        };
        if let Some(m) = &latest {
            let (likes, dislikes) = m.phrases();
            let same_phrases = likes.iter().map(|p| &p.text).eq(self.interests.like.iter())
                && dislikes
                    .iter()
                    .map(|p| &p.text)
                    .eq(self.interests.dislike.iter());
            if same_phrases && m.embedder_model_id == embedder.model_id() && counts(m) {
                return Ok(m.clone());
            }
        }
        let e = embedder.clone();
        let interests = self.interests.clone();
        let base =
            tokio::task::spawn_blocking(move || InterestModel::cold_start(e.as_ref(), &interests))
                .await??;
        let mut model = if feedback.is_empty() {
            base
        } else {
            let ids: Vec<i64> = feedback.iter().map(|f| f.0).collect();
            let items = store.get_items(&ids).await?;
            let vectors = embed_items(store, embedder, &items, true).await?;
            let kinds: HashMap<i64, Feedback> = feedback.iter().copied().collect();
            let now = agg_core::clock::current();
            let examples: Vec<LabelledExample> = items
                .iter()
                .zip(vectors)
                .filter_map(|(item, v)| {
                    Some(LabelledExample {
                        item_id: item.id?.to_string(),
                        title: item.title.clone(),
                        embedding: v.to_vec(),
                        feedback: *kinds.get(&item.id?)?,
                        source: Some(source_of(item).to_string()),
                        saga_followed: item.saga.as_ref().is_some_and(|s| s.followed),
                        age_days: Some(age_days(item, now)),
                    })
                })
                .collect();
            tokio::task::spawn_blocking(move || base.train(&examples, &TrainOptions::default()))
                .await??
        };
        model.revision = latest.map_or(1, |m| m.revision + 1);
        if !ctx.dry_run {
            store
                .save_model(&self.model_name, model.revision, &model.to_json())
                .await?;
        }
        tracing::info!(model = %self.model_name, revision = model.revision, labels = feedback.len(), "interest model trained");
        Ok(model)
    }
}

#[async_trait]
impl Agent for Score {
    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        // The model is loaded only once something is pending: a run with
        // nothing new never pays for it (~260 MB and a second or more).
        let mut loaded: Option<(Arc<OrtEmbedder>, InterestModel, String)> = None;
        let now = agg_core::clock::current();
        while let Some(mut batch) = input.next().await {
            if loaded.is_none() {
                let embedder = self
                    .embedder
                    .get_or_try_init(|| load_embedder(self.cfg.clone()))
                    .await?
                    .clone();
                let model = self.model(ctx, &embedder).await?;
                let tag = format!("{}@{}", self.model_name, model.revision);
                loaded = Some((embedder, model, tag));
            }
            let Some((embedder, model, tag)) = &loaded else {
                unreachable!("loaded above")
            };
            let vectors = embed_items(ctx.store.as_ref(), embedder, &batch, !ctx.dry_run).await?;
            let mut rows = Vec::with_capacity(batch.len());
            for (item, v) in batch.iter_mut().zip(vectors) {
                let features = ItemFeatures {
                    embedding: &v,
                    source: Some(source_of(item)),
                    saga_followed: item.saga.as_ref().is_some_and(|s| s.followed),
                    age_days: Some(age_days(item, now)),
                };
                let scored = model.score(&features)?;
                item.score = Some(scored.score);
                item.reasons = scored.reasons.iter().map(|r| r.describe()).collect();
                item.embedding = Some(v);
                if let Some(id) = item.id {
                    rows.push(ScoreRow {
                        item_id: id,
                        score: scored.score,
                        model: tag.clone(),
                        reasons: item.reasons.clone(),
                    });
                }
            }
            if !ctx.dry_run {
                ctx.store.set_scores(&rows).await?;
            }
            output.send(batch).await?;
        }
        Ok(())
    }
}
