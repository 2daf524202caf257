-- issue 23: when each live saga may next be archived if nothing joins it
-- (unix seconds), one row per live saga that may be (none: never, as
-- things stand), written with its `saga_live` row. A run reads the ids
-- due at its time through the index, instead of a map of every live
-- saga's due time in the engine's core (307 KB at a year of items, read
-- and rewritten by every run). Its own table, not a column of
-- `saga_live`: updating a column rewrites the whole row, body included
-- (the first save after this migration writes every live saga's due
-- time: 0.6 s at a year of items as a column, for 150 MB of rewritten
-- rows).
CREATE TABLE saga_due (
    id  INTEGER PRIMARY KEY,
    due INTEGER NOT NULL
);
CREATE INDEX saga_due_at ON saga_due (due);
