-- Interaction events (R9): each accepted or held event once; `held` marks events at points
-- that are not live (R8), kept and released into the counts when the point goes live.
--
-- An event is found by (day, key): the UTC day of its `at` and the first 64 bits of its id's
-- SHA-256. The same id again on the same day is a duplicate. Keying by day keeps the unique
-- index clustered in time, so ingest touches only its recent pages however many events are on
-- record (a unique index on random ids costs a random page write per event). Two ids with one
-- key on one day (about one in 10^12 per pair) are told apart by their ids: the second is
-- kept with no key and found by the `events_unkeyed` index.
CREATE TABLE events (
    seq           BIGSERIAL PRIMARY KEY,
    day           BIGINT NOT NULL,         -- days since the epoch, UTC, of `at`
    key           BIGINT,                  -- see above; NULL for the second of two ids with one key
    id            TEXT NOT NULL,
    point         TEXT NOT NULL,
    at            BIGINT NOT NULL,      -- microseconds since the epoch, UTC
    party         TEXT,
    channel       TEXT,
    intent        TEXT,
    satisfaction  BIGINT,
    knowledge     BOOLEAN,
    resolved      BOOLEAN,
    engaged       BOOLEAN,
    value_company DOUBLE PRECISION NOT NULL,
    value_party   DOUBLE PRECISION NOT NULL,
    cost          DOUBLE PRECISION NOT NULL,
    duration_s    DOUBLE PRECISION,
    data          TEXT,
    vars          TEXT,
    conforms      BOOLEAN NOT NULL,
    failures      TEXT,
    held          BOOLEAN NOT NULL,
    received_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX events_day_key ON events (day, key);
CREATE INDEX events_unkeyed ON events (day, id) WHERE key IS NULL;
CREATE INDEX events_point_at ON events (point, at);
CREATE INDEX events_held ON events (point) WHERE held;

-- What the scorecards add up (METRICS.md), per point and UTC day, for counted events only;
-- kept in the same transaction as the events so that the two never disagree.
CREATE TABLE rollup_daily (
    point            TEXT NOT NULL,
    day              BIGINT NOT NULL,  -- days since the epoch, UTC
    n                BIGINT NOT NULL,
    value_company    DOUBLE PRECISION NOT NULL,
    value_party      DOUBLE PRECISION NOT NULL,
    cost             DOUBLE PRECISION NOT NULL,
    intent_n         BIGINT NOT NULL,
    satisfaction_n   BIGINT NOT NULL,
    satisfaction_sum BIGINT NOT NULL,
    csat_n           BIGINT NOT NULL,
    knowledge_n      BIGINT NOT NULL,
    resolved_n       BIGINT NOT NULL,
    resolved_true_n  BIGINT NOT NULL,
    engaged_n        BIGINT NOT NULL,
    conforms_n       BIGINT NOT NULL,
    PRIMARY KEY (point, day)
);

-- Inputs that broke a rule (R9): kept with the raw input and the reasons, replayable unless
-- the raw text is not exactly what was received. The same input rejected again is kept once.
CREATE TABLE rejects (
    id          BIGSERIAL PRIMARY KEY,
    received_at BIGINT NOT NULL,
    source      TEXT NOT NULL,
    raw         TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,   -- SHA-256 of raw
    reasons     TEXT NOT NULL,          -- JSON array of strings
    replayable  BOOLEAN NOT NULL,
    replayed_at BIGINT
);
