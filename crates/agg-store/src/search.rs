//! The full-text index behind `Store::search_text` (issues 17 and 23).
//!
//! PostgreSQL keeps it itself: a trigger writes each item's `tsvector` into
//! `item_search` (migration 0010). SQLite cannot: long bodies are stored
//! LZ4-packed, which SQL cannot read, so the store writes an item's words into
//! the contentless FTS5 table `items_fts` as it stores or updates the item
//! (`index`, called from `upsert_items`), and indexes items stored before the
//! index existed once, when it opens the file (`backfill`). A deletion
//! removes the words by trigger on both.
//!
//! Both read at most [`INDEXED_BYTES`] of a body: a search finds a story by
//! its headline and lead, and the index (and each store write) stays
//! proportional to that, not to the longest article.

use agg_core::TextQuery;
use anyhow::Context;
use sqlx::Row;

/// Bytes of an item's body indexed (cut at a character boundary). The
/// PostgreSQL migration cuts at the same number of characters.
pub(crate) const INDEXED_BYTES: usize = 4000;

/// Rows per multi-row insert into `items_fts` (3 parameters each).
const ROWS_PER_INSERT: usize = 300;

/// Items indexed per transaction by the one-time backfill: a crash or kill
/// loses at most one page of work, and writers wait at most that long.
const BACKFILL_PAGE: i64 = 2000;

/// The `state` key holding the highest id the backfill has still to index.
const BACKFILL_MARK: &str = "items_fts_backfill";

/// The part of a body that is indexed.
pub(crate) fn indexed(text: &str) -> &str {
    &text[..text.floor_char_boundary(INDEXED_BYTES)]
}

/// An FTS5 query for any of `words`. Each is quoted, so an FTS5 keyword
/// (`AND`, `NEAR`) is a word like any other; `TextQuery` allows only letters
/// and digits, so a quote cannot occur inside.
fn fts5_match(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// A `to_tsquery` text for any of `words` (letters and digits only, so no
/// operator can be smuggled in).
fn tsquery(words: &[String]) -> String {
    words.join(" | ")
}

fn limit(q: &TextQuery) -> i64 {
    i64::try_from(q.limit).unwrap_or(i64::MAX)
}

/// Whose words [`index`] writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Words {
    /// Items just inserted: nothing of theirs is in the index yet.
    New,
    /// Items that may be indexed already (an update, the backfill): their
    /// old words are removed first.
    Replace,
}

/// Writes the words of `rows` (id, title, body) into `items_fts`.
pub(crate) async fn index(
    conn: &mut sqlx::SqliteConnection,
    rows: &[(i64, &str, &str)],
    whose: Words,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        if whose == Words::Replace {
            let mut del =
                sqlx::QueryBuilder::<sqlx::Sqlite>::new("DELETE FROM items_fts WHERE rowid IN (");
            let mut sep = del.separated(", ");
            for (id, _, _) in chunk {
                sep.push_bind(*id);
            }
            del.push(")");
            del.build().persistent(false).execute(&mut *conn).await?;
        }
        let mut ins =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO items_fts (rowid, title, text) ");
        ins.push_values(chunk, |mut b, (id, title, text)| {
            b.push_bind(*id).push_bind(*title).push_bind(indexed(text));
        });
        ins.build()
            .persistent(false)
            .execute(&mut *conn)
            .await
            .context("cannot index items for search")?;
    }
    Ok(())
}

/// Indexes the items a database held before it had `items_fts` (migration
/// 0012 leaves the highest such id in `state`), newest first, one page per
/// transaction, moving the mark down as it goes, so an interrupted backfill
/// resumes where it stopped. Runs while the store's open lock is held.
pub(crate) async fn backfill(pool: &sqlx::SqlitePool) -> anyhow::Result<()> {
    let mark = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok());
    let read = sqlx::query_scalar::<_, String>("SELECT value FROM state WHERE key = $1")
        .bind(BACKFILL_MARK)
        .fetch_optional(pool)
        .await?;
    let Some(mut high) = mark(read) else {
        return Ok(());
    };
    let started = std::time::Instant::now();
    tracing::info!("indexing the stored items for search (once, up to id {high})");
    while high > 0 {
        let low = (high - BACKFILL_PAGE).max(0);
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let found = sqlx::query("SELECT id, title, text FROM items WHERE id > $1 AND id <= $2")
            .bind(low)
            .bind(high)
            .fetch_all(&mut *tx)
            .await?;
        let mut owned = Vec::with_capacity(found.len());
        for r in &found {
            let text = crate::sqlite::body(r, "text")?.unwrap_or_default();
            owned.push((
                r.try_get::<i64, _>("id")?,
                r.try_get::<String, _>("title")?,
                text,
            ));
        }
        let rows: Vec<(i64, &str, &str)> = owned
            .iter()
            .map(|(id, t, b)| (*id, t.as_str(), b.as_str()))
            .collect();
        index(&mut tx, &rows, Words::Replace).await?;
        sqlx::query("UPDATE state SET value = $1 WHERE key = $2")
            .bind(low.to_string())
            .bind(BACKFILL_MARK)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        high = low;
    }
    sqlx::query("DELETE FROM state WHERE key = $1")
        .bind(BACKFILL_MARK)
        .execute(pool)
        .await?;
    tracing::info!(
        "search index ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The rows of a full-text lookup for `q`: `$undated` without a date
/// bound, `$dated` (which joins the items for their `sort_time`) with one.
/// Both take the match text as `$1` and the limit last, the date between.
/// A macro, as in `shared.rs`: the two backends' queries are other types.
macro_rules! ranked_matches {
    ($pool:expr, $q:expr, $text:expr, $undated:expr, $dated:expr) => {{
        let query = match $q.since {
            None => sqlx::query($undated).bind($text),
            Some(since) => sqlx::query($dated).bind($text).bind(since),
        };
        query
            .bind(limit($q))
            .fetch_all($pool)
            .await
            .context("full-text search failed")?
    }};
}

/// `Store::search_text` on SQLite: FTS5's bm25, a title word weighing four
/// body words; bm25 is lower for better matches, so it is negated.
///
/// The items' rows are joined only for a date bound: joined always, each
/// match cost a random read of its item's row, and a word in 700 of 1M
/// items took 80–93 ms where the index alone took 34 (pages not in memory).
pub(crate) async fn sqlite_search(
    pool: &sqlx::SqlitePool,
    q: &TextQuery,
) -> anyhow::Result<Vec<(i64, f32)>> {
    if q.words.is_empty() || q.limit == 0 {
        return Ok(Vec::new());
    }
    let rows = ranked_matches!(
        pool,
        q,
        fts5_match(&q.words),
        "SELECT rowid AS id, bm25(items_fts, 4.0, 1.0) AS rank
         FROM items_fts WHERE items_fts MATCH $1
         ORDER BY rank LIMIT $2",
        "SELECT items_fts.rowid AS id, bm25(items_fts, 4.0, 1.0) AS rank
         FROM items_fts JOIN items i ON i.id = items_fts.rowid
         WHERE items_fts MATCH $1 AND i.sort_time >= $2
         ORDER BY rank LIMIT $3"
    );
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, -(r.try_get::<f64, _>("rank")? as f32))))
        .collect()
}

/// `Store::search_text` on PostgreSQL: `ts_rank` over the GIN-indexed
/// `item_search`, title words weighted above body words by the migration.
/// The items are joined only for a date bound, as on SQLite.
pub(crate) async fn postgres_search(
    pool: &sqlx::PgPool,
    q: &TextQuery,
) -> anyhow::Result<Vec<(i64, f32)>> {
    if q.words.is_empty() || q.limit == 0 {
        return Ok(Vec::new());
    }
    let rows = ranked_matches!(
        pool,
        q,
        tsquery(&q.words),
        "SELECT s.item_id AS id, ts_rank(s.doc, query) AS rank
         FROM item_search s, to_tsquery('english', $1) query
         WHERE s.doc @@ query
         ORDER BY rank DESC, s.item_id DESC LIMIT $2",
        "SELECT s.item_id AS id, ts_rank(s.doc, query) AS rank
         FROM item_search s
         JOIN items i ON i.id = s.item_id,
              to_tsquery('english', $1) query
         WHERE s.doc @@ query AND i.sort_time >= $2
         ORDER BY rank DESC, s.item_id DESC LIMIT $3"
    );
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get::<f32, _>("rank")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_cut_at_a_character_boundary() {
        let long = "é".repeat(INDEXED_BYTES);
        let cut = indexed(&long);
        assert!(cut.len() <= INDEXED_BYTES && cut.len() > INDEXED_BYTES - 2);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(indexed("short"), "short");
    }

    #[test]
    fn query_words_are_quoted_for_fts5_and_joined_for_tsquery() {
        let q = TextQuery::new("NEAR and \"OR\" mission: 2026!", None, 5);
        assert_eq!(q.words, ["near", "and", "or", "mission", "2026"]);
        assert_eq!(
            fts5_match(&q.words),
            "\"near\" OR \"and\" OR \"or\" OR \"mission\" OR \"2026\""
        );
        assert_eq!(tsquery(&q.words), "near | and | or | mission | 2026");
    }
}
