-- Data-quality findings (R13) are read per period from the few counted events whose data broke
-- their point's contract.
CREATE INDEX events_nonconforming ON events (day) WHERE conforms = 0 AND held = 0;
