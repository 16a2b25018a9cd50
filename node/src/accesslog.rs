//! The access log (NEN 7513; Jeugdwet 7.1.2.3 f, h, i: every access is logged and the logs
//! serve inzage): who (the caller's OIN and organisation), on whose behalf (the professional
//! named in the `vir-on-behalf-of` request header, else the organisation), what action, on
//! which object, with what result, and when.
//!
//! Append-only: the tables refuse UPDATE and DELETE (triggers), and each row carries a SHA-256
//! hash over its fields and the previous row's hash ([`crate::store::accesslog`]), so
//! [`RegionalIndex::verify_access_log`] finds an edited or deleted row even when someone
//! bypassed the triggers. The youth is named by a keyed pseudonym (HMAC-like SHA-256 with a
//! node-local secret), so the log survives the youth's destruction without the BSN, and inzage
//! still finds the youth's entries by computing the same pseudonym.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use vir_shared::{Bsn, RegionCode};

use crate::config::Partner;
use crate::index::RegionalIndex;
use crate::store::accesslog::{self, Entry, NewEntry, GENESIS};
use crate::store::StoreError;

/// The name of the secret behind the subject pseudonyms in `node_secrets`.
const SUBJECT_KEY: &str = "access_log_subject";

/// Rows read per round by the verification.
const VERIFY_PAGE: i64 = 1000;

/// Who acts, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub oin: String,
    pub organisation: String,
    pub on_behalf_of: String,
}

impl Actor {
    pub fn partner(partner: &Partner, on_behalf_of: Option<&str>) -> Actor {
        Actor {
            oin: partner.oin.to_string(),
            organisation: partner.organisation.clone(),
            on_behalf_of: on_behalf_of
                .map(str::to_owned)
                .unwrap_or_else(|| partner.organisation.clone()),
        }
    }

    /// A caller whose certificate is not a partner's (refused, and logged as such).
    pub fn unknown(oin: &str) -> Actor {
        Actor {
            oin: oin.to_owned(),
            organisation: String::new(),
            on_behalf_of: String::new(),
        }
    }

    /// The node's own scheduler, applying the region's rules.
    pub fn scheduler(region: &RegionCode) -> Actor {
        Actor {
            oin: String::new(),
            organisation: "scheduler".into(),
            on_behalf_of: format!("rules of {region}"),
        }
    }
}

/// One access to log: action, object, the youth (if any), result.
#[derive(Clone)]
pub struct Access<'a> {
    pub action: &'a str,
    pub object: String,
    pub youth: Option<&'a Bsn>,
    pub result: &'a str,
}

/// The outcome of a verification of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    /// The first row where the chain breaks, and why; None when intact.
    pub broken: Option<(u64, String)>,
    /// The head the verification went up to, to write down as an [`Anchor`].
    pub head: Anchor,
}

/// A point of the chain kept outside the database, written `SEQ:HASH`: from the daily
/// `access_log_anchor` log line (which the log collector keeps) or a verification's answer.
/// The hash chain alone finds an edited row; someone with the database's keys could still
/// rewrite the rows after it and recompute every hash and the head. An anchor kept elsewhere
/// they cannot change, so a verification given one finds that rewrite too (NEN 7513: the log
/// must be protected against change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(text: &str) -> Result<Anchor, String> {
        let bad = || format!("{text:?} is not SEQ:HASH (an entry number and 64 hex digits)");
        let (seq, hash) = text.trim().split_once(':').ok_or_else(bad)?;
        let seq: u64 = seq.parse().map_err(|_| bad())?;
        let hash = hash.to_ascii_lowercase();
        if seq == 0 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Anchor { seq, hash })
    }
}

impl RegionalIndex {
    /// The pseudonym of a youth in the access log.
    pub async fn subject_of(
        &self,
        conn: &mut AnyConnection,
        bsn: &Bsn,
    ) -> Result<String, StoreError> {
        let key = match self.subject_key.get() {
            Some(key) => key.clone(),
            None => {
                let mut fresh = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut fresh);
                let (key, committed) =
                    accesslog::secret(&mut *conn, SUBJECT_KEY, &hex::encode(fresh)).await?;
                // Only a key that was there before this transaction is kept: one made now
                // vanishes if the transaction rolls back (and so does every entry using it).
                if committed {
                    let _ = self.subject_key.set(key.clone());
                }
                key
            }
        };
        let mut h = Sha256::new();
        h.update(key.as_bytes());
        h.update(b"|youth|");
        h.update(bsn.as_str().as_bytes());
        Ok(hex::encode(&h.finalize()[..16]))
    }

    /// Logs accesses in the caller's transaction.
    pub(crate) async fn audit_in(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        action: &str,
        object: &str,
        youth: Option<&Bsn>,
        result: &str,
    ) -> Result<(), StoreError> {
        let access = Access {
            action,
            object: object.to_owned(),
            youth,
            result,
        };
        self.audit_all_in(conn, actor, &[access]).await
    }

    pub(crate) async fn audit_all_in(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        accesses: &[Access<'_>],
    ) -> Result<(), StoreError> {
        let at_ms = self.clock.now().timestamp_millis();
        let mut entries = Vec::with_capacity(accesses.len());
        for a in accesses {
            let subject = match a.youth {
                Some(bsn) => self.subject_of(&mut *conn, bsn).await?,
                None => String::new(),
            };
            entries.push(NewEntry {
                at_ms,
                actor_oin: actor.oin.clone(),
                actor: actor.organisation.clone(),
                on_behalf_of: actor.on_behalf_of.clone(),
                action: a.action.to_owned(),
                object: a.object.clone(),
                subject,
                result: a.result.to_owned(),
            });
        }
        accesslog::append(conn, &entries).await
    }

    /// Logs accesses in a transaction of their own (reads, refusals).
    pub async fn audit(&self, actor: &Actor, accesses: &[Access<'_>]) -> Result<(), StoreError> {
        let mut tx = self.db.write().await?;
        self.audit_all_in(&mut tx.tx, actor, accesses).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Entries from `from_seq` on, about one youth and/or by one organisation.
    pub async fn access_log(
        &self,
        from_seq: i64,
        youth: Option<&Bsn>,
        actor_oin: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        let subject = match youth {
            Some(bsn) => Some(self.subject_of(&mut conn, bsn).await?),
            None => None,
        };
        accesslog::query(&mut conn, from_seq, subject.as_deref(), actor_oin, limit).await
    }

    /// The chain's head now, for the daily anchor line.
    pub async fn access_log_head(&self) -> Result<Anchor, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        let (seq, hash) = accesslog::head(&mut conn).await?;
        Ok(Anchor {
            seq: u64::try_from(seq).unwrap_or(0),
            hash,
        })
    }

    /// Walks the whole chain: every row's hash recomputed, every link and sequence number
    /// checked, the last row against the head, and the rows at the given anchors against them.
    pub async fn verify_access_log(&self, anchors: &[Anchor]) -> Result<Verification, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        let (head_seq, head_hash) = accesslog::head(&mut conn).await?;
        let head = Anchor {
            seq: u64::try_from(head_seq).unwrap_or(0),
            hash: head_hash.clone(),
        };
        let mut expected_seq = 1i64;
        let mut prev = GENESIS.to_owned();
        let broken = |seq: i64, why: &str| Verification {
            entries: u64::try_from(seq - 1).unwrap_or(0),
            broken: Some((u64::try_from(seq).unwrap_or(0), why.to_owned())),
            head: head.clone(),
        };
        loop {
            let page = accesslog::query(&mut conn, expected_seq, None, None, VERIFY_PAGE).await?;
            // Rows appended after the head was read are for the next verification.
            for row in page.iter().take_while(|r| r.seq <= head_seq) {
                if row.seq != expected_seq {
                    return Ok(broken(expected_seq, "row missing (deleted)"));
                }
                if row.prev_hash != prev {
                    return Ok(broken(row.seq, "does not link to the previous row"));
                }
                if accesslog::row_hash(row.seq, &row.entry, &row.prev_hash) != row.hash {
                    return Ok(broken(row.seq, "content does not match its hash (edited)"));
                }
                let differs =
                    |a: &&Anchor| i64::try_from(a.seq) == Ok(row.seq) && a.hash != row.hash;
                if anchors.iter().any(|a| differs(&a)) {
                    return Ok(broken(
                        row.seq,
                        "differs from an anchor kept outside the database (the chain was rewritten)",
                    ));
                }
                prev = row.hash.clone();
                expected_seq += 1;
            }
            if expected_seq > head_seq || page.len() < VERIFY_PAGE as usize {
                break;
            }
        }
        let last = expected_seq - 1;
        if last != head_seq || prev != head_hash {
            return Ok(broken(
                last + 1,
                "the chain ends before its head (rows deleted at the end)",
            ));
        }
        if anchors
            .iter()
            .any(|a| i64::try_from(a.seq).map_or(true, |seq| seq > last))
        {
            return Ok(broken(
                last + 1,
                "shorter than an anchor kept outside the database (rows deleted at the end)",
            ));
        }
        Ok(Verification {
            entries: u64::try_from(last).unwrap_or(0),
            broken: None,
            head,
        })
    }
}
