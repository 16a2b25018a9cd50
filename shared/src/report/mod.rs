//! Policy report tables that cannot be traced to a youth or a professional (003 art. 25.3:
//! "op een wijze die waarborgt dat zij niet tot een persoon herleidbaar zijn"; 004 §15: "dat
//! de informatie nooit te herleiden is naar een jeugdige of naar een melder").
//!
//! A [`Table`] holds exact counts and never leaves the service; [`Table::publish`] turns it into
//! a [`Published`] table with small cells suppressed, also by difference ([`suppress`]), which
//! is what the node and the hub hand out, as CSV ([`render::csv`]) or as an SVG bar chart
//! ([`render::svg`]).

pub mod render;
pub mod suppress;
pub mod wire;

use serde::Serialize;

/// Cells below this count are suppressed unless configured otherwise.
pub const DEFAULT_THRESHOLD: u64 = 5;

/// A table of exact counts: rows × columns, with column totals always published and row
/// totals published when the columns add up to something meaningful (`row_totals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub id: String,
    pub title: String,
    /// The heading of the label column ("Organisatie", "Leeftijd").
    pub row_header: String,
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<u64>)>,
    pub row_totals: bool,
    /// Cells (and totals) with 0 < count < threshold are suppressed; 0 switches protection off
    /// (for tables that count organisations, not people).
    pub threshold: u64,
}

/// A published cell: the count, or hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    Value(u64),
    Suppressed,
}

impl Cell {
    pub fn value(self) -> Option<u64> {
        match self {
            Cell::Value(v) => Some(v),
            Cell::Suppressed => None,
        }
    }
}

/// A published row: its label and cells (the row total last when the table has row totals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedRow {
    pub label: String,
    pub cells: Vec<Cell>,
}

/// What a report hands out: no suppressed count is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    pub id: String,
    pub title: String,
    pub row_header: String,
    /// The column headings (with "Totaal" last when the table has row totals).
    pub columns: Vec<String>,
    pub rows: Vec<PublishedRow>,
    /// The column totals (and the grand total when the table has row totals).
    pub totals: PublishedRow,
    pub threshold: u64,
    pub row_totals: bool,
}

/// The label of total rows and columns.
pub const TOTAL: &str = "Totaal";

impl Table {
    /// The full grid with margins: `rows + 1` × `columns (+ 1)`; the last row holds the
    /// column totals, the last column (with `row_totals`) the row totals.
    pub fn grid(&self) -> suppress::Grid {
        let columns = self.columns.len();
        let mut values: Vec<Vec<u64>> = self
            .rows
            .iter()
            .map(|(_, counts)| {
                let mut row: Vec<u64> = (0..columns)
                    .map(|c| counts.get(c).copied().unwrap_or(0))
                    .collect();
                if self.row_totals {
                    row.push(row.iter().sum());
                }
                row
            })
            .collect();
        let width = columns + usize::from(self.row_totals);
        let totals: Vec<u64> = (0..width)
            .map(|c| values.iter().map(|r| r[c]).sum())
            .collect();
        values.push(totals);
        suppress::Grid {
            values,
            inner_columns: columns,
            row_totals: self.row_totals,
        }
    }

    /// Suppresses small cells and what would reveal them, and returns what may be handed out.
    pub fn publish(&self) -> Published {
        let grid = self.grid();
        let hidden = suppress::protect(&grid, self.threshold);
        let cell = |r: usize, c: usize| {
            if hidden[r][c] {
                Cell::Suppressed
            } else {
                Cell::Value(grid.values[r][c])
            }
        };
        let width = grid.values[0].len();
        let mut columns = self.columns.clone();
        if self.row_totals {
            columns.push(TOTAL.to_owned());
        }
        Published {
            id: self.id.clone(),
            title: self.title.clone(),
            row_header: self.row_header.clone(),
            columns,
            rows: self
                .rows
                .iter()
                .enumerate()
                .map(|(r, (label, _))| PublishedRow {
                    label: label.clone(),
                    cells: (0..width).map(|c| cell(r, c)).collect(),
                })
                .collect(),
            totals: PublishedRow {
                label: TOTAL.to_owned(),
                cells: (0..width).map(|c| cell(self.rows.len(), c)).collect(),
            },
            threshold: self.threshold,
            row_totals: self.row_totals,
        }
    }
}
