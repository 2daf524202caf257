-- issue 19: the reader API lists one feed's (or one folder's) items newest
-- first, and counts each feed's unread items.
CREATE INDEX items_feed ON items (feed, sort_time);
