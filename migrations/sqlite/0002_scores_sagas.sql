-- Interest scores, embeddings, models, feedback; saga membership and events.

ALTER TABLE items ADD COLUMN enclosures TEXT NOT NULL DEFAULT '[]';
ALTER TABLE items ADD COLUMN score REAL;
ALTER TABLE items ADD COLUMN score_model TEXT;
ALTER TABLE items ADD COLUMN reasons TEXT NOT NULL DEFAULT '[]';
ALTER TABLE items ADD COLUMN saga_id INTEGER;
ALTER TABLE items ADD COLUMN saga_title TEXT;
ALTER TABLE items ADD COLUMN saga_score REAL;
CREATE INDEX items_saga ON items (saga_id);

-- Embeddings per (item, model): a model upgrade re-embeds, a re-run does not.
CREATE TABLE embeddings (
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    model   TEXT NOT NULL,
    vector  BLOB NOT NULL, -- little-endian f32s
    PRIMARY KEY (item_id, model)
);

-- Every trained revision of every model, so a score can name its model.
CREATE TABLE models (
    name     TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created  TEXT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (name, revision)
);

CREATE TABLE feedback (
    id      INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('like', 'dislike', 'click')),
    via     TEXT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX feedback_item ON feedback (item_id);

CREATE TABLE state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    updated TEXT NOT NULL
);

CREATE TABLE saga_events (
    id     INTEGER PRIMARY KEY,
    saga   INTEGER NOT NULL,
    event  TEXT NOT NULL,
    detail TEXT NOT NULL,
    at     TEXT NOT NULL
);
CREATE INDEX saga_events_saga ON saga_events (saga);
