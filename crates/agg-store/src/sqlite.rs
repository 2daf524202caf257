//! SQLite implementation of the store.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use agg_core::store::{FeedState, ScoreRow};
use agg_core::{Item, SagaRef};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::packed::{Body, pack};
use crate::rows::{blob_to_vec, vec_to_blob};

crate::shared::generic_methods!(sqlx::Sqlite, SqliteStore, sqlx::sqlite::SqliteRow, "rowid");

/// `Store::search_text` (`shared.rs`): FTS5 (`search.rs`).
use crate::search::sqlite_search as text_search;

// The pieces of the shared item listing (`list_items`, `count_items` in
// `shared.rs`) that SQLite writes its own way.

/// Only items of the listed feeds (`ItemQuery::feeds`), the list in
/// parameter `$p`: SQLite has no arrays, so the list is bound as one JSON
/// array ([`feeds_bind`]) and read back with `json_each`.
macro_rules! feeds_filter {
    ($p:literal) => {
        concat!(
            "(",
            $p,
            " IS NULL OR feed IN (SELECT value FROM json_each(",
            $p,
            ")))"
        )
    };
}

/// `ItemQuery::feeds` as [`feeds_filter`] reads it: a JSON array.
fn feeds_bind(feeds: Option<&[String]>) -> Option<String> {
    feeds.map(|f| serde_json::json!(f).to_string())
}

/// The `LIMIT` of a listing without one: SQLite reads a negative limit as
/// none, and fails on a NULL one.
const NO_LIMIT: Option<i64> = Some(-1);

/// An item body column (`text`, `html`): TEXT as written, or a BLOB that
/// [`crate::packed`] packed.
pub(crate) fn body(r: &sqlx::sqlite::SqliteRow, col: &str) -> anyhow::Result<Option<String>> {
    use sqlx::{TypeInfo, ValueRef};
    let raw = r.try_get_raw(col)?;
    if raw.is_null() {
        return Ok(None);
    }
    if raw.type_info().name() == "BLOB" {
        let b: Vec<u8> = r.try_get_unchecked(col)?;
        return crate::packed::unpack(&b).map(Some);
    }
    Ok(Some(r.try_get_unchecked::<String, _>(col)?))
}

/// A packed body binds as what it is, TEXT or BLOB, so every INSERT and
/// UPDATE binds `pack(body)` like any other value.
impl sqlx::Type<sqlx::Sqlite> for crate::packed::Body<'_> {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <str as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for crate::packed::Body<'_> {
    fn encode(
        self,
        buf: &mut sqlx::sqlite::SqliteArgumentsBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self {
            Body::Text(t) => <&str as sqlx::Encode<sqlx::Sqlite>>::encode(t, buf),
            Body::Packed(p) => <Vec<u8> as sqlx::Encode<sqlx::Sqlite>>::encode(p, buf),
        }
    }

    fn encode_by_ref(
        &self,
        buf: &mut sqlx::sqlite::SqliteArgumentsBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self {
            Body::Text(t) => <&str as sqlx::Encode<sqlx::Sqlite>>::encode_by_ref(t, buf),
            Body::Packed(p) => <Vec<u8> as sqlx::Encode<sqlx::Sqlite>>::encode_by_ref(p, buf),
        }
    }

    fn produces(&self) -> Option<sqlx::sqlite::SqliteTypeInfo> {
        Some(match self {
            Body::Text(_) => <str as sqlx::Type<sqlx::Sqlite>>::type_info(),
            Body::Packed(_) => <[u8] as sqlx::Type<sqlx::Sqlite>>::type_info(),
        })
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// A store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Keys looked up per `SELECT … IN (…)`, and rows per multi-row `INSERT`
/// (17 parameters each): well under SQLite's 32,766 bound parameters.
const KEYS_PER_SELECT: usize = 500;
/// Rows per multi-row INSERT or UPDATE: at most 4 values each, far under
/// SQLite's 32,766 bound variables per statement.
const ROWS_PER_STATEMENT: usize = 500;
const ROWS_PER_INSERT: usize = 200;

/// The columns of a stored item whose change makes an update worth writing
/// (an item whose feed re-sends it unchanged costs no write).
struct Shown {
    title: String,
    text: String,
    html: Option<String>,
    url: Option<String>,
    updated: Option<DateTime<Utc>>,
}

impl Shown {
    fn of(it: &Item) -> Self {
        Shown {
            title: it.title.clone(),
            text: it.text.clone(),
            html: it.html.clone(),
            url: it.url.clone(),
            updated: it.updated,
        }
    }

    fn same_as(&self, it: &Item) -> bool {
        self.title == it.title
            && self.text == it.text
            && self.html == it.html
            && self.url == it.url
            && self.updated == it.updated
    }
}

impl SqliteStore {
    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock up
    /// front: a deferred transaction that reads first and then writes cannot
    /// upgrade its lock while another connection writes, and SQLite fails it
    /// at once (SQLITE_BUSY) instead of waiting for the busy timeout.
    async fn write_tx(&self) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it. WAL mode
    /// lets readers (`agg items`, the web UI) run while a pipeline writes; a
    /// busy timeout makes concurrent writers wait instead of failing.
    pub async fn open(path: &str) -> anyhow::Result<Self> {
        if path != ":memory:"
            && let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        // Opening is serialised by a lock file beside the database: sqlx does
        // not lock SQLite migrations (two processes opening a new file would
        // both create the tables), and switching a new file to WAL fails at
        // once, not after the busy timeout, while another opener holds it.
        let lock = if path == ":memory:" {
            None
        } else {
            let f = std::fs::File::create(format!("{path}.migrate-lock"))
                .with_context(|| format!("cannot create the lock file beside {path}"))?;
            let f = tokio::task::spawn_blocking(move || f.lock().map(|()| f)).await??;
            Some(f)
        };
        let opts = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // 16 MB of pages per connection (SQLite's default is 2 MB): a
            // long-lived server keeps the interior pages search passes
            // through (items, copies, the full-text index) in its own
            // memory, which a machine that drops its page cache within
            // minutes does not. /ui/search p50 at 1M items with the page
            // cache dropped before each query: 59 ms against 70–76.
            .pragma("cache_size", "-16384");
        let pool = SqlitePoolOptions::new()
            .max_connections(if path == ":memory:" { 1 } else { 4 })
            .connect_with(opts)
            .await
            .with_context(|| format!("cannot open database {path}"))?;
        let mut migrated = MIGRATOR.run(&pool).await.map_err(anyhow::Error::from);
        if migrated.is_ok() {
            // Under the same lock: one opener indexes what an older version
            // stored, the others wait and find it done.
            migrated = crate::search::backfill(&pool).await;
        }
        let store = SqliteStore { pool };
        if migrated.is_ok() {
            // The same for the codes of vectors stored before pages.
            migrated = store.vpages_backfill().await;
        }
        if let Some(f) = lock {
            let _ = f.unlock();
        }
        migrated.with_context(|| format!("cannot migrate database {path}"))?;
        Ok(store)
    }
}

/// The write transaction `upsert_items` runs in.
type WriteTx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// What is stored already of `keys`, with the columns that decide whether
/// an update changes anything.
async fn stored_of(
    tx: &mut WriteTx,
    keys: &[String],
) -> anyhow::Result<HashMap<String, (i64, Shown)>> {
    let mut stored = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_SELECT) {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT id, key, title, text, html, url, updated FROM items WHERE key IN (",
        );
        let mut list = q.separated(", ");
        for k in chunk {
            list.push_bind(k);
        }
        q.push(")");
        // Not cached: batch statements differ in length, and each cached
        // shape kept a prepared statement of up to hundreds of
        // parameters (ingest benchmark: peak RSS −3 MiB).
        for r in q.build().persistent(false).fetch_all(&mut **tx).await? {
            let shown = Shown {
                title: r.try_get("title")?,
                text: body(&r, "text")?.unwrap_or_default(),
                html: body(&r, "html")?,
                url: r.try_get("url")?,
                updated: r.try_get("updated")?,
            };
            stored.insert(r.try_get("key")?, (r.try_get("id")?, shown));
        }
    }
    Ok(stored)
}

/// Positions in `items` of first sightings of unknown keys (inserted), and
/// of everything else — stored items, keys repeated within the batch —
/// compared afterwards in batch order, as if the items came one by one.
/// Tombstoned keys (`gone`) are in neither.
fn sort_batch(
    items: &[Item],
    stored: &HashMap<String, (i64, Shown)>,
    gone: &std::collections::HashSet<String>,
) -> (Vec<usize>, Vec<usize>) {
    let mut fresh = Vec::new();
    let mut later = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        if gone.contains(&it.key) {
            continue;
        }
        if stored.contains_key(&it.key) || !seen.insert(it.key.as_str()) {
            later.push(i);
        } else {
            fresh.push(i);
        }
    }
    (fresh, later)
}

/// Inserts the items at positions `fresh` in multi-row statements, gives
/// each its id and `is_new`, and writes their words into the search index;
/// returns how many were inserted.
async fn insert_fresh(
    tx: &mut WriteTx,
    items: &mut [Item],
    fresh: &[usize],
) -> anyhow::Result<u64> {
    let mut new = 0;
    for chunk in fresh.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO items (key, source, feed, feed_title, guid, url, title, text, html,
                 author, published, updated, fetched, sort_time, tags, also_in, enclosures) ",
        );
        let mut encoded = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let it = &items[i];
            encoded.push((
                serde_json::to_string(&it.tags)?,
                serde_json::to_string(&it.also_in)?,
                serde_json::to_string(&it.enclosures)?,
            ));
        }
        q.push_values(
            chunk.iter().zip(&encoded),
            |mut b, (&i, (tags, also, encl))| {
                let it = &items[i];
                b.push_bind(&it.key)
                    .push_bind(&it.source)
                    .push_bind(&it.feed)
                    .push_bind(&it.feed_title)
                    .push_bind(&it.guid)
                    .push_bind(&it.url)
                    .push_bind(&it.title)
                    .push_bind(pack(&it.text))
                    .push_bind(it.html.as_deref().map(pack))
                    .push_bind(&it.author)
                    .push_bind(it.published)
                    .push_bind(it.updated)
                    .push_bind(it.fetched)
                    .push_bind(it.when())
                    .push_bind(tags)
                    .push_bind(also)
                    .push_bind(encl);
            },
        );
        // RETURNING order is not guaranteed: ids are matched by key.
        q.push(" RETURNING id, key");
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(chunk.len());
        for r in q.build().persistent(false).fetch_all(&mut **tx).await? {
            ids.insert(r.try_get("key")?, r.try_get("id")?);
        }
        for &i in chunk {
            let id = *ids
                .get(&items[i].key)
                .context("an inserted item came back without its id")?;
            items[i].id = Some(id);
            items[i].is_new = true;
            new += 1;
        }
    }
    let words: Vec<(i64, &str, &str)> = fresh
        .iter()
        .map(|&i| &items[i])
        .filter_map(|it| Some((it.id?, it.title.as_str(), it.text.as_str())))
        .collect();
    crate::search::index(tx, &words, crate::search::Words::New).await?;
    Ok(new)
}

/// Gives the items at positions `later` their stored ids, and writes those
/// their feed changed (in place, keeping the first fetch time: the item is
/// not new to the reader), re-indexing their words when the text changed.
async fn update_changed(
    tx: &mut WriteTx,
    items: &mut [Item],
    later: &[usize],
    stored: &mut HashMap<String, (i64, Shown)>,
) -> anyhow::Result<()> {
    for &i in later {
        let it = &mut items[i];
        let Some((id, shown)) = stored.get_mut(&it.key) else {
            continue;
        };
        it.id = Some(*id);
        it.is_new = false;
        if shown.same_as(it) {
            continue;
        }
        sqlx::query(
            "UPDATE items SET title = ?, text = ?, html = ?, url = ?, author = ?,
                 updated = ?, tags = ?, feed_title = ?, enclosures = ?
             WHERE id = ?",
        )
        .bind(&it.title)
        .bind(pack(&it.text))
        .bind(it.html.as_deref().map(pack))
        .bind(&it.url)
        .bind(&it.author)
        .bind(it.updated)
        .bind(serde_json::to_string(&it.tags)?)
        .bind(&it.feed_title)
        .bind(serde_json::to_string(&it.enclosures)?)
        .bind(*id)
        .execute(&mut **tx)
        .await?;
        if shown.title != it.title || shown.text != it.text {
            let words = [(*id, it.title.as_str(), it.text.as_str())];
            crate::search::index(tx, &words, crate::search::Words::Replace).await?;
        }
        *shown = Shown::of(it);
    }
    Ok(())
}

impl SqliteStore {
    /// `Store::claim_feeds` (`shared.rs`) once the claim's end is known:
    /// one write transaction (BEGIN IMMEDIATE), two statements per URL
    /// (no arrays). SQLite has one writer at a time, so claims cannot
    /// interleave; a claim has expired when it ended before `now`.
    async fn claim_feeds_until(
        &self,
        urls: &[String],
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        let mut tx = self.write_tx().await?;
        let mut claimed = Vec::new();
        for url in urls {
            sqlx::query("INSERT INTO feeds (url) VALUES (?) ON CONFLICT (url) DO NOTHING")
                .bind(url)
                .execute(&mut *tx)
                .await?;
            let res = sqlx::query(
                "UPDATE feeds SET claim_holder = ?1, claim_until = ?2
                 WHERE url = ?3 AND (claim_until IS NULL OR claim_until < ?4 OR claim_holder = ?1)",
            )
            .bind(holder)
            .bind(until)
            .bind(url)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 1 {
                claimed.push(url.clone());
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }
}

// SQLite's own methods: it has no arrays, so each batch is a statement per
// chunk (within its bound-parameter limit), a write batch all in one
// `BEGIN IMMEDIATE` transaction; long bodies are packed (`packed.rs`) and
// their words indexed by the store (`search.rs`).
crate::shared::impl_store!(SqliteStore, {
    async fn upsert_items(&self, items: &mut [Item]) -> anyhow::Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        // A handful of statements per batch instead of two per item: every
        // statement is a round trip to sqlx's SQLite thread, and with one
        // per item those round trips, not SQLite, bounded ingest speed.
        let mut tx = self.write_tx().await?;
        let mut keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut stored = stored_of(&mut tx, &keys).await?;
        // Deleted by retention: never stored again (the item's id stays
        // unset and it is not new).
        let gone = Self::history_gone_in(&mut tx, &keys, &stored).await?;
        let (fresh, later) = sort_batch(items, &stored, &gone);
        for it in items.iter_mut().filter(|it| gone.contains(&it.key)) {
            it.id = None;
            it.is_new = false;
        }
        let new = insert_fresh(&mut tx, items, &fresh).await?;
        if !later.is_empty() {
            // Keys repeated within the batch compare against the first copy
            // (copied only for those keys: a copy of every fresh item's
            // bodies was ~1 MiB of the ingest benchmark's peak).
            let repeated: std::collections::HashSet<&str> = later
                .iter()
                .map(|&i| items[i].key.as_str())
                .filter(|k| !stored.contains_key(*k))
                .collect();
            let firsts: Vec<(String, (i64, Shown))> = fresh
                .iter()
                .map(|&i| &items[i])
                .filter(|it| repeated.contains(it.key.as_str()))
                .map(|it| (it.key.clone(), (it.id.unwrap_or_default(), Shown::of(it))))
                .collect();
            stored.extend(firsts);
        }
        update_changed(&mut tx, items, &later, &mut stored).await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn save_feed_states(&self, states: &[FeedState]) -> anyhow::Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        // One statement (and one commit) for a batch of feeds: a commit per
        // feed was a WAL write per feed.
        let mut tx = self.write_tx().await?;
        for chunk in states.chunks(ROWS_PER_INSERT) {
            let mut recent = Vec::with_capacity(chunk.len());
            for s in chunk {
                recent.push(serde_json::to_string(&s.recent_items)?);
            }
            let mut q = sqlx::QueryBuilder::new(crate::shared::feeds_insert!());
            q.push_values(chunk.iter().zip(&recent), |mut b, (s, recent)| {
                b.push_bind(&s.url)
                    .push_bind(&s.agent)
                    .push_bind(&s.title)
                    .push_bind(&s.etag)
                    .push_bind(&s.last_modified)
                    .push_bind(s.last_fetch)
                    .push_bind(s.last_success)
                    .push_bind(&s.last_error)
                    .push_bind(s.consecutive_failures as i64)
                    .push_bind(s.next_fetch)
                    .push_bind(s.paused)
                    .push_bind(&s.pause_reason)
                    .push_bind(&s.moved_to)
                    .push_bind(s.items_total as i64)
                    .push_bind(recent);
            });
            q.push(crate::shared::feeds_upsert!());
            q.build().persistent(false).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_items(&self, ids: &[i64]) -> anyhow::Result<Vec<Item>> {
        // One statement per chunk of ids, in the order asked.
        let mut by_id: HashMap<i64, Item> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(KEYS_PER_SELECT) {
            let mut q =
                sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT * FROM items WHERE id IN (");
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(")");
            for r in q.build().fetch_all(&self.pool).await? {
                let it = item_from_row(&r)?;
                by_id.insert(it.id.unwrap_or_default(), it);
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn get_embeddings(
        &self,
        model: &str,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, Vec<f32>>> {
        // One statement per chunk of ids (a search reads thousands).
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(KEYS_PER_SELECT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT item_id, vector FROM embeddings WHERE model = ",
            );
            q.push_bind(model).push(" AND item_id IN (");
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(")");
            for r in q.build().fetch_all(&self.pool).await? {
                let b: Vec<u8> = r.try_get("vector")?;
                out.insert(r.try_get("item_id")?, blob_to_vec(&b));
            }
        }
        Ok(out)
    }

    async fn put_embeddings(&self, model: &str, rows: &[(i64, Vec<f32>)]) -> anyhow::Result<()> {
        // Multi-row statements, one transaction; an id listed twice keeps
        // its last vector (INSERT OR REPLACE, rows applied in order).
        let mut tx = self.write_tx().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT OR REPLACE INTO embeddings (item_id, model, vector) ",
            );
            q.push_values(chunk, |mut b, (id, v)| {
                b.push_bind(*id).push_bind(model).push_bind(vec_to_blob(v));
            });
            q.build().execute(&mut *tx).await?;
        }
        // Their codes, for search's index, in the same transaction.
        Self::vpages_put_in(&mut tx, model, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_scores(&self, rows: &[ScoreRow]) -> anyhow::Result<()> {
        // One UPDATE … FROM (VALUES …) per chunk; an id listed twice keeps
        // its last row (one statement may not change a row twice).
        let mut last: HashMap<i64, &ScoreRow> = HashMap::with_capacity(rows.len());
        for r in rows {
            last.insert(r.item_id, r);
        }
        let rows: Vec<(i64, f64, &str, String)> = last
            .into_values()
            .map(|r| {
                Ok((
                    r.item_id,
                    f64::from(r.score),
                    r.model.as_str(),
                    serde_json::to_string(&r.reasons)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut tx = self.write_tx().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q =
                sqlx::QueryBuilder::<sqlx::Sqlite>::new("WITH u(id, score, model, reasons) AS (");
            q.push_values(chunk, |mut b, (id, score, model, reasons)| {
                b.push_bind(*id)
                    .push_bind(*score)
                    .push_bind(*model)
                    .push_bind(reasons.as_str());
            });
            q.push(
                ") UPDATE items SET score = u.score, score_model = u.model, reasons = u.reasons
                 FROM u WHERE items.id = u.id",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_item_sagas(&self, rows: &[(String, SagaRef, f32)]) -> anyhow::Result<()> {
        // As `set_scores`: chunked UPDATE … FROM, the last row of a key wins.
        let mut last: HashMap<&str, (&SagaRef, f32)> = HashMap::with_capacity(rows.len());
        for (key, saga, score) in rows {
            last.insert(key.as_str(), (saga, *score));
        }
        let rows: Vec<(&str, (&SagaRef, f32))> = last.into_iter().collect();
        let mut tx = self.write_tx().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q =
                sqlx::QueryBuilder::<sqlx::Sqlite>::new("WITH u(key, id, title, score) AS (");
            q.push_values(chunk, |mut b, (key, (saga, score))| {
                b.push_bind(*key)
                    .push_bind(saga.id as i64)
                    .push_bind(saga.title.as_str())
                    .push_bind(f64::from(*score));
            });
            q.push(
                ") UPDATE items SET saga_id = u.id, saga_title = u.title, saga_score = u.score
                 FROM u WHERE items.key = u.key",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
});
