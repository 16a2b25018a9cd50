//! Key look-ups by prefix: the key indexes hold the first [`PREFIX_LEN`] bytes of a key, not
//! all 64 (migration `0040_key_prefix_index` on PostgreSQL; on SQLite the index is in the hub
//! process's memory, `key_index.rs`).
//!
//! Why: keys are OPRF outputs, uniformly spread, so 8 bytes almost always tell them apart (a
//! look-up among a billion stored keys meets another key with its prefix with a chance of about
//! 1 in 18 billion, and then reads one row more). An index of 8-byte entries is a sixth the size
//! of one of 64-byte entries, so at a million stored signals most of it stays in the page cache,
//! and an insert touches fewer pages. Measured with `vir-bench` (BENCHMARKS.md). Every query
//! that looks a key up this way also compares the whole key and version, so a shared prefix
//! never makes a match.
//!
//! The SQL expression must be written exactly as in the index (`substr(col, 1, 8)`) for
//! PostgreSQL's planner to use it.

use sqlx::AnyConnection;

use super::key_index;
use super::shapes::{is_sqlite, Placeholders};

/// Bytes of a key the index holds.
pub(super) const PREFIX_LEN: usize = 8;

/// The indexed prefix of a key, as bound to `substr(…, 1, 8)`.
pub(super) fn key_prefix(value: &[u8]) -> Vec<u8> {
    value[..PREFIX_LEN.min(value.len())].to_vec()
}

/// The look-up of the active signals of other regions holding a key in `role` with one of
/// `n` prefixes (PostgreSQL) or in one of `n` rows that the key index names (SQLite,
/// `key_index.rs`); bound: the asking region, then the prefixes or row ids. Yields key,
/// version, region, ref, and whether the signal has a person key. `role` is one of the four
/// fixed roles, written into the SQL (never input).
pub(super) fn lookup_sql(conn: &AnyConnection, role: &str, n: usize) -> String {
    let mut p = Placeholders::for_conn(conn);
    let (region, list) = (p.next(), p.list(n));
    match (is_sqlite(conn), role) {
        (true, "person") => key_index::person_lookup(&region, &list),
        (true, _) => key_index::other_lookup(other_role(role), &region, &list),
        (false, "person") => format!(
            "SELECT person_key, key_version, region, signal_ref, 1 FROM signals \
             WHERE region <> {region} AND substr(person_key, 1, 8) IN ({list}) AND active = 1 \
             ORDER BY region, signal_ref"
        ),
        (false, _) => format!(
            "SELECT k.key_value, k.key_version, k.region, k.signal_ref, \
             CASE WHEN s.person_key IS NULL THEN 0 ELSE 1 END \
             FROM signal_keys k JOIN signals s \
             ON s.region = k.region AND s.signal_ref = k.signal_ref \
             WHERE k.region <> {region} AND k.role = '{}' \
             AND substr(k.key_value, 1, 8) IN ({list}) AND s.active = 1 \
             ORDER BY k.region, k.signal_ref",
            other_role(role)
        ),
    }
}

/// PostgreSQL: the regions other than `$3` with a signal (any status) on the person key `$1`
/// of version `$2`, whose prefix is `$4` (SQLite: `key_index::regions_with_person_key`).
pub(super) const REGIONS_WITH_PERSON_KEY: &str = "SELECT DISTINCT region FROM signals \
     WHERE substr(person_key, 1, 8) = $4 AND person_key = $1 AND key_version = $2 \
     AND region <> $3 ORDER BY region";

/// `role` as the literal of `signal_keys.role` (the column's check lists these three).
fn other_role(role: &str) -> &'static str {
    match role {
        "parent" => "parent",
        "address" => "address",
        _ => "fallback",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_the_first_eight_bytes() {
        let key: Vec<u8> = (0u8..64).collect();
        assert_eq!(key_prefix(&key), (0u8..8).collect::<Vec<u8>>());
        assert_eq!(key_prefix(&[1, 2]), vec![1, 2]);
    }
}
