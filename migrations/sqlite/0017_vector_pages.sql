-- issue 23: search's vector index (agg-vindex) kept in pages: each
-- vector's sign code (one bit per dimension, 48 bytes for a 1,536-byte
-- vector), grouped by item id range (`page` = item_id / 4096), so that the
-- whole index is read in a few hundred rows, not one row, or one vector,
-- per item. `ids` are little-endian i64s, ascending; `codes` the codes in
-- the same order. Written with the vectors (`put_embeddings`); codes of
-- deleted items are dropped by retention and skipped by search.
CREATE TABLE vector_pages (
    model TEXT NOT NULL,
    page  INTEGER NOT NULL,
    ids   BLOB NOT NULL,
    codes BLOB NOT NULL,
    PRIMARY KEY (model, page)
);

-- Vectors stored before this migration are paged once by the store when it
-- opens the file (SQL cannot make their codes): this mark is the highest
-- item id still to page, and goes when all are done.
INSERT INTO state (key, value, updated)
SELECT 'vector_pages_backfill', CAST(MAX(item_id) AS TEXT), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM embeddings HAVING MAX(item_id) IS NOT NULL;
