//! The `Store` impl of each backend, with what both share written once.
//!
//! The ledger, run history, history, subscriptions and read-state methods are generic
//! over the database (`ledger_methods!` and its siblings); the `Store`
//! methods that reach them were copied, word for word, into both backends'
//! impls. They live here once. They cannot be a separate macro inside the
//! impl: `#[async_trait]` rewrites the impl before a macro in it would
//! expand, so the whole impl is generated here, the backend's own methods
//! passed in as they are.
//!
//! Every `Store` method whose SQL both databases accept is written here:
//! `$N` placeholders (sqlx binds them by number on SQLite too, a number
//! used twice being one parameter), `CAST(x AS type)` rather than
//! PostgreSQL's `x::type`, `ON CONFLICT … DO UPDATE … excluded.` upserts
//! with a `WHERE`, `RETURNING`. A backend passes in only the methods that
//! truly differ, each with its reason: PostgreSQL binds a whole batch as
//! arrays (`unnest`, `= ANY($1)`) and claims with `FOR UPDATE SKIP LOCKED`;
//! SQLite, which has no arrays, runs a statement per chunk or per row (a
//! write all in one `BEGIN IMMEDIATE` transaction) and packs long bodies
//! (`packed.rs`).
//! Where only a fragment of a method differs, the shared body calls a name
//! that each backend module defines, resolved where the macro is invoked
//! like the row mappers: `feeds_filter!`, `feeds_bind` and `NO_LIMIT` (the
//! item listing), `text_search` (the full-text index, `search.rs`) and
//! `claim_feeds_until`.

/// The generic method sets (`ledger.rs`, `runs.rs`, `history.rs`,
/// `subs.rs`, `state.rs`, `vpages.rs`) and row mappers (`rows.rs`) of one backend: its
/// sqlx database, store, row type, and the column that orders an agent's
/// run events (`runs.rs`).
macro_rules! generic_methods {
    ($db:ty, $store:ty, $row:ty, $event_order:literal) => {
        crate::ledger::ledger_methods!($db, $store);
        crate::runs::runs_methods!($db, $store, $event_order);
        crate::history::history_methods!($db, $store);
        crate::subs::subscription_methods!($db, $store);
        crate::state::state_methods!($db, $store);
        crate::vpages::vpages_methods!($db, $store);
        crate::rows::row_mappers!($row);
    };
}
pub(crate) use generic_methods;

/// Deletes the rows of `$table` whose `id` is in `$ids` (`u64`s), or
/// whose `$column` is the `$bind` of a key `$k` of `$keys`, in statements
/// of [`crate::state::IDS_PER_STATEMENT`] keys, inside `$tx`.
macro_rules! delete_ids {
    ($tx:ident, $table:literal, $ids:expr) => {
        crate::shared::delete_ids!($tx, $table, "id", $ids, |id| *id as i64)
    };
    ($tx:ident, $table:literal, $column:literal, $keys:expr, |$k:ident| $bind:expr) => {
        for chunk in $keys.chunks(crate::state::IDS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new(concat!(
                "DELETE FROM ",
                $table,
                " WHERE ",
                $column,
                " IN ("
            ));
            let mut sep = q.separated(", ");
            for $k in chunk {
                sep.push_bind($bind);
            }
            q.push(")");
            q.build().persistent(false).execute(&mut *$tx).await?;
        }
    };
}
pub(crate) use delete_ids;

/// The rows of `$sql (binds…) $tail` for every key of `$keys`, in
/// statements of [`crate::state::IDS_PER_STATEMENT`] keys (each bound as
/// `$bind` of `$k`), each row mapped by `$row` of `$r` (which may `?`).
macro_rules! fetch_in {
    ($pool:expr, $sql:literal, $keys:expr, |$k:ident| $bind:expr, $tail:literal, |$r:ident| $row:expr) => {{
        let mut out = Vec::with_capacity($keys.len());
        for chunk in $keys.chunks(crate::state::IDS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::new($sql);
            let mut sep = q.separated(", ");
            for $k in chunk {
                sep.push_bind($bind);
            }
            q.push($tail);
            for $r in q.build().persistent(false).fetch_all($pool).await? {
                out.push($row);
            }
        }
        out
    }};
}
pub(crate) use fetch_in;

/// The head of the statement that saves feed states, up to the rows:
/// both backends' `save_feed_states` bind the same columns, SQLite as
/// multi-row `VALUES`, PostgreSQL as one `unnest` of arrays. A macro, not a
/// `const`, so that PostgreSQL can `concat!` it into one static query.
macro_rules! feeds_insert {
    () => {
        "INSERT INTO feeds (url, agent, title, etag, last_modified, last_fetch, last_success,
             last_error, consecutive_failures, next_fetch, paused, pause_reason, moved_to,
             items_total, recent_items) "
    };
}
pub(crate) use feeds_insert;

/// The tail of that statement: a feed already stored takes every column of
/// the new state.
macro_rules! feeds_upsert {
    () => {
        " ON CONFLICT (url) DO UPDATE SET agent = excluded.agent, title = excluded.title,
             etag = excluded.etag, last_modified = excluded.last_modified,
             last_fetch = excluded.last_fetch, last_success = excluded.last_success,
             last_error = excluded.last_error,
             consecutive_failures = excluded.consecutive_failures,
             next_fetch = excluded.next_fetch, paused = excluded.paused,
             pause_reason = excluded.pause_reason, moved_to = excluded.moved_to,
             items_total = excluded.items_total, recent_items = excluded.recent_items"
    };
}
pub(crate) use feeds_upsert;

/// A `saga_terms` row as `(term, id, df)` (both backends' row types).
macro_rules! term_row {
    ($r:expr) => {{
        let r = $r;
        let (id, df): (i64, i64) = (r.try_get("id")?, r.try_get("df")?);
        Ok::<_, anyhow::Error>((
            r.try_get::<String, _>("term")?,
            u32::try_from(id)?,
            u32::try_from(df)?,
        ))
    }};
}
pub(crate) use term_row;

/// A `saga_postings` row as `(term id, saga indices)` (both backends'
/// row types).
macro_rules! posting_row {
    ($r:expr) => {{
        let r = $r;
        let term: i64 = r.try_get("term")?;
        let list: Vec<u8> = r.try_get("list")?;
        Ok::<_, anyhow::Error>((u32::try_from(term)?, crate::shared::unpack_u32s(&list)?))
    }};
}
pub(crate) use posting_row;

/// Saga indices as a posting list's stored bytes: little-endian `u32`s.
pub(crate) fn pack_u32s(l: &[u32]) -> Vec<u8> {
    l.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// A posting list's stored bytes read back; a length that is not a
/// multiple of four is a damaged row, an error.
pub(crate) fn unpack_u32s(b: &[u8]) -> anyhow::Result<Vec<u32>> {
    anyhow::ensure!(
        b.len().is_multiple_of(4),
        "a saga posting list of {} bytes is damaged",
        b.len()
    );
    Ok(b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// `#[async_trait] impl Store for $store { <$own methods> <shared ones> }`.
/// The shared bodies call the backend module's row mappers
/// (`item_from_row`, `feed_from_row`, `digest_from_row`, from `rows.rs`),
/// its fragments (see the module doc) and `self.pool`: they resolve where
/// the macro is invoked, in each backend's module.
macro_rules! impl_store {
    ($store:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl agg_core::Store for $store {
            $($own)*

            // The same SQL on both (`$N` placeholders work on SQLite too).
            async fn feed_state(&self, url: &str) -> anyhow::Result<Option<agg_core::store::FeedState>> {
                let row = sqlx::query("SELECT * FROM feeds WHERE url = $1")
                    .bind(url)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(feed_from_row).transpose()
            }

            // `CAST(x AS type) IS NULL`: PostgreSQL reads the parameter's
            // type from the cast; SQLite ignores it (a NULL stays NULL, any
            // other value stays non-NULL, whatever the type's affinity). A
            // `bool` is `NOT $N` on both (SQLite binds it as 0 or 1). What
            // differs is the feed list (`feeds_filter!`, `feeds_bind`) and
            // how "no limit" is written (`NO_LIMIT`), each backend's own.
            async fn list_items(&self, q: &agg_core::store::ItemQuery) -> anyhow::Result<Vec<agg_core::Item>> {
                let rows = sqlx::query(concat!(
                    "SELECT * FROM items
                     WHERE (CAST($1 AS TEXT) IS NULL OR source = $1)
                       AND (CAST($2 AS TIMESTAMPTZ) IS NULL OR sort_time >= $2)
                       AND (CAST($3 AS TIMESTAMPTZ) IS NULL OR sort_time < $3)
                       AND (CAST($5 AS BIGINT) IS NULL OR saga_id = $5) AND (NOT $6 OR saga_id IS NOT NULL)
                       AND (CAST($7 AS FLOAT8) IS NULL OR score >= $7)
                       AND (CAST($8 AS TIMESTAMPTZ) IS NULL OR fetched >= $8)
                       AND (CAST($9 AS TIMESTAMPTZ) IS NULL OR fetched < $9)
                       AND (NOT $10 OR NOT ",
                    crate::state::read_exists!(),
                    ") AND (NOT $11 OR ",
                    crate::state::saved_exists!(),
                    ") AND ",
                    feeds_filter!("$12"),
                    "
                       AND (CAST($13 AS BIGINT) IS NULL
                            OR (sort_time, id) < (SELECT sort_time, id FROM items WHERE id = $13))
                     ORDER BY sort_time DESC, id DESC LIMIT $4"
                ))
                .bind(&q.source)
                .bind(q.since)
                .bind(q.until)
                .bind(q.limit.map(|l| l as i64).or(NO_LIMIT))
                .bind(q.saga.map(|s| s as i64))
                .bind(q.in_saga)
                .bind(q.min_score.map(f64::from))
                .bind(q.fetched_since)
                .bind(q.fetched_until)
                .bind(q.unread)
                .bind(q.saved)
                .bind(feeds_bind(q.feeds.as_deref()))
                .bind(q.after_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(item_from_row).collect()
            }

            // As `list_items`, without paging (`after_id`, `limit`) and the
            // fetch-time bounds.
            async fn count_items(&self, q: &agg_core::store::ItemQuery) -> anyhow::Result<u64> {
                let n: i64 = sqlx::query_scalar(concat!(
                    "SELECT COUNT(*) FROM items
                     WHERE (CAST($1 AS TEXT) IS NULL OR source = $1)
                       AND (CAST($2 AS TIMESTAMPTZ) IS NULL OR sort_time >= $2)
                       AND (CAST($3 AS TIMESTAMPTZ) IS NULL OR sort_time < $3)
                       AND (CAST($4 AS BIGINT) IS NULL OR saga_id = $4) AND (NOT $5 OR saga_id IS NOT NULL)
                       AND (CAST($6 AS FLOAT8) IS NULL OR score >= $6)
                       AND (NOT $7 OR NOT ",
                    crate::state::read_exists!(),
                    ") AND (NOT $8 OR ",
                    crate::state::saved_exists!(),
                    ") AND ",
                    feeds_filter!("$9")
                ))
                .bind(&q.source)
                .bind(q.since)
                .bind(q.until)
                .bind(q.saga.map(|s| s as i64))
                .bind(q.in_saga)
                .bind(q.min_score.map(f64::from))
                .bind(q.unread)
                .bind(q.saved)
                .bind(feeds_bind(q.feeds.as_deref()))
                .fetch_one(&self.pool)
                .await?;
                Ok(n as u64)
            }

            async fn digest_begin(&self, rec: &agg_core::store::DigestRecord) -> anyhow::Result<bool> {
                // One statement, so two workers racing for a day cannot both
                // win: the row is inserted, or replaces a `failed` attempt, or
                // nothing happens and no row comes back.
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

            async fn try_lease(
                &self,
                name: &str,
                holder: &str,
                ttl: std::time::Duration,
            ) -> anyhow::Result<bool> {
                let now = chrono::Utc::now();
                let expires = now + chrono::Duration::from_std(ttl)?;
                // One statement: insert, or take over an expired lease, or
                // renew our own; a live lease of someone else is left alone.
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

            // The claim's end, then the backend's own statements
            // (`claim_feeds_until`): arrays and `SKIP LOCKED` on PostgreSQL,
            // a statement per URL on SQLite.
            async fn claim_feeds(
                &self,
                urls: &[String],
                holder: &str,
                ttl: std::time::Duration,
            ) -> anyhow::Result<Vec<String>> {
                let now = chrono::Utc::now();
                let until = now + chrono::Duration::from_std(ttl)?;
                self.claim_feeds_until(urls, holder, now, until).await
            }

            // Each backend's own full-text index (`search.rs`), imported
            // as `text_search` by its module.
            async fn search_text(&self, q: &agg_core::TextQuery) -> anyhow::Result<Vec<(i64, f32)>> {
                text_search(&self.pool, q).await
            }

            async fn save_feed_state(&self, s: &agg_core::store::FeedState) -> anyhow::Result<()> {
                self.save_feed_states(std::slice::from_ref(s)).await
            }

            async fn list_feeds(&self) -> anyhow::Result<Vec<agg_core::store::FeedState>> {
                let rows = sqlx::query("SELECT * FROM feeds ORDER BY agent, url")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(feed_from_row).collect()
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

            async fn add_feedback(
                &self,
                item_id: i64,
                kind: agg_core::FeedbackKind,
                via: agg_core::FeedbackVia,
            ) -> anyhow::Result<()> {
                sqlx::query("INSERT INTO feedback (item_id, kind, via, at) VALUES ($1, $2, $3, $4)")
                    .bind(item_id)
                    .bind(kind.as_str())
                    .bind(via.as_str())
                    .bind(chrono::Utc::now())
                    .execute(&self.pool)
                    .await
                    .with_context(|| format!("cannot record {kind} for item {item_id}"))?;
                Ok(())
            }

            async fn list_feedback(&self) -> anyhow::Result<Vec<agg_core::store::FeedbackRow>> {
                let rows = sqlx::query("SELECT * FROM feedback ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(agg_core::store::FeedbackRow {
                            item_id: r.try_get("item_id")?,
                            kind: agg_core::FeedbackKind::parse(r.try_get("kind")?)?,
                            via: agg_core::FeedbackVia::parse(r.try_get("via")?)?,
                            at: r.try_get("at")?,
                        })
                    })
                    .collect()
            }

            async fn recent_embeddings(
                &self,
                model: &str,
                since: Option<chrono::DateTime<chrono::Utc>>,
                limit: u64,
            ) -> anyhow::Result<Vec<(i64, Vec<f32>)>> {
                // The newest items first, through the date index, then
                // their vectors: joined the other way round, SQLite read
                // every vector of the store and sorted them (1.6 s at 100k
                // items). The vectors only, never the bodies.
                let rows = sqlx::query(
                    "SELECT e.item_id, e.vector FROM (
                         SELECT id, sort_time FROM items
                         WHERE ($2 IS NULL OR sort_time >= $2)
                         ORDER BY sort_time DESC, id DESC LIMIT $3
                     ) i JOIN embeddings e ON e.item_id = i.id AND e.model = $1
                     ORDER BY i.sort_time DESC, i.id DESC",
                )
                .bind(model)
                .bind(since)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let b: Vec<u8> = r.try_get("vector")?;
                        Ok((r.try_get("item_id")?, crate::rows::blob_to_vec(&b)))
                    })
                    .collect()
            }

            async fn get_vector_copies(
                &self,
                model: &str,
                ids: &[i64],
            ) -> anyhow::Result<agg_core::VectorCopies> {
                self.vpages_copies(model, ids).await
            }

            async fn vector_pages(
                &self,
                model: &str,
                after: i64,
            ) -> anyhow::Result<Vec<agg_core::CodePage>> {
                self.vpages_read(model, after).await
            }

            async fn put_saga_list(
                &self,
                rows: &[agg_core::SagaListRow],
                gone: &[u64],
            ) -> anyhow::Result<()> {
                // One transaction: a page never sees half a save.
                let mut tx = self.pool.begin().await?;
                crate::shared::delete_ids!(tx, "saga_list", gone);
                for chunk in rows.chunks(500) {
                    let mut q =
                        sqlx::QueryBuilder::new("INSERT INTO saga_list (id, grp, last_seen, body) ");
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id as i64)
                            .push_bind(i32::from(r.group))
                            .push_bind(r.last_seen)
                            .push_bind(r.body.as_str());
                    });
                    q.push(
                        " ON CONFLICT (id) DO UPDATE SET grp = excluded.grp,
                          last_seen = excluded.last_seen, body = excluded.body",
                    );
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn saga_list(
                &self,
                max_group: u8,
                offset: u64,
                limit: u64,
            ) -> anyhow::Result<Vec<agg_core::SagaListRow>> {
                let rows = sqlx::query(
                    "SELECT id, grp, last_seen, body FROM saga_list WHERE grp <= $1
                     ORDER BY grp, last_seen DESC, id DESC LIMIT $2 OFFSET $3",
                )
                .bind(i32::from(max_group))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(agg_core::SagaListRow {
                            id: r.try_get::<i64, _>("id")? as u64,
                            group: u8::try_from(r.try_get::<i32, _>("grp")?)?,
                            last_seen: r.try_get("last_seen")?,
                            body: r.try_get("body")?,
                        })
                    })
                    .collect()
            }

            async fn saga_list_counts(&self) -> anyhow::Result<Vec<(u8, u64)>> {
                let rows = sqlx::query(
                    "SELECT grp, COUNT(*) AS n FROM saga_list GROUP BY grp ORDER BY grp",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            u8::try_from(r.try_get::<i32, _>("grp")?)?,
                            r.try_get::<i64, _>("n")? as u64,
                        ))
                    })
                    .collect()
            }

            async fn put_saga_archive(
                &self,
                rows: &[agg_core::ArchivedSagaRow],
            ) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                for chunk in rows.chunks(500) {
                    let mut q =
                        sqlx::QueryBuilder::new("INSERT INTO saga_archive (id, last_seen, body) ");
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id as i64)
                            .push_bind(r.last_seen)
                            .push_bind(r.body.as_str());
                    });
                    q.push(
                        " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen,
                          body = excluded.body",
                    );
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn saga_archive(&self, ids: &[u64]) -> anyhow::Result<Vec<(u64, String)>> {
                Ok(crate::shared::fetch_in!(
                    &self.pool,
                    "SELECT id, body FROM saga_archive WHERE id IN (",
                    ids,
                    |id| *id as i64,
                    ") ORDER BY id",
                    |r| (r.try_get::<i64, _>("id")? as u64, r.try_get("body")?)
                ))
            }

            async fn save_saga_state(
                &self,
                key: &str,
                parts: &agg_core::SagaStateParts<'_>,
            ) -> anyhow::Result<()> {
                // One transaction: a reader never sees a core whose sagas
                // are half written.
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO state (key, value, updated) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                )
                .bind(key)
                .bind(parts.core)
                .bind(chrono::Utc::now())
                .execute(&mut *tx)
                .await?;
                crate::shared::delete_ids!(tx, "saga_live", parts.gone);
                for chunk in parts.sagas.chunks(500) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO saga_live (id, body) ");
                    q.push_values(chunk, |mut b, (id, body)| {
                        b.push_bind(*id as i64).push_bind(body.as_str());
                    });
                    q.push(" ON CONFLICT (id) DO UPDATE SET body = excluded.body");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                for chunk in parts.feeds.chunks(500) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO saga_feeds (feed, body) ");
                    q.push_values(chunk, |mut b, (feed, body)| {
                        b.push_bind(feed.as_str()).push_bind(body.as_str());
                    });
                    q.push(" ON CONFLICT (feed) DO UPDATE SET body = excluded.body");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                if parts.terms_whole {
                    sqlx::query("DELETE FROM saga_terms").execute(&mut *tx).await?;
                }
                for chunk in parts.terms.chunks(crate::state::IDS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO saga_terms (term, id, df) ");
                    q.push_values(chunk, |mut b, (term, id, df)| {
                        b.push_bind(term.as_str())
                            .push_bind(i64::from(*id))
                            .push_bind(i64::from(*df));
                    });
                    q.push(" ON CONFLICT (term) DO UPDATE SET id = excluded.id, df = excluded.df");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                if parts.items_whole {
                    sqlx::query("DELETE FROM saga_items").execute(&mut *tx).await?;
                }
                // Item key hashes are stored as the i64 of the same bits.
                let (set, gone): (Vec<_>, Vec<_>) = parts.items.iter().partition(|r| r.1.is_some());
                for chunk in set.chunks(crate::state::IDS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO saga_items (hash, saga) ");
                    q.push_values(chunk, |mut b, (h, i)| {
                        b.push_bind(*h as i64).push_bind(i64::from(i.unwrap_or(0)));
                    });
                    q.push(" ON CONFLICT (hash) DO UPDATE SET saga = excluded.saga");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                crate::shared::delete_ids!(tx, "saga_items", "hash", gone, |r| r.0 as i64);
                // Archive due times: a row per live saga that may be
                // archived; none for one that may not, or that left.
                if parts.dues_whole {
                    sqlx::query("DELETE FROM saga_due").execute(&mut *tx).await?;
                }
                crate::shared::delete_ids!(tx, "saga_due", parts.gone);
                let (set, never): (Vec<_>, Vec<_>) = parts.dues.iter().partition(|r| r.1.is_some());
                for chunk in set.chunks(crate::state::IDS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO saga_due (id, due) ");
                    q.push_values(chunk, |mut b, (id, due)| {
                        b.push_bind(*id as i64).push_bind(due.unwrap_or_default());
                    });
                    q.push(" ON CONFLICT (id) DO UPDATE SET due = excluded.due");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                crate::shared::delete_ids!(tx, "saga_due", "id", never, |r| r.0 as i64);
                if parts.postings_whole {
                    sqlx::query("DELETE FROM saga_postings").execute(&mut *tx).await?;
                }
                let (set, gone): (Vec<_>, Vec<_>) =
                    parts.postings.iter().partition(|r| !r.1.is_empty());
                for chunk in set.chunks(crate::state::IDS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO saga_postings (term, list) ");
                    q.push_values(chunk, |mut b, (t, l)| {
                        b.push_bind(i64::from(*t))
                            .push_bind(crate::shared::pack_u32s(l));
                    });
                    q.push(" ON CONFLICT (term) DO UPDATE SET list = excluded.list");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                crate::shared::delete_ids!(tx, "saga_postings", "term", gone, |r| i64::from(r.0));
                tx.commit().await?;
                Ok(())
            }

            async fn saga_items_of(&self, hashes: &[u64]) -> anyhow::Result<Vec<(u64, u32)>> {
                Ok(crate::shared::fetch_in!(
                    &self.pool,
                    "SELECT hash, saga FROM saga_items WHERE hash IN (",
                    hashes,
                    |h| *h as i64,
                    ")",
                    |r| (
                        r.try_get::<i64, _>("hash")? as u64,
                        u32::try_from(r.try_get::<i64, _>("saga")?)?
                    )
                ))
            }

            async fn saga_due_by(&self, at: i64) -> anyhow::Result<Vec<u64>> {
                // Sorted here: with ORDER BY, SQLite chose to walk every
                // row in id order over the index (28 ms at a year of
                // items, against well under 1 ms).
                let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM saga_due WHERE due <= $1")
                    .bind(at)
                    .fetch_all(&self.pool)
                    .await?;
                let mut ids: Vec<u64> = ids.into_iter().map(|i| i as u64).collect();
                ids.sort_unstable();
                Ok(ids)
            }

            async fn saga_postings_of(
                &self,
                terms: &[u32],
            ) -> anyhow::Result<Vec<(u32, Vec<u32>)>> {
                Ok(crate::shared::fetch_in!(
                    &self.pool,
                    "SELECT term, list FROM saga_postings WHERE term IN (",
                    terms,
                    |t| i64::from(*t),
                    ")",
                    |r| crate::shared::posting_row!(r)?
                ))
            }

            async fn saga_postings(&self) -> anyhow::Result<Vec<(u32, Vec<u32>)>> {
                let rows = sqlx::query("SELECT term, list FROM saga_postings ORDER BY term")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| crate::shared::posting_row!(r))
                    .collect()
            }

            async fn saga_terms(&self) -> anyhow::Result<Vec<(String, u32, u32)>> {
                let rows = sqlx::query("SELECT term, id, df FROM saga_terms ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| crate::shared::term_row!(r))
                    .collect()
            }

            async fn saga_terms_of(
                &self,
                terms: &[String],
            ) -> anyhow::Result<Vec<(String, u32, u32)>> {
                Ok(crate::shared::fetch_in!(
                    &self.pool,
                    "SELECT term, id, df FROM saga_terms WHERE term IN (",
                    terms,
                    |t| t.as_str(),
                    ")",
                    |r| crate::shared::term_row!(r)?
                ))
            }

            async fn saga_feed_rows(&self) -> anyhow::Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT feed, body FROM saga_feeds ORDER BY feed")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("feed")?, r.try_get("body")?)))
                    .collect()
            }

            async fn saga_live_ids(&self) -> anyhow::Result<Vec<u64>> {
                let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM saga_live ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(ids.into_iter().map(|i| i as u64).collect())
            }

            async fn saga_live_rows_of(&self, ids: &[u64]) -> anyhow::Result<Vec<String>> {
                Ok(crate::shared::fetch_in!(
                    &self.pool,
                    "SELECT body FROM saga_live WHERE id IN (",
                    ids,
                    |id| *id as i64,
                    ") ORDER BY id",
                    |r| r.try_get("body")?
                ))
            }

            async fn saga_feed_rows_of(
                &self,
                feeds: &[String],
            ) -> anyhow::Result<Vec<(String, String)>> {
                Ok(crate::shared::fetch_in!(
                    &self.pool,
                    "SELECT feed, body FROM saga_feeds WHERE feed IN (",
                    feeds,
                    |f| f.as_str(),
                    ") ORDER BY feed",
                    |r| (r.try_get("feed")?, r.try_get("body")?)
                ))
            }

            async fn saga_live_rows(&self) -> anyhow::Result<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT body FROM saga_live ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn prune_saga_archive(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<u64> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "DELETE FROM saga_list WHERE id IN
                     (SELECT id FROM saga_archive WHERE last_seen < $1)",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?;
                let n = sqlx::query("DELETE FROM saga_archive WHERE last_seen < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn load_state(&self, key: &str) -> anyhow::Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT value FROM state WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn log_saga_event(&self, saga: u64, event: &str, detail: &str) -> anyhow::Result<()> {
                sqlx::query("INSERT INTO saga_events (saga, event, detail, at) VALUES ($1, $2, $3, $4)")
                    .bind(saga as i64)
                    .bind(event)
                    .bind(detail)
                    .bind(chrono::Utc::now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn digest(&self, pipeline: &str, day: &str) -> anyhow::Result<Option<agg_core::store::DigestRecord>> {
                let row = sqlx::query("SELECT * FROM digests WHERE pipeline = $1 AND day = $2")
                    .bind(pipeline)
                    .bind(day)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(digest_from_row).transpose()
            }

            async fn digest_finish(
                &self,
                pipeline: &str,
                day: &str,
                status: agg_core::DigestStatus,
                error: Option<&str>,
            ) -> anyhow::Result<()> {
                let sent_at = (status == agg_core::DigestStatus::Sent).then(Utc::now);
                sqlx::query(
                    "UPDATE digests SET status = $1, sent_at = $2, error = $3 WHERE pipeline = $4 AND day = $5",
                )
                .bind(status.as_str())
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

            async fn list_digests(&self, pipeline: &str, limit: u64) -> anyhow::Result<Vec<agg_core::store::DigestRecord>> {
                let rows =
                    sqlx::query("SELECT * FROM digests WHERE pipeline = $1 ORDER BY day DESC LIMIT $2")
                        .bind(pipeline)
                        .bind(limit as i64)
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter().map(digest_from_row).collect()
            }

            async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<()> {
                sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn save_model(&self, name: &str, revision: u64, json: &str) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO models (name, revision, created, body) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name, revision) DO UPDATE SET created = excluded.created, body = excluded.body",
                )
                .bind(name)
                .bind(revision as i64)
                .bind(chrono::Utc::now())
                .bind(json)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn save_state(&self, key: &str, value: &str) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO state (key, value, updated) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                )
                .bind(key)
                .bind(value)
                .bind(chrono::Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn begin_run(&self, pipeline: &str) -> anyhow::Result<agg_core::store::RunId> {
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
                .bind(chrono::Utc::now())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }

            // Run history, written once in `runs.rs`.
            async fn record_agent(
                &self,
                run: agg_core::store::RunId,
                outcome: &agg_core::AgentOutcome,
            ) -> anyhow::Result<()> {
                self.runs_record_agent(run, outcome).await
            }
            async fn finish_run(
                &self,
                run: agg_core::store::RunId,
                status: agg_core::RunStatus,
            ) -> anyhow::Result<()> {
                self.runs_finish(run, status).await
            }
            async fn list_runs(&self, limit: u64) -> anyhow::Result<Vec<agg_core::RunRecord>> {
                self.runs_list(limit).await
            }

        // The ledger, written once for both backends in `ledger.rs`.
        async fn mark_stage(
            &self,
            pipeline: &str,
            agent: &str,
            marks: &[agg_core::store::StageMark],
            max_attempts: u32,
        ) -> anyhow::Result<()> {
            self.ledger_mark_stage(pipeline, agent, marks, max_attempts)
                .await
        }
        async fn pending_items(&self, q: &agg_core::store::StageQuery) -> anyhow::Result<Vec<i64>> {
            self.ledger_pending_items(q).await
        }
        async fn stage_view(
            &self,
            q: &agg_core::store::StageQuery,
        ) -> anyhow::Result<Vec<agg_core::Item>> {
            self.ledger_stage_view(q).await
        }
        async fn stage_counts(
            &self,
            pipeline: &str,
        ) -> anyhow::Result<Vec<agg_core::store::StageCounts>> {
            self.ledger_stage_counts(pipeline).await
        }
        async fn stage_failures(
            &self,
            pipeline: Option<&str>,
            limit: u64,
        ) -> anyhow::Result<Vec<agg_core::store::StageFailure>> {
            self.ledger_stage_failures(pipeline, limit).await
        }
        async fn retry_stage(
            &self,
            pipeline: &str,
            agent: Option<&str>,
            item: Option<i64>,
        ) -> anyhow::Result<u64> {
            self.ledger_retry_stage(pipeline, agent, item).await
        }
        async fn latest_embedding_model(&self) -> anyhow::Result<Option<String>> {
            self.ledger_latest_embedding_model().await
        }

        // issue 23: history
        async fn log_saga_events(
            &self,
            events: &[(u64, String, String)],
            at: chrono::DateTime<chrono::Utc>,
        ) -> anyhow::Result<()> {
            self.history_log_saga_events(events, at).await
        }
        async fn prune_saga_events(&self, before: chrono::DateTime<chrono::Utc>) -> anyhow::Result<u64> {
            self.history_prune_saga_events(before).await
        }
        async fn apply_retention(
            &self,
            plan: &agg_core::store::RetentionPlan,
        ) -> anyhow::Result<agg_core::store::RetentionReport> {
            self.history_apply_retention(plan).await
        }
        async fn tombstoned(
            &self,
            keys: &[String],
        ) -> anyhow::Result<std::collections::HashSet<String>> {
            self.history_tombstoned(keys).await
        }
        // issue 19: subscriptions, written once for both backends in `subs.rs`.
        async fn add_subscription(&self, sub: &agg_core::store::Subscription) -> anyhow::Result<bool> {
            self.subs_add(sub).await
        }
        async fn remove_subscription(&self, url: &str) -> anyhow::Result<bool> {
            self.subs_remove(url).await
        }
        async fn list_subscriptions(
            &self,
            folder: Option<&str>,
        ) -> anyhow::Result<Vec<agg_core::store::Subscription>> {
            self.subs_list(folder).await
        }
        async fn notified(
            &self,
            pipeline: &str,
            agent: &str,
            ids: &[i64],
        ) -> anyhow::Result<std::collections::HashSet<i64>> {
            self.subs_notified(pipeline, agent, ids).await
        }
        async fn record_notification(
            &self,
            pipeline: &str,
            agent: &str,
            item_id: i64,
            at: chrono::DateTime<chrono::Utc>,
        ) -> anyhow::Result<()> {
            self.subs_record_notification(pipeline, agent, item_id, at)
                .await
        }
        async fn notifications_since(
            &self,
            pipeline: &str,
            agent: &str,
            since: chrono::DateTime<chrono::Utc>,
        ) -> anyhow::Result<u64> {
            self.subs_notifications_since(pipeline, agent, since).await
        }
        // issue 18: read and saved, written once for both backends in `state.rs`.
        async fn mark_items(
            &self,
            ids: &[i64],
            mark: agg_core::store::ItemMark,
            at: chrono::DateTime<chrono::Utc>,
        ) -> anyhow::Result<u64> {
            self.state_mark(ids, mark, at).await
        }
        async fn item_states(
            &self,
            ids: &[i64],
        ) -> anyhow::Result<std::collections::HashMap<i64, agg_core::store::ItemState>> {
            self.state_get(ids).await
        }
        async fn saved_items(&self, limit: u64) -> anyhow::Result<Vec<agg_core::store::ItemState>> {
            self.state_saved(limit).await
        }
        }
    };
}
pub(crate) use impl_store;
