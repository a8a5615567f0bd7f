-- Signed customer-facing links (a standing order's self-service page, a survey invitation):
-- only the SHA-256 of each token is kept, never the token, with what it opens (purpose and
-- subject), until when (seconds since the epoch), and whether it was revoked or, for a
-- single-use link, used (microseconds since the epoch).
CREATE TABLE links (
    hash       TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    used_at    INTEGER
) STRICT;
CREATE INDEX links_by_subject ON links (purpose, subject);
