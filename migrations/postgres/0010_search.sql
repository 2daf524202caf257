-- issues 17 and 23: full-text search over every stored item, not a window of
-- the newest ones. The words live beside the items (so listing items never
-- reads them), kept current by a trigger, indexed with GIN. 'english' stems
-- the way SQLite's porter tokenizer does; a title word weighs more (A) than a
-- body word (B); bodies are read up to 4,000 characters, as on SQLite.
CREATE TABLE item_search (
    item_id BIGINT PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    doc     TSVECTOR NOT NULL
);
CREATE INDEX item_search_doc ON item_search USING GIN (doc);

CREATE FUNCTION item_search_doc(title TEXT, body TEXT) RETURNS TSVECTOR
LANGUAGE SQL IMMUTABLE AS $$
    SELECT setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('english', left(coalesce(body, ''), 4000)), 'B')
$$;

CREATE FUNCTION item_search_sync() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO item_search (item_id, doc)
    VALUES (NEW.id, item_search_doc(NEW.title, NEW.text))
    ON CONFLICT (item_id) DO UPDATE SET doc = EXCLUDED.doc;
    RETURN NULL;
END
$$;

CREATE TRIGGER items_search_insert AFTER INSERT ON items
    FOR EACH ROW EXECUTE FUNCTION item_search_sync();
-- Retention thins an old item's body to '' and keeps its words findable (as
-- SQLite's index does): only a real edit re-indexes.
CREATE TRIGGER items_search_update AFTER UPDATE OF title, text ON items
    FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title
          OR (NEW.text <> '' AND OLD.text IS DISTINCT FROM NEW.text))
    EXECUTE FUNCTION item_search_sync();

INSERT INTO item_search (item_id, doc)
SELECT id, item_search_doc(title, text) FROM items;
