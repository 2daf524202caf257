-- issue 23: a compact copy of every stored vector (`agg_vindex::compact`:
-- a scale and one signed byte a dimension, 388 bytes for 384 dimensions),
-- which search reads back to re-rank its index's ~500 guesses. Read from
-- `embeddings` each guess was ~3 page reads when the store's pages are not
-- in memory (the key's index, the table's interior page, a 1.5 KB row);
-- here it is ~1.5, nine rows to a page behind interior pages of ~400 keys
-- each (measured at 1M items: 730 reads for 500 guesses against 1,575).
-- Why one copy per item, keyed by the item alone: a key of (item, model)
-- needs an index or a WITHOUT ROWID table, whose interior pages hold whole
-- rows, and either is as many reads as `embeddings`. An item holds the copy
-- of the model that embedded it last; search reads a guess whose copy is of
-- another model from `embeddings` (rare: an item embedded by two models).
-- Written with the vector and its code (`put_embeddings`), dropped with the
-- vector by retention and with the item.
CREATE TABLE vector_bytes (
    item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    model   TEXT NOT NULL,
    bytes   BLOB NOT NULL
);

-- The vectors already stored get their copies from the backfill of
-- migration 0017 (it writes a vector's code and its copy), which the store
-- runs when it opens the file, from the highest item id down, resumable.
DELETE FROM state WHERE key = 'vector_pages_backfill';
INSERT INTO state (key, value, updated)
SELECT 'vector_pages_backfill', CAST(MAX(item_id) AS TEXT), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM embeddings HAVING MAX(item_id) IS NOT NULL;
