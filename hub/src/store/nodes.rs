//! Node rows: registration from the configuration, the certificate chain each node last
//! presented, feed acknowledgements, and the counts behind `Status`.

use sqlx::Row;
use vir_shared::RegionCode;

use super::{conn, to_i64, to_u64, Store};
use crate::config::NodeEntry;
use crate::error::{HubError, StoreError};

/// A node's row, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub region: RegionCode,
    pub oin: String,
    /// DER certificates, leaf first; empty until the node has called.
    pub chain: Vec<Vec<u8>>,
    pub last_op_id: u64,
    pub feed_head: u64,
    pub acked_seq: u64,
    /// Highest feed seq removed by retention (0: nothing removed).
    pub feed_floor: u64,
}

/// Counts only: no keys, no refs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub active_signals: u64,
    pub active_matches: u64,
    /// Active signals per region.
    pub per_region: Vec<(RegionCode, u64)>,
}

const NODE_COLUMNS: &str = "region, oin, cert_chain, last_op_id, feed_head, acked_seq, feed_floor";

fn node_row(row: &sqlx::any::AnyRow) -> Result<NodeRow, StoreError> {
    let region: String = row.try_get(0)?;
    let chain: Option<Vec<u8>> = row.try_get(2)?;
    Ok(NodeRow {
        region: region
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("nodes.region: {e}")))?,
        oin: row.try_get(1)?,
        chain: match chain {
            Some(bytes) => decode_chain(&bytes)?,
            None => Vec::new(),
        },
        last_op_id: to_u64(row.try_get(3)?, "last_op_id")?,
        feed_head: to_u64(row.try_get(4)?, "feed_head")?,
        acked_seq: to_u64(row.try_get(5)?, "acked_seq")?,
        feed_floor: to_u64(row.try_get(6)?, "feed_floor")?,
    })
}

impl Store {
    /// Makes sure every configured node has a row (its feed counter lives there), and records
    /// the OIN the configuration gives it now. Rows of nodes no longer configured are kept.
    pub async fn register_nodes(&self, nodes: &[NodeEntry], now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.db.write().await?;
        for node in nodes {
            sqlx::query(
                "INSERT INTO nodes (region, oin, updated_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (region) DO UPDATE SET oin = excluded.oin",
            )
            .bind(node.region.as_str())
            .bind(node.oin.as_str())
            .bind(now_ms)
            .execute(conn(&mut tx))
            .await?;
        }
        // Verhuizing routes a move by the municipality (issue 5): the configuration is the truth.
        sqlx::query("DELETE FROM node_municipalities")
            .execute(conn(&mut tx))
            .await?;
        for node in nodes {
            for municipality in &node.municipalities {
                sqlx::query(
                    "INSERT INTO node_municipalities (municipality, region) VALUES ($1, $2)",
                )
                .bind(municipality.as_str())
                .bind(node.region.as_str())
                .execute(conn(&mut tx))
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY region"))
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter().map(node_row).collect()
    }

    pub async fn node(&self, region: &RegionCode) -> Result<Option<NodeRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {NODE_COLUMNS} FROM nodes WHERE region = $1"
        ))
        .bind(region.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(node_row).transpose()
    }

    /// Stores the chain a node presented; the hub relays it to nodes it matches with.
    pub async fn store_chain(
        &self,
        region: &RegionCode,
        chain: &[Vec<u8>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.write().await?;
        sqlx::query("UPDATE nodes SET cert_chain = $2, updated_ms = $3 WHERE region = $1")
            .bind(region.as_str())
            .bind(encode_chain(chain))
            .bind(now_ms)
            .execute(conn(&mut tx))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that a node durably applied its feed up to `seq` (kept as a monotonic maximum).
    /// A position beyond the feed head is refused.
    pub async fn ack(&self, region: &RegionCode, seq: u64) -> Result<u64, HubError> {
        let mut tx = self.db.write().await?;
        let row = sqlx::query("SELECT feed_head, acked_seq FROM nodes WHERE region = $1")
            .bind(region.as_str())
            .fetch_optional(conn(&mut tx))
            .await?
            .ok_or_else(|| HubError::precondition(format!("region {region} has no feed")))?;
        let head = to_u64(row.try_get(0)?, "feed_head")?;
        let acked = to_u64(row.try_get(1)?, "acked_seq")?;
        if seq > head {
            return Err(HubError::OutOfRange(format!(
                "seq {seq} is beyond the feed head {head}"
            )));
        }
        if seq > acked {
            sqlx::query("UPDATE nodes SET acked_seq = $2 WHERE region = $1 AND acked_seq < $2")
                .bind(region.as_str())
                .bind(to_i64(seq))
                .execute(conn(&mut tx))
                .await?;
        }
        tx.commit().await?;
        Ok(seq.max(acked))
    }

    /// Counts of active signals and matches, in total and per region.
    pub async fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        let pool = &self.db.pool;
        let active_signals: i64 = sqlx::query("SELECT COUNT(*) FROM signals WHERE active = 1")
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        let active_matches: i64 =
            sqlx::query("SELECT COUNT(*) FROM matches WHERE ended_ms IS NULL")
                .fetch_one(pool)
                .await?
                .try_get(0)?;
        let rows = sqlx::query(
            "SELECT region, COUNT(*) FROM signals WHERE active = 1 GROUP BY region ORDER BY region",
        )
        .fetch_all(pool)
        .await?;
        let mut per_region = Vec::with_capacity(rows.len());
        for row in rows {
            let region: String = row.try_get(0)?;
            let region = region
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("signals.region: {e}")))?;
            per_region.push((region, to_u64(row.try_get(1)?, "count")?));
        }
        Ok(StatusCounts {
            active_signals: to_u64(active_signals, "count")?,
            active_matches: to_u64(active_matches, "count")?,
            per_region,
        })
    }
}

/// A chain as stored: for each certificate a 4-byte big-endian length, then its DER.
pub fn encode_chain(chain: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain.iter().map(|c| c.len() + 4).sum());
    for cert in chain {
        let len = u32::try_from(cert.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(cert);
    }
    out
}

pub fn decode_chain(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
    let corrupt = || StoreError::Corrupt("nodes.cert_chain: truncated".into());
    let mut chain = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(corrupt());
        }
        let (cert, rest) = rest.split_at(len);
        chain.push(cert.to_vec());
        bytes = rest;
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_round_trips_and_truncation_is_an_error() {
        let chain = vec![vec![1, 2, 3], vec![], vec![9; 300]];
        let bytes = encode_chain(&chain);
        assert_eq!(decode_chain(&bytes).unwrap(), chain);
        assert!(decode_chain(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_chain(&[0, 0]).is_err());
        assert!(decode_chain(&[]).unwrap().is_empty());
    }
}
