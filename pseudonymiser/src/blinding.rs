//! The cryptographic half of the node-side client: blinding a batch, and checking, verifying
//! and finalising the pseudonymiser's answer. Pure functions, no I/O, so that tampered answers
//! can be tested without a network.
//!
//! A response is checked before any cryptography: as many evaluated elements as were sent,
//! each exactly one valid ristretto255 element, and a 64-byte proof. Then one DLEQ proof check
//! covers the whole batch; a failure means the elements were not made with the published key
//! (tampering, or a service answering with a different key than it publishes).

use vir_proto as pb;
use vir_shared::keys::{KeyDomain, PseudoKey, KEY_LEN};
use voprf::{EvaluationElement, Group, Proof, Ristretto255, VoprfClient};

use crate::client::KeyClientError;
use crate::oprf::{PublicKey, ELEMENT_LEN};

/// Serialized length of a batch proof (two ristretto255 scalars).
const PROOF_LEN: usize = 64;

/// The client state of a blinded batch, and the messages to send.
pub(crate) struct Blinded {
    states: Vec<VoprfClient<Ristretto255>>,
    pub(crate) messages: Vec<Vec<u8>>,
}

/// Blinds every input with a fresh random scalar. `offset` numbers inputs in errors.
pub(crate) fn blind_batch(inputs: &[Vec<u8>], offset: usize) -> Result<Blinded, KeyClientError> {
    let mut rng = rand::rngs::OsRng;
    let mut states = Vec::with_capacity(inputs.len());
    let mut messages = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        // The OPRF accepts an empty input, but every empty input would share one key: a
        // missing value upstream must not turn into a match between strangers.
        if input.is_empty() {
            return Err(KeyClientError::InvalidInput { index: offset + i });
        }
        let result = VoprfClient::<Ristretto255>::blind(input, &mut rng)
            .map_err(|_| KeyClientError::InvalidInput { index: offset + i })?;
        messages.push(result.message.serialize().to_vec());
        states.push(result.state);
    }
    Ok(Blinded { states, messages })
}

/// Checks the response's shape, verifies the batch proof against `public_key`, and finalises.
pub(crate) fn finalize_batch(
    domain: KeyDomain,
    version: u32,
    public_key: PublicKey,
    inputs: &[Vec<u8>],
    blinded: &Blinded,
    response: &pb::EvaluateResponse,
) -> Result<Vec<PseudoKey>, KeyClientError> {
    let invalid = KeyClientError::InvalidResponse;
    if response.evaluated_elements.len() != blinded.states.len() {
        return Err(invalid(format!(
            "sent {} elements, got {} back",
            blinded.states.len(),
            response.evaluated_elements.len()
        )));
    }
    let elements = response
        .evaluated_elements
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            Some(bytes)
                .filter(|b| b.len() == ELEMENT_LEN)
                .and_then(|b| EvaluationElement::<Ristretto255>::deserialize(b).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "evaluated element {i} is not a ristretto255 element"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if response.proof.len() != PROOF_LEN {
        return Err(invalid(format!(
            "a proof is {PROOF_LEN} bytes, got {}",
            response.proof.len()
        )));
    }
    let proof = Proof::<Ristretto255>::deserialize(&response.proof)
        .map_err(|_| invalid("the proof is not two canonical scalars".into()))?;
    let inputs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let outputs =
        VoprfClient::batch_finalize(&inputs, &blinded.states, &elements, &proof, public_key)
            .map_err(|e| match e {
                voprf::Error::ProofVerification => KeyClientError::Verification {
                    domain: domain.label(),
                    version,
                },
                other => invalid(format!("finalising: {other}")),
            })?;
    outputs
        .enumerate()
        .map(|(index, output)| {
            let output = output.map_err(|_| KeyClientError::InvalidInput { index })?;
            let value: [u8; KEY_LEN] = output
                .as_slice()
                .try_into()
                .map_err(|_| invalid(format!("OPRF output is not {KEY_LEN} bytes")))?;
            Ok(PseudoKey {
                domain,
                version,
                value,
            })
        })
        .collect()
}

/// Exactly 32 bytes decoding to a non-identity ristretto255 point.
pub(crate) fn parse_element(bytes: &[u8]) -> Option<PublicKey> {
    if bytes.len() != ELEMENT_LEN {
        return None;
    }
    Ristretto255::deserialize_elem(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oprf::KeySet;
    use crate::seed::Seed;

    struct Fixture {
        keys: KeySet,
        inputs: Vec<Vec<u8>>,
        blinded: Blinded,
        response: pb::EvaluateResponse,
    }

    fn fixture(domain: KeyDomain) -> Fixture {
        let keys = KeySet::derive(&Seed::from_bytes([9; 32]), 1, &[1]).unwrap();
        let inputs = vec![
            b"111222333".to_vec(),
            b"123456782".to_vec(),
            b"999999990".to_vec(),
        ];
        let blinded = blind_batch(&inputs, 0).unwrap();
        let evaluation = keys.evaluate(domain, 0, &blinded.messages).unwrap();
        let response = pb::EvaluateResponse {
            key_version: evaluation.version,
            evaluated_elements: evaluation.elements,
            proof: evaluation.proof,
        };
        Fixture {
            keys,
            inputs,
            blinded,
            response,
        }
    }

    fn public_key(keys: &KeySet, domain: KeyDomain) -> PublicKey {
        let (_, _, bytes) = keys
            .public_keys()
            .into_iter()
            .find(|(d, v, _)| *d == domain && *v == 1)
            .unwrap();
        parse_element(&bytes).unwrap()
    }

    fn finalize(f: &Fixture, pk: PublicKey) -> Result<Vec<PseudoKey>, KeyClientError> {
        finalize_batch(KeyDomain::Person, 1, pk, &f.inputs, &f.blinded, &f.response)
    }

    #[test]
    fn output_does_not_depend_on_the_blind() {
        let a = fixture(KeyDomain::Person);
        let b = fixture(KeyDomain::Person);
        assert_ne!(a.blinded.messages, b.blinded.messages, "fresh blinds");
        let pk = public_key(&a.keys, KeyDomain::Person);
        let ka = finalize(&a, pk).unwrap();
        let kb = finalize(&b, pk).unwrap();
        assert_eq!(ka, kb);
        assert_eq!(ka.len(), 3);
        assert_ne!(ka[0].value, ka[1].value);
        assert!(ka
            .iter()
            .all(|k| k.domain == KeyDomain::Person && k.version == 1));
    }

    #[test]
    fn tampered_evaluation_fails_verification() {
        let mut f = fixture(KeyDomain::Person);
        let pk = public_key(&f.keys, KeyDomain::Person);
        // A valid point, but not the one the key produced: swap two evaluations.
        f.response.evaluated_elements.swap(0, 1);
        assert!(matches!(
            finalize(&f, pk),
            Err(KeyClientError::Verification { .. })
        ));
    }

    #[test]
    fn tampered_proof_fails_verification() {
        let mut f = fixture(KeyDomain::Person);
        let pk = public_key(&f.keys, KeyDomain::Person);
        // Change the low byte of the challenge scalar; it stays canonical.
        f.response.proof[0] ^= 1;
        assert!(matches!(
            finalize(&f, pk),
            Err(KeyClientError::Verification { .. })
        ));
        f.response.proof.truncate(10);
        assert!(matches!(
            finalize(&f, pk),
            Err(KeyClientError::InvalidResponse(_))
        ));
    }

    #[test]
    fn evaluation_with_another_domains_key_fails_verification() {
        // The server evaluated with the address key but the client verifies the person key.
        let f = fixture(KeyDomain::Address);
        let pk = public_key(&f.keys, KeyDomain::Person);
        assert!(matches!(
            finalize(&f, pk),
            Err(KeyClientError::Verification { .. })
        ));
    }

    #[test]
    fn malformed_responses_are_invalid_not_panics() {
        let f = fixture(KeyDomain::Person);
        let pk = public_key(&f.keys, KeyDomain::Person);

        let mut short = f.response.clone();
        short.evaluated_elements.pop();
        let f_short = Fixture {
            response: short,
            ..fixture_clone(&f)
        };
        assert!(matches!(
            finalize(&f_short, pk),
            Err(KeyClientError::InvalidResponse(_))
        ));

        let mut garbage = f.response.clone();
        garbage.evaluated_elements[2] = vec![0xff; 32];
        let f_garbage = Fixture {
            response: garbage,
            ..fixture_clone(&f)
        };
        assert!(matches!(
            finalize(&f_garbage, pk),
            Err(KeyClientError::InvalidResponse(_))
        ));
    }

    fn fixture_clone(f: &Fixture) -> Fixture {
        Fixture {
            keys: KeySet::derive(&Seed::from_bytes([9; 32]), 1, &[1]).unwrap(),
            inputs: f.inputs.clone(),
            blinded: Blinded {
                states: f.blinded.states.clone(),
                messages: f.blinded.messages.clone(),
            },
            response: f.response.clone(),
        }
    }

    #[test]
    fn empty_input_is_refused_with_its_index() {
        let inputs = vec![b"ok".to_vec(), Vec::new()];
        assert!(matches!(
            blind_batch(&inputs, 1000),
            Err(KeyClientError::InvalidInput { index: 1001 })
        ));
    }
}
