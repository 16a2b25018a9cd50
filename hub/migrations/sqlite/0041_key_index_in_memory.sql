-- On SQLite the key look-ups go through an index in the writer connection's memory, built when
-- it connects and kept exact by temporary triggers (issue 9; `hub/src/store/key_index.rs`).
-- The on-disk key indexes would only cost a random page write per stored key.
-- PostgreSQL keeps its indexes (0040).
DROP INDEX signals_person_prefix;
DROP INDEX signal_keys_lookup;
