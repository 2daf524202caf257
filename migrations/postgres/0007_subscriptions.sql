-- issue 19: the feeds a `subscriptions` source fetches, kept in the store
-- (`agg feeds add`, `agg feeds import --store`), filed in folders.
CREATE TABLE subscriptions (
    url    TEXT PRIMARY KEY,
    title  TEXT,
    folder TEXT NOT NULL DEFAULT '',
    added  TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscriptions_folder ON subscriptions (folder);

-- issue 19: what the notification sinks (webhook, ntfy) sent, so an item
-- notifies once even when a source sends it again, and the hourly limit
-- counts across runs and processes.
CREATE TABLE notifications (
    pipeline TEXT NOT NULL,
    agent    TEXT NOT NULL,
    item_id  BIGINT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    sent_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pipeline, agent, item_id)
);
CREATE INDEX notifications_sent ON notifications (pipeline, agent, sent_at);
-- Deleting an item (retention) cascades here: without this index every
-- deleted item would scan the table.
CREATE INDEX notifications_item ON notifications (item_id);
