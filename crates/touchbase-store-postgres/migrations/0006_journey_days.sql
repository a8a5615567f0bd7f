-- Journeys (R16) cut ahead of time: one row per UTC day of the journeys' first event and their
-- first point, its body the journeys that start there (touchbase_store::journey_days gives the
-- format). A journeys request reads the period's rows instead of cutting every party's history.
--
-- Kept with `party_touches`, in the same transactions: whatever touches join that table, the
-- journeys they end and begin are written here. `journeys_gap_us` is the journey gap the rows
-- were cut under (-1: not cut yet); a request under another gap starts the rows over from
-- `party_touches`.
-- Invariant: after a catch-up, the rows hold exactly the journeys of `party_touches` under
-- `journeys_gap_us`.
CREATE TABLE journey_days (
    day   BIGINT NOT NULL,
    point TEXT COLLATE "C" NOT NULL,
    body  BYTEA NOT NULL,
    PRIMARY KEY (day, point)
);
INSERT INTO meta (key, value) VALUES ('journeys_gap_us', -1);
