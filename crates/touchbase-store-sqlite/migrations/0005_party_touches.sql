-- Journeys (R16) read every party's counted events in (party, at, id) order. Sorting all events
-- that way on every request grows with the data, so this table keeps them in that order: a
-- copy of (party, at, id, point) of each counted event that has a party, clustered by its key.
--
-- It is filled lazily, not by ingest (a write per event at a random party would cost ingest a
-- random page write per event): before journeys are read, the events that arrived since
-- (`seq` above `party_touches_seq`) are sorted — those only — and merged in, in one transaction.
-- Releasing held events copies those already passed by the mark in the release's transaction.
-- Invariant: after the catch-up, the table holds exactly the counted events with a party.
CREATE TABLE party_touches (
    party TEXT NOT NULL,
    at    INTEGER NOT NULL,
    id    TEXT NOT NULL,
    point TEXT NOT NULL,
    PRIMARY KEY (party, at, id)
) STRICT, WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('party_touches_seq', 0);
