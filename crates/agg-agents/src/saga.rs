//! `saga`: groups items into ongoing stories, across sources and runs.
//!
//! The saga engine's state lives in the store (shared by every pipeline of
//! that store: a story is the same story whichever pipeline saw it): a
//! core document and one row per live saga, of which a save writes only the
//! changed ones; sagas quiet for long are archived after every run into
//! rows of their own (`Store::put_saga_archive`), so the live state follows
//! the recent weeks, not the whole history. Items are assigned in time order; each gets its saga, and the saga's
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

/// Key of a small document saved with the engine: which sagas are followed
/// and muted. With it, a run whose items the engine has all placed already
/// (a feed sending its items again, the usual daily case) needs neither
/// the engine's state (tens of MB at 100k items) nor its lease.
pub const MARKS_KEY: &str = "saga-engine:marks";

/// The content of [`MARKS_KEY`].
#[derive(Debug, Default, serde::Serialize, Deserialize)]
pub struct SagaMarks {
    pub followed: Vec<u64>,
    pub muted: Vec<u64>,
}

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
///
/// The state is a core document (`STATE_KEY`), one row per live saga
/// (`Store::saga_live_rows`) and one per feed's headline counts
/// (`Store::saga_feed_rows`), written by [`save_engine`]; a state saved
/// whole by an earlier version loads as it is, and its first save writes
/// it in parts. Every live saga is loaded: for readers and controls that
/// list or change any saga ([`load_engine_for`] is the saga step's).
pub async fn load_engine(store: &dyn Store) -> anyhow::Result<SagaEngine> {
    let t = std::time::Instant::now();
    let Some(mut engine) = read_core(store).await? else {
        return Ok(SagaEngine::new(SagaConfig::default()));
    };
    if engine.needs_sagas() {
        fill_all(store, &mut engine, t).await?;
    }
    Ok(engine)
}

/// [`load_engine`] with every vocabulary term: an engine that can place
/// any items, not only one run's (a tool that grows a store; it reads the
/// whole vocabulary, ~630,000 rows a year).
pub async fn load_engine_whole(store: &dyn Store) -> anyhow::Result<SagaEngine> {
    let mut engine = load_engine(store).await?;
    let rows = store.saga_terms().await?;
    engine
        .put_all_terms(rows)
        .map_err(|e| anyhow::anyhow!("stored saga vocabulary is unreadable: {e}"))?;
    engine.put_all_postings(store.saga_postings().await?);
    Ok(engine)
}

/// The engine as the saga step needs it to place `items` at `now` and
/// archive: of a state saved in parts, only the sagas and feed counts they
/// can reach (`SagaEngine::needs`), so a run's cost follows its items, not
/// the number of live sagas (issue 23; 19,000 rows, 470 ms, at 1M items).
/// Every saga when the core cannot tell, or when the saga list is still to
/// be written whole. The engine places items exactly as the whole one
/// would; listing every saga needs [`load_engine`].
pub async fn load_engine_for(
    store: &dyn Store,
    items: &[SagaItem],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<SagaEngine> {
    let t = std::time::Instant::now();
    let Some(mut engine) = read_core(store).await? else {
        return Ok(SagaEngine::new(SagaConfig::default()));
    };
    if !engine.needs_sagas() {
        return Ok(engine);
    }
    // The vocabulary terms the items can look up first: which sagas they
    // reach depends on their terms' weights.
    let keys = engine.term_keys(items);
    put_terms(store, &mut engine, keys).await?;
    // Then the inverted index's lists of those terms.
    let lists = engine.posting_terms();
    put_postings(store, &mut engine, lists).await?;
    // And the item index's entries of the items (an item placed already).
    let hashes = engine.item_hashes(items);
    if !hashes.is_empty() {
        let rows = store.saga_items_of(&hashes).await?;
        engine.put_item_rows(hashes, rows);
    }
    // And which sagas are due for the archive at `now`, where the rows
    // keep the due times.
    if engine.due_in_rows() {
        let due = store.saga_due_by(now.timestamp()).await?;
        engine.put_due(due);
    }
    let listed = store.load_state(LIST_KEY).await?.is_some();
    let Some(need) = engine.needs(items, now).filter(|_| listed) else {
        fill_all(store, &mut engine, t).await?;
        let keys = engine.member_term_keys();
        put_terms(store, &mut engine, keys).await?;
        return Ok(engine);
    };
    let needed = t.elapsed();
    let ids: Vec<u64> = need.sagas.into_iter().collect();
    let feeds: Vec<String> = need.feeds.into_iter().collect();
    // The ids of every live row, where the core does not keep them (saved
    // before it did): once.
    let live = if engine.knows_live() {
        None
    } else {
        Some(store.saga_live_ids().await?)
    };
    let live_read = t.elapsed();
    let sagas = store.saga_live_rows_of(&ids).await?;
    let sagas_read = t.elapsed();
    let feed_rows = store.saga_feed_rows_of(&feeds).await?;
    let read_rows = t.elapsed();
    let bytes: usize = sagas.iter().map(String::len).sum::<usize>()
        + feed_rows.iter().map(|f| f.1.len()).sum::<usize>();
    let (live_n, loaded) = (live.as_ref().map(Vec::len), sagas.len());
    engine
        .fill_some(live, sagas, feed_rows)
        .map_err(unreadable)?;
    // Then the terms of the loaded sagas' latest headlines, which the
    // one-feed match re-vectorises.
    let keys = engine.member_term_keys();
    put_terms(store, &mut engine, keys).await?;
    tracing::debug!(
        live = ?live_n, loaded, feeds = feeds.len(), bytes, ?needed, ?live_read, ?sagas_read,
        ?read_rows, filled = ?t.elapsed(), "saga state loaded in part"
    );
    Ok(engine)
}

/// Puts the stored vocabulary rows of `keys` into the engine.
async fn put_terms(
    store: &dyn Store,
    engine: &mut SagaEngine,
    keys: Vec<String>,
) -> anyhow::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let t = std::time::Instant::now();
    let rows = store.saga_terms_of(&keys).await?;
    let (asked, found) = (keys.len(), rows.len());
    engine
        .put_terms(keys, rows)
        .map_err(|e| anyhow::anyhow!("stored saga vocabulary is unreadable: {e}"))?;
    tracing::debug!(asked, found, took = ?t.elapsed(), "saga terms read");
    Ok(())
}

/// Puts the stored inverted index lists of `terms` into the engine (with
/// the pushes that waited for them).
async fn put_postings(
    store: &dyn Store,
    engine: &mut SagaEngine,
    terms: Vec<u32>,
) -> anyhow::Result<()> {
    if terms.is_empty() {
        return Ok(());
    }
    let t = std::time::Instant::now();
    let rows = store.saga_postings_of(&terms).await?;
    let (asked, found) = (terms.len(), rows.len());
    engine.put_postings(terms, rows);
    tracing::debug!(asked, found, took = ?t.elapsed(), "saga posting lists read");
    Ok(())
}

/// Reads the inverted index lists that pushes of this run wait for (a
/// merge, a split or a restore listed a saga under terms no item had):
/// before the archive changes which sagas are live, and before a save.
pub async fn settle_postings(store: &dyn Store, engine: &mut SagaEngine) -> anyhow::Result<()> {
    let terms = engine.pending_posting_terms();
    put_postings(store, engine, terms).await
}

fn unreadable(e: serde_json::Error) -> anyhow::Error {
    anyhow::anyhow!("stored saga state is unreadable: {e}")
}

/// The stored core (or whole state), `None` when none was saved.
async fn read_core(store: &dyn Store) -> anyhow::Result<Option<SagaEngine>> {
    let t = std::time::Instant::now();
    let Some(json) = store.load_state(STATE_KEY).await? else {
        return Ok(None);
    };
    let read_core = t.elapsed();
    let engine = SagaEngine::from_stored(&json).map_err(unreadable)?;
    tracing::debug!(?read_core, parsed_core = ?t.elapsed(), bytes = json.len(), "saga core read");
    Ok(Some(engine))
}

/// Puts every live saga and feed count into a core.
async fn fill_all(
    store: &dyn Store,
    engine: &mut SagaEngine,
    t: std::time::Instant,
) -> anyhow::Result<()> {
    let (sagas, feeds) = (store.saga_live_rows().await?, store.saga_feed_rows().await?);
    let read_rows = t.elapsed();
    engine.fill(sagas, feeds).map_err(unreadable)?;
    // The daily cost of a run with new items (issue 23), by phase.
    tracing::debug!(?read_rows, filled = ?t.elapsed(), "saga state loaded");
    Ok(())
}

/// The archived sagas among `ids` (those with a row), read back.
pub async fn archived_sagas(
    store: &dyn Store,
    ids: &[u64],
) -> anyhow::Result<Vec<agg_saga::ArchivedSaga>> {
    store
        .saga_archive(ids)
        .await?
        .into_iter()
        .map(|(id, body)| {
            serde_json::from_str(&body)
                .map_err(|e| anyhow::anyhow!("archived saga {id} is unreadable: {e}"))
        })
        .collect()
}

/// Puts the archived sagas among `ids` back into `engine`, with the merged
/// sagas they lead to (a person acting on an old saga, or on an old id of
/// one): a control finds them live. Ids that are live or unknown are left
/// alone.
pub async fn restore_sagas(
    store: &dyn Store,
    engine: &mut SagaEngine,
    ids: &[u64],
) -> anyhow::Result<()> {
    let mut want: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|&i| engine.is_archived(agg_saga::SagaId(i)))
        .collect();
    // A merge chain is short; the bound only stops a damaged store looping.
    for _ in 0..64 {
        if want.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for a in archived_sagas(store, &want).await? {
            if let Some(into) = a.saga.merged_into
                && engine.is_archived(into)
            {
                next.push(into.0);
            }
            engine.restore(a);
        }
        want = next;
    }
    Ok(())
}

/// The saga `id` stands for now (following merges), from the live engine
/// or, when it was archived, from the archive; `None` for an unknown id.
/// For readers: nothing is restored or saved.
pub async fn find_saga(
    store: &dyn Store,
    engine: &SagaEngine,
    id: agg_saga::SagaId,
) -> anyhow::Result<Option<agg_saga::Saga>> {
    let mut id = id;
    for _ in 0..64 {
        let saga = match engine.saga(id) {
            Some(s) => s.clone(),
            None if engine.is_archived(id) => {
                let Some(a) = archived_sagas(store, &[id.0]).await?.pop() else {
                    return Ok(None);
                };
                a.saga
            }
            None => return Ok(None),
        };
        match saga.merged_into {
            Some(next) => id = next,
            None => return Ok(Some(saga)),
        }
    }
    Ok(None)
}

/// Link aggregators whose listings are other sites' stories: their items
/// never form a saga out of their own feed (see [`agg_saga::Origin`]).
const AGGREGATOR_HOSTS: &[&str] = &[
    "news.ycombinator.com",
    "hnrss.org",
    "reddit.com",
    "lobste.rs",
    "slashdot.org",
    "digg.com",
    "news.google.com",
    "feeds.feedburner.com/techmeme",
    "techmeme.com",
    "metafilter.com",
    "tildes.net",
];

/// What kind of feed an item came from: a podcast when it carries an audio
/// enclosure, an aggregator when its feed (or, lacking one, its link) is on
/// a known aggregator's host or the feed calls itself one; an article
/// otherwise.
fn origin_of(item: &agg_core::Item) -> agg_saga::Origin {
    let audio = item.enclosures.iter().any(|e| {
        e.mime.as_deref().is_some_and(|m| m.starts_with("audio/"))
            || [".mp3", ".m4a", ".ogg", ".opus", ".aac"].iter().any(|x| {
                e.url
                    .to_ascii_lowercase()
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .ends_with(x)
            })
    });
    if audio {
        return agg_saga::Origin::Podcast;
    }
    let feed = item.feed.as_deref().unwrap_or("").to_ascii_lowercase();
    let title = item
        .feed_title
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let on_host = |u: &str| {
        let rest = u.split("://").nth(1).unwrap_or(u);
        let host_path = rest.trim_start_matches("www.").trim_start_matches("old.");
        AGGREGATOR_HOSTS.iter().any(|h| host_path.starts_with(h))
    };
    if on_host(&feed)
        || (feed.is_empty()
            && item
                .url
                .as_deref()
                .is_some_and(|u| on_host(&u.to_ascii_lowercase())))
        || title.contains("hacker news")
        || title.starts_with("reddit")
        || title.contains(": reddit")
        || title.contains("front page")
    {
        agg_saga::Origin::Aggregator
    } else {
        agg_saga::Origin::Article
    }
}

fn saga_ref(s: &agg_saga::Saga) -> SagaRef {
    SagaRef {
        id: s.id.0,
        title: s.title.clone(),
        followed: s.followed,
        muted: s.muted,
    }
}

/// The `state` key set once the saga list holds a row for every saga.
pub const LIST_KEY: &str = "saga-list:complete";

/// Writes the saga list rows (`Store::put_saga_list`) of the sagas the
/// events of this save named, or of every saga the first time: each change
/// to a saga is an event (join, merge, split, dormancy, every user
/// control), so the list follows the engine without rewriting it.
async fn write_saga_list(
    store: &dyn Store,
    engine: &SagaEngine,
    touched: std::collections::BTreeSet<u64>,
    archived: &[agg_saga::ArchivedSaga],
) -> anyhow::Result<()> {
    let complete = store.load_state(LIST_KEY).await?.is_some();
    let ids: Vec<u64> = if complete {
        touched.into_iter().collect()
    } else {
        engine.sagas().map(|s| s.id.0).collect()
    };
    let row = |s: &agg_saga::Saga| -> anyhow::Result<agg_core::SagaListRow> {
        Ok(agg_core::SagaListRow {
            id: s.id.0,
            group: s.list_group().number(),
            last_seen: s.last_seen,
            body: serde_json::to_string(&s.listing())?,
        })
    };
    let mut rows = Vec::new();
    let mut gone = Vec::new();
    for id in ids {
        match engine.saga(agg_saga::SagaId(id)) {
            Some(s) if s.merged_into.is_none() => rows.push(row(s)?),
            // Archived: still listed, from its archived copy below.
            None if engine.is_archived(agg_saga::SagaId(id)) => {}
            _ => gone.push(id),
        }
    }
    // A saga archived by this save is listed as it left (its row is
    // written here also when the list is written for the first time).
    for a in archived.iter().filter(|a| a.saga.merged_into.is_none()) {
        rows.push(row(&a.saga)?);
    }
    store.put_saga_list(&rows, &gone).await?;
    if !complete {
        store.save_state(LIST_KEY, "1").await?;
    }
    Ok(())
}

/// Saves the engine and logs the events it produced since the last save
/// (in one batch: a run that founds or merges thousands of sagas wrote one
/// statement, and one SQLite commit, per event).
/// Merges and splits (by the user, or automatic merges of two fragments of
/// one story) move items between sagas: their stored membership follows.
pub async fn save_engine(store: &dyn Store, engine: &mut SagaEngine) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    settle_postings(store, engine).await?;
    let mut moved = Vec::new();
    let mut events = Vec::new();
    let mut touched = std::collections::BTreeSet::new();
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
        let named = ["saga", "into", "from"]
            .iter()
            .filter_map(|k| json.get(*k).and_then(|v| v.as_u64()));
        touched.extend(named.clone());
        let saga = named.clone().next().unwrap_or(0);
        events.push((saga, name, json.to_string()));
    }
    store
        .log_saga_events(&events, agg_core::clock::current())
        .await?;
    // The archived sagas are stored before the state that no longer holds
    // them: a crash in between leaves them in both, never in neither.
    let archived = engine.take_archived();
    let bodies = archived
        .iter()
        .map(|a| {
            Ok(agg_core::ArchivedSagaRow {
                id: a.id().0,
                last_seen: a.saga.last_seen,
                body: serde_json::to_string(a)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    store.put_saga_archive(&bodies).await?;
    // The core and the sagas this save changed, not every live saga.
    let parts = engine.to_parts()?;
    let parts = agg_core::SagaStateParts {
        core: &parts.core,
        sagas: &parts.sagas,
        gone: &parts.gone,
        feeds: &parts.feeds,
        terms: &parts.terms,
        terms_whole: parts.terms_whole,
        items: &parts.items,
        items_whole: parts.items_whole,
        postings: &parts.postings,
        postings_whole: parts.postings_whole,
        dues: &parts.dues,
        dues_whole: parts.dues_whole,
    };
    let state_ready = t.elapsed();
    store.save_saga_state(STATE_KEY, &parts).await?;
    let state_saved = t.elapsed();
    write_saga_list(store, engine, touched, &archived).await?;
    tracing::debug!(
        ?state_ready, ?state_saved, listed = ?t.elapsed(),
        core_bytes = parts.core.len(), saga_rows = parts.sagas.len(), feed_rows = parts.feeds.len(),
        terms = parts.terms.len(), posting_lists = parts.postings.len(),
        "saga state saved"
    );
    let marks = if engine.is_partial() {
        // Only the loaded sagas can have changed (a merge carries a
        // follow over); the other marks stand as stored.
        let mut m: SagaMarks = match store.load_state(MARKS_KEY).await? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| anyhow::anyhow!("stored saga marks are unreadable: {e}"))?,
            None => SagaMarks::default(),
        };
        for s in engine.sagas() {
            m.followed.retain(|&id| id != s.id.0);
            m.muted.retain(|&id| id != s.id.0);
            if s.followed {
                m.followed.push(s.id.0);
            }
            if s.muted {
                m.muted.push(s.id.0);
            }
        }
        m.followed.sort_unstable();
        m.muted.sort_unstable();
        m
    } else {
        SagaMarks {
            followed: engine
                .sagas()
                .filter(|s| s.followed)
                .map(|s| s.id.0)
                .collect(),
            muted: engine.sagas().filter(|s| s.muted).map(|s| s.id.0).collect(),
        }
    };
    store
        .save_state(MARKS_KEY, &serde_json::to_string(&marks)?)
        .await?;
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
        let items = input.collect().await;
        if items.is_empty() {
            // Nothing pending: the engine's state is neither loaded nor saved.
            return Ok(());
        }
        let (placed, mut items) = self.place_known(ctx, items).await?;
        for chunk in placed.chunks(256) {
            output.send(chunk.to_vec()).await?;
        }
        if items.is_empty() {
            // Every item was placed by an earlier run: the engine's state
            // is neither loaded nor saved.
            return Ok(());
        }
        if self.opts.use_embeddings {
            with_cached_embeddings(ctx.store.as_ref(), &mut items).await?;
        }
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

/// Items taken from the store (a backlog: the scorer handled them in an
/// earlier run) carry no vector in memory; the scorer cached one per item
/// and model, so the saga step reads those instead of grouping them on
/// words alone.
async fn with_cached_embeddings(
    store: &dyn Store,
    items: &mut [agg_core::Item],
) -> anyhow::Result<()> {
    let missing: Vec<i64> = items
        .iter()
        .filter(|i| i.embedding.is_none())
        .filter_map(|i| i.id)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let Some(model) = store.latest_embedding_model().await? else {
        return Ok(());
    };
    let mut cached = store.get_embeddings(&model, &missing).await?;
    for i in items.iter_mut().filter(|i| i.embedding.is_none()) {
        if let Some(v) = i.id.and_then(|id| cached.remove(&id)) {
            i.embedding = Some(std::sync::Arc::from(v));
        }
    }
    Ok(())
}

impl Saga {
    /// Splits off the items the engine placed in an earlier run (their
    /// stored row names a saga; re-offering them to the engine changes
    /// nothing) and gives them their saga and follow/mute adjustment from
    /// the store and [`MARKS_KEY`]. Returns (placed, still to assign). With
    /// no marks document (a store whose engine was last saved by an older
    /// agg) every item goes to the engine, as before.
    async fn place_known(
        &self,
        ctx: &RunCtx,
        items: Vec<agg_core::Item>,
    ) -> anyhow::Result<(Vec<agg_core::Item>, Vec<agg_core::Item>)> {
        let store = ctx.store.as_ref();
        let ids: Vec<i64> = items.iter().filter_map(|i| i.id).collect();
        if ids.is_empty() {
            return Ok((Vec::new(), items));
        }
        let Some(marks) = store.load_state(MARKS_KEY).await? else {
            return Ok((Vec::new(), items));
        };
        let marks: SagaMarks = serde_json::from_str(&marks)
            .map_err(|e| anyhow::anyhow!("stored saga marks are unreadable: {e}"))?;
        let stored: std::collections::HashMap<i64, SagaRef> = store
            .get_items(&ids)
            .await?
            .into_iter()
            .filter_map(|i| Some((i.id?, i.saga?)))
            .collect();
        let (mut placed, rest): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|i| i.id.is_some_and(|id| stored.contains_key(&id)));
        let mut scores = Vec::new();
        for item in &mut placed {
            let mut r = stored[&item.id.unwrap_or_default()].clone();
            r.followed = marks.followed.contains(&r.id);
            r.muted = marks.muted.contains(&r.id);
            self.adjust(item, &r);
            if r.followed || r.muted {
                scores.extend(
                    item.score
                        .zip(item.id)
                        .map(|(score, item_id)| agg_core::ScoreRow {
                            item_id,
                            score,
                            model: "saga".into(),
                            reasons: item.reasons.clone(),
                        }),
                );
            }
            item.saga = Some(r);
        }
        if !ctx.dry_run {
            store.set_scores(&scores).await?;
        }
        Ok((placed, rest))
    }

    /// Raises an item of a followed saga, lowers one of a muted saga, and
    /// says why.
    fn adjust(&self, item: &mut agg_core::Item, r: &SagaRef) {
        if let Some(score) = item.score {
            if r.followed {
                item.score = Some((score * self.opts.follow_boost).min(1.0));
                item.reasons
                    .insert(0, format!("you follow the saga \"{}\"", r.title));
            } else if r.muted {
                item.score = Some(score * self.opts.mute_factor);
                item.reasons
                    .insert(0, format!("you muted the saga \"{}\"", r.title));
            }
        }
    }

    /// Assigns `items` to sagas and stores the result; the engine is held.
    async fn assign(&self, ctx: &RunCtx, items: &mut [agg_core::Item]) -> anyhow::Result<()> {
        let t = std::time::Instant::now();
        // The saga windows' clock (pinned by `AGG_NOW` in tests and demos).
        let now = agg_core::clock::now()?;
        let sis: Vec<SagaItem> = items
            .iter()
            .map(|item| SagaItem {
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
                feed: item.feed.clone(),
                origin: origin_of(item),
                lang: None,
            })
            .collect();
        let mut engine = load_engine_for(ctx.store.as_ref(), &sis, now).await?;
        let loaded = t.elapsed();
        let mut rows = Vec::with_capacity(items.len());
        for (item, si) in items.iter_mut().zip(&sis) {
            let a = engine.assign(si, now);
            let saga = engine
                .saga(a.saga)
                .ok_or_else(|| anyhow::anyhow!("saga {} vanished", a.saga.0))?;
            let mut r = saga_ref(saga);
            r.followed = a.followed;
            r.muted = a.muted;
            self.adjust(item, &r);
            let r = saga_ref(saga);
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
            // Long-quiet sagas leave the state every run loads (issue 23),
            // once the lists that pushes wait for are read.
            let assigned = t.elapsed();
            settle_postings(ctx.store.as_ref(), &mut engine).await?;
            engine.archive(now);
            let archived = t.elapsed();
            save_engine(ctx.store.as_ref(), &mut engine).await?;
            tracing::debug!(agent = %ctx.agent, ?loaded, ?assigned, ?archived, saved = ?t.elapsed(), "saga step");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(feed: &str, feed_title: &str) -> agg_core::Item {
        let mut i: agg_core::Item = serde_json::from_value(serde_json::json!({
            "key": "k", "source": "news", "title": "t", "text": "",
            "fetched": "2025-01-01T00:00:00Z"
        }))
        .unwrap();
        i.feed = Some(feed.into());
        i.feed_title = Some(feed_title.into());
        i
    }

    #[test]
    fn origin_tells_podcasts_and_aggregators() {
        assert_eq!(
            origin_of(&item("https://example.org/feed.xml", "Example Times")),
            agg_saga::Origin::Article
        );
        assert_eq!(
            origin_of(&item("https://news.ycombinator.com/rss", "Hacker News")),
            agg_saga::Origin::Aggregator
        );
        assert_eq!(
            origin_of(&item(
                "https://www.reddit.com/.rss",
                "reddit: the front page of the internet"
            )),
            agg_saga::Origin::Aggregator
        );
        let mut p = item("https://example.org/podcast.xml", "This American Life");
        p.enclosures.push(agg_core::Enclosure {
            url: "https://cdn.example.org/214.mp3?x=1".into(),
            mime: None,
            length: None,
        });
        assert_eq!(origin_of(&p), agg_saga::Origin::Podcast);
    }
}
