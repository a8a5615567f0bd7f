-- The voice of the customer (R14). Instants are microseconds since the epoch, days are days
-- since the epoch (UTC).
--
-- Invitations: one per (survey, interaction), frozen to the interaction it asks about.
CREATE TABLE invitations (
    id        TEXT PRIMARY KEY,
    survey    TEXT NOT NULL,
    version   BIGINT NOT NULL,
    point     TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    at        BIGINT NOT NULL,
    party     TEXT,
    issued_at BIGINT NOT NULL,
    UNIQUE (survey, event_id)
);
CREATE INDEX invitations_by_point_at ON invitations (point, at);
-- Responses, each once by its id. `invited` says it answers an invitation of `invitations`
-- (the invitation's point and instant are the response's); an anonymous response keeps
-- neither its party nor its invitation, and its `at` is the day of the interaction.
CREATE TABLE responses (
    id          TEXT PRIMARY KEY,
    survey      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    point       TEXT NOT NULL,
    at          BIGINT NOT NULL,
    invitation  TEXT,
    invited     BIGINT NOT NULL,
    party       TEXT,
    nps         BIGINT,
    csat        BIGINT,
    ces         BIGINT,
    change      TEXT,
    why_buy     TEXT,
    own         TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX responses_by_point_at ON responses (point, at);
CREATE INDEX responses_by_party ON responses (party) WHERE party IS NOT NULL;
-- One response per invitation: the constraint that holds it, whatever the response keeps.
CREATE TABLE answered_invitations (
    invitation TEXT PRIMARY KEY
);
-- The daily voice counts per point: invitations by the day of their interaction, responses by
-- the day of `at`, and the answers to nps (0-10), csat (1-5) and ces (1-7) by score.
CREATE TABLE voice_daily (
    point TEXT NOT NULL,
    day BIGINT NOT NULL,
    invitations BIGINT NOT NULL DEFAULT 0,
    responses BIGINT NOT NULL DEFAULT 0,
    answered BIGINT NOT NULL DEFAULT 0,
    nps0 BIGINT NOT NULL DEFAULT 0, nps1 BIGINT NOT NULL DEFAULT 0, nps2 BIGINT NOT NULL DEFAULT 0,
    nps3 BIGINT NOT NULL DEFAULT 0, nps4 BIGINT NOT NULL DEFAULT 0, nps5 BIGINT NOT NULL DEFAULT 0,
    nps6 BIGINT NOT NULL DEFAULT 0, nps7 BIGINT NOT NULL DEFAULT 0, nps8 BIGINT NOT NULL DEFAULT 0,
    nps9 BIGINT NOT NULL DEFAULT 0, nps10 BIGINT NOT NULL DEFAULT 0,
    csat1 BIGINT NOT NULL DEFAULT 0, csat2 BIGINT NOT NULL DEFAULT 0, csat3 BIGINT NOT NULL DEFAULT 0,
    csat4 BIGINT NOT NULL DEFAULT 0, csat5 BIGINT NOT NULL DEFAULT 0,
    ces1 BIGINT NOT NULL DEFAULT 0, ces2 BIGINT NOT NULL DEFAULT 0, ces3 BIGINT NOT NULL DEFAULT 0,
    ces4 BIGINT NOT NULL DEFAULT 0, ces5 BIGINT NOT NULL DEFAULT 0, ces6 BIGINT NOT NULL DEFAULT 0,
    ces7 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (point, day)
);
-- The key customers, the only parties invited: imported from a file or chosen by a rule on
-- behaviour (`source` says which).
CREATE TABLE key_customers (
    party    TEXT PRIMARY KEY,
    segment  TEXT NOT NULL,
    source   TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
-- The eligible interactions a contact rule kept from being invited, with the rule.
CREATE TABLE suppressions (
    survey     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    point      TEXT NOT NULL,
    party      TEXT,
    at         BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    PRIMARY KEY (survey, event_id)
);
-- A half-answered survey, kept so the respondent can resume it.
CREATE TABLE response_drafts (
    invitation TEXT PRIMARY KEY,
    answers    TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The codebooks that code open answers, each version as imported (YAML); the latest codes.
CREATE TABLE codebooks (
    version     BIGINT PRIMARY KEY,
    doc         TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    actor       TEXT NOT NULL
);
