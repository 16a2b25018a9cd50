-- The latest sealed envelope per open match and receiving region (issue 8): a node that was
-- offline longer than the feed retention resyncs from a snapshot of its open matches, and the
-- envelopes in it stand in for the EnvelopeDelivered items that were pruned. Rows of ended
-- matches go with the feed retention.
CREATE TABLE match_envelopes (
    match_id          TEXT NOT NULL,
    to_region         TEXT NOT NULL,
    from_region       TEXT NOT NULL,
    about_signal_ref  TEXT NOT NULL,
    sealed            BLOB NOT NULL,
    created_ms        BIGINT NOT NULL,
    PRIMARY KEY (match_id, to_region)
);
