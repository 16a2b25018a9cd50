//! Multi-row statements: cutting rows into a few fixed shapes, and writing their placeholders.
//!
//! A multi-row `INSERT` or an `IN (…)` list has one SQL text per row count. Each distinct text
//! is parsed and planned again unless it is still in the connection's statement cache, so
//! arbitrary counts (a `Submit` makes as many matches and feed items as it happens to) would
//! keep re-preparing. So rows go in chunks of the backend's [`max_rows`], padded to a few fixed
//! shapes: an `IN` list by repeating its last value ([`padded`]), an SQLite insert by rows of
//! NULLs that the statement drops ([`insert_chunks`]); one statement for up to [`max_rows`] rows.
//! PostgreSQL inserts are cut into descending powers of two instead ([`shaped`]): at most ten
//! SQL texts per statement, which stay cached.
//!
//! Every statement is a round trip to the SQLite driver's worker thread, and every row it
//! returns another: in a profile of bulk ingest (`perf record -g`, `vir-bench --only store`) a
//! quarter of the time went to waking threads for them. Hence large chunks: a `Submit` of 500
//! upserts takes a handful of statements.
//!
//! Large chunks need [`Placeholders`]. sqlx binds each SQLite parameter by asking SQLite for
//! its name, and SQLite finds a numbered parameter's name (`$7`) by a linear scan, so binding
//! costs time quadratic in the number of numbered parameters (a fifth of all instructions with
//! 1,000 parameters). Anonymous `?` parameters have no name to look up. PostgreSQL takes only
//! numbered ones, and no scan. So statements are written with one placeholder per bound value,
//! in binding order, and [`Placeholders`] writes `?` or `$n` for the connection's backend.

use std::fmt::Write;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

/// Most rows in one multi-row statement on SQLite: a whole run of upserts (`upsert::MAX_RUN`, a
/// node's default forward batch) fills one.
const SQLITE_MAX_ROWS: usize = 500;

/// Most rows in one multi-row statement on PostgreSQL. The hub has PostgreSQL plan every
/// execution anew (`tuning.rs`), and planning grows with the parameters: with 500-row statements
/// bulk ingest was a fifth slower than with 64 (`vir-bench`, side by side), while the round trips
/// that large statements save cost PostgreSQL little.
const POSTGRES_MAX_ROWS: usize = 64;

/// Most rows in one multi-row statement on `conn`'s backend.
pub(crate) fn max_rows(conn: &AnyConnection) -> usize {
    if is_sqlite(conn) {
        SQLITE_MAX_ROWS
    } else {
        POSTGRES_MAX_ROWS
    }
}

pub(crate) fn is_sqlite(conn: &AnyConnection) -> bool {
    conn.backend_name() == "SQLite"
}

/// `items` in chunks of `max` rows, then descending powers of two, in order.
fn shaped<T>(mut items: &[T], max: usize) -> Vec<&[T]> {
    let mut chunks = Vec::with_capacity(items.len() / max + 10);
    while !items.is_empty() {
        let n = if items.len() >= max {
            max
        } else {
            1 << items.len().ilog2()
        };
        let (chunk, rest) = items.split_at(n);
        chunks.push(chunk);
        items = rest;
    }
    chunks
}

/// `items` in chunks of at most `max`, each padded to a power of two (or to `max`) by
/// repeating its last item: for `IN (…)` lists, where a repeated value changes nothing.
pub(crate) fn padded<T: Clone>(items: &[T], max: usize) -> Vec<Vec<T>> {
    items
        .chunks(max)
        .map(|chunk| {
            let mut chunk = chunk.to_vec();
            if let Some(last) = chunk.last().cloned() {
                chunk.resize(chunk.len().next_power_of_two().min(max), last);
            }
            chunk
        })
        .collect()
}

/// One multi-row `INSERT` of a run of rows ([`insert_chunks`]).
pub(crate) struct InsertChunk<'a, T> {
    /// The rows to insert, in order.
    pub(crate) rows: &'a [T],
    /// The rows of the statement: more than `rows` on SQLite, where the rest are padding.
    shape: usize,
    sqlite: bool,
}

/// `items` as multi-row INSERTs. On SQLite: one statement per [`max_rows`], padded to a power of
/// two with rows of NULLs that the statement drops, so a `Submit` of any size takes one insert
/// per table and role (every statement is a hand-over to the driver's worker thread and back,
/// see the module notes) while the SQL texts stay few and cached. On PostgreSQL: [`shaped`],
/// exact rows.
pub(crate) fn insert_chunks<'a, T>(
    conn: &AnyConnection,
    items: &'a [T],
) -> Vec<InsertChunk<'a, T>> {
    chunks_for(is_sqlite(conn), max_rows(conn), items)
}

fn chunks_for<T>(sqlite: bool, max: usize, items: &[T]) -> Vec<InsertChunk<'_, T>> {
    if !sqlite {
        return shaped(items, max)
            .into_iter()
            .map(|rows| InsertChunk {
                rows,
                shape: rows.len(),
                sqlite,
            })
            .collect();
    }
    items
        .chunks(max)
        .map(|rows| InsertChunk {
            rows,
            shape: rows.len().next_power_of_two().min(max),
            sqlite,
        })
        .collect()
}

impl<T> InsertChunk<'_, T> {
    /// The statement: `INSERT INTO {into} VALUES …{tail}`; on SQLite `INSERT INTO {into} SELECT
    /// * FROM (VALUES …) WHERE column1 IS NOT NULL{tail}`, which drops the padding (the first
    /// column of every table written this way is `NOT NULL`).
    pub(crate) fn sql(&self, into: &str, per_row: usize, tail: &str) -> String {
        let mut p = Placeholders {
            numbered: !self.sqlite,
            count: 0,
        };
        let values = p.rows(self.shape, per_row);
        if self.sqlite {
            format!(
                "INSERT INTO {into} SELECT * FROM (VALUES {values}) WHERE column1 IS NOT NULL{tail}"
            )
        } else {
            format!("INSERT INTO {into} VALUES {values}{tail}")
        }
    }

    /// Binds the padding rows' NULLs, after the rows themselves.
    pub(crate) fn pad<'q>(
        &self,
        mut query: Query<'q, Any, AnyArguments<'q>>,
        per_row: usize,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        for _ in 0..(self.shape - self.rows.len()) * per_row {
            query = query.bind(None::<i64>);
        }
        query
    }
}

/// Writes the placeholders of one statement in binding order: `?` on SQLite, `$1, $2, …` on
/// PostgreSQL. Each placeholder is one bound value; a value used twice is bound twice.
pub(crate) struct Placeholders {
    numbered: bool,
    count: usize,
}

impl Placeholders {
    pub(crate) fn for_conn(conn: &AnyConnection) -> Placeholders {
        Placeholders {
            numbered: !is_sqlite(conn),
            count: 0,
        }
    }

    /// The next placeholder.
    pub(crate) fn next(&mut self) -> String {
        let mut out = String::new();
        self.push_next(&mut out);
        out
    }

    /// `n` placeholders separated by commas.
    pub(crate) fn list(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n * 6);
        self.push_list(&mut out, n);
        out
    }

    /// `rows` tuples of `per_row` placeholders: the `VALUES` of a multi-row insert.
    pub(crate) fn rows(&mut self, rows: usize, per_row: usize) -> String {
        // Written into one string: a 500-row insert has thousands of placeholders.
        let mut out = String::with_capacity(rows * (per_row * 6 + 4));
        for row in 0..rows {
            out.push_str(if row == 0 { "(" } else { ", (" });
            self.push_list(&mut out, per_row);
            out.push(')');
        }
        out
    }

    fn push_list(&mut self, out: &mut String, n: usize) {
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            self.push_next(out);
        }
    }

    fn push_next(&mut self, out: &mut String) {
        self.count += 1;
        if self.numbered {
            // Writing to a String cannot fail.
            let _ = write!(out, "${}", self.count);
        } else {
            out.push('?');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_order_and_take_few_shapes() {
        let items: Vec<usize> = (0..1200).collect();
        let sizes: Vec<usize> = shaped(&items[..500], 500).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [500]);
        let sizes: Vec<usize> = shaped(&items[..499], 500).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 128, 64, 32, 16, 2, 1]);
        let sizes: Vec<usize> = shaped(&items, 500).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [500, 500, 128, 64, 8]);
        let flat: Vec<usize> = shaped(&items, 500).concat();
        assert_eq!(flat, items);

        let mut shapes: Vec<usize> = (1..=1200)
            .flat_map(|n| shaped(&items[..n], 500).into_iter().map(<[usize]>::len))
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        assert_eq!(shapes, [1, 2, 4, 8, 16, 32, 64, 128, 256, 500]);
        assert!(shaped::<u8>(&[], 500).is_empty());
        let sizes: Vec<usize> = shaped(&items[..500], 64).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [64, 64, 64, 64, 64, 64, 64, 32, 16, 4]);
    }

    #[test]
    fn padded_lists_repeat_the_last_item_up_to_a_power_of_two() {
        let items: Vec<usize> = (0..1100).collect();
        let lists = padded(&items, 500);
        let sizes: Vec<usize> = lists.iter().map(Vec::len).collect();
        assert_eq!(sizes, [500, 500, 128]);
        assert_eq!(lists[0], (0..500).collect::<Vec<_>>());
        assert_eq!(&lists[2][..100], &items[1000..]);
        assert!(lists[2][100..].iter().all(|&i| i == 1099));
        assert_eq!(padded(&items[..300], 500)[0].len(), 500);
        assert_eq!(padded(&items[..40], 64)[0].len(), 64);
        assert_eq!(padded(&[7], 500), vec![vec![7]]);
        assert!(padded::<u8>(&[], 500).is_empty());
    }

    #[test]
    fn sqlite_inserts_take_one_padded_statement_per_chunk() {
        let items: Vec<usize> = (0..1100).collect();
        let chunks = chunks_for(true, 500, &items);
        let sizes: Vec<(usize, usize)> = chunks.iter().map(|c| (c.rows.len(), c.shape)).collect();
        assert_eq!(sizes, [(500, 500), (500, 500), (100, 128)]);
        let sql =
            chunks_for(true, 500, &items[..3])[0].sql("t (a, b)", 2, " ON CONFLICT DO NOTHING");
        assert_eq!(
            sql,
            "INSERT INTO t (a, b) SELECT * FROM (VALUES (?, ?), (?, ?), (?, ?), (?, ?)) \
             WHERE column1 IS NOT NULL ON CONFLICT DO NOTHING"
        );
        let postgres = chunks_for(false, 64, &items[..100]);
        let sizes: Vec<(usize, usize)> = postgres.iter().map(|c| (c.rows.len(), c.shape)).collect();
        assert_eq!(sizes, [(64, 64), (32, 32), (4, 4)]);
        assert_eq!(
            chunks_for(false, 64, &items[..1])[0].sql("t (a)", 1, ""),
            "INSERT INTO t (a) VALUES ($1)"
        );
        assert!(chunks_for::<u8>(true, 500, &[]).is_empty());
    }

    #[test]
    fn placeholders_follow_the_backend() {
        let mut numbered = Placeholders {
            numbered: true,
            count: 0,
        };
        assert_eq!(numbered.next(), "$1");
        assert_eq!(numbered.rows(2, 2), "($2, $3), ($4, $5)");
        let mut anonymous = Placeholders {
            numbered: false,
            count: 0,
        };
        assert_eq!(anonymous.list(3), "?, ?, ?");
    }
}
