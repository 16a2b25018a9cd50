-- Family, address and candidate matches and signals without a BSN (issue 4).
-- Times are Unix milliseconds; dates 'YYYY-MM-DD' text. No foreign keys to `signals`: erasure
-- (store::erase) deletes these rows itself, in its own order.

-- What the person registry said of a youth when last looked at (Jeugdwet 7.1.2.3 d, e):
-- 'parent' = a parent's BSN, 'address' = the address-domain input, 'fallback' = the
-- fallback-domain input (normalised surname, birth date, gender).
CREATE TABLE youth_facts (
    bsn   TEXT NOT NULL,   -- the youth: a BSN or a verwijsindexnummer
    kind  TEXT NOT NULL CHECK (kind IN ('parent', 'address', 'fallback')),
    value TEXT NOT NULL,
    PRIMARY KEY (bsn, kind, value)
);
CREATE INDEX youth_facts_value ON youth_facts (kind, value);

-- Keys from the pseudonymiser for parents, addresses and fallback identities, by input.
CREATE TABLE pseudo_keys (
    domain      TEXT NOT NULL,
    input       TEXT NOT NULL,
    key_value   BLOB NOT NULL,
    key_version BIGINT NOT NULL,
    PRIMARY KEY (domain, input)
);

-- A regional match between signals on two different youths: 'family' (a common parent),
-- 'address' (the same address, where the region has it on) or a confirmed 'candidate'.
-- signal_a < signal_b; at most one open per pair.
CREATE TABLE link_matches (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('family', 'address', 'candidate')),
    signal_a   TEXT NOT NULL,
    signal_b   TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    ended_ms   BIGINT
);
CREATE UNIQUE INDEX link_matches_open ON link_matches (signal_a, signal_b) WHERE ended_ms IS NULL;
CREATE INDEX link_matches_b ON link_matches (signal_b);

-- Youths signalled without a usable BSN (002 art. 8.5-8.7): the verwijsindexnummer (vin,
-- stored where a BSN would be) and the identity as the signaller gave it.
CREATE TABLE no_bsn_youths (
    vin          TEXT PRIMARY KEY,
    partner_oin  TEXT NOT NULL,
    surname      TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    birth_date   TEXT NOT NULL,
    gender       TEXT NOT NULL,
    municipality TEXT NOT NULL,
    postcode     TEXT NOT NULL,   -- '' when not given
    house_number BIGINT NOT NULL, -- 0 when not given
    addition     TEXT NOT NULL,
    fallback     TEXT NOT NULL,   -- the fallback-domain input
    linked_bsn   TEXT,            -- set once the signal is linked to the youth's BSN
    created_ms   BIGINT NOT NULL,
    linked_ms    BIGINT
);
CREATE INDEX no_bsn_youths_fallback ON no_bsn_youths (partner_oin, fallback);

-- Candidate matches on equal fallback keys, for the administrator's decision. Regional: both
-- signals local. Cross-regional: the hub's match id, the other side's HPKE key (verified
-- against the federation root when the match arrived) and, once it arrives, its party.
CREATE TABLE candidates (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected', 'closed')),
    signal_id        TEXT NOT NULL,
    other_signal_id  TEXT NOT NULL,   -- '' for a cross-regional candidate
    hub_match_id     TEXT NOT NULL,   -- '' for a regional candidate
    other_region     TEXT NOT NULL,
    other_signal_ref TEXT NOT NULL,
    recipient_key    TEXT,            -- hex X25519 key of the other node, NULL if unverified
    other_party      TEXT,            -- JSON party from the other node's envelope
    created_ms       BIGINT NOT NULL,
    decided_ms       BIGINT,
    decided_by       TEXT
);
CREATE INDEX candidates_status ON candidates (status, created_ms);
CREATE INDEX candidates_signal ON candidates (signal_id);
CREATE INDEX candidates_other ON candidates (other_signal_id);
CREATE INDEX candidates_hub ON candidates (hub_match_id);
