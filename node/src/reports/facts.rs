//! What the reports count, read once per report from storage and the person registry: the
//! period's signals (organisation, partner, the youth's age when signalled), its match
//! participations and its coordinations. Nothing here leaves the node uncounted.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use sqlx::Row;
use vir_shared::Bsn;

use super::Period;
use crate::index::RegionalIndex;

/// One signal of the period.
#[derive(Debug, Clone)]
pub struct SignalFact {
    /// The youth: a BSN or verwijsindexnummer; only used to group, never shown.
    pub youth: String,
    pub organisation: String,
    pub partner_oin: String,
    /// Age in years when signalled; `None` when the registry does not know the youth.
    pub age: Option<u32>,
}

/// One match a signal took part in during the period (regional, national or linked).
#[derive(Debug, Clone)]
pub struct MatchFact {
    pub organisation: String,
    pub age: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct ReportFacts {
    pub signals: Vec<SignalFact>,
    pub matches: Vec<MatchFact>,
    /// The coordinating organisation of each coordination started in the period.
    pub coordinations: Vec<String>,
}

fn date_of(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive()
}

impl ReportFacts {
    pub async fn load(index: &RegionalIndex, period: Period) -> Result<ReportFacts, sqlx::Error> {
        let (start, end) = period.millis();
        let pool = &index.db.pool;
        let birth_dates_without_bsn: HashMap<String, NaiveDate> =
            sqlx::query("SELECT vin, birth_date FROM no_bsn_youths")
                .fetch_all(pool)
                .await?
                .iter()
                .filter_map(|r| {
                    let vin: String = r.try_get(0).ok()?;
                    let date: String = r.try_get(1).ok()?;
                    Some((vin, NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok()?))
                })
                .collect();
        let age_of = |youth: &str, on: NaiveDate| -> Option<u32> {
            let born = match youth
                .parse::<Bsn>()
                .ok()
                .and_then(|b| index.registry.lookup(&b))
            {
                Some(person) => person.birth_date,
                None => *birth_dates_without_bsn.get(youth)?,
            };
            on.years_since(born)
        };

        // Every signal (matches in the period may be on older signals), keyed by id.
        let mut by_id: HashMap<String, (String, String, String, i64)> = HashMap::new();
        for r in sqlx::query("SELECT id, bsn, organisation, partner_oin, created_ms FROM signals")
            .fetch_all(pool)
            .await?
        {
            by_id.insert(
                r.try_get(0)?,
                (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?),
            );
        }
        let signals = by_id
            .values()
            .filter(|(_, _, _, created)| *created >= start && *created < end)
            .map(|(youth, organisation, partner_oin, created)| SignalFact {
                youth: youth.clone(),
                organisation: organisation.clone(),
                partner_oin: partner_oin.clone(),
                age: age_of(youth, date_of(*created)),
            })
            .collect();

        let participations = [
            "SELECT signal_id, joined_ms FROM match_members WHERE joined_ms >= $1 AND joined_ms < $2",
            "SELECT signal_id, created_ms FROM remote_matches WHERE created_ms >= $1 AND created_ms < $2",
            "SELECT signal_a, created_ms FROM link_matches WHERE created_ms >= $1 AND created_ms < $2",
            "SELECT signal_b, created_ms FROM link_matches WHERE created_ms >= $1 AND created_ms < $2",
        ];
        let mut matches = Vec::new();
        for sql in participations {
            for r in sqlx::query(sql)
                .bind(start)
                .bind(end)
                .fetch_all(pool)
                .await?
            {
                let signal_id: String = r.try_get(0)?;
                let at: i64 = r.try_get(1)?;
                if let Some((youth, organisation, _, _)) = by_id.get(&signal_id) {
                    matches.push(MatchFact {
                        organisation: organisation.clone(),
                        age: age_of(youth, date_of(at)),
                    });
                }
            }
        }

        let coordinations = sqlx::query(
            "SELECT coordinator_org FROM coordinations \
             WHERE coordinator_org <> '' AND created_ms >= $1 AND created_ms < $2",
        )
        .bind(start)
        .bind(end)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        Ok(ReportFacts {
            signals,
            matches,
            coordinations,
        })
    }
}
