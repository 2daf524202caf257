-- issue 23: sagas quiet for long leave the saga engine's state document
-- (`agg_saga::SagaEngine::archive`) and are kept here, one row each, so
-- that the document every run loads follows the recent weeks, not the
-- years. `body` is an `agg_saga::ArchivedSaga` as JSON; `last_seen` its
-- newest item, by which retention forgets it (`prune_saga_archive`).
CREATE TABLE saga_archive (
    id        BIGINT PRIMARY KEY,
    last_seen TIMESTAMPTZ NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX saga_archive_last_seen ON saga_archive (last_seen);
