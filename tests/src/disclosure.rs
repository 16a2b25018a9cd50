//! An independent check that a published report table discloses no hidden cell: the published
//! margins give linear equations (each column adds up to its total; with row totals each row
//! too); a hidden cell is disclosed when its unit vector lies in the row space of those
//! equations over the hidden cells. Exact integer (fraction-free) elimination, written apart
//! from the service's own floating-point audit so that the two can disagree.

use vir_proto as pb;

/// The published grid: `None` for a hidden cell; the last row holds the totals.
pub fn grid_of(table: &pb::ReportTable) -> Vec<Vec<Option<u64>>> {
    let cells = |r: &pb::ReportRow| -> Vec<Option<u64>> {
        r.cells
            .iter()
            .map(|c| match c.cell {
                Some(pb::report_cell::Cell::Value(v)) => Some(v),
                _ => None,
            })
            .collect()
    };
    table
        .rows
        .iter()
        .chain(table.totals.as_ref())
        .map(cells)
        .collect()
}

/// The hidden cells that the published equations determine (empty: the table is safe).
pub fn disclosed_cells(grid: &[Vec<Option<u64>>], row_totals: bool) -> Vec<(usize, usize)> {
    let height = grid.len();
    let width = grid.first().map_or(0, Vec::len);
    let hidden: Vec<(usize, usize)> = (0..height)
        .flat_map(|r| (0..width).map(move |c| (r, c)))
        .filter(|&(r, c)| grid[r][c].is_none())
        .collect();
    let at = |cell| hidden.iter().position(|&h| h == cell);
    let mut equations: Vec<Vec<i128>> = Vec::new();
    let mut add = |plus: Vec<(usize, usize)>, minus: (usize, usize)| {
        let mut row = vec![0i128; hidden.len()];
        for cell in plus {
            if let Some(i) = at(cell) {
                row[i] += 1;
            }
        }
        if let Some(i) = at(minus) {
            row[i] -= 1;
        }
        equations.push(row);
    };
    for c in 0..width {
        add((0..height - 1).map(|r| (r, c)).collect(), (height - 1, c));
    }
    if row_totals {
        for r in 0..height {
            add((0..width - 1).map(|c| (r, c)).collect(), (r, width - 1));
        }
    }
    let base = rank(equations.clone());
    hidden
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let mut with_unit = equations.clone();
            let mut unit = vec![0i128; hidden.len()];
            unit[*i] = 1;
            with_unit.push(unit);
            rank(with_unit) == base
        })
        .map(|(_, &cell)| cell)
        .collect()
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// The rank of an integer matrix by fraction-free elimination (rows kept small by their gcd).
fn rank(mut rows: Vec<Vec<i128>>) -> usize {
    let width = rows.first().map_or(0, Vec::len);
    let mut rank = 0;
    for col in 0..width {
        let Some(p) = (rank..rows.len()).find(|&r| rows[r][col] != 0) else {
            continue;
        };
        rows.swap(rank, p);
        let pivot = rows[rank].clone();
        for (r, row) in rows.iter_mut().enumerate() {
            if r != rank && row[col] != 0 {
                let factor = row[col];
                for (v, p) in row.iter_mut().zip(&pivot) {
                    *v = *v * pivot[col] - factor * p;
                }
                let g = row.iter().fold(0, |g, &v| gcd(g, v));
                if g > 1 {
                    for v in row.iter_mut() {
                        *v /= g;
                    }
                }
            }
        }
        rank += 1;
    }
    rank
}
