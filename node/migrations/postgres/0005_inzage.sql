-- Inzage across regions (issue 6): this node's requests through the hub, and the other
-- regions' answers, opened (their exports are about the same youth, for the same person).
CREATE TABLE inzage_requests (
    request_id       TEXT PRIMARY KEY,
    bsn              TEXT NOT NULL,
    requested_by_oin TEXT NOT NULL,
    regional_export  TEXT NOT NULL,
    created_ms       BIGINT NOT NULL,
    -- Regions the hub asked, comma-separated; NULL until the hub said.
    asked            TEXT
);

CREATE INDEX inzage_requests_bsn ON inzage_requests (bsn);

CREATE TABLE inzage_answers (
    request_id   TEXT NOT NULL,
    region       TEXT NOT NULL,
    export       TEXT NOT NULL,
    answered_ms  BIGINT NOT NULL,
    PRIMARY KEY (request_id, region)
);
