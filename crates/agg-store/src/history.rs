//! A year of history (issue 23): batched saga events, their pruning, and
//! retention with tombstones, written once for both backends the way
//! [`crate::ledger`] is (sqlx's `QueryBuilder` writes the placeholders).

/// Rows per multi-row INSERT of saga events (4 parameters each).
pub(crate) const EVENTS_PER_INSERT: usize = 500;
/// Items per retention batch (one transaction each).
pub(crate) const RETENTION_BATCH: i64 = 1000;
/// Keys per `IN (…)` list.
pub(crate) const KEYS_PER_SELECT: usize = 500;

/// The lowest and highest of some ids, if any.
#[derive(Default)]
pub(crate) struct IdSpan(pub(crate) Option<(i64, i64)>);

impl IdSpan {
    pub(crate) fn extend(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            self.0 = Some(match self.0 {
                Some((lo, hi)) => (lo.min(id), hi.max(id)),
                None => (id, id),
            });
        }
    }
}

/// Appends ` AND <items.id> is not kept`: not in a kept saga, no like, not
/// saved.
macro_rules! push_not_kept {
    ($qb:expr, $keep:expr) => {{
        let keep: &[u64] = $keep;
        if !keep.is_empty() {
            $qb.push(" AND (i.saga_id IS NULL OR i.saga_id NOT IN (");
            let mut sep = $qb.separated(", ");
            for s in keep {
                sep.push_bind(*s as i64);
            }
            $qb.push("))");
        }
        $qb.push(
            " AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.item_id = i.id AND f.kind = 'like')",
        );
        // A saved item (issue 18) is one the reader chose to keep: it must
        // still be there, body and all, when they come back for it.
        $qb.push(
            " AND NOT EXISTS (SELECT 1 FROM item_state st \
             WHERE st.item_id = i.id AND st.saved_at IS NOT NULL)",
        );
    }};
}
pub(crate) use push_not_kept;

/// The history methods of `Store` for one backend, as inherent `history_*`
/// methods its `Store` impl forwards to (see `ledger_methods`).
macro_rules! history_methods {
    ($db:ty, $store:ty) => {
        impl $store {
            pub(crate) async fn history_log_saga_events(
                &self,
                events: &[(u64, String, String)],
                now: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<()> {
                if events.is_empty() {
                    return Ok(());
                }
                let mut tx = self.write_tx().await?;
                for chunk in events.chunks($crate::history::EVENTS_PER_INSERT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO saga_events (saga, event, detail, at) ",
                    );
                    qb.push_values(chunk, |mut b, (saga, event, detail)| {
                        b.push_bind(*saga as i64)
                            .push_bind(event.clone())
                            .push_bind(detail.clone())
                            .push_bind(now);
                    });
                    qb.build().persistent(false).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn history_prune_saga_events(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<u64> {
                let mut tx = self.write_tx().await?;
                let n = sqlx::QueryBuilder::<$db>::new("DELETE FROM saga_events WHERE at < ")
                    .push_bind(before)
                    .build()
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            /// Ids (and keys) of up to one batch of items fetched before
            /// `before` and not kept, above `after` (ascending), optionally
            /// only those still holding a body or a vector.
            async fn history_old_items(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                keep: &[u64],
                after: i64,
                unthinned: bool,
            ) -> anyhow::Result<Vec<(i64, String)>> {
                use sqlx::Row;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT i.id, i.key FROM items i WHERE i.fetched < ",
                );
                qb.push_bind(before);
                qb.push(" AND i.id > ");
                qb.push_bind(after);
                $crate::history::push_not_kept!(qb, keep);
                if unthinned {
                    qb.push(
                        " AND (i.text <> '' OR i.html IS NOT NULL \
                         OR EXISTS (SELECT 1 FROM embeddings e WHERE e.item_id = i.id))",
                    );
                }
                qb.push(" ORDER BY i.id LIMIT ");
                qb.push_bind($crate::history::RETENTION_BATCH);
                let rows = qb.build().persistent(false).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get::<i64, _>("id")?, r.try_get::<String, _>("key")?)))
                    .collect()
            }

            pub(crate) async fn history_apply_retention(
                &self,
                plan: &agg_core::store::RetentionPlan,
            ) -> anyhow::Result<agg_core::store::RetentionReport> {
                let mut report = agg_core::store::RetentionReport::default();
                let now = plan.now;
                // The lowest and highest ids whose vectors went: the vector
                // index's pages over them are pruned at the end.
                let mut touched = $crate::history::IdSpan::default();
                // Vectors and bodies first: they are most of the bytes, and
                // an item without them is still listed and found by title.
                let mut after = 0;
                loop {
                    let batch = self
                        .history_old_items(plan.thin_before, &plan.keep_sagas, after, true)
                        .await?;
                    let Some(last) = batch.last() else { break };
                    after = last.0;
                    let mut tx = self.write_tx().await?;
                    for sql in [
                        "DELETE FROM vector_bytes WHERE item_id IN (",
                        "DELETE FROM embeddings WHERE item_id IN (",
                        "UPDATE items SET text = '', html = NULL WHERE id IN (",
                    ] {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(sql);
                        let mut sep = qb.separated(", ");
                        for (id, _) in &batch {
                            sep.push_bind(*id);
                        }
                        qb.push(")");
                        qb.build().persistent(false).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    report.thinned += batch.len() as u64;
                    touched.extend(batch.iter().map(|(id, _)| *id));
                }
                // Then rows, each leaving its key behind in the same
                // transaction: no moment where an item is gone and its key
                // not yet remembered.
                loop {
                    let batch = self
                        .history_old_items(plan.delete_before, &plan.keep_sagas, 0, false)
                        .await?;
                    if batch.is_empty() {
                        break;
                    }
                    let mut tx = self.write_tx().await?;
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO item_tombstones (key, deleted, seen) ",
                    );
                    qb.push_values(&batch, |mut b, (_, key)| {
                        b.push_bind(key.clone()).push_bind(now).push_bind(now);
                    });
                    qb.push(" ON CONFLICT (key) DO NOTHING");
                    qb.build().persistent(false).execute(&mut *tx).await?;
                    // Embeddings, feedback and ledger rows go with the item
                    // (ON DELETE CASCADE).
                    let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM items WHERE id IN (");
                    let mut sep = qb.separated(", ");
                    for (id, _) in &batch {
                        sep.push_bind(*id);
                    }
                    qb.push(")");
                    qb.build().persistent(false).execute(&mut *tx).await?;
                    tx.commit().await?;
                    report.deleted += batch.len() as u64;
                    touched.extend(batch.iter().map(|(id, _)| *id));
                }
                if let Some((lo, hi)) = touched.0 {
                    self.vpages_prune(lo, hi).await?;
                }
                // Keys no feed offered for the whole period: a feed that
                // still carries an item offers it on every fetch, which
                // keeps its tombstone (`history_gone_in`).
                let mut tx = self.write_tx().await?;
                report.tombstones =
                    sqlx::QueryBuilder::<$db>::new("DELETE FROM item_tombstones WHERE seen < ")
                        .push_bind(plan.delete_before)
                        .build()
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                tx.commit().await?;
                // What stays past the cutoff because someone cares about it.
                use sqlx::Row;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT COUNT(*) AS n FROM items i WHERE i.fetched < ",
                );
                qb.push_bind(plan.delete_before);
                report.kept = qb
                    .build()
                    .persistent(false)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get::<i64, _>("n")? as u64;
                Ok(report)
            }

            pub(crate) async fn history_tombstoned(
                &self,
                keys: &[String],
            ) -> anyhow::Result<std::collections::HashSet<String>> {
                let mut tx = self.pool.begin().await?;
                let out = Self::history_tombstoned_in(&mut tx, keys).await;
                tx.rollback().await?;
                out
            }

            /// Of a batch's `keys`, those not `stored` already that retention
            /// deleted: `upsert_items` never stores them again.
            pub(crate) async fn history_gone_in<V>(
                tx: &mut sqlx::Transaction<'static, $db>,
                keys: &[String],
                stored: &std::collections::HashMap<String, V>,
            ) -> anyhow::Result<std::collections::HashSet<String>> {
                let unknown: Vec<String> = keys
                    .iter()
                    .filter(|k| !stored.contains_key(*k))
                    .cloned()
                    .collect();
                let gone = Self::history_tombstoned_in(tx, &unknown).await?;
                // Offered again: the tombstone is still needed.
                let gone_keys: Vec<&String> = gone.iter().collect();
                for chunk in gone_keys.chunks($crate::history::KEYS_PER_SELECT) {
                    let mut qb =
                        sqlx::QueryBuilder::<$db>::new("UPDATE item_tombstones SET seen = ");
                    qb.push_bind(agg_core::clock::current());
                    qb.push(" WHERE key IN (");
                    let mut sep = qb.separated(", ");
                    for k in chunk {
                        sep.push_bind((*k).clone());
                    }
                    qb.push(")");
                    qb.build().persistent(false).execute(&mut **tx).await?;
                }
                Ok(gone)
            }

            /// [`Self::history_tombstoned`] inside a transaction (the
            /// upsert's own, so it sees a consistent store).
            pub(crate) async fn history_tombstoned_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                keys: &[String],
            ) -> anyhow::Result<std::collections::HashSet<String>> {
                use sqlx::Row;
                let mut out = std::collections::HashSet::new();
                for chunk in keys.chunks($crate::history::KEYS_PER_SELECT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT key FROM item_tombstones WHERE key IN (",
                    );
                    let mut sep = qb.separated(", ");
                    for k in chunk {
                        sep.push_bind(k.clone());
                    }
                    qb.push(")");
                    for r in qb.build().persistent(false).fetch_all(&mut **tx).await? {
                        out.insert(r.try_get::<String, _>("key")?);
                    }
                }
                Ok(out)
            }
        }
    };
}
pub(crate) use history_methods;
