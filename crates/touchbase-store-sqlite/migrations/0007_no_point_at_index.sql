-- No query reads events by (point, at): the period reads go by day (`events_day_key`,
-- `events_nonconforming`), held events by `events_held`, the journeys by `party_touches`
-- (checked with EXPLAIN QUERY PLAN). The index cost every event written an insert into a
-- B-tree, for nothing.
DROP INDEX IF EXISTS events_point_at;
