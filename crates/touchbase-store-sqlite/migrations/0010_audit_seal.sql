-- The audit trail's seal (R7): the id of the key a record is sealed with and the HMAC of its
-- hash under that key. Records written before (or by a store opened without a key) have none.
ALTER TABLE audit ADD COLUMN key TEXT;
ALTER TABLE audit ADD COLUMN seal TEXT;
