-- The other node's certified HPKE key per remote match, kept from its MatchCreated so that a
-- later correction of our signaller's contact details can be sealed to it and relayed (002 art.
-- 19 and 23: who received the details is told of the correction). NULL for matches recorded
-- before this column, and where the other node's certificate did not verify.
ALTER TABLE remote_matches ADD COLUMN other_hpke_key BLOB;
