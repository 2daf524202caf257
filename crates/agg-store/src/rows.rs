//! Row mapping shared by the SQLite and PostgreSQL stores.
//!
//! Both schemas use the same column names and compatible types, so the
//! mapping from a row to a record is written once, as a macro instantiated
//! for each backend's row type (sqlx's `Row::try_get` is resolved per
//! concrete database).

use agg_core::SagaRef;

/// Embeddings are stored as little-endian f32 bytes: compact, and the same
/// on every machine and backend.
pub(crate) fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A saga reference read from an item row.
pub(crate) fn saga_ref(id: Option<i64>, title: Option<String>) -> Option<SagaRef> {
    id.map(|id| SagaRef {
        id: id as u64,
        title: title.unwrap_or_default(),
        ..SagaRef::default()
    })
}

/// Defines `item_from_row`, `feed_from_row` and `digest_from_row` for one
/// backend's row type.
macro_rules! row_mappers {
    ($row:ty) => {
        pub(crate) fn item_from_row(r: &$row) -> anyhow::Result<agg_core::Item> {
            let tags: String = r.try_get("tags")?;
            let also: String = r.try_get("also_in")?;
            Ok(agg_core::Item {
                id: Some(r.try_get("id")?),
                key: r.try_get("key")?,
                source: r.try_get("source")?,
                feed: r.try_get("feed")?,
                feed_title: r.try_get("feed_title")?,
                guid: r.try_get("guid")?,
                url: r.try_get("url")?,
                title: r.try_get("title")?,
                // Per backend: SQLite may hold them packed (packed.rs).
                text: body(r, "text")?.unwrap_or_default(),
                html: body(r, "html")?,
                author: r.try_get("author")?,
                published: r.try_get("published")?,
                updated: r.try_get("updated")?,
                fetched: r.try_get("fetched")?,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                also_in: serde_json::from_str(&also).unwrap_or_default(),
                enclosures: serde_json::from_str(&r.try_get::<String, _>("enclosures")?)
                    .unwrap_or_default(),
                score: r.try_get::<Option<f64>, _>("score")?.map(|s| s as f32),
                reasons: serde_json::from_str(&r.try_get::<String, _>("reasons")?)
                    .unwrap_or_default(),
                saga: crate::rows::saga_ref(r.try_get("saga_id")?, r.try_get("saga_title")?),
                is_new: false,
                embedding: None,
            })
        }

        pub(crate) fn feed_from_row(r: &$row) -> anyhow::Result<agg_core::FeedState> {
            let recent: String = r.try_get("recent_items")?;
            Ok(agg_core::FeedState {
                url: r.try_get("url")?,
                agent: r.try_get("agent")?,
                title: r.try_get("title")?,
                etag: r.try_get("etag")?,
                last_modified: r.try_get("last_modified")?,
                last_fetch: r.try_get("last_fetch")?,
                last_success: r.try_get("last_success")?,
                last_error: r.try_get("last_error")?,
                consecutive_failures: r.try_get::<i64, _>("consecutive_failures")? as u32,
                next_fetch: r.try_get("next_fetch")?,
                paused: r.try_get("paused")?,
                pause_reason: r.try_get("pause_reason")?,
                moved_to: r.try_get("moved_to")?,
                items_total: r.try_get::<i64, _>("items_total")? as u64,
                recent_items: serde_json::from_str(&recent).unwrap_or_default(),
            })
        }

        pub(crate) fn digest_from_row(r: &$row) -> anyhow::Result<agg_core::DigestRecord> {
            let items: String = r.try_get("items")?;
            Ok(agg_core::DigestRecord {
                pipeline: r.try_get("pipeline")?,
                day: r.try_get("day")?,
                message_id: r.try_get("message_id")?,
                items: serde_json::from_str(&items)?,
                status: agg_core::DigestStatus::parse(&r.try_get::<String, _>("status")?)?,
                created: r.try_get("created")?,
                sent_at: r.try_get("sent_at")?,
                error: r.try_get("error")?,
            })
        }
    };
}

pub(crate) use row_mappers;
