-- Family, address and candidate matches (issue 4). Still only keys the hub cannot reverse:
-- parents' person keys, an address key, a no-BSN fallback key; never the inputs.

-- A signal without a BSN has no person key (002 art. 8.5-8.7).
ALTER TABLE signals ALTER COLUMN person_key DROP NOT NULL;
ALTER TABLE signals ALTER COLUMN key_version DROP NOT NULL;

-- The other keys of a signal, by role: 'parent' (person domain, one row per parent),
-- 'address' (address domain), 'fallback' (fallback domain). Replaced on every upsert.
CREATE TABLE signal_keys (
    region      TEXT NOT NULL,
    signal_ref  TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('parent', 'address', 'fallback')),
    key_value   BYTEA NOT NULL,
    key_version BIGINT NOT NULL,
    PRIMARY KEY (region, signal_ref, role, key_value)
);
CREATE INDEX signal_keys_lookup ON signal_keys (role, key_value);
