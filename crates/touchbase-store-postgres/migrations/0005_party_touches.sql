-- Journeys (R16) read every party's counted events in (party, at, id) order. Sorting all events
-- that way on every request grows with the data, so this table keeps them in that order: a
-- copy of (party, at, id, point) of each counted event that has a party, read by its key's
-- index (byte order, as the journey rule compares keys).
--
-- It is filled lazily, not by ingest (a write per event at a random party would cost ingest a
-- random page write per event): before journeys are read, the events that arrived since
-- (`seq` above `party_touches_seq`) are sorted — those only — and merged in, in one transaction
-- that first locks the mark's row and waits for the event writes in flight (so no event with a
-- smaller `seq` commits after the mark passed it). Releasing held events locks the same row and
-- copies those the mark has passed. Invariant: after the catch-up, the table holds exactly the
-- counted events with a party.
CREATE TABLE party_touches (
    party TEXT COLLATE "C" NOT NULL,
    at    BIGINT NOT NULL,
    id    TEXT COLLATE "C" NOT NULL,
    point TEXT NOT NULL,
    PRIMARY KEY (party, at, id)
);
INSERT INTO meta (key, value) VALUES ('party_touches_seq', 0);
