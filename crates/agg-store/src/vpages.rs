//! The pages of search's vector index (issue 23): every stored vector's
//! code (`agg_vindex::code`: signs and large magnitudes, two bits a
//! dimension), grouped by item id range so that the whole index is a few
//! hundred rows. Reading 1M codes one row each
//! took SQLite ~2 s (each code sits after its 1.5 KB vector, on overflow
//! pages); as pages it is ~250 rows. Written once for both backends, like
//! [`crate::history`].
//!
//! Beside the pages, each vector's compact copy (`agg_vindex::compact`,
//! table `vector_bytes`, one row per item): what search reads its best
//! guesses back as, one small row each instead of the 1.5 KB vector.
//!
//! The pages follow the vectors: `put_embeddings` writes a vector's code
//! and copy in the same transaction, retention drops the codes of the
//! vectors it deleted (`vpages_prune`) and their copies with them, and
//! vectors stored before pages or copies existed are paged when the store
//! opens (`vpages_backfill`). A code whose vector is gone otherwise (an
//! item deleted by hand, its copy going with it) only costs search a place
//! in its shortlist: its copy is missing, so it is skipped.

/// Item ids per page: 4,096 codes of 96 bytes are ~420 KB with their ids.
pub(crate) const PAGE_IDS: i64 = 4096;
/// Pages per statement when the index is read (~27 MB).
pub(crate) const PAGES_PER_READ: i64 = 64;
/// Compact copies written per statement (three values each: under
/// SQLite's 32,766 and PostgreSQL's 65,535 bound values).
pub(crate) const COPIES_PER_STATEMENT: usize = 1000;
/// Vectors paged per transaction by the backfill.
pub(crate) const BACKFILL_BATCH: i64 = 2000;
/// The `state` key holding the highest item id the backfill has still to page.
pub(crate) const BACKFILL_MARK: &str = "vector_pages_backfill";

/// A page's contents: ascending ids and their codes.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Page {
    pub(crate) ids: Vec<i64>,
    pub(crate) codes: Vec<Vec<u8>>,
}

impl Page {
    /// Reads a stored page; a damaged one (lengths that do not divide)
    /// is an error naming it.
    pub(crate) fn decode(page: i64, ids: &[u8], codes: &[u8]) -> anyhow::Result<Page> {
        let width = Page::check(page, ids, codes)?;
        Ok(Page {
            ids: ids_of(ids),
            codes: codes
                .chunks_exact(width.max(1))
                .map(<[u8]>::to_vec)
                .collect(),
        })
    }

    /// Checks a stored page's lengths (an error naming a damaged one);
    /// returns its code width.
    pub(crate) fn check(page: i64, ids: &[u8], codes: &[u8]) -> anyhow::Result<usize> {
        let n = ids.len() / 8;
        if !ids.len().is_multiple_of(8)
            || (n == 0 && !codes.is_empty())
            || (n > 0 && !codes.len().is_multiple_of(n))
        {
            anyhow::bail!(
                "vector index page {page} is damaged ({} id bytes, {} code bytes)",
                ids.len(),
                codes.len()
            );
        }
        Ok(codes.len().checked_div(n).unwrap_or(0))
    }

    /// The stored form: `(ids, codes)`.
    pub(crate) fn encode(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.ids.iter().flat_map(|i| i.to_le_bytes()).collect(),
            self.codes.concat(),
        )
    }

    /// Adds or replaces codes by id, keeping ids ascending. A code of
    /// another width than the page's replaces the whole page's (another
    /// model under the same name: its old codes are meaningless).
    pub(crate) fn merge(&mut self, rows: impl IntoIterator<Item = (i64, Vec<u8>)>) {
        let mut all: std::collections::BTreeMap<i64, Vec<u8>> =
            self.ids.drain(..).zip(self.codes.drain(..)).collect();
        for (id, code) in rows {
            if all.values().next().is_some_and(|c| c.len() != code.len()) {
                all.clear();
            }
            all.insert(id, code);
        }
        (self.ids, self.codes) = all.into_iter().unzip();
    }

    /// Keeps only the ids `keep` says.
    pub(crate) fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        let (ids, codes) = self
            .ids
            .drain(..)
            .zip(self.codes.drain(..))
            .filter(|(id, _)| keep(*id))
            .unzip();
        (self.ids, self.codes) = (ids, codes);
    }
}

/// A page's stored ids (little-endian i64s).
pub(crate) fn ids_of(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Vectors grouped by page, their codes made.
pub(crate) fn by_page(
    rows: &[(i64, Vec<f32>)],
) -> std::collections::BTreeMap<i64, Vec<(i64, Vec<u8>)>> {
    let mut out: std::collections::BTreeMap<i64, Vec<(i64, Vec<u8>)>> = Default::default();
    for (id, v) in rows {
        out.entry(id.div_euclid(PAGE_IDS))
            .or_default()
            .push((*id, agg_vindex::code(v)));
    }
    out
}

/// The vector-index methods of one backend, as inherent `vpages_*` methods
/// (see `history_methods`).
macro_rules! vpages_methods {
    ($db:ty, $store:ty) => {
        impl $store {
            /// Writes the codes of `rows` (`model`'s vectors) into their
            /// pages, inside the transaction that writes the vectors.
            pub(crate) async fn vpages_put_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                model: &str,
                rows: &[(i64, Vec<f32>)],
            ) -> anyhow::Result<()> {
                use sqlx::Row;
                for (page, codes) in $crate::vpages::by_page(rows) {
                    let old = sqlx::QueryBuilder::<$db>::new(
                        "SELECT ids, codes FROM vector_pages WHERE model = ",
                    )
                    .push_bind(model)
                    .push(" AND page = ")
                    .push_bind(page)
                    .build()
                    .fetch_optional(&mut **tx)
                    .await?;
                    let mut p = match old {
                        Some(r) => $crate::vpages::Page::decode(
                            page,
                            &r.try_get::<Vec<u8>, _>("ids")?,
                            &r.try_get::<Vec<u8>, _>("codes")?,
                        )?,
                        None => $crate::vpages::Page::default(),
                    };
                    p.merge(codes);
                    Self::vpages_write_in(tx, model, page, &p).await?;
                }
                // And their compact copies, which search re-ranks by, one
                // an item (the last model's: migration 0023 says why); an
                // id listed twice keeps its last vector (one statement may
                // not change a row twice on PostgreSQL).
                let copies: std::collections::BTreeMap<i64, &[f32]> =
                    rows.iter().map(|(id, v)| (*id, v.as_slice())).collect();
                let copies: Vec<(i64, Vec<u8>)> = copies
                    .into_iter()
                    .map(|(id, v)| (id, agg_vindex::compact(v)))
                    .collect();
                for chunk in copies.chunks($crate::vpages::COPIES_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO vector_bytes (item_id, model, bytes) ",
                    );
                    qb.push_values(chunk, |mut b, (id, bytes)| {
                        b.push_bind(*id).push_bind(model.to_string()).push_bind(bytes.clone());
                    });
                    qb.push(
                        " ON CONFLICT (item_id) DO UPDATE SET model = excluded.model, bytes = excluded.bytes",
                    );
                    qb.build().persistent(false).execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// The compact copies of `model`'s vectors of `ids`
            /// (`Store::get_vector_copies`). A damaged copy is left out
            /// with a warning.
            pub(crate) async fn vpages_copies(
                &self,
                model: &str,
                ids: &[i64],
            ) -> anyhow::Result<agg_core::VectorCopies> {
                use sqlx::Row;
                let mut out = agg_core::VectorCopies::default();
                out.vectors.reserve(ids.len());
                for chunk in ids.chunks($crate::history::KEYS_PER_SELECT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT item_id, model, bytes FROM vector_bytes WHERE item_id IN (",
                    );
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(*id);
                    }
                    qb.push(")");
                    for r in qb.build().persistent(false).fetch_all(&self.pool).await? {
                        let id: i64 = r.try_get("item_id")?;
                        if r.try_get::<&str, _>("model")? != model {
                            out.other_model.push(id);
                            continue;
                        }
                        match agg_vindex::expand(&r.try_get::<Vec<u8>, _>("bytes")?) {
                            Some(v) => {
                                out.vectors.insert(id, v);
                            }
                            None => tracing::warn!(model, item = id, "vector copy is damaged; skipped"),
                        }
                    }
                }
                Ok(out)
            }

            /// Stores page `page` of `model` as `p` (removed when empty).
            async fn vpages_write_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                model: &str,
                page: i64,
                p: &$crate::vpages::Page,
            ) -> anyhow::Result<()> {
                if p.ids.is_empty() {
                    sqlx::QueryBuilder::<$db>::new("DELETE FROM vector_pages WHERE model = ")
                        .push_bind(model)
                        .push(" AND page = ")
                        .push_bind(page)
                        .build()
                        .execute(&mut **tx)
                        .await?;
                    return Ok(());
                }
                let (ids, codes) = p.encode();
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO vector_pages (model, page, ids, codes) VALUES (",
                );
                let mut sep = qb.separated(", ");
                sep.push_bind(model.to_string());
                sep.push_bind(page);
                sep.push_bind(ids);
                sep.push_bind(codes);
                qb.push(
                    ") ON CONFLICT (model, page) DO UPDATE SET ids = excluded.ids, codes = excluded.codes",
                );
                qb.build().execute(&mut **tx).await?;
                Ok(())
            }

            /// The pages of `model` that hold ids above `after`, in order.
            pub(crate) async fn vpages_read(
                &self,
                model: &str,
                after: i64,
            ) -> anyhow::Result<Vec<agg_core::store::CodePage>> {
                use sqlx::Row;
                let mut out = Vec::new();
                let mut from = after.saturating_add(1).div_euclid($crate::vpages::PAGE_IDS);
                loop {
                    let rows = sqlx::QueryBuilder::<$db>::new(
                        "SELECT page, ids, codes FROM vector_pages WHERE model = ",
                    )
                    .push_bind(model)
                    .push(" AND page >= ")
                    .push_bind(from)
                    .push(" ORDER BY page LIMIT ")
                    .push_bind($crate::vpages::PAGES_PER_READ)
                    .build()
                    .fetch_all(&self.pool)
                    .await?;
                    let n = rows.len() as i64;
                    for r in rows {
                        let page: i64 = r.try_get("page")?;
                        let ids: Vec<u8> = r.try_get("ids")?;
                        let codes: Vec<u8> = r.try_get("codes")?;
                        // Checked here so a damaged page is named, not
                        // read as garbage (not decoded into a code per
                        // vector: the index takes the codes as they are).
                        $crate::vpages::Page::check(page, &ids, &codes)?;
                        out.push(agg_core::store::CodePage {
                            start: page * $crate::vpages::PAGE_IDS,
                            ids: $crate::vpages::ids_of(&ids),
                            codes,
                        });
                        from = page + 1;
                    }
                    if n < $crate::vpages::PAGES_PER_READ {
                        break;
                    }
                }
                Ok(out)
            }

            /// Drops from the pages covering ids `lo..=hi` (every model)
            /// the codes whose vector is no longer stored (retention).
            pub(crate) async fn vpages_prune(&self, lo: i64, hi: i64) -> anyhow::Result<()> {
                use sqlx::Row;
                let (first, last) = (
                    lo.div_euclid($crate::vpages::PAGE_IDS),
                    hi.div_euclid($crate::vpages::PAGE_IDS),
                );
                let mut tx = self.write_tx().await?;
                let pages = sqlx::QueryBuilder::<$db>::new(
                    "SELECT model, page, ids, codes FROM vector_pages WHERE page >= ",
                )
                .push_bind(first)
                .push(" AND page <= ")
                .push_bind(last)
                .build()
                .fetch_all(&mut *tx)
                .await?;
                for r in pages {
                    let (model, page): (String, i64) = (r.try_get("model")?, r.try_get("page")?);
                    let mut p = $crate::vpages::Page::decode(
                        page,
                        &r.try_get::<Vec<u8>, _>("ids")?,
                        &r.try_get::<Vec<u8>, _>("codes")?,
                    )?;
                    let live: std::collections::HashSet<i64> = sqlx::QueryBuilder::<$db>::new(
                        "SELECT item_id FROM embeddings WHERE item_id >= ",
                    )
                    .push_bind(page * $crate::vpages::PAGE_IDS)
                    .push(" AND item_id < ")
                    .push_bind((page + 1) * $crate::vpages::PAGE_IDS)
                    .push(" AND model = ")
                    .push_bind(model.clone())
                    .build()
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<i64, _>("item_id"))
                    .collect::<Result<_, _>>()?;
                    let before = p.ids.len();
                    p.retain(|id| live.contains(&id));
                    if p.ids.len() != before {
                        Self::vpages_write_in(&mut tx, &model, page, &p).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            /// Pages the vectors stored before pages (or their compact
            /// copies) existed, from the highest id down, a batch per
            /// transaction that moves the mark down with it: an
            /// interrupted backfill resumes.
            pub(crate) async fn vpages_backfill(&self) -> anyhow::Result<()> {
                use sqlx::Row;
                let (started, mut paged) = (std::time::Instant::now(), 0usize);
                loop {
                    let mut tx = self.write_tx().await?;
                    let mark = sqlx::QueryBuilder::<$db>::new("SELECT value FROM state WHERE key = ")
                        .push_bind($crate::vpages::BACKFILL_MARK)
                        .build()
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(mark) = mark else {
                        if paged > 0 {
                            // An upgrade's one-off cost (~40 s at 1M
                            // vectors), said so that a slow first start
                            // has a reason.
                            tracing::info!(
                                vectors = paged,
                                "vector index pages and copies ready in {:.1}s",
                                started.elapsed().as_secs_f64()
                            );
                        }
                        return Ok(());
                    };
                    let mark: i64 = mark.try_get::<String, _>("value")?.parse()?;
                    let rows = sqlx::QueryBuilder::<$db>::new(
                        "SELECT item_id, model, vector FROM embeddings WHERE item_id <= ",
                    )
                    .push_bind(mark)
                    .push(" ORDER BY item_id DESC LIMIT ")
                    .push_bind($crate::vpages::BACKFILL_BATCH)
                    .build()
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut by_model: std::collections::BTreeMap<String, Vec<(i64, Vec<f32>)>> =
                        Default::default();
                    let mut lowest = None;
                    for r in &rows {
                        let id: i64 = r.try_get("item_id")?;
                        let v: Vec<u8> = r.try_get("vector")?;
                        by_model
                            .entry(r.try_get("model")?)
                            .or_default()
                            .push((id, $crate::rows::blob_to_vec(&v)));
                        lowest = Some(id);
                    }
                    for (model, vs) in &by_model {
                        Self::vpages_put_in(&mut tx, model, vs).await?;
                    }
                    paged += rows.len();
                    let mut qb = match lowest {
                        Some(low) if rows.len() as i64 == $crate::vpages::BACKFILL_BATCH => {
                            let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE state SET value = ");
                            qb.push_bind((low - 1).to_string());
                            qb
                        }
                        _ => sqlx::QueryBuilder::<$db>::new("DELETE FROM state"),
                    };
                    qb.push(" WHERE key = ").push_bind($crate::vpages::BACKFILL_MARK);
                    qb.build().execute(&mut *tx).await?;
                    tx.commit().await?;
                }
            }
        }
    };
}
pub(crate) use vpages_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_merges_by_id_keeps_order_and_comes_back() {
        let mut p = Page::default();
        p.merge([(9, vec![1u8, 2]), (3, vec![3, 4])]);
        p.merge([(5, vec![5, 6]), (9, vec![7, 8])]);
        assert_eq!(p.ids, [3, 5, 9]);
        assert_eq!(p.codes, [vec![3, 4], vec![5, 6], vec![7, 8]]);
        let (ids, codes) = p.encode();
        assert_eq!(Page::decode(0, &ids, &codes).unwrap(), p);
        p.retain(|id| id != 5);
        assert_eq!(p.ids, [3, 9]);
        // Another width: another model's codes under the name; the old go.
        p.merge([(4, vec![1, 2, 3])]);
        assert_eq!(p.ids, [4]);
    }

    #[test]
    fn a_damaged_page_is_named() {
        let e = Page::decode(7, &[0; 12], &[0; 4]).unwrap_err().to_string();
        assert!(e.contains("page 7 is damaged"), "{e}");
        assert!(Page::decode(7, &[0; 16], &[0; 5]).is_err());
        assert_eq!(Page::decode(7, &[], &[]).unwrap(), Page::default());
    }

    #[test]
    fn pages_are_id_ranges() {
        let pages = by_page(&[(1, vec![1.0]), (4095, vec![-1.0]), (4096, vec![1.0])]);
        assert_eq!(pages.keys().copied().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(pages[&0], [(1, vec![1, 1]), (4095, vec![0, 1])]);
    }
}
