-- issue 23: the saga engine's vocabulary, one row per term (`w:harbour`,
-- `b:harbour strike`, `e:Harbour Board`): its id and in how many items it
-- occurred. A year of items is ~630,000 terms; kept in the engine's core
-- they were rewritten by every run. A run reads the rows of its items'
-- terms (and of its candidate sagas' latest headlines) and writes those it
-- added or counted (`Store::save_saga_state`, with the core, whose
-- vocabulary then holds only how many ids it gave).
CREATE TABLE saga_terms (
    term TEXT PRIMARY KEY,
    id   INTEGER NOT NULL,
    df   INTEGER NOT NULL
) WITHOUT ROWID;
