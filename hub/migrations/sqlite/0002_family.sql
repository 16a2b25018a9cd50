-- Family, address and candidate matches (issue 4). Still only keys the hub cannot reverse:
-- parents' person keys, an address key, a no-BSN fallback key; never the inputs.

-- A signal without a BSN has no person key (002 art. 8.5-8.7): person_key and key_version
-- become optional. SQLite cannot drop NOT NULL in place, so the table is rebuilt.
CREATE TABLE signals_v2 (
    region        TEXT NOT NULL,
    signal_ref    TEXT NOT NULL,
    person_key    BLOB,
    key_version   BIGINT,
    municipality  TEXT NOT NULL,
    active        BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    removed_ms    BIGINT,
    PRIMARY KEY (region, signal_ref)
);
INSERT INTO signals_v2 (region, signal_ref, person_key, key_version, municipality, active,
                        created_ms, updated_ms, removed_ms)
    SELECT region, signal_ref, person_key, key_version, municipality, active,
           created_ms, updated_ms, removed_ms
    FROM signals;
DROP TABLE signals;
ALTER TABLE signals_v2 RENAME TO signals;
CREATE INDEX signals_person_key ON signals (person_key);

-- The other keys of a signal, by role: 'parent' (person domain, one row per parent),
-- 'address' (address domain), 'fallback' (fallback domain). Replaced on every upsert.
CREATE TABLE signal_keys (
    region      TEXT NOT NULL,
    signal_ref  TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('parent', 'address', 'fallback')),
    key_value   BLOB NOT NULL,
    key_version BIGINT NOT NULL,
    PRIMARY KEY (region, signal_ref, role, key_value)
);
CREATE INDEX signal_keys_lookup ON signal_keys (role, key_value);
