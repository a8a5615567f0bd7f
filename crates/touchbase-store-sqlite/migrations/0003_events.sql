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
    seq           INTEGER PRIMARY KEY,
    day           INTEGER NOT NULL,         -- days since the epoch, UTC, of `at`
    key           INTEGER,                  -- see above; NULL for the second of two ids with one key
    id            TEXT NOT NULL,
    point         TEXT NOT NULL,
    at            INTEGER NOT NULL,      -- microseconds since the epoch, UTC
    party         TEXT,
    channel       TEXT,
    intent        TEXT,
    satisfaction  INTEGER,
    knowledge     INTEGER,
    resolved      INTEGER,
    engaged       INTEGER,
    value_company REAL NOT NULL,
    value_party   REAL NOT NULL,
    cost          REAL NOT NULL,
    duration_s    REAL,
    data          TEXT,
    vars          TEXT,
    conforms      INTEGER NOT NULL,
    failures      TEXT,
    held          INTEGER NOT NULL,
    received_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_day_key ON events (day, key);
CREATE INDEX events_unkeyed ON events (day, id) WHERE key IS NULL;
CREATE INDEX events_point_at ON events (point, at);
CREATE INDEX events_held ON events (point) WHERE held = 1;

-- What the scorecards add up (METRICS.md), per point and UTC day, for counted events only;
-- kept in the same transaction as the events so that the two never disagree.
CREATE TABLE rollup_daily (
    point            TEXT NOT NULL,
    day              INTEGER NOT NULL,  -- days since the epoch, UTC
    n                INTEGER NOT NULL,
    value_company    REAL NOT NULL,
    value_party      REAL NOT NULL,
    cost             REAL NOT NULL,
    intent_n         INTEGER NOT NULL,
    satisfaction_n   INTEGER NOT NULL,
    satisfaction_sum INTEGER NOT NULL,
    csat_n           INTEGER NOT NULL,
    knowledge_n      INTEGER NOT NULL,
    resolved_n       INTEGER NOT NULL,
    resolved_true_n  INTEGER NOT NULL,
    engaged_n        INTEGER NOT NULL,
    conforms_n       INTEGER NOT NULL,
    PRIMARY KEY (point, day)
) STRICT, WITHOUT ROWID;

-- Inputs that broke a rule (R9): kept with the raw input and the reasons, replayable unless
-- the raw text is not exactly what was received. The same input rejected again is kept once.
CREATE TABLE rejects (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    source      TEXT NOT NULL,
    raw         TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,   -- SHA-256 of raw
    reasons     TEXT NOT NULL,          -- JSON array of strings
    replayable  INTEGER NOT NULL,
    replayed_at INTEGER
) STRICT;
