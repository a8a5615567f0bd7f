-- A party's last row of journeys, found at once: when a party's new events all come after its
-- held ones, a catch-up step extends the journey its last row ends with instead of reading
-- that journey's events again (`touchbase_store::journey_days::Held::Last`).
CREATE INDEX journey_rows_by_party ON journey_rows (party, day);
