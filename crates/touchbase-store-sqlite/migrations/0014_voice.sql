-- The voice of the customer (R14). Instants are microseconds since the epoch, days are days
-- since the epoch (UTC).
--
-- Invitations: one per (survey, interaction), frozen to the interaction it asks about.
CREATE TABLE invitations (
    id        TEXT PRIMARY KEY,
    survey    TEXT NOT NULL,
    version   INTEGER NOT NULL,
    point     TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    at        INTEGER NOT NULL,
    party     TEXT,
    issued_at INTEGER NOT NULL,
    UNIQUE (survey, event_id)
) STRICT;
CREATE INDEX invitations_by_point_at ON invitations (point, at);
-- Responses, each once by its id. `invited` says it answers an invitation of `invitations`
-- (the invitation's point and instant are the response's); an anonymous response keeps
-- neither its party nor its invitation, and its `at` is the day of the interaction.
CREATE TABLE responses (
    id          TEXT PRIMARY KEY,
    survey      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    point       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    invitation  TEXT,
    invited     INTEGER NOT NULL,
    party       TEXT,
    nps         INTEGER,
    csat        INTEGER,
    ces         INTEGER,
    change      TEXT,
    why_buy     TEXT,
    own         TEXT,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX responses_by_point_at ON responses (point, at);
CREATE INDEX responses_by_party ON responses (party) WHERE party IS NOT NULL;
-- One response per invitation: the constraint that holds it, whatever the response keeps.
CREATE TABLE answered_invitations (
    invitation TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
-- The daily voice counts per point: invitations by the day of their interaction, responses by
-- the day of `at`, and the answers to nps (0-10), csat (1-5) and ces (1-7) by score.
CREATE TABLE voice_daily (
    point TEXT NOT NULL,
    day INTEGER NOT NULL,
    invitations INTEGER NOT NULL DEFAULT 0,
    responses INTEGER NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL DEFAULT 0,
    nps0 INTEGER NOT NULL DEFAULT 0, nps1 INTEGER NOT NULL DEFAULT 0, nps2 INTEGER NOT NULL DEFAULT 0,
    nps3 INTEGER NOT NULL DEFAULT 0, nps4 INTEGER NOT NULL DEFAULT 0, nps5 INTEGER NOT NULL DEFAULT 0,
    nps6 INTEGER NOT NULL DEFAULT 0, nps7 INTEGER NOT NULL DEFAULT 0, nps8 INTEGER NOT NULL DEFAULT 0,
    nps9 INTEGER NOT NULL DEFAULT 0, nps10 INTEGER NOT NULL DEFAULT 0,
    csat1 INTEGER NOT NULL DEFAULT 0, csat2 INTEGER NOT NULL DEFAULT 0, csat3 INTEGER NOT NULL DEFAULT 0,
    csat4 INTEGER NOT NULL DEFAULT 0, csat5 INTEGER NOT NULL DEFAULT 0,
    ces1 INTEGER NOT NULL DEFAULT 0, ces2 INTEGER NOT NULL DEFAULT 0, ces3 INTEGER NOT NULL DEFAULT 0,
    ces4 INTEGER NOT NULL DEFAULT 0, ces5 INTEGER NOT NULL DEFAULT 0, ces6 INTEGER NOT NULL DEFAULT 0,
    ces7 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (point, day)
) STRICT, WITHOUT ROWID;
-- The key customers, the only parties invited: imported from a file or chosen by a rule on
-- behaviour (`source` says which).
CREATE TABLE key_customers (
    party    TEXT PRIMARY KEY,
    segment  TEXT NOT NULL,
    source   TEXT NOT NULL,
    added_at INTEGER NOT NULL
) STRICT;
-- The eligible interactions a contact rule kept from being invited, with the rule.
CREATE TABLE suppressions (
    survey     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    point      TEXT NOT NULL,
    party      TEXT,
    at         INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    PRIMARY KEY (survey, event_id)
) STRICT;
-- A half-answered survey, kept so the respondent can resume it.
CREATE TABLE response_drafts (
    invitation TEXT PRIMARY KEY,
    answers    TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
-- The codebooks that code open answers, each version as imported (YAML); the latest codes.
CREATE TABLE codebooks (
    version     INTEGER PRIMARY KEY,
    doc         TEXT NOT NULL,
    imported_at INTEGER NOT NULL,
    actor       TEXT NOT NULL
) STRICT;
