-- issue 23: /ui/sagas pages through this list instead of loading the saga
-- engine's state document. The saga agent's save writes the row of every
-- saga it changed (`agg_agents::saga::save_engine`); merged sagas have none.
CREATE TABLE saga_list (
    id        BIGINT PRIMARY KEY,
    grp       INTEGER NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX saga_list_page ON saga_list (grp, last_seen DESC, id DESC);
