-- The audit trail (R7): append-only, each record sealed with the hash of its content and of
-- the record before it. The trigger refuses updates and deletes; the hash chain catches what
-- gets past it. `before`/`after` are TEXT, not JSONB, so the sealed bytes come back unchanged.
CREATE TABLE audit (
    seq     BIGINT PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    before  TEXT,
    after   TEXT,
    prev    TEXT NOT NULL,
    hash    TEXT NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
