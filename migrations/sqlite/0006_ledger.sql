-- The per-stage ledger: how each agent of each pipeline handled each stored
-- item, so a stage that failed (or a new agent) catches up on a later run.
CREATE TABLE stage_ledger (
    pipeline TEXT NOT NULL,
    agent    TEXT NOT NULL,
    item_id  INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    status   TEXT NOT NULL CHECK (status IN ('passed', 'dropped', 'failed', 'parked')),
    attempts INTEGER NOT NULL DEFAULT 0,
    reason   TEXT,
    at       TEXT NOT NULL,
    PRIMARY KEY (pipeline, agent, item_id)
);
CREATE INDEX stage_ledger_item ON stage_ledger (item_id);
CREATE INDEX stage_ledger_status ON stage_ledger (pipeline, status);
-- The backlog window reads items by first-fetch time.
CREATE INDEX items_fetched ON items (fetched);
-- What each agent took from earlier runs, and what it skipped and why.
ALTER TABLE run_events ADD COLUMN items_backlog INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run_events ADD COLUMN skips TEXT NOT NULL DEFAULT '[]';
