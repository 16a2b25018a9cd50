-- Key look-ups through an index on the first 8 bytes of a key (issue 9; `store::prefix`).
-- Keys are OPRF outputs of 64 bytes, uniformly spread: 8 bytes tell keys apart as well as 64 do
-- at any realistic size (a chance collision costs one extra row, which the full comparison in the
-- query drops), and an index of 8-byte entries is a sixth the size of one of 64-byte entries, so
-- far more of it stays in the page cache while a million signals are stored.
DROP INDEX signals_person_key;
CREATE INDEX signals_person_prefix ON signals (substr(person_key, 1, 8));
DROP INDEX signal_keys_lookup;
CREATE INDEX signal_keys_lookup ON signal_keys (role, substr(key_value, 1, 8));
