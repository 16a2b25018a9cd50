-- Verhuizing (issue 5; 002 art. 1, 15; 003 art. 14). Erased with the youth (death, age 23).

-- A move of a youth with active signals, as the registry reported it. kind: within_municipality,
-- into_region, within_region, out_of_region. status: told (isverhuisd sent), routing (MoveOut queued for the
-- hub), handed_over (sealed package queued), uncovered (no node serves the new municipality),
-- offered (the new region's officer offered a hand-over).
CREATE TABLE moves_out (
    id                 TEXT PRIMARY KEY NOT NULL,
    bsn                TEXT NOT NULL,
    from_municipality  TEXT NOT NULL,
    to_municipality    TEXT NOT NULL,
    kind               TEXT NOT NULL,
    to_region          TEXT NOT NULL,
    status             TEXT NOT NULL,
    moved_on           TEXT NOT NULL,
    told               BIGINT NOT NULL,
    -- Who coordinated when the youth moved (regie then passes to the new region).
    regievoerder_oin   TEXT NOT NULL,
    regievoerder_org   TEXT NOT NULL,
    created_ms         BIGINT NOT NULL
);
CREATE INDEX moves_out_bsn ON moves_out (bsn);

-- A youth with active signals elsewhere who moved into the region (inverhuis), with the opened
-- hand-over package (a prost-encoded HandoverPackage) and the sending node's HPKE key
-- from its verified certificate (to seal a hand-over offer to). status: received, accepted, rejected.
CREATE TABLE moves_in (
    id            TEXT PRIMARY KEY NOT NULL,
    from_region   TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    bsn           TEXT NOT NULL,
    package       BYTEA,
    sender_key    BYTEA,
    status        TEXT NOT NULL,
    received_ms   BIGINT NOT NULL,
    accepted_ms   BIGINT,
    accepted_by   TEXT,
    offer_sent    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX moves_in_bsn ON moves_in (bsn);
