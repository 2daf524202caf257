-- agg on PostgreSQL: the same tables as migrations/sqlite/, in PostgreSQL
-- types. Timestamps are timestamptz; JSON lists are kept as text, as on
-- SQLite, so both backends map rows with the same code.

CREATE TABLE feeds (
    url                  TEXT PRIMARY KEY,
    agent                TEXT,
    title                TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    last_fetch           TIMESTAMPTZ,
    last_success         TIMESTAMPTZ,
    last_error           TEXT,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    next_fetch           TIMESTAMPTZ,
    paused               BOOLEAN NOT NULL DEFAULT FALSE,
    pause_reason         TEXT,
    moved_to             TEXT,
    items_total          BIGINT NOT NULL DEFAULT 0,
    recent_items         TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE items (
    id          BIGSERIAL PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    feed        TEXT,
    feed_title  TEXT,
    guid        TEXT,
    url         TEXT,
    title       TEXT NOT NULL,
    text        TEXT NOT NULL DEFAULT '',
    html        TEXT,
    author      TEXT,
    published   TIMESTAMPTZ,
    updated     TIMESTAMPTZ,
    fetched     TIMESTAMPTZ NOT NULL,
    sort_time   TIMESTAMPTZ NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]',
    also_in     TEXT NOT NULL DEFAULT '[]',
    enclosures  TEXT NOT NULL DEFAULT '[]',
    score       DOUBLE PRECISION,
    score_model TEXT,
    reasons     TEXT NOT NULL DEFAULT '[]',
    saga_id     BIGINT,
    saga_title  TEXT,
    saga_score  DOUBLE PRECISION
);
CREATE INDEX items_source ON items (source, sort_time);
CREATE INDEX items_sort_time ON items (sort_time);
CREATE INDEX items_saga ON items (saga_id);

CREATE TABLE runs (
    id       BIGSERIAL PRIMARY KEY,
    pipeline TEXT NOT NULL,
    started  TIMESTAMPTZ NOT NULL,
    finished TIMESTAMPTZ,
    status   TEXT NOT NULL
);
CREATE INDEX runs_pipeline ON runs (pipeline, status);

CREATE TABLE run_events (
    seq         BIGSERIAL,
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    agent       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    role        TEXT NOT NULL,
    status      TEXT NOT NULL,
    items_in    BIGINT NOT NULL,
    items_out   BIGINT NOT NULL,
    items_new   BIGINT NOT NULL,
    errors      TEXT NOT NULL DEFAULT '[]',
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, agent)
);

CREATE TABLE embeddings (
    item_id BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    model   TEXT NOT NULL,
    vector  BYTEA NOT NULL,
    PRIMARY KEY (item_id, model)
);

CREATE TABLE models (
    name     TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created  TIMESTAMPTZ NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (name, revision)
);

CREATE TABLE feedback (
    id      BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL CHECK (kind IN ('like', 'dislike', 'click')),
    via     TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX feedback_item ON feedback (item_id);

CREATE TABLE state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    updated TIMESTAMPTZ NOT NULL
);

CREATE TABLE saga_events (
    id     BIGSERIAL PRIMARY KEY,
    saga   BIGINT NOT NULL,
    event  TEXT NOT NULL,
    detail TEXT NOT NULL,
    at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX saga_events_saga ON saga_events (saga);

CREATE TABLE digests (
    pipeline   TEXT NOT NULL,
    day        TEXT NOT NULL,
    message_id TEXT NOT NULL,
    items      TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'interrupted')),
    created    TIMESTAMPTZ NOT NULL,
    sent_at    TIMESTAMPTZ,
    error      TEXT,
    PRIMARY KEY (pipeline, day)
);
