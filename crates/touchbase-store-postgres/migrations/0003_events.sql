-- Interaction events (R9): each accepted or held event once, by its id; `held` marks events
-- at points that are not live (R8), kept and released into the counts when the point goes live.
CREATE TABLE events (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
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

-- Inputs that broke a rule (R9): kept with the raw input and the reasons, replayable.
CREATE TABLE rejects (
    id          BIGSERIAL PRIMARY KEY,
    received_at BIGINT NOT NULL,
    source      TEXT NOT NULL,
    raw         TEXT NOT NULL,
    reasons     TEXT NOT NULL,          -- JSON array of strings
    replayed_at BIGINT
);
