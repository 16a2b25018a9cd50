//! A published table as CSV (for spreadsheets) and as an SVG bar chart (rendered here, served
//! as a file: no script, no external font or CDN). Hidden cells show as `x` with a legend.

use svg::node::element::{Line, Rectangle, Text as TextElement};
use svg::node::Text;
use svg::Document;

use super::{Cell, Published};

/// How a hidden cell is written.
pub const HIDDEN: &str = "x";

fn legend(p: &Published) -> String {
    format!(
        "{HIDDEN} = niet getoond: minder dan {} of daaruit af te leiden",
        p.threshold
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', ';']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Value(v) => v.to_string(),
        Cell::Suppressed => HIDDEN.to_owned(),
    }
}

/// The table as CSV: a heading row, the rows, the totals, and (when cells can be hidden) a
/// last line with the legend.
pub fn csv(p: &Published) -> String {
    let mut out = String::new();
    let heading: Vec<String> = std::iter::once(p.row_header.as_str())
        .chain(p.columns.iter().map(String::as_str))
        .map(csv_field)
        .collect();
    out += &heading.join(",");
    out.push('\n');
    for row in p.rows.iter().chain(std::iter::once(&p.totals)) {
        let fields: Vec<String> = std::iter::once(csv_field(&row.label))
            .chain(row.cells.iter().map(cell_text))
            .collect();
        out += &fields.join(",");
        out.push('\n');
    }
    if p.threshold > 0 {
        out += &csv_field(&format!("# {}", legend(p)));
        out.push('\n');
    }
    out
}

const COLOURS: &[&str] = &["#1f6f8b", "#e07a5f", "#81b29a", "#f2cc8f", "#6d597a"];
const BAR: f64 = 16.0;
const GAP: f64 = 10.0;
const LABEL_WIDTH: f64 = 260.0;
const PLOT_WIDTH: f64 = 420.0;

/// A horizontal grouped bar chart of the inner cells (totals left out), one group per row, one
/// bar per column. A hidden cell gets no bar, only `x`.
pub fn svg(p: &Published) -> String {
    let series = p.columns.len() - usize::from(p.row_totals);
    let max = p
        .rows
        .iter()
        .flat_map(|r| r.cells.iter().take(series))
        .filter_map(|c| c.value())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let group = series as f64 * BAR + GAP;
    let top = 50.0;
    let height = top + p.rows.len() as f64 * group + 30.0 + series as f64 * 18.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 60.0;
    let mut doc = Document::new()
        .set("viewBox", (0, 0, width, height))
        .set("width", width)
        .set("height", height)
        .set("font-family", "sans-serif")
        .set("font-size", 12)
        .add(
            TextElement::new("")
                .set("x", 10)
                .set("y", 22)
                .set("font-size", 15)
                .set("font-weight", "bold")
                .add(Text::new(&p.title)),
        )
        .add(
            Line::new()
                .set("x1", LABEL_WIDTH)
                .set("y1", top - 5.0)
                .set("x2", LABEL_WIDTH)
                .set("y2", top + p.rows.len() as f64 * group)
                .set("stroke", "#333"),
        );
    for (i, row) in p.rows.iter().enumerate() {
        let y0 = top + i as f64 * group;
        doc = doc.add(
            TextElement::new("")
                .set("x", LABEL_WIDTH - 6.0)
                .set("y", y0 + series as f64 * BAR / 2.0 + 4.0)
                .set("text-anchor", "end")
                .add(Text::new(&row.label)),
        );
        for (s, cell) in row.cells.iter().take(series).enumerate() {
            let y = y0 + s as f64 * BAR;
            let (length, label) = match cell {
                Cell::Value(v) => (*v as f64 / max * PLOT_WIDTH, v.to_string()),
                Cell::Suppressed => (0.0, HIDDEN.to_owned()),
            };
            doc = doc
                .add(
                    Rectangle::new()
                        .set("x", LABEL_WIDTH)
                        .set("y", y + 1.0)
                        .set("width", length)
                        .set("height", BAR - 2.0)
                        .set("fill", COLOURS[s % COLOURS.len()]),
                )
                .add(
                    TextElement::new("")
                        .set("x", LABEL_WIDTH + length + 4.0)
                        .set("y", y + BAR - 4.0)
                        .add(Text::new(label)),
                );
        }
    }
    let mut y = top + p.rows.len() as f64 * group + 16.0;
    for (s, name) in p.columns.iter().take(series).enumerate() {
        doc = doc
            .add(
                Rectangle::new()
                    .set("x", 10)
                    .set("y", y - 10.0)
                    .set("width", 12)
                    .set("height", 12)
                    .set("fill", COLOURS[s % COLOURS.len()]),
            )
            .add(
                TextElement::new("")
                    .set("x", 28)
                    .set("y", y)
                    .add(Text::new(name)),
            );
        y += 18.0;
    }
    if p.threshold > 0 {
        doc = doc.add(
            TextElement::new("")
                .set("x", 10)
                .set("y", y)
                .set("fill", "#555")
                .add(Text::new(legend(p))),
        );
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Table;

    #[test]
    fn csv_and_svg_show_hidden_cells_as_x_and_never_their_value() {
        let t = Table {
            id: "org".into(),
            title: "Signalen per organisatie".into(),
            row_header: "Organisatie".into(),
            columns: vec!["Signalen".into()],
            rows: vec![
                ("School, \"De Regenboog\"".into(), vec![3]),
                ("GGD".into(), vec![17]),
                ("Politie".into(), vec![23]),
            ],
            row_totals: false,
            threshold: 5,
        };
        let p = t.publish();
        let csv = csv(&p);
        assert_eq!(
            csv.lines().take(5).collect::<Vec<_>>(),
            vec![
                "Organisatie,Signalen",
                "\"School, \"\"De Regenboog\"\"\",x",
                "GGD,x",
                "Politie,23",
                "Totaal,43",
            ]
        );
        let svg = svg(&p);
        assert!(svg.starts_with("<svg"), "{svg}");
        let svg = svg.replace(['\n', ' '], "");
        assert!(svg.contains(">23<"));
        assert!(!svg.contains(">3<") && !svg.contains(">17<"), "{svg}");
    }
}
