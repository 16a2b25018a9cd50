//! Cell suppression for count tables with published margins, in two steps:
//!
//! 1. **Primary suppression**: every cell, including totals, with `0 < count < threshold`.
//! 2. **Secondary suppression** (against disclosure by difference): the published cells and
//!    totals form linear equations (each column adds up to its total; with row totals each row
//!    too). A hidden cell is *disclosed* when these equations determine it, whatever values the
//!    other hidden cells take — exactly when its unit vector lies in the row space of the
//!    equations restricted to the hidden cells. While some hidden cell is disclosed, one more
//!    cell on one of its lines is hidden: the smallest non-zero inner cell, preferring one whose
//!    other line already holds a hidden cell (closing a cycle, the pattern that protects in a
//!    two-way table), totals last.
//!
//! This is the classic iterative heuristic of statistical offices (hide at least two cells in
//! every line that holds one) made exact by a linear-algebra audit after each step, so it also
//! catches the cases the line rule misses (a hidden cell bridging two otherwise protected
//! groups). It is not cost-optimal like τ-ARGUS's optimisation methods, but the guarantee that
//! matters holds: no hidden cell can be computed from what is published.

/// One published equation: the cells whose sum is the other cell.
pub type Equation = (Vec<(usize, usize)>, (usize, usize));

/// A table with its margins: `values[r][c]`, the last row holds the column totals; with
/// `row_totals` the last column holds the row totals (and the grand total at the bottom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub values: Vec<Vec<u64>>,
    /// Columns before the row-total column.
    pub inner_columns: usize,
    pub row_totals: bool,
}

impl Grid {
    fn height(&self) -> usize {
        self.values.len()
    }

    fn width(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    fn is_margin(&self, r: usize, c: usize) -> bool {
        r + 1 == self.height() || (self.row_totals && c == self.inner_columns)
    }

    /// The published equations, each as the cells it adds: `sum(plus) = minus`.
    pub fn equations(&self) -> Vec<Equation> {
        let last = self.height() - 1;
        let mut out: Vec<_> = (0..self.width())
            .map(|c| ((0..last).map(|r| (r, c)).collect(), (last, c)))
            .collect();
        if self.row_totals {
            for r in 0..self.height() {
                out.push((
                    (0..self.inner_columns).map(|c| (r, c)).collect(),
                    (r, self.inner_columns),
                ));
            }
        }
        out
    }
}

/// Which cells to hide: primary and secondary suppression (module docs). `threshold` 0: none.
pub fn protect(grid: &Grid, threshold: u64) -> Vec<Vec<bool>> {
    let mut hidden: Vec<Vec<bool>> = grid
        .values
        .iter()
        .map(|row| row.iter().map(|&v| v > 0 && v < threshold).collect())
        .collect();
    if threshold == 0 || grid.width() == 0 {
        return hidden;
    }
    // Each round hides one more cell, so this ends within the number of cells.
    while let Some((r, c)) = first_disclosed(grid, &hidden) {
        let lines = lines_through(grid, r, c);
        let mut candidates: Vec<(usize, usize)> = lines
            .iter()
            .flatten()
            .copied()
            .filter(|&(i, j)| !hidden[i][j])
            .collect();
        if candidates.is_empty() {
            candidates = all_cells(grid).filter(|&(i, j)| !hidden[i][j]).collect();
        }
        let Some(&pick) = candidates.iter().min_by_key(|&&(i, j)| {
            let other_line_hidden = lines_through(grid, i, j)
                .iter()
                .filter(|line| !line.contains(&(r, c)))
                .any(|line| line.iter().any(|&(a, b)| hidden[a][b]));
            let v = grid.values[i][j];
            (grid.is_margin(i, j), !other_line_hidden, v == 0, v, i, j)
        }) else {
            break;
        };
        hidden[pick.0][pick.1] = true;
    }
    hidden
}

fn all_cells(grid: &Grid) -> impl Iterator<Item = (usize, usize)> + '_ {
    (0..grid.height()).flat_map(move |r| (0..grid.width()).map(move |c| (r, c)))
}

/// The cells of every published equation that involves `(r, c)`.
fn lines_through(grid: &Grid, r: usize, c: usize) -> Vec<Vec<(usize, usize)>> {
    grid.equations()
        .into_iter()
        .map(|(mut plus, minus)| {
            plus.push(minus);
            plus
        })
        .filter(|cells| cells.contains(&(r, c)))
        .collect()
}

fn first_disclosed(grid: &Grid, hidden: &[Vec<bool>]) -> Option<(usize, usize)> {
    all_cells(grid).find(|&(r, c)| hidden[r][c] && disclosed(grid, hidden, (r, c)))
}

/// Whether the published equations determine hidden cell `target` (module docs).
pub fn disclosed(grid: &Grid, hidden: &[Vec<bool>], target: (usize, usize)) -> bool {
    let unknowns: Vec<(usize, usize)> = all_cells(grid).filter(|&(r, c)| hidden[r][c]).collect();
    let index = |cell: (usize, usize)| unknowns.iter().position(|&u| u == cell);
    let Some(t) = index(target) else {
        return true; // a visible cell is known
    };
    let mut rows: Vec<Vec<f64>> = grid
        .equations()
        .into_iter()
        .map(|(plus, minus)| {
            let mut row = vec![0.0; unknowns.len()];
            for cell in plus {
                if let Some(i) = index(cell) {
                    row[i] += 1.0;
                }
            }
            if let Some(i) = index(minus) {
                row[i] -= 1.0;
            }
            row
        })
        .collect();
    let pivots = echelon(&mut rows);
    // Reduce the unit vector of the target by the pivot rows; a zero residue means it is a
    // combination of the equations, i.e. the target's value follows from them.
    let mut unit: Vec<f64> = vec![0.0; unknowns.len()];
    unit[t] = 1.0;
    for (row, &col) in rows.iter().zip(&pivots) {
        let factor = unit[col];
        if factor.abs() > EPS {
            for (u, v) in unit.iter_mut().zip(row) {
                *u -= factor * v;
            }
        }
    }
    unit.iter().all(|v| v.abs() < EPS)
}

const EPS: f64 = 1e-9;

/// Brings `rows` to reduced row echelon form in place; returns each kept row's pivot column.
fn echelon(rows: &mut Vec<Vec<f64>>) -> Vec<usize> {
    let width = rows.first().map_or(0, Vec::len);
    let mut pivots = Vec::new();
    let mut next = 0;
    for col in 0..width {
        let Some(p) = (next..rows.len()).find(|&r| rows[r][col].abs() > EPS) else {
            continue;
        };
        rows.swap(next, p);
        let lead = rows[next][col];
        for v in rows[next].iter_mut() {
            *v /= lead;
        }
        for r in 0..rows.len() {
            if r != next {
                let factor = rows[r][col];
                if factor.abs() > EPS {
                    let pivot_row = rows[next].clone();
                    for (v, p) in rows[r].iter_mut().zip(&pivot_row) {
                        *v -= factor * p;
                    }
                }
            }
        }
        pivots.push(col);
        next += 1;
    }
    rows.truncate(next);
    pivots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Cell, Table};

    fn table(rows: &[(&str, &[u64])], columns: &[&str], row_totals: bool) -> Table {
        Table {
            id: "t".into(),
            title: "t".into(),
            row_header: "r".into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|(l, v)| (l.to_string(), v.to_vec()))
                .collect(),
            row_totals,
            threshold: 5,
        }
    }

    #[test]
    fn a_lone_small_cell_takes_a_second_one_with_it() {
        let t = table(
            &[("A", &[3]), ("B", &[12]), ("C", &[20])],
            &["Signalen"],
            false,
        );
        let p = t.publish();
        assert_eq!(p.rows[0].cells, vec![Cell::Suppressed]);
        // Total 35 − 20 would give 12 + 3: B is hidden too, the smallest non-zero other cell.
        assert_eq!(p.rows[1].cells, vec![Cell::Suppressed]);
        assert_eq!(p.rows[2].cells, vec![Cell::Value(20)]);
        assert_eq!(p.totals.cells, vec![Cell::Value(35)]);
    }

    #[test]
    fn a_bridge_between_protected_groups_is_caught() {
        // Every line holds two hidden cells, yet a bridge cell can be disclosed; the audit
        // must never end with a disclosed cell, whatever the pattern.
        let t = table(
            &[
                ("A", &[3, 4, 9, 9]),
                ("B", &[4, 3, 9, 9]),
                ("C", &[9, 9, 3, 4]),
                ("D", &[9, 9, 4, 3]),
            ],
            &["w", "x", "y", "z"],
            true,
        );
        let grid = t.grid();
        let hidden = protect(&grid, 5);
        for r in 0..grid.values.len() {
            for c in 0..grid.values[0].len() {
                if hidden[r][c] {
                    assert!(!disclosed(&grid, &hidden, (r, c)), "({r},{c}) disclosed");
                }
            }
        }
    }

    #[test]
    fn zero_threshold_hides_nothing() {
        let mut t = table(&[("A", &[1]), ("B", &[2])], &["n"], false);
        t.threshold = 0;
        let p = t.publish();
        assert_eq!(p.rows[0].cells, vec![Cell::Value(1)]);
    }
}
