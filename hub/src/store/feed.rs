//! Per-node feeds: appending an item inside a write transaction, and reading pages in order.
//!
//! Sequence numbers come from `nodes.feed_head`, incremented by the appending transaction
//! (`UPDATE … SET feed_head = feed_head + n … RETURNING`) for all items of that transaction
//! for a region at once. The row stays locked until commit, so on PostgreSQL a second writer
//! to the same feed waits and takes the next numbers only after the first committed: no gaps
//! and no "seq 7 visible before seq 6". SQLite has one writer at a time anyway.
//!
//! A `MatchCreated` carries the other node's certificate chain, the same for every match with
//! that node and some 2 KB, twenty times the rest of the item. It is stored once in
//! `feed_chains`, keyed by its SHA-256 digest, and the feed row names the digest; a page read
//! puts the chain back, so subscribers receive exactly what was appended.

use std::collections::BTreeMap;
use std::fmt::Write;

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use vir_proto as pb;
use vir_shared::RegionCode;

use super::nodes::{decode_chain, encode_chain};
use super::shapes::{insert_chunks, Placeholders};
use super::{to_i64, to_u64, Store};
use crate::error::StoreError;

/// A feed row to insert: region, seq, encoded body, and the digest of its certificate chain,
/// which is stored once apart (`feed_chains`).
type FeedRow = (RegionCode, i64, Vec<u8>, Option<[u8; 32]>);

/// How many feed items a subscriber reads per query.
pub const FEED_PAGE: u32 = 500;

/// Appends each region's `bodies` to its feed, in order, and returns the new heads. One
/// counter update reserves the ranges of all regions (the rows stay locked until commit), then
/// the chains and the items of all regions go in multi-row INSERTs: a `Submit` that tells three
/// regions takes three statements, not three per region.
pub(crate) async fn append_all(
    conn: &mut AnyConnection,
    pending: BTreeMap<RegionCode, Vec<pb::feed_item::Body>>,
    now_ms: i64,
) -> Result<BTreeMap<RegionCode, u64>, StoreError> {
    let pending: Vec<(RegionCode, Vec<pb::feed_item::Body>)> = pending
        .into_iter()
        .filter(|(_, bodies)| !bodies.is_empty())
        .collect();
    if pending.is_empty() {
        return Ok(BTreeMap::new());
    }
    let heads = reserve(conn, &pending).await?;
    let mut chains = Chains::default();
    let mut rows: Vec<FeedRow> = Vec::new();
    for (region, bodies) in pending {
        // `reserve` returned a head for every region or failed.
        let head = heads.get(&region).copied().unwrap_or_default();
        let first = to_i64(head) - bodies.len() as i64 + 1;
        for (seq, mut body) in (first..).zip(bodies) {
            let digest = chains.take_from(&mut body);
            // Only the body is encoded; seq and time are columns, filled in when read.
            let encoded = pb::FeedItem {
                seq: 0,
                created_unix_ms: 0,
                body: Some(body),
            }
            .encode_to_vec();
            rows.push((region.clone(), seq, encoded, digest));
        }
    }
    chains.store(conn).await?;
    for chunk in insert_chunks(conn, &rows) {
        let sql = chunk.sql("feed (region, seq, created_ms, body, chain_digest)", 5, "");
        let mut query = sqlx::query(&sql);
        for (region, seq, encoded, digest) in chunk.rows {
            query = query
                .bind(region.as_str())
                .bind(*seq)
                .bind(now_ms)
                .bind(encoded.as_slice())
                .bind(digest.map(|d| d.to_vec()));
        }
        chunk.pad(query, 5).execute(&mut *conn).await?;
    }
    Ok(heads)
}

/// Moves the feed counter of every region in `pending` on by its number of items, in one
/// statement; returns the new heads.
async fn reserve(
    conn: &mut AnyConnection,
    pending: &[(RegionCode, Vec<pb::feed_item::Body>)],
) -> Result<BTreeMap<RegionCode, u64>, StoreError> {
    let mut p = Placeholders::for_conn(conn);
    let mut cases = String::new();
    for _ in pending {
        let (region, count) = (p.next(), p.next());
        // Writing to a String cannot fail.
        let _ = write!(cases, " WHEN {region} THEN {count}");
    }
    let sql = format!(
        "UPDATE nodes SET feed_head = feed_head + CASE region{cases} END \
         WHERE region IN ({}) RETURNING region, feed_head",
        p.list(pending.len())
    );
    let mut query = sqlx::query(&sql);
    for (region, bodies) in pending {
        let count = i64::try_from(bodies.len())
            .map_err(|_| StoreError::Corrupt("feed batch too large".into()))?;
        query = query.bind(region.as_str()).bind(count);
    }
    for (region, _) in pending {
        query = query.bind(region.as_str());
    }
    let mut heads = BTreeMap::new();
    for row in query.fetch_all(&mut *conn).await? {
        let region: String = row.try_get(0)?;
        let region: RegionCode = region
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("nodes.region: {e}")))?;
        heads.insert(region, to_u64(row.try_get(1)?, "feed_head")?);
    }
    if let Some((missing, _)) = pending.iter().find(|(r, _)| !heads.contains_key(r)) {
        return Err(StoreError::Corrupt(format!(
            "no node row (feed counter) for {missing}"
        )));
    }
    Ok(heads)
}

/// The certificate chains taken out of the items of one append, by digest.
#[derive(Default)]
struct Chains {
    /// (chain, its digest): a handful per append, compared before hashing again.
    seen: Vec<(Vec<Vec<u8>>, [u8; 32])>,
}

impl Chains {
    /// Takes the chain out of a `MatchCreated` and returns its digest (`None` for other items
    /// and for an empty chain, which is kept as it is).
    fn take_from(&mut self, body: &mut pb::feed_item::Body) -> Option<[u8; 32]> {
        let pb::feed_item::Body::MatchCreated(m) = body else {
            return None;
        };
        if m.other_node_chain.is_empty() {
            return None;
        }
        let chain = std::mem::take(&mut m.other_node_chain);
        if let Some((_, digest)) = self.seen.iter().find(|(c, _)| *c == chain) {
            return Some(*digest);
        }
        let digest: [u8; 32] = Sha256::digest(encode_chain(&chain)).into();
        self.seen.push((chain, digest));
        Some(digest)
    }

    /// Stores the chains not stored before.
    async fn store(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        for chunk in insert_chunks(conn, &self.seen) {
            let sql = chunk.sql(
                "feed_chains (digest, chain)",
                2,
                " ON CONFLICT (digest) DO NOTHING",
            );
            let mut query = sqlx::query(&sql);
            for (chain, digest) in chunk.rows {
                query = query.bind(digest.to_vec()).bind(encode_chain(chain));
            }
            chunk.pad(query, 2).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Up to `limit` items of `region`'s feed with seq ≥ `from_seq`, in order.
    pub async fn feed_page(
        &self,
        region: &RegionCode,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<pb::FeedItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.seq, f.created_ms, f.body, c.chain FROM feed f \
             LEFT JOIN feed_chains c ON c.digest = f.chain_digest \
             WHERE f.region = $1 AND f.seq >= $2 ORDER BY f.seq LIMIT $3",
        )
        .bind(region.as_str())
        .bind(to_i64(from_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(|row| item_from_row(region, row)).collect()
    }
}

/// A feed row (`seq, created_ms, body, chain`, the chain from `feed_chains` or NULL) as the
/// item that was appended: seq and time from their columns, the chain put back.
pub(super) fn item_from_row(
    region: &RegionCode,
    row: &sqlx::any::AnyRow,
) -> Result<pb::FeedItem, StoreError> {
    let seq = to_u64(row.try_get(0)?, "feed.seq")?;
    let created_unix_ms: i64 = row.try_get(1)?;
    let body: Vec<u8> = row.try_get(2)?;
    let chain: Option<Vec<u8>> = row.try_get(3)?;
    let corrupt = |what: String| StoreError::Corrupt(format!("feed {region}/{seq}: {what}"));
    let mut item = pb::FeedItem::decode(body.as_slice()).map_err(|e| corrupt(e.to_string()))?;
    // An item an erasure emptied in place (`Ingest::forget`) is sent without a body, so the
    // feed stays contiguous: the node skips it and reads on.
    if let Some(chain) = chain {
        let Some(pb::feed_item::Body::MatchCreated(m)) = &mut item.body else {
            return Err(corrupt("a certificate chain on an item without one".into()));
        };
        m.other_node_chain = decode_chain(&chain)?;
    }
    Ok(pb::FeedItem {
        seq,
        created_unix_ms,
        body: item.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(id: &str, chain: Vec<Vec<u8>>) -> pb::feed_item::Body {
        pb::feed_item::Body::MatchCreated(pb::MatchCreated {
            match_id: id.into(),
            other_node_chain: chain,
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn chains_are_stored_once_and_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = vir_shared::db::sqlite_url(&dir.path().join("hub.sqlite"));
        let store = Store::connect(&url).await.unwrap();
        let region: RegionCode = "drenthe".parse().unwrap();
        let (old, renewed) = (
            vec![b"leaf".to_vec(), b"ca".to_vec()],
            vec![b"leaf-2".to_vec()],
        );
        let bodies = vec![
            created("m1", old.clone()),
            created("m2", old.clone()),
            pb::feed_item::Body::MatchEnded(pb::MatchEnded {
                match_id: "m1".into(),
                your_signal_ref: "s1".into(),
            }),
            created("m3", Vec::new()),
            created("m4", renewed.clone()),
        ];
        let mut tx = store.db.write().await.unwrap();
        sqlx::query("INSERT INTO nodes (region, oin, updated_ms) VALUES ($1, $2, 0)")
            .bind(region.as_str())
            .bind("00000099000000000101")
            .execute(super::super::conn(&mut tx))
            .await
            .unwrap();
        let pending = BTreeMap::from([(region.clone(), bodies.clone())]);
        let heads = append_all(super::super::conn(&mut tx), pending, 5)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(heads[&region], 5);

        let page = store.feed_page(&region, 1, FEED_PAGE).await.unwrap();
        let read: Vec<_> = page.into_iter().map(|i| i.body.unwrap()).collect();
        assert_eq!(read, bodies);
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feed_chains")
            .fetch_one(&store.db.pool)
            .await
            .unwrap();
        assert_eq!(stored, 2, "one row per distinct chain");

        // An erasure empties an item in place (`Ingest::forget`): it is read as an item without
        // a body, which the node skips, and the items after it still come (a node behind it
        // was stuck on "empty body" before).
        sqlx::query(
            "UPDATE feed SET body = $3, chain_digest = NULL WHERE region = $1 AND seq = $2",
        )
        .bind(region.as_str())
        .bind(2i64)
        .bind(pb::FeedItem::default().encode_to_vec())
        .execute(&store.db.pool)
        .await
        .unwrap();
        let page = store.feed_page(&region, 1, FEED_PAGE).await.unwrap();
        let seqs: Vec<(u64, bool)> = page.iter().map(|i| (i.seq, i.body.is_some())).collect();
        assert_eq!(
            seqs,
            vec![(1, true), (2, false), (3, true), (4, true), (5, true)]
        );
    }
}
