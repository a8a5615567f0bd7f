-- Responses are read by their instant (the partial days of a period, a period's open answers)
-- and by id; erasing a party is rare and scans them. The (point, at) index served neither
-- query, and it and the party index cost each response two index writes at random pages:
-- half of an import's time at a million responses.
DROP INDEX responses_by_point_at;
DROP INDEX responses_by_party;
CREATE INDEX responses_by_at ON responses (at);
