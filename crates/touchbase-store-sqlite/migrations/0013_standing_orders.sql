-- Standing orders (R19): each party's order at an automated point as of its latest revision
-- (the document is core's standing::Order as JSON), and every revision it went through, with
-- who made it, when (microseconds since the epoch) and why. A revision is written only over
-- the one before it (compare-and-set), so two edits at once never overwrite each other.
-- `handled_at` and `locked_at` are the instants of the order's last run sent or skipped and
-- of its last run locked: where the scheduler takes up.
CREATE TABLE standing_orders (
    id         TEXT PRIMARY KEY,
    point      TEXT NOT NULL,
    party      TEXT NOT NULL,
    status     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    handled_at INTEGER,
    locked_at  INTEGER
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
-- One run per order and local date: its state moves only forward (`stage`: 1 locked, 2 sent or
-- skipped), with the revision it was frozen at or went out with, and its delivery.
CREATE TABLE standing_runs (
    order_id   TEXT NOT NULL,
    run_date   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    state      TEXT NOT NULL,
    stage      INTEGER NOT NULL,
    revision   INTEGER NOT NULL,
    note       TEXT NOT NULL,
    delivery   TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (order_id, run_date)
) STRICT;
