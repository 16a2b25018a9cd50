-- The regional index: signals with full identity, regional matches, the cross-regional matches
-- the hub reports, notifications to partners, and the outbox towards the hub.
-- Times are Unix milliseconds (BIGINT); dates are 'YYYY-MM-DD' text; booleans are 0/1 BIGINT.

CREATE TABLE signals (
    id              TEXT PRIMARY KEY,      -- UUID; also the opaque signal_ref sent to the hub
    bsn             TEXT NOT NULL,
    municipality    TEXT NOT NULL,         -- CBS code of residence when signalled
    partner_oin     TEXT NOT NULL,
    organisation    TEXT NOT NULL,
    category        TEXT NOT NULL,
    signaller_name  TEXT NOT NULL,
    signaller_phone TEXT NOT NULL,
    signaller_email TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'expired')),
    national        BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL,
    end_date        TEXT NOT NULL,
    withdrawn_ms    BIGINT
);
-- One active signal per organisation per youth (001 Q13: one signal per youth).
CREATE UNIQUE INDEX signals_one_active ON signals (bsn, partner_oin) WHERE status = 'active';
CREATE INDEX signals_partner ON signals (partner_oin, created_ms);
CREATE INDEX signals_active_end ON signals (end_date) WHERE status = 'active';

-- Youths with a signal: municipality and the cached person key from the pseudonymiser.
CREATE TABLE youths (
    bsn          TEXT PRIMARY KEY,
    municipality TEXT NOT NULL,
    person_key   BLOB,
    key_version  BIGINT
);

-- A client match inside the region: at most one open per youth.
CREATE TABLE regional_matches (
    id         TEXT PRIMARY KEY,
    bsn        TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    ended_ms   BIGINT
);
CREATE UNIQUE INDEX regional_matches_open ON regional_matches (bsn) WHERE ended_ms IS NULL;

CREATE TABLE match_members (
    match_id  TEXT NOT NULL REFERENCES regional_matches (id),
    signal_id TEXT NOT NULL REFERENCES signals (id),
    joined_ms BIGINT NOT NULL,
    left_ms   BIGINT,
    PRIMARY KEY (match_id, signal_id)
);
CREATE INDEX match_members_signal ON match_members (signal_id);

-- A cross-regional match reported by the hub; other_party is the opened envelope (JSON).
CREATE TABLE remote_matches (
    hub_match_id     TEXT PRIMARY KEY,
    signal_id        TEXT NOT NULL REFERENCES signals (id),
    kind             TEXT NOT NULL,
    other_region     TEXT NOT NULL,
    other_signal_ref TEXT NOT NULL,
    other_party      TEXT,
    created_ms       BIGINT NOT NULL,
    ended_ms         BIGINT
);
CREATE INDEX remote_matches_signal ON remote_matches (signal_id);

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL UNIQUE,    -- from counters 'notification': the order of telling
    partner_oin TEXT NOT NULL,
    signal_id   TEXT NOT NULL REFERENCES signals (id),
    kind        TEXT NOT NULL,
    match_id    TEXT NOT NULL,
    parties     TEXT NOT NULL,             -- JSON list of parties
    created_ms  BIGINT NOT NULL
);
CREATE INDEX notifications_partner ON notifications (partner_oin, seq);

-- Operations for the hub. The id is the hub's op_id: allocated from counters 'outbox' inside
-- the writing transaction, so ids become visible in strictly increasing order.
CREATE TABLE outbox (
    id         BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    sent_ms    BIGINT
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_ms IS NULL;

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('outbox', 0), ('notification', 0), ('feed_skipped', 0);

-- The position in this node's hub feed that has been applied.
CREATE TABLE feed_state (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    applied_seq BIGINT NOT NULL
);
INSERT INTO feed_state (id, applied_seq) VALUES (1, 0);
