//! Sealed envelopes between nodes (HPKE, RFC 9180): what one node tells another about a match,
//! relayed by the hub, which cannot open it (domain.md "Pseudonymisation": "sealed for that
//! region's node ... the hub relays it without being able to open it").
//!
//! Suite: mode Base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, with
//! info = [`INFO`]. The recipient's public key comes from its certificate
//! ([`crate::tls::HPKE_KEY_OID`]), so it is certified by the federation CA. The caller binds the
//! envelope to its context with the associated data (for a match: match id and both regions), so
//! an envelope replayed into another match fails to open.
//!
//! Wire form: the encapsulated key (32 bytes) followed by the ciphertext (plaintext + 16-byte tag).

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};

type Kem = X25519HkdfSha256;

/// The HPKE `info` string: names the protocol and its version, so a key used elsewhere cannot
/// be tricked into opening one of these.
pub const INFO: &[u8] = b"vir envelope v1";

/// Length of the encapsulated key at the start of a sealed envelope.
pub const ENCAPPED_LEN: usize = 32;

/// Length of the ChaCha20Poly1305 tag at the end.
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the recipient public key is not a valid X25519 key")]
    PublicKey,
    #[error("the private key is not a valid X25519 key")]
    PrivateKey,
    #[error("a sealed envelope is at least {min} bytes, got {0}", min = ENCAPPED_LEN + TAG_LEN)]
    TooShort(usize),
    #[error("sealing failed")]
    Seal,
    #[error("the envelope does not open with this key and associated data")]
    Open,
}

/// Seals `plaintext` to the holder of the X25519 private key belonging to `recipient_pk`.
pub fn seal(
    recipient_pk: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient_pk)
        .map_err(|_| EnvelopeError::PublicKey)?;
    let (encapped, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        INFO,
        plaintext,
        aad,
        &mut OsRng,
    )
    .map_err(|_| EnvelopeError::Seal)?;
    let mut out = Vec::with_capacity(ENCAPPED_LEN + ciphertext.len());
    out.extend_from_slice(&encapped.to_bytes());
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens an envelope made by [`seal`] for the public key of `private_key`, with the same `aad`.
pub fn open(private_key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    if sealed.len() < ENCAPPED_LEN + TAG_LEN {
        return Err(EnvelopeError::TooShort(sealed.len()));
    }
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(private_key)
        .map_err(|_| EnvelopeError::PrivateKey)?;
    let (encapped, ciphertext) = sealed.split_at(ENCAPPED_LEN);
    let encapped =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(encapped).map_err(|_| EnvelopeError::Open)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &encapped,
        INFO,
        ciphertext,
        aad,
    )
    .map_err(|_| EnvelopeError::Open)
}

/// The X25519 public key of a private key (for checks that a key file and a certificate agree).
pub fn public_key_of(private_key: &[u8; 32]) -> Result<[u8; 32], EnvelopeError> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(private_key)
        .map_err(|_| EnvelopeError::PrivateKey)?;
    let pk = Kem::sk_to_pk(&sk);
    let mut out = [0u8; 32];
    out.copy_from_slice(&pk.to_bytes());
    Ok(out)
}

/// A fresh X25519 key pair `(private, public)`, for tests and tools.
pub fn generate_keypair() -> ([u8; 32], [u8; 32]) {
    let (sk, pk) = Kem::gen_keypair(&mut OsRng);
    let mut private = [0u8; 32];
    private.copy_from_slice(&sk.to_bytes());
    let mut public = [0u8; 32];
    public.copy_from_slice(&pk.to_bytes());
    (private, public)
}

/// The operating system's generator behind hpke's `rand_core` 0.9 traits. hpke 0.13 uses
/// rand_core 0.9 while the workspace uses rand 0.8 (rand_core 0.6); this bridges the two
/// without a second `rand`.
struct OsRng;

impl hpke::rand_core::RngCore for OsRng {
    fn next_u32(&mut self) -> u32 {
        rand::RngCore::next_u32(&mut rand::rngs::OsRng)
    }
    fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut rand::rngs::OsRng)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, dst)
    }
}

impl hpke::rand_core::CryptoRng for OsRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let (sk, pk) = generate_keypair();
        let sealed = seal(&pk, b"m1|drenthe|zuid-limburg", b"hello").unwrap();
        assert_eq!(sealed.len(), ENCAPPED_LEN + 5 + TAG_LEN);
        let opened = open(&sk, b"m1|drenthe|zuid-limburg", &sealed).unwrap();
        assert_eq!(opened, b"hello");
        assert_eq!(public_key_of(&sk).unwrap(), pk);
    }

    #[test]
    fn wrong_key_or_aad_fails() {
        let (_, pk) = generate_keypair();
        let (other_sk, _) = generate_keypair();
        let sealed = seal(&pk, b"aad", b"secret").unwrap();
        assert_eq!(open(&other_sk, b"aad", &sealed), Err(EnvelopeError::Open));

        let (sk, pk) = generate_keypair();
        let sealed = seal(&pk, b"aad", b"secret").unwrap();
        assert_eq!(open(&sk, b"other aad", &sealed), Err(EnvelopeError::Open));
        assert_eq!(
            open(&sk, b"aad", &sealed[..20]),
            Err(EnvelopeError::TooShort(20))
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(open(&sk, b"aad", &tampered), Err(EnvelopeError::Open));
    }
}
