-- issue 23: a tombstone lasts while feeds still offer its key. `seen` is
-- when one last did (at first, when the item was deleted); retention
-- forgets tombstones not seen for its period, so they stop growing with
-- history (2,740 keys a day for a 500-feed reader).
ALTER TABLE item_tombstones ADD COLUMN seen TEXT;
UPDATE item_tombstones SET seen = deleted;
CREATE INDEX item_tombstones_seen ON item_tombstones (seen);
