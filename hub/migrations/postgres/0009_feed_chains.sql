-- A MatchCreated feed item carries the other node's certificate chain (about 2 KB), the same
-- for every match with that node, and by far the largest part of the item. It is stored once
-- here and referenced from the feed row by its SHA-256 digest; reading a page puts it back, so
-- what a node receives is unchanged. Feed rows are some 100 bytes instead of 2 KB. Rows written
-- before this migration keep the chain in their body (chain_digest NULL).
CREATE TABLE feed_chains (
    digest BYTEA PRIMARY KEY NOT NULL,
    chain  BYTEA NOT NULL
);

ALTER TABLE feed ADD COLUMN chain_digest BYTEA;
