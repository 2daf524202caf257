//! `saga`: groups items into ongoing stories, across sources and runs.
//!
//! The saga engine's state lives in the store (one document, shared by every
//! pipeline of that store: a story is the same story whichever pipeline saw
//! it). Items are assigned in time order; each gets its saga, and the saga's
//! follow/mute state adjusts the item's score: followed sagas rise, muted
//! sagas sink, and the reason says so.

use std::sync::LazyLock;

use agg_core::{
    Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx, SagaRef, Store,
    typed_options,
};
use agg_saga::{SagaConfig, SagaEngine, SagaItem};
use async_trait::async_trait;
use serde::Deserialize;

/// Key of the engine's state document in the store.
pub const STATE_KEY: &str = "saga-engine";

/// One saga engine change at a time in this process: two pipelines
/// assigning concurrently would otherwise overwrite each other's state.
static ENGINE_LOCK: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// How long one holder may keep the engine before others assume it died.
const ENGINE_LEASE: std::time::Duration = std::time::Duration::from_secs(600);

/// The right to change the saga engine: this process's lock plus a lease in
/// the store, so that workers in other processes (or on other machines
/// sharing a PostgreSQL store) take turns. Call [`EngineLease::release`]
/// when done; a holder that dies is replaced when its lease expires.
pub struct EngineLease<'a> {
    store: &'a dyn Store,
    holder: String,
    _local: tokio::sync::MutexGuard<'static, ()>,
}

pub async fn lock_engine(store: &dyn Store) -> anyhow::Result<EngineLease<'_>> {
    lock_engine_as(store, None).await
}

/// [`lock_engine`] as a named worker (`agg worker --name`): a worker killed
/// while it held the engine and restarted under the same name takes its
/// own lease back at once instead of waiting for it to expire.
pub async fn lock_engine_as<'a>(
    store: &'a dyn Store,
    worker: Option<&str>,
) -> anyhow::Result<EngineLease<'a>> {
    let local = ENGINE_LOCK.lock().await;
    let holder = match worker {
        Some(w) => format!("worker:{w}"),
        None => format!("{}:{}", std::process::id(), uuidish()),
    };
    let deadline = std::time::Instant::now() + ENGINE_LEASE + std::time::Duration::from_secs(60);
    let mut wait = std::time::Duration::from_millis(50);
    while !store.try_lease(STATE_KEY, &holder, ENGINE_LEASE).await? {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the saga engine stayed busy (another worker holds it)"
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(2));
    }
    Ok(EngineLease {
        store,
        holder,
        _local: local,
    })
}

impl EngineLease<'_> {
    /// Gives the engine back. Retried for a few seconds: a lease left behind
    /// because the database restarted at that moment would keep every other
    /// worker from the engine until it expires.
    pub async fn release(self) -> anyhow::Result<()> {
        let mut tries = 0;
        loop {
            match self.store.release_lease(STATE_KEY, &self.holder).await {
                Ok(()) => return Ok(()),
                Err(e) if tries >= 5 => return Err(e),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// A value unique enough to tell two holders in one process apart.
fn uuidish() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ N.fetch_add(1, Ordering::Relaxed).rotate_left(32)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Use sentence embeddings when an upstream `score` computed them.
    #[serde(default = "yes")]
    use_embeddings: bool,
    /// Score multiplier for items of followed sagas (capped at 1).
    #[serde(default = "follow_boost")]
    follow_boost: f32,
    /// Score multiplier for items of muted sagas.
    #[serde(default = "mute_factor")]
    mute_factor: f32,
}

fn yes() -> bool {
    true
}
fn follow_boost() -> f32 {
    1.5
}
fn mute_factor() -> f32 {
    0.2
}

pub const KIND: KindDef = KindDef {
    name: "saga",
    role: Role::Transform,
    summary: "group items into sagas (ongoing stories) across sources and runs",
    build,
};

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    if !(0.0..=1.0).contains(&o.mute_factor) {
        return Err(OptionsError::at(
            &["mute_factor"],
            "`mute_factor` must be between 0 and 1",
        ));
    }
    if o.follow_boost < 1.0 {
        return Err(OptionsError::at(
            &["follow_boost"],
            "`follow_boost` must be at least 1",
        ));
    }
    Ok(Box::new(Saga { opts: o }))
}

struct Saga {
    opts: Options,
}

/// Loads the engine from the store, or starts one with the tuned defaults.
pub async fn load_engine(store: &dyn Store) -> anyhow::Result<SagaEngine> {
    Ok(match store.load_state(STATE_KEY).await? {
        Some(json) => SagaEngine::from_json(&json)
            .map_err(|e| anyhow::anyhow!("stored saga state is unreadable: {e}"))?,
        None => SagaEngine::new(SagaConfig::default()),
    })
}

fn saga_ref(s: &agg_saga::Saga) -> SagaRef {
    SagaRef {
        id: s.id.0,
        title: s.title.clone(),
        followed: s.followed,
        muted: s.muted,
    }
}

/// Saves the engine and logs the events it produced since the last save.
/// Merges and splits (by the user, or automatic merges of two fragments of
/// one story) move items between sagas: their stored membership follows.
pub async fn save_engine(store: &dyn Store, engine: &mut SagaEngine) -> anyhow::Result<()> {
    let mut moved = Vec::new();
    for ev in engine.take_events() {
        if let agg_saga::SagaEvent::Merged { into, .. } | agg_saga::SagaEvent::Split { into, .. } =
            &ev
            && let Some(s) = engine.saga(*into)
        {
            let r = saga_ref(s);
            moved.extend(
                s.members
                    .iter()
                    .map(|m| (m.item_id.clone(), r.clone(), m.score)),
            );
        }
        let json = serde_json::to_value(&ev)?;
        let name = json["event"].as_str().unwrap_or("event").to_string();
        let saga = ["saga", "into", "from"]
            .iter()
            .find_map(|k| json.get(*k).and_then(|v| v.as_u64()))
            .unwrap_or(0);
        store.log_saga_event(saga, &name, &json.to_string()).await?;
    }
    store.save_state(STATE_KEY, &engine.to_json()?).await?;
    store.set_item_sagas(&moved).await
}

#[async_trait]
impl Agent for Saga {
    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let mut items = input.collect().await;
        // Online assignment is in time order, as the engine was tuned.
        items.sort_by_key(|i| i.when());
        let lease = lock_engine_as(ctx.store.as_ref(), ctx.worker.as_deref()).await?;
        tracing::info!(agent = %ctx.agent, items = items.len(), "saga engine held; assigning");
        // Whatever happens while it is held (a database error), the engine
        // is given back before returning.
        let assigned = self.assign(ctx, &mut items).await;
        let released = lease.release().await;
        assigned?;
        released?;
        for chunk in items.chunks(256) {
            output.send(chunk.to_vec()).await?;
        }
        Ok(())
    }
}

impl Saga {
    /// Assigns `items` to sagas and stores the result; the engine is held.
    async fn assign(&self, ctx: &RunCtx, items: &mut [agg_core::Item]) -> anyhow::Result<()> {
        let mut engine = load_engine(ctx.store.as_ref()).await?;
        // The saga windows' clock (pinned by `AGG_NOW` in tests and demos).
        let now = agg_core::clock::now()?;
        let mut rows = Vec::with_capacity(items.len());
        for item in items.iter_mut() {
            let si = SagaItem {
                id: item.key.clone(),
                time: item.published.or(item.updated),
                title: item.title.clone(),
                text: item.text.clone(),
                source: Some(
                    item.feed_title
                        .clone()
                        .unwrap_or_else(|| item.source.clone()),
                ),
                embedding: if self.opts.use_embeddings {
                    item.embedding.as_ref().map(|e| e.to_vec())
                } else {
                    None
                },
            };
            let a = engine.assign(&si, now);
            let saga = engine
                .saga(a.saga)
                .ok_or_else(|| anyhow::anyhow!("saga {} vanished", a.saga.0))?;
            let r = saga_ref(saga);
            if let Some(score) = item.score {
                if a.followed {
                    item.score = Some((score * self.opts.follow_boost).min(1.0));
                    item.reasons
                        .insert(0, format!("you follow the saga \"{}\"", r.title));
                } else if a.muted {
                    item.score = Some(score * self.opts.mute_factor);
                    item.reasons
                        .insert(0, format!("you muted the saga \"{}\"", r.title));
                }
            }
            rows.push((item.key.clone(), a.score));
            item.saga = Some(r);
        }
        // A later item may have merged an earlier item's saga into another:
        // every item points at the saga it ends up in.
        let mut membership = Vec::with_capacity(rows.len());
        for (item, (key, score)) in items.iter_mut().zip(rows) {
            let id = agg_saga::SagaId(item.saga.as_ref().map_or(0, |s| s.id));
            if let Some(s) = engine.resolve(id).and_then(|r| engine.saga(r)) {
                item.saga = Some(saga_ref(s));
            }
            if let Some(r) = &item.saga {
                membership.push((key, r.clone(), score));
            }
        }
        if !ctx.dry_run {
            ctx.store.set_item_sagas(&membership).await?;
            save_engine(ctx.store.as_ref(), &mut engine).await?;
            let scores: Vec<agg_core::ScoreRow> = items
                .iter()
                .filter(|i| i.saga.as_ref().is_some_and(|s| s.followed || s.muted))
                .filter_map(|i| {
                    Some(agg_core::ScoreRow {
                        item_id: i.id?,
                        score: i.score?,
                        model: "saga".into(),
                        reasons: i.reasons.clone(),
                    })
                })
                .collect();
            ctx.store.set_scores(&scores).await?;
        }
        Ok(())
    }
}
