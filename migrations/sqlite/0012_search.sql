-- issues 17 and 23: full-text search over every stored item, not a window of
-- the newest ones.
--
-- Contentless: long bodies are stored LZ4-packed (crates/agg-store/src/packed.rs),
-- which SQLite cannot read, so the store writes each item's words here itself
-- as it stores or updates the item (`rowid` = items.id). `contentless_delete`
-- lets an update or a deletion remove an item's old words. Stemmed (porter)
-- the same way as PostgreSQL's 'english' configuration.
CREATE VIRTUAL TABLE items_fts USING fts5(
    title, text,
    content = '', contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- Retention (and any other deletion) removes an item's words with it.
CREATE TRIGGER items_fts_forget AFTER DELETE ON items BEGIN
    DELETE FROM items_fts WHERE rowid = old.id;
END;

-- Items stored before this migration are indexed once, in pages, by the
-- store when it opens the file (it can unpack their bodies; SQL cannot): this
-- mark is the highest id still to index, and goes when all are done.
INSERT INTO state (key, value, updated)
SELECT 'items_fts_backfill', CAST(MAX(id) AS TEXT), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM items HAVING MAX(id) IS NOT NULL;
