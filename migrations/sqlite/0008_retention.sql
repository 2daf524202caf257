-- Retention (issue 23). A deleted item's key is remembered, so that a feed
-- still carrying the item does not bring it back as new on the next run.
CREATE TABLE item_tombstones (
    key     TEXT PRIMARY KEY,
    deleted TEXT NOT NULL
);
-- (Retention selects items by fetch time: the ledger's `items_fetched`
-- index serves it.)
-- Saga events are pruned by age.
CREATE INDEX saga_events_at ON saga_events (at);
