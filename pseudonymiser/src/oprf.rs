//! The OPRF core: one VOPRF key per (domain, version), derived from the seed, and batched
//! evaluation with one proof.
//!
//! RFC 9497, ristretto255-SHA512, verifiable mode: the node gets a DLEQ proof that every element
//! of a batch was evaluated with the key whose public half it fetched, so a faulty or malicious
//! service cannot hand different nodes different keys for the same input without being caught.
//! The key of domain `d` and version `v` is `DeriveKeyPair(seed, "vir:<d>:v<v>")`, so all keys
//! come from one backed-up seed, and a new version is a new independent key.
//!
//! This module never sees an input: it only multiplies blinded group elements by the key.

use std::collections::BTreeMap;

use vir_shared::keys::KeyDomain;
use voprf::{
    BlindedElement, EvaluationElement, Group, PreparedEvaluationElement, Ristretto255, VoprfServer,
};

use crate::seed::Seed;

/// Serialized length of a ristretto255 element (blinded, evaluated, public key).
pub const ELEMENT_LEN: usize = 32;

/// The largest batch one request may carry. About 0.6 s of one core; bounded also by the
/// caller's rate-limit burst.
pub const MAX_BATCH: usize = 10_000;

/// The public key type of the suite.
pub type PublicKey = <Ristretto255 as Group>::Elem;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OprfError {
    #[error("key domain is missing or unknown")]
    UnknownDomain,
    #[error("key version {requested} is not served (served: {served:?})")]
    VersionNotServed { requested: u32, served: Vec<u32> },
    #[error("the batch is empty")]
    EmptyBatch,
    #[error("a batch holds at most {max} elements, got {got}")]
    BatchTooLarge { max: usize, got: usize },
    #[error("blinded element {index} is not a valid ristretto255 element")]
    BadElement { index: usize },
    #[error("evaluation failed: {0}")]
    Evaluation(String),
}

/// A domain's key derivation label for a version: `vir:<domain>:v<version>`.
pub fn key_info(domain: KeyDomain, version: u32) -> String {
    format!("vir:{}:v{}", domain.label(), version)
}

/// The evaluated batch as sent on the wire.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub version: u32,
    pub elements: Vec<Vec<u8>>,
    pub proof: Vec<u8>,
}

/// Every served key, derived once at start-up.
pub struct KeySet {
    current: u32,
    servers: BTreeMap<(KeyDomain, u32), VoprfServer<Ristretto255>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("current", &self.current)
            .field("keys", &self.servers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeySet {
    /// Derives the key of every domain for every served version. `versions` must contain
    /// `current` (the configuration checks this).
    pub fn derive(seed: &Seed, current: u32, versions: &[u32]) -> Result<KeySet, OprfError> {
        let mut servers = BTreeMap::new();
        for &version in versions {
            for domain in KeyDomain::ALL {
                let info = key_info(domain, version);
                let server =
                    VoprfServer::<Ristretto255>::new_from_seed(seed.as_bytes(), info.as_bytes())
                        .map_err(|e| OprfError::Evaluation(format!("deriving {info}: {e}")))?;
                servers.insert((domain, version), server);
            }
        }
        if !versions.contains(&current) {
            return Err(OprfError::VersionNotServed {
                requested: current,
                served: versions.to_vec(),
            });
        }
        Ok(KeySet { current, servers })
    }

    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// The served versions, ascending.
    pub fn versions(&self) -> Vec<u32> {
        let mut versions: Vec<u32> = self.servers.keys().map(|&(_, v)| v).collect();
        versions.dedup();
        versions
    }

    /// Every (domain, version, serialized public key), for `PublicKeys`.
    pub fn public_keys(&self) -> Vec<(KeyDomain, u32, [u8; ELEMENT_LEN])> {
        self.servers
            .iter()
            .map(|(&(domain, version), server)| {
                let bytes = Ristretto255::serialize_elem(server.get_public_key());
                (domain, version, bytes.into())
            })
            .collect()
    }

    /// Resolves a requested version (0 = current) to a served one.
    pub fn resolve_version(&self, requested: u32) -> Result<u32, OprfError> {
        let version = if requested == 0 {
            self.current
        } else {
            requested
        };
        if self.servers.contains_key(&(KeyDomain::Person, version)) {
            Ok(version)
        } else {
            Err(OprfError::VersionNotServed {
                requested,
                served: self.versions(),
            })
        }
    }

    /// Checks a batch's size before any work is done on it.
    pub fn check_batch_size(len: usize) -> Result<(), OprfError> {
        match len {
            0 => Err(OprfError::EmptyBatch),
            n if n > MAX_BATCH => Err(OprfError::BatchTooLarge {
                max: MAX_BATCH,
                got: n,
            }),
            _ => Ok(()),
        }
    }

    /// Evaluates a batch of serialized blinded elements with one proof. CPU-bound (about
    /// 60 µs per element): call it from a blocking task.
    pub fn evaluate(
        &self,
        domain: KeyDomain,
        version: u32,
        blinded: &[Vec<u8>],
    ) -> Result<Evaluation, OprfError> {
        Self::check_batch_size(blinded.len())?;
        let version = self.resolve_version(version)?;
        let server = self
            .servers
            .get(&(domain, version))
            .ok_or(OprfError::UnknownDomain)?;
        // Everything per element runs over the machine's cores: decoding the blinded elements,
        // multiplying each by the key, encoding the results. Only the one proof over the whole
        // batch (`batch_blind_evaluate_finish`, exactly as `batch_blind_evaluate` would make it)
        // is serial. See BENCHMARKS.md, pseudonymiser.
        let mut elements = Vec::with_capacity(blinded.len());
        let mut prepared = Vec::with_capacity(blinded.len());
        for part in in_parallel(blinded, |offset, chunk| {
            parse_and_prepare(server, offset, chunk)
        })? {
            let (parsed, evaluated) = part?;
            elements.extend(parsed);
            prepared.extend(evaluated);
        }
        let result = server
            .batch_blind_evaluate_finish::<_, _, Vec<_>>(
                &mut rand::rngs::OsRng,
                elements.iter(),
                &prepared,
            )
            .map_err(|e| OprfError::Evaluation(e.to_string()))?;
        let proof = result.proof.serialize().to_vec();
        let messages: Vec<EvaluationElement<Ristretto255>> = result.messages.collect();
        let encoded = in_parallel(&messages, |_, chunk| {
            chunk
                .iter()
                .map(|m| m.serialize().to_vec())
                .collect::<Vec<_>>()
        })?;
        Ok(Evaluation {
            version,
            elements: encoded.into_iter().flatten().collect(),
            proof,
        })
    }
}

/// Fewest elements worth a thread of their own (a thread costs about one element's work).
const MIN_ELEMENTS_PER_THREAD: usize = 64;

/// Decodes a chunk of blinded elements (the first bad one named by its index in the batch,
/// `offset` being the chunk's) and multiplies each by the key: one variable-base scalar
/// multiplication each, the bulk of an evaluation.
fn parse_and_prepare(
    server: &VoprfServer<Ristretto255>,
    offset: usize,
    chunk: &[Vec<u8>],
) -> Result<Prepared, OprfError> {
    let parsed = chunk
        .iter()
        .enumerate()
        .map(|(i, bytes)| parse_blinded(bytes).ok_or(OprfError::BadElement { index: offset + i }))
        .collect::<Result<Vec<_>, _>>()?;
    let evaluated = server.batch_blind_evaluate_prepare(parsed.iter()).collect();
    Ok((parsed, evaluated))
}

/// A chunk's blinded elements and their evaluations.
type Prepared = (
    Vec<BlindedElement<Ristretto255>>,
    Vec<PreparedEvaluationElement<Ristretto255>>,
);

/// Runs `work` on consecutive chunks of `items`, one chunk per core (a batch too small to be
/// worth a thread stays on this one), and returns the chunks' results in order. `work` gets
/// each chunk with its offset in `items`. The chunks are in order, so a caller that looks for
/// the first failing item finds it in the first chunk that reports one.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(usize, &[T]) -> R + Sync,
) -> Result<Vec<R>, OprfError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(items.len() / MIN_ELEMENTS_PER_THREAD).max(1);
    if threads == 1 {
        return Ok(vec![work(0, items)]);
    }
    let per_thread = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .enumerate()
            .map(|(n, chunk)| scope.spawn(move || work(n * per_thread, chunk)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .map_err(|_| OprfError::Evaluation("an evaluation thread failed".to_owned()))
            })
            .collect()
    })
}

/// Exactly 32 bytes that decode to a non-identity ristretto255 point. (voprf's own
/// deserializer would ignore trailing bytes.)
fn parse_blinded(bytes: &[u8]) -> Option<BlindedElement<Ristretto255>> {
    if bytes.len() != ELEMENT_LEN {
        return None;
    }
    BlindedElement::<Ristretto255>::deserialize(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use voprf::VoprfClient;

    fn keys() -> KeySet {
        KeySet::derive(&Seed::from_bytes([42; 32]), 2, &[1, 2]).unwrap()
    }

    #[test]
    fn derivation_is_deterministic_and_separates_domains_and_versions() {
        let a = keys().public_keys();
        let b = keys().public_keys();
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        let mut distinct: Vec<_> = a.iter().map(|(_, _, pk)| *pk).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 6, "every (domain, version) has its own key");
        let other = KeySet::derive(&Seed::from_bytes([43; 32]), 2, &[1, 2]).unwrap();
        assert_ne!(other.public_keys(), a);
    }

    #[test]
    fn round_trip_with_the_voprf_client() {
        let keys = keys();
        let input = b"123456782";
        let blind = VoprfClient::<Ristretto255>::blind(input, &mut rand::rngs::OsRng).unwrap();
        let eval = keys
            .evaluate(KeyDomain::Person, 0, &[blind.message.serialize().to_vec()])
            .unwrap();
        assert_eq!(eval.version, 2);
        let pk = keys
            .public_keys()
            .into_iter()
            .find(|(d, v, _)| *d == KeyDomain::Person && *v == 2)
            .map(|(_, _, pk)| Ristretto255::deserialize_elem(&pk).unwrap())
            .unwrap();
        let element = voprf::EvaluationElement::deserialize(&eval.elements[0]).unwrap();
        let proof = voprf::Proof::deserialize(&eval.proof).unwrap();
        let out = blind.state.finalize(input, &element, &proof, pk).unwrap();

        // The same as the unblinded PRF on the server: determinism whatever the blind.
        let server = VoprfServer::<Ristretto255>::new_from_seed(
            &[42; 32],
            key_info(KeyDomain::Person, 2).as_bytes(),
        )
        .unwrap();
        assert_eq!(out, server.evaluate(input).unwrap());
    }

    /// A batch large enough to be spread over threads gives one proof that the client verifies
    /// for the whole batch, and the same outputs as the unblinded PRF, in order.
    #[test]
    fn a_batch_evaluated_over_threads_verifies_in_order() {
        let keys = keys();
        let inputs: Vec<Vec<u8>> = (0..(4 * MIN_ELEMENTS_PER_THREAD + 3))
            .map(|i| format!("{:09}", 100_000_000 + i).into_bytes())
            .collect();
        let blinds: Vec<_> = inputs
            .iter()
            .map(|input| VoprfClient::<Ristretto255>::blind(input, &mut rand::rngs::OsRng).unwrap())
            .collect();
        let blinded: Vec<Vec<u8>> = blinds
            .iter()
            .map(|b| b.message.serialize().to_vec())
            .collect();
        let eval = keys.evaluate(KeyDomain::Person, 2, &blinded).unwrap();
        let pk = keys
            .public_keys()
            .into_iter()
            .find(|(d, v, _)| *d == KeyDomain::Person && *v == 2)
            .map(|(_, _, pk)| Ristretto255::deserialize_elem(&pk).unwrap())
            .unwrap();
        let elements: Vec<_> = eval
            .elements
            .iter()
            .map(|e| voprf::EvaluationElement::deserialize(e).unwrap())
            .collect();
        let proof = voprf::Proof::deserialize(&eval.proof).unwrap();
        let clients: Vec<_> = blinds.iter().map(|b| b.state.clone()).collect();
        let inputs_ref: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let outputs = VoprfClient::batch_finalize(&inputs_ref, &clients, &elements, &proof, pk)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let server = VoprfServer::<Ristretto255>::new_from_seed(
            &[42; 32],
            key_info(KeyDomain::Person, 2).as_bytes(),
        )
        .unwrap();
        for (input, output) in inputs.iter().zip(&outputs) {
            assert_eq!(*output, server.evaluate(input).unwrap());
        }
        // A wrong order of the evaluated elements fails the proof.
        let mut swapped = elements.clone();
        swapped.swap(0, 1);
        assert!(VoprfClient::batch_finalize(&inputs_ref, &clients, &swapped, &proof, pk).is_err());
    }

    #[test]
    fn bad_requests_are_refused() {
        let keys = keys();
        assert_eq!(
            keys.evaluate(KeyDomain::Person, 0, &[]).unwrap_err(),
            OprfError::EmptyBatch
        );
        assert!(matches!(
            keys.evaluate(KeyDomain::Person, 3, &[vec![0; 32]]),
            Err(OprfError::VersionNotServed { requested: 3, .. })
        ));
        let good = VoprfClient::<Ristretto255>::blind(b"x", &mut rand::rngs::OsRng)
            .unwrap()
            .message
            .serialize()
            .to_vec();
        let mut long = good.clone();
        long.push(0);
        for (bad, what) in [
            (vec![0u8; 32], "identity"),
            (vec![0xff; 32], "not a point"),
            (long, "33 bytes"),
        ] {
            assert_eq!(
                keys.evaluate(KeyDomain::Address, 1, &[good.clone(), bad])
                    .unwrap_err(),
                OprfError::BadElement { index: 1 },
                "{what}"
            );
        }
        // In a batch spread over threads, the first bad element is named, whichever chunk it
        // is in.
        let mut spread = vec![good.clone(); 4 * MIN_ELEMENTS_PER_THREAD];
        let (first, later) = (
            3 * MIN_ELEMENTS_PER_THREAD + 1,
            3 * MIN_ELEMENTS_PER_THREAD + 5,
        );
        spread[first] = vec![0xff; 32];
        spread[later] = vec![0; 32];
        assert_eq!(
            keys.evaluate(KeyDomain::Person, 0, &spread).unwrap_err(),
            OprfError::BadElement { index: first }
        );
        let too_many = vec![good; MAX_BATCH + 1];
        assert!(matches!(
            keys.evaluate(KeyDomain::Person, 0, &too_many),
            Err(OprfError::BatchTooLarge { .. })
        ));
    }
}
