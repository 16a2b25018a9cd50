//! Published tables on the wire (`vir.v1.ReportTable`), and the report period of a request.

use chrono::{Days, NaiveDate};
use vir_proto as pb;

use super::{render, Cell, Published, PublishedRow};

fn row(r: &PublishedRow) -> pb::ReportRow {
    pb::ReportRow {
        label: r.label.clone(),
        cells: r
            .cells
            .iter()
            .map(|c| pb::ReportCell {
                cell: Some(match c {
                    Cell::Value(v) => pb::report_cell::Cell::Value(*v),
                    Cell::Suppressed => pb::report_cell::Cell::Suppressed(true),
                }),
            })
            .collect(),
    }
}

/// A published table with its CSV and SVG forms.
pub fn to_proto(p: &Published) -> pb::ReportTable {
    pb::ReportTable {
        id: p.id.clone(),
        title: p.title.clone(),
        row_header: p.row_header.clone(),
        columns: p.columns.clone(),
        rows: p.rows.iter().map(row).collect(),
        totals: Some(row(&p.totals)),
        threshold: p.threshold,
        row_totals: p.row_totals,
        csv: render::csv(p),
        svg: render::svg(p),
    }
}

/// The days a report counts: `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// From a request: empty `from` is the beginning of records, empty `to` is `today`. A bad
    /// date or `from` after `to` is an error naming the field.
    pub fn from_request(req: &pb::PolicyReportRequest, today: NaiveDate) -> Result<Period, String> {
        let parse = |field: &str, text: &str, default: NaiveDate| {
            if text.trim().is_empty() {
                Ok(default)
            } else {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map_err(|_| format!("{field}: {text:?} is not a date (YYYY-MM-DD)"))
            }
        };
        let beginning = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date");
        let period = Period {
            from: parse("from", &req.from, beginning)?,
            to: parse("to", &req.to, today)?,
        };
        if period.from > period.to {
            return Err(format!("from: {} is after to: {}", period.from, period.to));
        }
        Ok(period)
    }

    /// `[start, end)` in Unix milliseconds (UTC days).
    pub fn millis(&self) -> (i64, i64) {
        let ms = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp_millis()
        };
        let end = self.to.checked_add_days(Days::new(1)).unwrap_or(self.to);
        (ms(self.from), ms(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_defaults_and_refusals() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let p = Period::from_request(&pb::PolicyReportRequest::default(), today).unwrap();
        assert_eq!(p.to, today);
        let bad = pb::PolicyReportRequest {
            from: "2026-13-01".into(),
            to: String::new(),
        };
        assert!(Period::from_request(&bad, today)
            .unwrap_err()
            .starts_with("from:"));
        let reversed = pb::PolicyReportRequest {
            from: "2026-11-26".into(),
            to: "2026-11-25".into(),
        };
        assert!(Period::from_request(&reversed, today).is_err());
        let (start, end) = Period {
            from: today,
            to: today,
        }
        .millis();
        assert_eq!(end - start, 86_400_000);
    }
}
