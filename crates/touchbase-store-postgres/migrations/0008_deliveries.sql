-- The reverse feed's outbox (R18): each rule's firing to each endpoint, written in the same
-- transaction as what fired it, and every attempt to send it. `id` is stable across retries
-- and replays (a firing already on record is not written again). A dispatcher claims due
-- deliveries by setting `lease_until` (`FOR UPDATE SKIP LOCKED`), so that dispatchers on
-- several servers never hold the same delivery at once.
CREATE TABLE deliveries (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    rule         TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    fired_at     BIGINT NOT NULL,       -- microseconds since the epoch, UTC
    body         TEXT NOT NULL,
    state        TEXT NOT NULL,         -- pending | delivered | dead
    attempts     INTEGER NOT NULL,      -- in all
    tries        INTEGER NOT NULL,      -- since written or last replayed
    due_at       BIGINT NOT NULL,
    lease_until  BIGINT,                -- claimed by a dispatcher until then
    delivered_at BIGINT,
    last_error   TEXT
);
-- What is due, per endpoint: claims and the next wake-up read only the pending ones.
CREATE INDEX deliveries_due ON deliveries (endpoint, due_at) WHERE state = 'pending';
CREATE INDEX deliveries_fired ON deliveries (fired_at);

CREATE TABLE delivery_attempts (
    delivery   TEXT NOT NULL,
    n          INTEGER NOT NULL,
    endpoint   TEXT NOT NULL,
    at         BIGINT NOT NULL,
    status     INTEGER,                 -- the HTTP status answered, if any
    latency_us BIGINT NOT NULL,
    outcome    TEXT NOT NULL,           -- delivered | retry | dead | gone
    detail     TEXT NOT NULL,
    PRIMARY KEY (delivery, n)
);
-- An endpoint's last delivered attempt, and the first attempt after it: two index probes.
CREATE INDEX delivery_attempts_endpoint ON delivery_attempts (endpoint, at);
CREATE INDEX delivery_attempts_outcome ON delivery_attempts (endpoint, outcome, at);
