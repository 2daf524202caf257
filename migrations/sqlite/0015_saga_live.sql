-- issue 23: the saga engine's live sagas, one row each, beside the state's
-- core (`state`, key `saga-engine`: everything but the sagas). A save
-- writes the core and only the sagas it changed, in one transaction
-- (`Store::save_saga_state`); `body` is an `agg_saga::Saga` as JSON.
CREATE TABLE saga_live (
    id   INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
