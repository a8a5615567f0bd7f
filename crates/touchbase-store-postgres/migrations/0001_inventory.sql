-- The inventory: each entity a JSON document under (kind, key); `meta` holds the version every
-- write increments.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('inventory_version', 0);

CREATE TABLE inventory (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    doc  JSONB NOT NULL,
    PRIMARY KEY (kind, key)
);
