-- issue 23: the saga engine's inverted index, one row per term: the term's
-- vocabulary id and the indices of the sagas listed under it, oldest
-- first, as little-endian u32s. Kept in the engine's core it was ~620 KB
-- at a year of items (two thirds of the core), read, parsed and rewritten
-- by every run; a run reads the lists of its items' terms and writes those
-- it changed (`Store::save_saga_state`). Archived sagas leave a list when
-- it next changes, so a list may name sagas that have no live row.
CREATE TABLE saga_postings (
    term BIGINT PRIMARY KEY,
    list BYTEA NOT NULL
);
