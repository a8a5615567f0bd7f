-- A reject longer than its kept head: how many bytes its text had. NULL for rejects kept
-- whole (all of them before this migration): their length is raw's. `digest` is the SHA-256
-- of the whole text, also when only its head is kept.
ALTER TABLE rejects ADD COLUMN length BIGINT;
