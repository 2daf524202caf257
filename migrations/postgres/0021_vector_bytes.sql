-- issue 23: a compact copy of every stored vector (`agg_vindex::compact`:
-- a scale and one signed byte a dimension, 388 bytes for 384 dimensions),
-- which search reads back to re-rank its index's ~500 guesses: one small
-- row each instead of a 1.5 KB vector. One copy per item, keyed by the item
-- alone, as on SQLite (migration 0023 there says why): the copy of the
-- model that embedded the item last; search reads a guess whose copy is of
-- another model from `embeddings`. Written with the vector and its code
-- (`put_embeddings`), dropped with the vector by retention and with the
-- item.
CREATE TABLE vector_bytes (
    item_id BIGINT PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    model   TEXT NOT NULL,
    bytes   BYTEA NOT NULL
);

-- The vectors already stored get their copies from the backfill of
-- migration 0015 (it writes a vector's code and its copy), which the store
-- runs when it connects, from the highest item id down, resumable.
DELETE FROM state WHERE key = 'vector_pages_backfill';
INSERT INTO state (key, value, updated)
SELECT 'vector_pages_backfill', CAST(MAX(item_id) AS TEXT), now()
FROM embeddings HAVING MAX(item_id) IS NOT NULL;
