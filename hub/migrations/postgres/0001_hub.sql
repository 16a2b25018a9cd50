-- The national index. It holds only what nodes send: opaque signal refs, pseudonymised person
-- keys (OPRF outputs), municipality codes and sealed envelopes. Never a BSN, name, birth date or
-- address. Times are Unix milliseconds.

-- One row per node (region). `feed_head` is the per-region feed counter, incremented in the
-- transaction that appends, so feed sequence numbers are contiguous without commit-order holes.
CREATE TABLE nodes (
    region      TEXT PRIMARY KEY NOT NULL,
    oin         TEXT NOT NULL,
    -- The DER chain the node last presented (leaf first), length-prefixed; NULL until it calls.
    cert_chain  BYTEA,
    last_op_id  BIGINT NOT NULL DEFAULT 0,
    feed_head   BIGINT NOT NULL DEFAULT 0,
    acked_seq   BIGINT NOT NULL DEFAULT 0,
    -- Highest sequence number removed by retention (0: nothing removed).
    feed_floor  BIGINT NOT NULL DEFAULT 0,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE signals (
    region        TEXT NOT NULL,
    signal_ref    TEXT NOT NULL,
    person_key    BYTEA NOT NULL,
    key_version   BIGINT NOT NULL,
    municipality  TEXT NOT NULL,
    active        BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    removed_ms    BIGINT,
    PRIMARY KEY (region, signal_ref)
);

CREATE INDEX signals_person_key ON signals (person_key);

CREATE TABLE matches (
    match_id    TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    region_a    TEXT NOT NULL,
    ref_a       TEXT NOT NULL,
    region_b    TEXT NOT NULL,
    ref_b       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    ended_ms    BIGINT
);

CREATE INDEX matches_side_a ON matches (region_a, ref_a);
CREATE INDEX matches_side_b ON matches (region_b, ref_b);

-- Per-region feed: the prost-encoded FeedItem (body only; seq and time are columns).
CREATE TABLE feed (
    region      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL,
    body        BYTEA NOT NULL,
    PRIMARY KEY (region, seq)
);
