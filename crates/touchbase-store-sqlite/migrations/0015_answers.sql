-- What people add to the coding of open answers (R14). An answer is a response's `change` or
-- `why_buy` text (`answer` its response id) or a statement of the senior team (its id).
--
-- A person's decision on one answer and code: tagged (1) or untagged (0). It overrides the
-- codebook's rules for that answer and code, whatever the codebook's version.
CREATE TABLE answer_tags (
    answer TEXT NOT NULL,
    family TEXT NOT NULL,
    code   TEXT NOT NULL,
    tagged INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (answer, family, code)
) STRICT;
-- The double-coded sample: the codes each coder gave an answer (a JSON array of code keys).
CREATE TABLE answer_codings (
    answer   TEXT NOT NULL,
    family   TEXT NOT NULL,
    coder    TEXT NOT NULL,
    codes    TEXT NOT NULL,
    coded_at INTEGER NOT NULL,
    PRIMARY KEY (answer, family, coder)
) STRICT;
-- The senior team's answers to "why do customers buy from us rather than from competitors?",
-- with who gave each and the role they gave it in.
CREATE TABLE why_buy_statements (
    id    TEXT PRIMARY KEY,
    text  TEXT NOT NULL,
    actor TEXT NOT NULL,
    role  TEXT NOT NULL,
    at    INTEGER NOT NULL
) STRICT;
CREATE INDEX why_buy_statements_by_at ON why_buy_statements (at);
