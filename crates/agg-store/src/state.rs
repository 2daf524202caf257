//! Read and saved state (issue 18), written once for both backends like
//! the subscriptions (`subs.rs`): one generic body per method, instantiated
//! with each backend's sqlx database type.
//!
//! Kept apart from `feedback` on purpose: a like trains the interest model,
//! while opening or starring an item says nothing about what the reader
//! wants more of. Every change is one `INSERT … SELECT … ON CONFLICT`
//! statement, so two tabs (or a tab and the CLI) marking the same item at
//! once end with one row, and ids that name no stored item are skipped by
//! the `SELECT` instead of failing on the foreign key.

/// The body of an `EXISTS` that holds for an `items` row the reader has
/// read (`ItemQuery::unread` negates it). A macro, not a `const`, so that
/// each backend's `list_items` can `concat!` it into its one static query.
macro_rules! read_exists {
    () => {
        "EXISTS (SELECT 1 FROM item_state st WHERE st.item_id = items.id AND st.read_at IS NOT NULL)"
    };
}
pub(crate) use read_exists;

/// Like [`read_exists`], for saved items (`ItemQuery::saved`).
macro_rules! saved_exists {
    () => {
        "EXISTS (SELECT 1 FROM item_state st WHERE st.item_id = items.id AND st.saved_at IS NOT NULL)"
    };
}
pub(crate) use saved_exists;

/// Ids per `IN (…)` list.
pub(crate) const IDS_PER_STATEMENT: usize = 500;

/// The read/saved methods of `Store` for one backend, as inherent
/// `state_*` methods its `Store` impl forwards to.
macro_rules! state_methods {
    ($db:ty, $store:ty) => {
        impl $store {
            pub(crate) async fn state_mark(
                &self,
                ids: &[i64],
                mark: agg_core::store::ItemMark,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<u64> {
                use agg_core::store::ItemMark;
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                // The row a first mark inserts, and what a later one changes.
                // Marking read or saved again keeps the first time: the
                // saved list stays in the order things were saved.
                let (read, saved, update) = match mark {
                    ItemMark::Read => (
                        Some(at),
                        None,
                        "read_at = COALESCE(item_state.read_at, excluded.read_at)",
                    ),
                    ItemMark::Unread => (None, None, "read_at = NULL"),
                    ItemMark::Save => (
                        None,
                        Some(at),
                        "saved_at = COALESCE(item_state.saved_at, excluded.saved_at)",
                    ),
                    ItemMark::Unsave => (None, None, "saved_at = NULL"),
                };
                let mut known = 0;
                let mut tx = self.write_tx().await?;
                for chunk in ids.chunks($crate::state::IDS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO item_state (item_id, read_at, saved_at) SELECT id, ",
                    );
                    qb.push_bind(read);
                    qb.push(", ");
                    qb.push_bind(saved);
                    qb.push(" FROM items WHERE id IN (");
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(*id);
                    }
                    qb.push(") ON CONFLICT (item_id) DO UPDATE SET ");
                    qb.push(update);
                    // Both backends count a row an upsert updated as
                    // affected, so this is the number of stored items.
                    known += qb
                        .build()
                        .persistent(false)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if matches!(mark, ItemMark::Unread | ItemMark::Unsave) {
                        // Nothing left to remember about these: no row.
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "DELETE FROM item_state WHERE read_at IS NULL \
                             AND saved_at IS NULL AND item_id IN (",
                        );
                        let mut sep = qb.separated(", ");
                        for id in chunk {
                            sep.push_bind(*id);
                        }
                        qb.push(")");
                        qb.build().persistent(false).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(known)
            }

            pub(crate) async fn state_get(
                &self,
                ids: &[i64],
            ) -> anyhow::Result<std::collections::HashMap<i64, agg_core::store::ItemState>>
            {
                let mut out = std::collections::HashMap::new();
                for chunk in ids.chunks($crate::state::IDS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT item_id, read_at, saved_at FROM item_state WHERE item_id IN (",
                    );
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(*id);
                    }
                    qb.push(")");
                    for r in qb.build().persistent(false).fetch_all(&self.pool).await? {
                        let s = Self::state_from_row(&r)?;
                        out.insert(s.item_id, s);
                    }
                }
                Ok(out)
            }

            pub(crate) async fn state_saved(
                &self,
                limit: u64,
            ) -> anyhow::Result<Vec<agg_core::store::ItemState>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT item_id, read_at, saved_at FROM item_state \
                     WHERE saved_at IS NOT NULL ORDER BY saved_at DESC, item_id DESC LIMIT ",
                );
                qb.push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(Self::state_from_row).collect()
            }

            fn state_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> anyhow::Result<agg_core::store::ItemState> {
                use sqlx::Row;
                Ok(agg_core::store::ItemState {
                    item_id: r.try_get("item_id")?,
                    read_at: r.try_get("read_at")?,
                    saved_at: r.try_get("saved_at")?,
                })
            }
        }
    };
}
pub(crate) use state_methods;
