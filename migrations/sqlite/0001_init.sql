-- Core tables of agg (SQLite). Timestamps are UTC, stored by sqlx as text in
-- one format, so they sort and compare as text.

CREATE TABLE feeds (
    url                  TEXT PRIMARY KEY,
    agent                TEXT,
    title                TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    last_fetch           TEXT,
    last_success         TEXT,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_fetch           TEXT,
    paused               INTEGER NOT NULL DEFAULT 0,
    pause_reason         TEXT,
    moved_to             TEXT,
    items_total          INTEGER NOT NULL DEFAULT 0,
    recent_items         TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE items (
    id         INTEGER PRIMARY KEY,
    -- Stable identity (guid, else canonical URL, else content hash): re-runs
    -- and resumed runs hit this constraint instead of storing twice.
    key        TEXT NOT NULL UNIQUE,
    source     TEXT NOT NULL,
    feed       TEXT,
    feed_title TEXT,
    guid       TEXT,
    url        TEXT,
    title      TEXT NOT NULL,
    text       TEXT NOT NULL DEFAULT '',
    html       TEXT,
    author     TEXT,
    published  TEXT,
    updated    TEXT,
    fetched    TEXT NOT NULL,
    -- "when" of an item, denormalised so listing by date uses an index.
    sort_time  TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '[]',
    also_in    TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX items_source ON items (source, sort_time);
CREATE INDEX items_sort_time ON items (sort_time);

CREATE TABLE runs (
    id       INTEGER PRIMARY KEY,
    pipeline TEXT NOT NULL,
    started  TEXT NOT NULL,
    finished TEXT,
    status   TEXT NOT NULL
);
CREATE INDEX runs_pipeline ON runs (pipeline, status);

CREATE TABLE run_events (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    agent       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    role        TEXT NOT NULL,
    status      TEXT NOT NULL,
    items_in    INTEGER NOT NULL,
    items_out   INTEGER NOT NULL,
    items_new   INTEGER NOT NULL,
    errors      TEXT NOT NULL DEFAULT '[]',
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, agent)
);
