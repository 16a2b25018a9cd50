//! Counts for metrics and the national policy report: pseudonymous data only (regions, kinds).

use sqlx::Row;

use super::{to_u64, Store, StoreError};

/// Counts per region for the national report (003 art. 25; 004 §15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionCounts {
    pub region: String,
    /// Signals the region registered in the period (active or since ended).
    pub signals: u64,
    /// Hub matches created in the period in which the region takes part.
    pub matches: u64,
}

impl Store {
    /// Open hub matches per kind (`client`, `family`, `address`, `candidate`).
    pub async fn open_matches_by_kind(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) FROM matches WHERE ended_ms IS NULL GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)))
            .collect()
    }

    /// Signals and matches per region created in `[from_ms, to_ms)`, for every known region.
    pub async fn region_counts(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RegionCounts>, StoreError> {
        let pool = &self.db.pool;
        let regions = sqlx::query("SELECT region FROM nodes ORDER BY region")
            .fetch_all(pool)
            .await?;
        let mut out = Vec::with_capacity(regions.len());
        for row in regions {
            let region: String = row.try_get(0)?;
            let signals: i64 = sqlx::query(
                "SELECT COUNT(*) FROM signals WHERE region = $1 AND created_ms >= $2 AND created_ms < $3",
            )
            .bind(&region)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(pool)
            .await?
            .try_get(0)?;
            let matches: i64 = sqlx::query(
                "SELECT COUNT(*) FROM matches WHERE (region_a = $1 OR region_b = $1) \
                 AND created_ms >= $2 AND created_ms < $3",
            )
            .bind(&region)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(pool)
            .await?
            .try_get(0)?;
            out.push(RegionCounts {
                region,
                signals: to_u64(signals, "count")?,
                matches: to_u64(matches, "count")?,
            });
        }
        Ok(out)
    }
}
