-- Standing orders (R19): each party's order at an automated point as of its latest revision
-- (the document is core's standing::Order as JSON), and every revision it went through, with
-- who made it, when (microseconds since the epoch) and why. A revision is written only over
-- the one before it (compare-and-set), so two edits at once never overwrite each other.
CREATE TABLE standing_orders (
    id       TEXT PRIMARY KEY,
    point    TEXT NOT NULL,
    party    TEXT NOT NULL,
    status   TEXT NOT NULL,
    revision INTEGER NOT NULL,
    doc      TEXT NOT NULL
) STRICT;
CREATE INDEX standing_orders_by_party ON standing_orders (party);
CREATE TABLE standing_revisions (
    order_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    note     TEXT NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (order_id, revision)
) STRICT;
