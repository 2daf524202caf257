-- issue 23: the saga engine's item index, one row per live item: a hash of
-- the item's key (FNV-1a, the i64 of its 64 bits) and the index of the
-- saga it is in. It tells an item offered again without loading its
-- saga's row. Kept in the engine's core it was ~1 MB at a year of items,
-- read and rewritten by every run; a run reads its own items' rows and
-- writes those it changed (`Store::save_saga_state`).
CREATE TABLE saga_items (
    hash BIGINT PRIMARY KEY,
    saga BIGINT NOT NULL
);
