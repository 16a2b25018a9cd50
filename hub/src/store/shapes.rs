//! Cutting multi-row statements into a few fixed shapes.
//!
//! A multi-row `INSERT` or an `IN (…)` list has one SQL text per row count, and on SQLite two
//! costs depend on that count. Each distinct text is parsed and planned again unless it is still
//! in the connection's statement cache, so arbitrary counts (a `Submit` makes as many matches
//! and feed items as it happens to) keep re-preparing. And binding costs time quadratic in the
//! number of `$n` parameters: sqlx asks SQLite for each parameter's name, which SQLite finds by a
//! linear scan. A profile of bulk ingest showed a fifth of all instructions there with chunks of
//! 250 rows (1,000 parameters).
//!
//! So rows go in chunks of [`MAX_ROWS`], and the rest in descending powers of two: at most seven
//! SQL texts per statement, which stay cached, each with a few hundred parameters at most.

/// Most rows per statement; a power of two.
pub(crate) const MAX_ROWS: usize = 64;

/// `items` in chunks of [`MAX_ROWS`], then the remainder in descending powers of two, in order.
pub(crate) fn shaped<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::with_capacity(items.len() / MAX_ROWS + 7);
    while !items.is_empty() {
        let n = if items.len() >= MAX_ROWS {
            MAX_ROWS
        } else {
            1 << items.len().ilog2()
        };
        let (chunk, rest) = items.split_at(n);
        chunks.push(chunk);
        items = rest;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_order_and_take_few_shapes() {
        let items: Vec<usize> = (0..500).collect();
        let chunks = shaped(&items);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [64, 64, 64, 64, 64, 64, 64, 32, 16, 4]);
        let flat: Vec<usize> = chunks.concat();
        assert_eq!(flat, items);

        let mut shapes: Vec<usize> = (1..=1000)
            .flat_map(|n| shaped(&items[..n.min(500)]).into_iter().map(<[usize]>::len))
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        assert_eq!(shapes, [1, 2, 4, 8, 16, 32, 64]);
        assert!(shaped::<u8>(&[]).is_empty());
    }
}
