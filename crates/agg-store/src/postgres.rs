//! PostgreSQL implementation of the store: the same contract as SQLite, for
//! several workers on several machines sharing one database.

use std::collections::HashMap;
use std::time::Duration;

use agg_core::store::{FeedState, ScoreRow};
use agg_core::{Item, SagaRef};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

use crate::rows::{blob_to_vec, vec_to_blob};

crate::shared::generic_methods!(sqlx::Postgres, PgStore, sqlx::postgres::PgRow, "seq");

/// `Store::search_text` (`shared.rs`): `tsvector` and `ts_rank` (`search.rs`).
use crate::search::postgres_search as text_search;

// The pieces of the shared item listing (`list_items`, `count_items` in
// `shared.rs`) that PostgreSQL writes its own way.

/// Only items of the listed feeds (`ItemQuery::feeds`), the list in
/// parameter `$p`: bound as a `text[]` array ([`feeds_bind`]), matched with
/// `= ANY`.
macro_rules! feeds_filter {
    ($p:literal) => {
        concat!("(", $p, "::text[] IS NULL OR feed = ANY(", $p, "))")
    };
}

/// `ItemQuery::feeds` as [`feeds_filter`] reads it: the array itself.
fn feeds_bind(feeds: Option<&[String]>) -> Option<&[String]> {
    feeds
}

/// The `LIMIT` of a listing without one: PostgreSQL reads a NULL limit as
/// none, and fails on a negative one.
const NO_LIMIT: Option<i64> = None;

/// An item body column (`text`, `html`): plain text here (PostgreSQL
/// compresses large values itself).
fn body(r: &sqlx::postgres::PgRow, col: &str) -> anyhow::Result<Option<String>> {
    Ok(r.try_get(col)?)
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// A store in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects (`postgres://user:pass@host/db`) and migrates. Connections
    /// that drop (a database restart) are replaced by the pool on next use.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // A CLI should fail fast on a wrong address; a worker whose
            // database restarts fails one run and retries on its next cycle.
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to {}", redact(url)))?;
        MIGRATOR
            .run(&pool)
            .await
            .with_context(|| format!("cannot migrate {}", redact(url)))?;
        let store = PgStore { pool };
        // Codes of vectors stored before search's index had pages.
        store
            .vpages_backfill()
            .await
            .with_context(|| format!("cannot migrate {}", redact(url)))?;
        Ok(store)
    }

    async fn write_tx(&self) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    agg_core::secrets::redact_url(url)
}

/// An item batch as one array per column, for `unnest`.
#[derive(Default)]
struct Cols {
    id: Vec<i64>,
    key: Vec<String>,
    source: Vec<String>,
    feed: Vec<Option<String>>,
    feed_title: Vec<Option<String>>,
    guid: Vec<Option<String>>,
    url: Vec<Option<String>>,
    title: Vec<String>,
    text: Vec<String>,
    html: Vec<Option<String>>,
    author: Vec<Option<String>>,
    published: Vec<Option<DateTime<Utc>>>,
    updated: Vec<Option<DateTime<Utc>>>,
    fetched: Vec<DateTime<Utc>>,
    sort_time: Vec<DateTime<Utc>>,
    tags: Vec<String>,
    also_in: Vec<String>,
    enclosures: Vec<String>,
}

impl Cols {
    fn push(&mut self, it: &Item) -> anyhow::Result<()> {
        self.key.push(it.key.clone());
        self.source.push(it.source.clone());
        self.feed.push(it.feed.clone());
        self.feed_title.push(it.feed_title.clone());
        self.guid.push(it.guid.clone());
        self.url.push(it.url.clone());
        self.title.push(it.title.clone());
        self.text.push(it.text.clone());
        self.html.push(it.html.clone());
        self.author.push(it.author.clone());
        self.published.push(it.published);
        self.updated.push(it.updated);
        self.fetched.push(it.fetched);
        self.sort_time.push(it.when());
        self.tags.push(serde_json::to_string(&it.tags)?);
        self.also_in.push(serde_json::to_string(&it.also_in)?);
        self.enclosures.push(serde_json::to_string(&it.enclosures)?);
        Ok(())
    }
}

/// The write transaction `upsert_items` runs in.
type WriteTx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Writes the stored items of a batch (`known`, by key in `ids`) whose
/// content changed, in one statement, keeping their first fetch time (the
/// item is not new to the reader).
async fn update_known(
    tx: &mut WriteTx,
    known: &[&Item],
    ids: &HashMap<String, i64>,
) -> anyhow::Result<()> {
    if known.is_empty() {
        return Ok(());
    }
    let mut c = Cols::default();
    for it in known {
        c.id.push(ids[&it.key]);
        c.push(it)?;
    }
    sqlx::query(
        "UPDATE items AS i SET title = u.title, text = u.text, html = u.html, url = u.url,
                 author = u.author, updated = u.updated, tags = u.tags,
                 feed_title = u.feed_title, enclosures = u.enclosures
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[])
                 AS u(id, title, text, html, url, author, updated, tags, feed_title, enclosures)
             WHERE i.id = u.id AND (i.title IS DISTINCT FROM u.title
                 OR i.text IS DISTINCT FROM u.text OR i.html IS DISTINCT FROM u.html
                 OR i.url IS DISTINCT FROM u.url OR i.updated IS DISTINCT FROM u.updated)",
    )
    .bind(&c.id)
    .bind(&c.title)
    .bind(&c.text)
    .bind(&c.html)
    .bind(&c.url)
    .bind(&c.author)
    .bind(&c.updated)
    .bind(&c.tags)
    .bind(&c.feed_title)
    .bind(&c.enclosures)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts the first sightings `fresh` in one statement, in the batch's
/// order (ids ascend with it), adds their ids to `ids` and returns the keys
/// this call inserted. Another worker may insert the same key meanwhile:
/// that row is left alone, its id read, and the item counts as stored.
async fn insert_fresh(
    tx: &mut WriteTx,
    fresh: &[&Item],
    ids: &mut HashMap<String, i64>,
) -> anyhow::Result<std::collections::HashSet<String>> {
    let mut inserted = std::collections::HashSet::new();
    if fresh.is_empty() {
        return Ok(inserted);
    }
    let mut c = Cols::default();
    for it in fresh {
        c.push(it)?;
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO items (key, source, feed, feed_title, guid, url, title, text, html,
                 author, published, updated, fetched, sort_time, tags, also_in, enclosures)
             SELECT key, source, feed, feed_title, guid, url, title, text, html, author,
                 published, updated, fetched, sort_time, tags, also_in, enclosures
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                 $11::timestamptz[], $12::timestamptz[], $13::timestamptz[],
                 $14::timestamptz[], $15::text[], $16::text[], $17::text[])
                 WITH ORDINALITY AS u(key, source, feed, feed_title, guid, url, title, text,
                     html, author, published, updated, fetched, sort_time, tags, also_in,
                     enclosures, n)
             ORDER BY n
             ON CONFLICT (key) DO NOTHING RETURNING key, id",
    )
    .bind(&c.key)
    .bind(&c.source)
    .bind(&c.feed)
    .bind(&c.feed_title)
    .bind(&c.guid)
    .bind(&c.url)
    .bind(&c.title)
    .bind(&c.text)
    .bind(&c.html)
    .bind(&c.author)
    .bind(&c.published)
    .bind(&c.updated)
    .bind(&c.fetched)
    .bind(&c.sort_time)
    .bind(&c.tags)
    .bind(&c.also_in)
    .bind(&c.enclosures)
    .fetch_all(&mut **tx)
    .await?;
    for (k, id) in rows {
        inserted.insert(k.clone());
        ids.insert(k, id);
    }
    let raced: Vec<String> = fresh
        .iter()
        .filter(|it| !ids.contains_key(&it.key))
        .map(|it| it.key.clone())
        .collect();
    if !raced.is_empty() {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, id FROM items WHERE key = ANY($1)")
                .bind(&raced)
                .fetch_all(&mut **tx)
                .await?;
        ids.extend(rows);
    }
    Ok(inserted)
}

impl PgStore {
    /// `Store::claim_feeds` (`shared.rs`) once the claim's end is known:
    /// two statements, whatever the number of URLs (arrays). `SKIP LOCKED`:
    /// rows another worker is claiming right now are left to it instead of
    /// waited for; claims of dead workers expire. Expiry is judged by the
    /// database's `now()`, not the caller's `_now`, as it always was here:
    /// one clock for workers on several machines.
    async fn claim_feeds_until(
        &self,
        urls: &[String],
        holder: &str,
        _now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        sqlx::query(
            "INSERT INTO feeds (url) SELECT unnest($1::text[]) ON CONFLICT (url) DO NOTHING",
        )
        .bind(urls)
        .execute(&self.pool)
        .await?;
        let claimed: Vec<String> = sqlx::query_scalar(
            "UPDATE feeds SET claim_holder = $2, claim_until = $3
             WHERE url IN (
                 SELECT url FROM feeds
                 WHERE url = ANY($1)
                   AND (claim_until IS NULL OR claim_until < now() OR claim_holder = $2)
                 FOR UPDATE SKIP LOCKED)
             RETURNING url",
        )
        .bind(urls)
        .bind(holder)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        Ok(claimed)
    }
}

// PostgreSQL's own methods: each batch is bound as one array per column
// (`unnest`, `= ANY($1)`), one statement whatever its size, deduplicated
// first where one statement may not change a row twice.
crate::shared::impl_store!(PgStore, {
    /// A batch in a few statements, whatever its size: the keys looked up
    /// at once, the new items inserted from arrays (`unnest`), the changed
    /// ones updated likewise. One statement per item made the round trips,
    /// not the database, the limit of ingest (benches/ingest/workers.sh).
    async fn upsert_items(&self, items: &mut [Item]) -> anyhow::Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        // A key listed twice is stored once, with its last content (as
        // storing them one after the other would leave it).
        let mut last: HashMap<String, usize> = HashMap::new();
        let mut keys: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if last.insert(item.key.clone(), i).is_none() {
                keys.push(item.key.clone());
            }
        }
        let mut tx = self.write_tx().await?;
        let mut ids: HashMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>("SELECT key, id FROM items WHERE key = ANY($1)")
                .bind(&keys)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();

        // Already stored: changed in place, keeping the first fetch time
        // (the item is not new to the reader).
        let known: Vec<&Item> = keys
            .iter()
            .filter_map(|k| ids.get(k).map(|_| &items[last[k]]))
            .collect();
        update_known(&mut tx, &known, &ids).await?;

        // New: inserted in the batch's order (ids ascend with it). Another
        // worker may insert the same key meanwhile: that row is left alone
        // and the item counts as already stored.
        // Deleted by retention: never stored again (the item's id stays
        // unset and it is not new).
        let gone = Self::history_gone_in(&mut tx, &keys, &ids).await?;
        let fresh: Vec<&Item> = keys
            .iter()
            .filter(|k| !ids.contains_key(*k) && !gone.contains(*k))
            .map(|k| &items[last[k]])
            .collect();
        let mut inserted = insert_fresh(&mut tx, &fresh, &mut ids).await?;
        tx.commit().await?;

        // The first occurrence of a key inserted here is new; the rest not.
        let new = inserted.len() as u64;
        for item in items.iter_mut() {
            item.id = ids.get(&item.key).copied();
            item.is_new = inserted.remove(&item.key);
        }
        Ok(new)
    }

    /// One statement for the batch (a URL listed twice keeps its last
    /// state): a fetch cycle saves its feeds a flush at a time.
    async fn save_feed_states(&self, states: &[FeedState]) -> anyhow::Result<()> {
        let mut last: HashMap<&str, &FeedState> = HashMap::with_capacity(states.len());
        let mut order: Vec<&str> = Vec::with_capacity(states.len());
        for s in states {
            if last.insert(s.url.as_str(), s).is_none() {
                order.push(s.url.as_str());
            }
        }
        if order.is_empty() {
            return Ok(());
        }
        let rows: Vec<&FeedState> = order.iter().map(|u| last[u]).collect();
        // One array per column, for `unnest`.
        let texts = |f: fn(&FeedState) -> Option<String>| -> Vec<Option<String>> {
            rows.iter().map(|s| f(s)).collect()
        };
        let times = |f: fn(&FeedState) -> Option<DateTime<Utc>>| -> Vec<Option<DateTime<Utc>>> {
            rows.iter().map(|s| f(s)).collect()
        };
        let url: Vec<String> = rows.iter().map(|s| s.url.clone()).collect();
        let agent = texts(|s| s.agent.clone());
        let title = texts(|s| s.title.clone());
        let etag = texts(|s| s.etag.clone());
        let lm = texts(|s| s.last_modified.clone());
        let last_fetch = times(|s| s.last_fetch);
        let last_success = times(|s| s.last_success);
        let last_error = texts(|s| s.last_error.clone());
        let failures: Vec<i64> = rows.iter().map(|s| s.consecutive_failures as i64).collect();
        let next_fetch = times(|s| s.next_fetch);
        let paused: Vec<bool> = rows.iter().map(|s| s.paused).collect();
        let pause_reason = texts(|s| s.pause_reason.clone());
        let moved_to = texts(|s| s.moved_to.clone());
        let total: Vec<i64> = rows.iter().map(|s| s.items_total as i64).collect();
        let recent = rows
            .iter()
            .map(|s| serde_json::to_string(&s.recent_items))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(concat!(
            crate::shared::feeds_insert!(),
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::timestamptz[], $7::timestamptz[], $8::text[], $9::bigint[],
                 $10::timestamptz[], $11::bool[], $12::text[], $13::text[], $14::bigint[],
                 $15::text[])",
            crate::shared::feeds_upsert!()
        ))
        .bind(&url)
        .bind(&agent)
        .bind(&title)
        .bind(&etag)
        .bind(&lm)
        .bind(&last_fetch)
        .bind(&last_success)
        .bind(&last_error)
        .bind(&failures)
        .bind(&next_fetch)
        .bind(&paused)
        .bind(&pause_reason)
        .bind(&moved_to)
        .bind(&total)
        .bind(&recent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_items(&self, ids: &[i64]) -> anyhow::Result<Vec<Item>> {
        // One query, then the caller's order (missing ids are left out).
        let rows = sqlx::query("SELECT * FROM items WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        let mut by_id: HashMap<i64, Item> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let item = item_from_row(r)?;
            if let Some(id) = item.id {
                by_id.insert(id, item);
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    async fn get_embeddings(
        &self,
        model: &str,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, Vec<f32>>> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT item_id, vector FROM embeddings WHERE model = $1 AND item_id = ANY($2)",
        )
        .bind(model)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, b)| (id, blob_to_vec(&b)))
            .collect())
    }

    async fn put_embeddings(&self, model: &str, rows: &[(i64, Vec<f32>)]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One statement; an id listed twice keeps its last vector (one
        // statement may not change a row twice).
        let mut last: HashMap<i64, &Vec<f32>> = HashMap::with_capacity(rows.len());
        for (id, v) in rows {
            last.insert(*id, v);
        }
        let (ids, blobs): (Vec<i64>, Vec<Vec<u8>>) =
            last.iter().map(|(id, v)| (*id, vec_to_blob(v))).unzip();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO embeddings (item_id, model, vector)
             SELECT id, $3, v FROM unnest($1::bigint[], $2::bytea[]) AS u(id, v)
             ON CONFLICT (item_id, model) DO UPDATE SET vector = excluded.vector",
        )
        .bind(&ids)
        .bind(&blobs)
        .bind(model)
        .execute(&mut *tx)
        .await?;
        // Their codes, for search's index, in the same transaction.
        let rows: Vec<(i64, Vec<f32>)> = last.into_iter().map(|(id, v)| (id, v.clone())).collect();
        Self::vpages_put_in(&mut tx, model, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_scores(&self, rows: &[ScoreRow]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut last: HashMap<i64, &ScoreRow> = HashMap::with_capacity(rows.len());
        for r in rows {
            last.insert(r.item_id, r);
        }
        let (mut ids, mut scores, mut models, mut reasons) = (
            Vec::with_capacity(last.len()),
            Vec::with_capacity(last.len()),
            Vec::with_capacity(last.len()),
            Vec::with_capacity(last.len()),
        );
        for (id, r) in last {
            ids.push(id);
            scores.push(f64::from(r.score));
            models.push(r.model.clone());
            reasons.push(serde_json::to_string(&r.reasons)?);
        }
        sqlx::query(
            "UPDATE items AS i SET score = u.score, score_model = u.model, reasons = u.reasons
             FROM unnest($1::bigint[], $2::float8[], $3::text[], $4::text[])
                 AS u(id, score, model, reasons)
             WHERE i.id = u.id",
        )
        .bind(&ids)
        .bind(&scores)
        .bind(&models)
        .bind(&reasons)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_item_sagas(&self, rows: &[(String, SagaRef, f32)]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut last: HashMap<&str, (&SagaRef, f32)> = HashMap::with_capacity(rows.len());
        for (key, saga, score) in rows {
            last.insert(key.as_str(), (saga, *score));
        }
        let (mut keys, mut ids, mut titles, mut scores) = (
            Vec::with_capacity(last.len()),
            Vec::with_capacity(last.len()),
            Vec::with_capacity(last.len()),
            Vec::with_capacity(last.len()),
        );
        for (key, (saga, score)) in last {
            keys.push(key.to_string());
            ids.push(saga.id as i64);
            titles.push(saga.title.clone());
            scores.push(f64::from(score));
        }
        sqlx::query(
            "UPDATE items AS i SET saga_id = u.id, saga_title = u.title, saga_score = u.score
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[])
                 AS u(key, id, title, score)
             WHERE i.key = u.key",
        )
        .bind(&keys)
        .bind(&ids)
        .bind(&titles)
        .bind(&scores)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
});
