-- Journeys (R16) kept by (day, party) instead of (day, first point), with each event's and
-- journey's value for attribution, and caught up in short transactions through a queue
-- (touchbase_store::journey_days says how). Replaces the tables of 0005 and 0006; everything
-- is cut again from the events at the next catch-up.
--
-- `party_touches`: the counted events that have a party, at points that take part in
-- journeys, in (party, at, id) order. `touch_queue`: events copied from `events` (seq up to
-- `party_touches_seq`) that have not joined `party_touches` yet. `journey_rows`: the
-- journeys cut from `party_touches`, one row per (UTC day of a journey's first event,
-- party). `journey_points`: the point keys the bodies number. `journeys_cut`: the
-- fingerprint of the journey gap and points outside journeys the rows were cut under (-1:
-- not cut yet).
-- Invariant: after a catch-up (queue empty, mark at the last seq), `party_touches` holds
-- exactly the counted events with a party at points in journeys, and `journey_rows` exactly
-- the journeys cut from it.
DROP TABLE journey_days;
DROP TABLE party_touches;
CREATE TABLE party_touches (
    party TEXT NOT NULL,
    at    INTEGER NOT NULL,
    id    TEXT NOT NULL,
    point TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (party, at, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE touch_queue (
    party TEXT NOT NULL,
    at    INTEGER NOT NULL,
    id    TEXT NOT NULL,
    point TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (party, at, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE journey_rows (
    day   INTEGER NOT NULL,
    party TEXT NOT NULL,
    body  BLOB NOT NULL,
    PRIMARY KEY (day, party)
) STRICT, WITHOUT ROWID;
CREATE TABLE journey_points (
    n   INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
) STRICT;
UPDATE meta SET value = 0 WHERE key = 'party_touches_seq';
DELETE FROM meta WHERE key = 'journeys_gap_us';
INSERT INTO meta (key, value) VALUES ('journeys_cut', -1);
