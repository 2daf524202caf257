-- issue 23: the saga engine's live sagas, one row each, and its per-feed
-- headline counts, one row a feed, beside the state's core (`state`, key
-- `saga-engine`: everything else). A save writes the core and only the
-- sagas and feeds it changed, in one transaction
-- (`Store::save_saga_state`); a `saga_live` body is an `agg_saga::Saga`,
-- a `saga_feeds` body one feed's counts, as JSON.
CREATE TABLE saga_live (
    id   BIGINT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE saga_feeds (
    feed TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
