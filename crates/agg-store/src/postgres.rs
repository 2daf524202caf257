//! PostgreSQL implementation of the store: the same contract as SQLite, for
//! several workers on several machines sharing one database.

use std::collections::HashMap;
use std::time::Duration;

use agg_core::store::{
    AgentOutcome, DigestRecord, FeedState, FeedbackRow, ItemQuery, RunId, RunRecord, RunStatus,
    ScoreRow, Store,
};
use agg_core::{Item, SagaRef};
use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

crate::rows::row_mappers!(sqlx::postgres::PgRow);
use crate::rows::{blob_to_vec, vec_to_blob};

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
        Ok(PgStore { pool })
    }

    async fn write_tx(&self) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[async_trait]
impl Store for PgStore {
    async fn upsert_items(&self, items: &mut [Item]) -> anyhow::Result<u64> {
        let mut tx = self.write_tx().await?;
        let mut new = 0;
        for item in items.iter_mut() {
            let tags = serde_json::to_string(&item.tags)?;
            let also = serde_json::to_string(&item.also_in)?;
            let enclosures = serde_json::to_string(&item.enclosures)?;
            let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM items WHERE key = $1")
                .bind(&item.key)
                .fetch_optional(&mut *tx)
                .await?;
            match existing {
                Some(id) => {
                    // Updated by its feed: change in place, keep the first
                    // fetch time (the item is not new to the reader).
                    sqlx::query(
                        "UPDATE items SET title = $1, text = $2, html = $3, url = $4, author = $5,
                             updated = $6, tags = $7, feed_title = $8, enclosures = $9
                         WHERE id = $10 AND (title IS DISTINCT FROM $11 OR text IS DISTINCT FROM $12
                             OR html IS DISTINCT FROM $13 OR url IS DISTINCT FROM $14
                             OR updated IS DISTINCT FROM $15)",
                    )
                    .bind(&item.title)
                    .bind(&item.text)
                    .bind(&item.html)
                    .bind(&item.url)
                    .bind(&item.author)
                    .bind(item.updated)
                    .bind(&tags)
                    .bind(&item.feed_title)
                    .bind(&enclosures)
                    .bind(id)
                    .bind(&item.title)
                    .bind(&item.text)
                    .bind(&item.html)
                    .bind(&item.url)
                    .bind(item.updated)
                    .execute(&mut *tx)
                    .await?;
                    item.id = Some(id);
                    item.is_new = false;
                }
                None => {
                    // Another worker may insert the same key between our
                    // SELECT and INSERT: then nothing is inserted here and
                    // the item counts as already stored.
                    let inserted: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO items (key, source, feed, feed_title, guid, url, title, text, html,
                             author, published, updated, fetched, sort_time, tags, also_in, enclosures)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                         ON CONFLICT (key) DO NOTHING RETURNING id",
                    )
                    .bind(&item.key)
                    .bind(&item.source)
                    .bind(&item.feed)
                    .bind(&item.feed_title)
                    .bind(&item.guid)
                    .bind(&item.url)
                    .bind(&item.title)
                    .bind(&item.text)
                    .bind(&item.html)
                    .bind(&item.author)
                    .bind(item.published)
                    .bind(item.updated)
                    .bind(item.fetched)
                    .bind(item.when())
                    .bind(&tags)
                    .bind(&also)
                    .bind(&enclosures)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match inserted {
                        Some(id) => {
                            item.id = Some(id);
                            item.is_new = true;
                            new += 1;
                        }
                        None => {
                            let id: i64 = sqlx::query_scalar("SELECT id FROM items WHERE key = $1")
                                .bind(&item.key)
                                .fetch_one(&mut *tx)
                                .await?;
                            item.id = Some(id);
                            item.is_new = false;
                        }
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(new)
    }

    async fn list_items(&self, q: &ItemQuery) -> anyhow::Result<Vec<Item>> {
        let rows = sqlx::query(
            "SELECT * FROM items
             WHERE ($1::text IS NULL OR source = $1)
               AND ($2::timestamptz IS NULL OR sort_time >= $2)
               AND ($3::timestamptz IS NULL OR sort_time < $3)
               AND ($5::bigint IS NULL OR saga_id = $5) AND (NOT $6 OR saga_id IS NOT NULL)
               AND ($7::float8 IS NULL OR score >= $7)
             ORDER BY sort_time DESC, id DESC LIMIT $4",
        )
        .bind(&q.source)
        .bind(q.since)
        .bind(q.until)
        .bind(q.limit.map(|l| l as i64))
        .bind(q.saga.map(|s| s as i64))
        .bind(q.in_saga)
        .bind(q.min_score.map(f64::from))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn count_items(&self, q: &ItemQuery) -> anyhow::Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM items
             WHERE ($1::text IS NULL OR source = $1)
               AND ($2::timestamptz IS NULL OR sort_time >= $2)
               AND ($3::timestamptz IS NULL OR sort_time < $3)
               AND ($4::bigint IS NULL OR saga_id = $4) AND (NOT $5 OR saga_id IS NOT NULL)
               AND ($6::float8 IS NULL OR score >= $6)",
        )
        .bind(&q.source)
        .bind(q.since)
        .bind(q.until)
        .bind(q.saga.map(|s| s as i64))
        .bind(q.in_saga)
        .bind(q.min_score.map(f64::from))
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    async fn begin_run(&self, pipeline: &str) -> anyhow::Result<RunId> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE runs SET status = 'aborted' WHERE pipeline = $1 AND status = 'running'",
        )
        .bind(pipeline)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (pipeline, started, status) VALUES ($1, $2, 'running') RETURNING id",
        )
        .bind(pipeline)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn record_agent(&self, run: RunId, o: &AgentOutcome) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO run_events (run_id, agent, kind, role, status, items_in,
                 items_out, items_new, errors, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (run_id, agent) DO UPDATE SET kind = excluded.kind, role = excluded.role,
                 status = excluded.status, items_in = excluded.items_in,
                 items_out = excluded.items_out, items_new = excluded.items_new,
                 errors = excluded.errors, duration_ms = excluded.duration_ms",
        )
        .bind(run)
        .bind(&o.agent)
        .bind(&o.kind)
        .bind(&o.role)
        .bind(&o.status)
        .bind(o.items_in as i64)
        .bind(o.items_out as i64)
        .bind(o.items_new as i64)
        .bind(serde_json::to_string(&o.errors)?)
        .bind(o.duration_ms as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_run(&self, run: RunId, status: RunStatus) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET status = $1, finished = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(Utc::now())
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_runs(&self, limit: u64) -> anyhow::Result<Vec<RunRecord>> {
        let runs = sqlx::query("SELECT * FROM runs ORDER BY id DESC LIMIT $1")
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in runs {
            let id: i64 = r.try_get("id")?;
            let events = sqlx::query("SELECT * FROM run_events WHERE run_id = $1 ORDER BY seq")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
            let agents = events
                .iter()
                .map(|e| -> anyhow::Result<AgentOutcome> {
                    let errors: String = e.try_get("errors")?;
                    Ok(AgentOutcome {
                        agent: e.try_get("agent")?,
                        kind: e.try_get("kind")?,
                        role: e.try_get("role")?,
                        status: e.try_get("status")?,
                        items_in: e.try_get::<i64, _>("items_in")? as u64,
                        items_out: e.try_get::<i64, _>("items_out")? as u64,
                        items_new: e.try_get::<i64, _>("items_new")? as u64,
                        errors: serde_json::from_str(&errors).unwrap_or_default(),
                        duration_ms: e.try_get::<i64, _>("duration_ms")? as u64,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let status: String = r.try_get("status")?;
            out.push(RunRecord {
                id,
                pipeline: r.try_get("pipeline")?,
                started: r.try_get("started")?,
                finished: r.try_get::<Option<DateTime<Utc>>, _>("finished")?,
                status: RunStatus::parse(&status),
                agents,
            });
        }
        Ok(out)
    }

    async fn feed_state(&self, url: &str) -> anyhow::Result<Option<FeedState>> {
        let row = sqlx::query("SELECT * FROM feeds WHERE url = $1")
            .bind(url)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(feed_from_row).transpose()
    }

    async fn save_feed_state(&self, s: &FeedState) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO feeds (url, agent, title, etag, last_modified, last_fetch, last_success,
                 last_error, consecutive_failures, next_fetch, paused, pause_reason, moved_to,
                 items_total, recent_items)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (url) DO UPDATE SET agent = excluded.agent, title = excluded.title,
                 etag = excluded.etag, last_modified = excluded.last_modified,
                 last_fetch = excluded.last_fetch, last_success = excluded.last_success,
                 last_error = excluded.last_error,
                 consecutive_failures = excluded.consecutive_failures,
                 next_fetch = excluded.next_fetch, paused = excluded.paused,
                 pause_reason = excluded.pause_reason, moved_to = excluded.moved_to,
                 items_total = excluded.items_total, recent_items = excluded.recent_items",
        )
        .bind(&s.url)
        .bind(&s.agent)
        .bind(&s.title)
        .bind(&s.etag)
        .bind(&s.last_modified)
        .bind(s.last_fetch)
        .bind(s.last_success)
        .bind(&s.last_error)
        .bind(s.consecutive_failures as i64)
        .bind(s.next_fetch)
        .bind(s.paused)
        .bind(&s.pause_reason)
        .bind(&s.moved_to)
        .bind(s.items_total as i64)
        .bind(serde_json::to_string(&s.recent_items)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_feeds(&self) -> anyhow::Result<Vec<FeedState>> {
        let rows = sqlx::query("SELECT * FROM feeds ORDER BY agent, url")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(feed_from_row).collect()
    }

    async fn get_items(&self, ids: &[i64]) -> anyhow::Result<Vec<Item>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query("SELECT * FROM items WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(r) = row {
                out.push(item_from_row(&r)?);
            }
        }
        Ok(out)
    }

    async fn get_embeddings(
        &self,
        model: &str,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, Vec<f32>>> {
        let mut out = HashMap::new();
        for id in ids {
            let blob: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT vector FROM embeddings WHERE item_id = $1 AND model = $2",
            )
            .bind(id)
            .bind(model)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(b) = blob {
                out.insert(*id, blob_to_vec(&b));
            }
        }
        Ok(out)
    }

    async fn put_embeddings(&self, model: &str, rows: &[(i64, Vec<f32>)]) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        for (id, v) in rows {
            sqlx::query(
                "INSERT INTO embeddings (item_id, model, vector) VALUES ($1, $2, $3)
                 ON CONFLICT (item_id, model) DO UPDATE SET vector = excluded.vector",
            )
            .bind(id)
            .bind(model)
            .bind(vec_to_blob(v))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn all_embeddings(&self, model: &str) -> anyhow::Result<Vec<(i64, Vec<f32>)>> {
        let rows = sqlx::query("SELECT item_id, vector FROM embeddings WHERE model = $1")
            .bind(model)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("item_id")?,
                    blob_to_vec(&r.try_get::<Vec<u8>, _>("vector")?),
                ))
            })
            .collect()
    }

    async fn set_scores(&self, rows: &[ScoreRow]) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        for r in rows {
            sqlx::query(
                "UPDATE items SET score = $1, score_model = $2, reasons = $3 WHERE id = $4",
            )
            .bind(f64::from(r.score))
            .bind(&r.model)
            .bind(serde_json::to_string(&r.reasons)?)
            .bind(r.item_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn save_model(&self, name: &str, revision: u64, json: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO models (name, revision, created, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name, revision) DO UPDATE SET created = excluded.created, body = excluded.body",
        )
        .bind(name)
        .bind(revision as i64)
        .bind(Utc::now())
        .bind(json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn latest_model(&self, name: &str) -> anyhow::Result<Option<(u64, String)>> {
        let row = sqlx::query(
            "SELECT revision, body FROM models WHERE name = $1 ORDER BY revision DESC LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get::<i64, _>("revision")? as u64, r.try_get("body")?)))
            .transpose()
    }

    async fn add_feedback(&self, item_id: i64, kind: &str, via: &str) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO feedback (item_id, kind, via, at) VALUES ($1, $2, $3, $4)")
            .bind(item_id)
            .bind(kind)
            .bind(via)
            .bind(Utc::now())
            .execute(&self.pool)
            .await
            .with_context(|| format!("cannot record {kind} for item {item_id}"))?;
        Ok(())
    }

    async fn list_feedback(&self) -> anyhow::Result<Vec<FeedbackRow>> {
        let rows = sqlx::query("SELECT * FROM feedback ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FeedbackRow {
                    item_id: r.try_get("item_id")?,
                    kind: r.try_get("kind")?,
                    via: r.try_get("via")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    async fn load_state(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM state WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn save_state(&self, key: &str, value: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO state (key, value, updated) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        )
        .bind(key)
        .bind(value)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_item_sagas(&self, rows: &[(String, SagaRef, f32)]) -> anyhow::Result<()> {
        let mut tx = self.write_tx().await?;
        for (key, saga, score) in rows {
            sqlx::query(
                "UPDATE items SET saga_id = $1, saga_title = $2, saga_score = $3 WHERE key = $4",
            )
            .bind(saga.id as i64)
            .bind(&saga.title)
            .bind(f64::from(*score))
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn log_saga_event(&self, saga: u64, event: &str, detail: &str) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO saga_events (saga, event, detail, at) VALUES ($1, $2, $3, $4)")
            .bind(saga as i64)
            .bind(event)
            .bind(detail)
            .bind(Utc::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn digest(&self, pipeline: &str, day: &str) -> anyhow::Result<Option<DigestRecord>> {
        let row = sqlx::query("SELECT * FROM digests WHERE pipeline = $1 AND day = $2")
            .bind(pipeline)
            .bind(day)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(digest_from_row).transpose()
    }

    async fn digest_begin(&self, rec: &DigestRecord) -> anyhow::Result<bool> {
        // One statement, so two workers racing for a day cannot both win:
        // the row is inserted, or replaces a `failed` attempt, or nothing
        // happens and no row comes back.
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO digests (pipeline, day, message_id, items, status, created)
             VALUES ($1, $2, $3, $4, 'pending', $5)
             ON CONFLICT (pipeline, day) DO UPDATE SET message_id = excluded.message_id,
                 items = excluded.items, status = 'pending', created = excluded.created,
                 sent_at = NULL, error = NULL
             WHERE digests.status = 'failed'
             RETURNING day",
        )
        .bind(&rec.pipeline)
        .bind(&rec.day)
        .bind(&rec.message_id)
        .bind(serde_json::to_string(&rec.items)?)
        .bind(rec.created)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.is_some())
    }

    async fn digest_finish(
        &self,
        pipeline: &str,
        day: &str,
        status: &str,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        let sent_at = (status == "sent").then(Utc::now);
        sqlx::query(
            "UPDATE digests SET status = $1, sent_at = $2, error = $3 WHERE pipeline = $4 AND day = $5",
        )
        .bind(status)
        .bind(sent_at)
        .bind(error)
        .bind(pipeline)
        .bind(day)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn digest_forget(&self, pipeline: &str, day: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM digests WHERE pipeline = $1 AND day = $2")
            .bind(pipeline)
            .bind(day)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sent_items(&self, pipeline: &str) -> anyhow::Result<std::collections::HashSet<i64>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT items FROM digests WHERE pipeline = $1 AND status = 'sent'")
                .bind(pipeline)
                .fetch_all(&self.pool)
                .await?;
        let mut out = std::collections::HashSet::new();
        for r in rows {
            out.extend(serde_json::from_str::<Vec<i64>>(&r)?);
        }
        Ok(out)
    }

    async fn list_digests(&self, pipeline: &str, limit: u64) -> anyhow::Result<Vec<DigestRecord>> {
        let rows =
            sqlx::query("SELECT * FROM digests WHERE pipeline = $1 ORDER BY day DESC LIMIT $2")
                .bind(pipeline)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(digest_from_row).collect()
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(ttl)?;
        // One statement: insert, or take over an expired lease, or renew our
        // own; a live lease of someone else is left alone.
        let res = sqlx::query(
            "INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
             WHERE leases.holder = $2 OR leases.expires < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn claim_feeds(
        &self,
        urls: &[String],
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<Vec<String>> {
        let until = Utc::now() + chrono::Duration::from_std(ttl)?;
        sqlx::query(
            "INSERT INTO feeds (url) SELECT unnest($1::text[]) ON CONFLICT (url) DO NOTHING",
        )
        .bind(urls)
        .execute(&self.pool)
        .await?;
        // SKIP LOCKED: rows another worker is claiming right now are left to
        // it instead of waited for; claims of dead workers expire.
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

    async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
