//! The synthetic ingest workload: what three nodes' forwarders would send the hub, with half of
//! the keys matching a signal of another region.
//!
//! Each region sends `per_region` upserts (a multiple of 4). Positions `4m` and `4m + 2` carry a
//! key no other signal has; position `4m + 1` of region `r` and position `4m + 3` of region
//! `r + 1` (cyclically) carry the same key, so every such pair makes exactly one hub match,
//! whichever arrives first. Of `n` signals, `n / 2` take part in a pair and `n / 4` matches are
//! made. Keys are SHA-512 of a label, as uniformly spread as OPRF outputs; signal refs are
//! time-ordered UUIDs (v7), as nodes make them.

use sha2::{Digest, Sha512};
use vir_proto as pb;
use vir_shared::keys::KEY_LEN;
use vir_shared::RegionCode;

/// The regions of the bench, in the order their pairs chain.
#[derive(Debug, Clone)]
pub struct Sender {
    pub region: RegionCode,
    /// A municipality code this region would send.
    pub municipality: String,
    /// The last op id used; the next batch continues after it.
    pub last_op_id: u64,
}

impl Sender {
    pub fn new(region: RegionCode, municipality: &str) -> Sender {
        Sender {
            region,
            municipality: municipality.to_owned(),
            last_op_id: 0,
        }
    }
}

/// A 64-byte key for a label.
pub fn key(label: &str) -> [u8; KEY_LEN] {
    let digest = Sha512::digest(label.as_bytes());
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(&digest);
    out
}

/// One upsert operation as a node's forwarder sends it.
pub fn upsert(op_id: u64, key: [u8; KEY_LEN], municipality: &str) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::Upsert(pb::SignalUpsert {
            signal_ref: uuid::Uuid::now_v7().to_string(),
            person_key: Some(pb::PseudoKey {
                domain: pb::KeyDomain::Person as i32,
                version: 1,
                value: key.to_vec(),
            }),
            municipality: municipality.to_owned(),
            ..Default::default()
        })),
    }
}

/// The operations of one round, per sender (in the order of `senders`).
#[derive(Debug, Clone)]
pub struct Round {
    pub per_sender: Vec<Vec<pb::Operation>>,
    /// Matches the hub must make for this round.
    pub expected_matches: u64,
}

impl Round {
    pub fn signals(&self) -> usize {
        self.per_sender.iter().map(Vec::len).sum()
    }
}

/// A round of `per_region` upserts for each sender (rounded down to a multiple of 4), with keys
/// unique to `tag`, continuing each sender's op ids.
pub fn round(tag: &str, senders: &mut [Sender], per_region: usize) -> Round {
    let per_region = per_region / 4 * 4;
    let n = senders.len();
    let mut per_sender = Vec::with_capacity(n);
    for (r, sender) in senders.iter_mut().enumerate() {
        let mut ops = Vec::with_capacity(per_region);
        for j in 0..per_region {
            let m = j / 4;
            let label = match j % 4 {
                1 if n > 1 => format!("{tag}/pair/{r}/{m}"),
                3 if n > 1 => format!("{tag}/pair/{}/{m}", (r + n - 1) % n),
                _ => format!("{tag}/own/{r}/{j}"),
            };
            sender.last_op_id += 1;
            ops.push(upsert(sender.last_op_id, key(&label), &sender.municipality));
        }
        per_sender.push(ops);
    }
    let expected_matches = if n > 1 {
        (n * per_region / 4) as u64
    } else {
        0
    };
    Round {
        per_sender,
        expected_matches,
    }
}

/// The removal of every signal `round` upserted, as each sender's next operations: the hub is
/// back at the signals it held before the round (the bench's reference hub stays at its size
/// this way, see `scale.rs`).
pub fn removal(round: &Round, senders: &mut [Sender]) -> Round {
    let per_sender = round
        .per_sender
        .iter()
        .zip(senders.iter_mut())
        .map(|(ops, sender)| {
            ops.iter()
                .filter_map(|op| match &op.op {
                    Some(pb::operation::Op::Upsert(u)) => Some(u.signal_ref.clone()),
                    _ => None,
                })
                .map(|signal_ref| {
                    sender.last_op_id += 1;
                    pb::Operation {
                        op_id: sender.last_op_id,
                        op: Some(pb::operation::Op::Remove(pb::SignalRemove { signal_ref })),
                    }
                })
                .collect()
        })
        .collect();
    Round {
        per_sender,
        expected_matches: 0,
    }
}

/// The three regions of the federation as senders.
pub fn federation_senders() -> Vec<Sender> {
    vir_shared::regions::ALL
        .iter()
        .map(|r| {
            let region = r.code.parse().expect("known region codes are valid");
            Sender::new(region, r.municipalities[0].0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The signal ref of each operation, all upserts or (`removals`) all removals; panics on
    /// another kind.
    fn refs(ops: &[pb::Operation], removals: bool) -> Vec<String> {
        ops.iter()
            .map(|op| match (&op.op, removals) {
                (Some(pb::operation::Op::Upsert(u)), false) => u.signal_ref.clone(),
                (Some(pb::operation::Op::Remove(r)), true) => r.signal_ref.clone(),
                _ if removals => panic!("removals only"),
                _ => panic!("upserts only"),
            })
            .collect()
    }

    #[test]
    fn half_the_signals_pair_across_regions() {
        let mut senders = federation_senders();
        let round = round("t", &mut senders, 40);
        assert_eq!(round.signals(), 120);
        assert_eq!(round.expected_matches, 30);
        let mut regions_of: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        for (r, ops) in round.per_sender.iter().enumerate() {
            for op in ops {
                let Some(pb::operation::Op::Upsert(u)) = &op.op else {
                    panic!("upserts only")
                };
                let key = u.person_key.as_ref().unwrap().value.clone();
                regions_of.entry(key).or_default().push(r);
            }
        }
        let pairs: Vec<_> = regions_of.values().filter(|r| r.len() == 2).collect();
        assert_eq!(pairs.len(), 30);
        assert!(pairs.iter().all(|r| r[0] != r[1]));
        assert_eq!(regions_of.values().filter(|r| r.len() == 1).count(), 60);
        assert_eq!(senders[0].last_op_id, 40);
        let next = super::round("u", &mut senders, 4);
        assert_eq!(next.per_sender[0][0].op_id, 41);

        // The removal names every upserted ref once, from the sender that upserted it, with
        // the sender's next op ids.
        let undo = removal(&next, &mut senders);
        for (upserts, removes) in next.per_sender.iter().zip(&undo.per_sender) {
            assert_eq!(refs(removes, true), refs(upserts, false));
        }
        assert_eq!(undo.per_sender[0][0].op_id, 45);
        assert_eq!(undo.expected_matches, 0);
    }
}
