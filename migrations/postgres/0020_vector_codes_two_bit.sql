-- issue 23: search's vector index keeps two bits a dimension (the sign and
-- whether the magnitude is above the median, `agg_vindex::code`), 96 bytes
-- for a 384-dimension vector, where it kept the sign alone: with the second
-- bit, 500 exact reads find what 3,000 found. The old pages hold codes of
-- the old form, which the new index cannot read, so they go, and the
-- store pages every vector again when it connects (the backfill of
-- migration 0015, from the highest item id down, resumable).
DELETE FROM vector_pages;
DELETE FROM state WHERE key = 'vector_pages_backfill';

INSERT INTO state (key, value, updated)
SELECT 'vector_pages_backfill', CAST(MAX(item_id) AS TEXT), now()
FROM embeddings HAVING MAX(item_id) IS NOT NULL;
