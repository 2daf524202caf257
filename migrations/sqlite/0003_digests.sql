-- Digests: one per (pipeline, local day), recorded before sending.
CREATE TABLE digests (
    pipeline   TEXT NOT NULL,
    day        TEXT NOT NULL,
    message_id TEXT NOT NULL,
    items      TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'interrupted')),
    created    TEXT NOT NULL,
    sent_at    TEXT,
    error      TEXT,
    PRIMARY KEY (pipeline, day)
);
