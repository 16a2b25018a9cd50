-- Verhuizing (issue 5). Which region serves which municipality, as the configuration says
-- (rewritten at every start), so a move is routed in the Submit transaction.
CREATE TABLE node_municipalities (
    municipality TEXT PRIMARY KEY NOT NULL,
    region       TEXT NOT NULL
);

-- Moves out of a region: the youth's person key (which the hub holds already with its signals),
-- the new municipality and where the move went. Status: routed (waiting for the hand-over),
-- delivered (one Inverhuis appended), own_region, uncovered (no node serves the municipality).
CREATE TABLE moves (
    move_id       TEXT PRIMARY KEY NOT NULL,
    from_region   TEXT NOT NULL,
    to_region     TEXT,
    municipality  TEXT NOT NULL,
    person_key    BYTEA NOT NULL,
    key_version   BIGINT NOT NULL,
    status        TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    delivered_ms  BIGINT
);
CREATE INDEX moves_person_key ON moves (person_key);
