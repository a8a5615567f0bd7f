-- Where each metric rule of the reverse feed stands between evaluations (ok, pending,
-- breached; the figure last seen), as a JSON document. Changed only together with the
-- deliveries its change fires, and only from the state the change was computed from.
CREATE TABLE rule_states (
    rule TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
);
