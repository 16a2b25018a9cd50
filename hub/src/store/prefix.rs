//! Key look-ups by prefix: the key indexes hold the first [`PREFIX_LEN`] bytes of a key, not
//! all 64 (migration `0040_key_prefix_index` on PostgreSQL; on SQLite the index is in the
//! writer's memory, `key_index.rs`).
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

/// Bytes of a key the index holds.
pub(super) const PREFIX_LEN: usize = 8;

/// The indexed prefix of a key, as bound to `substr(…, 1, 8)`.
pub(super) fn key_prefix(value: &[u8]) -> Vec<u8> {
    value[..PREFIX_LEN.min(value.len())].to_vec()
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
