-- issue 18: what the reader did with an item, kept apart from feedback.
-- Feedback (like/dislike) trains the interest model; reading and saving do
-- not, so they live here, one row per item that has either. A row with both
-- columns NULL is deleted rather than kept.
CREATE TABLE item_state (
    item_id  BIGINT PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    -- When the reader first opened it (or marked it read); NULL: unread.
    read_at  TIMESTAMPTZ,
    -- When it was saved (starred); NULL: not saved.
    saved_at TIMESTAMPTZ
);
-- `/ui/saved`, `/saved.xml` and retention's keep rule look saved items up.
CREATE INDEX item_state_saved ON item_state (saved_at) WHERE saved_at IS NOT NULL;
