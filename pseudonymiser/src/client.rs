//! The node-side client: blind inputs, have them evaluated, verify the proof, finalise.
//!
//! The pseudonymiser never sees an input: the client sends `H(input)^r` for a fresh random `r`
//! per element, gets back `H(input)^(r·k)` with a DLEQ proof that the same key `k` was used as
//! in the published public key, removes `r` and hashes the result into the 64-byte key. The
//! output depends only on the input, the domain and the key version, never on the blind or on
//! which node asked, so the same BSN gives the same person key in every region.
//!
//! Public keys are fetched once from `PublicKeys` over the same mutually authenticated channel
//! and cached; an evaluation under a version not in the cache triggers one refresh (a rotation
//! happened). Blinding and finalising are CPU work and run on blocking threads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::pseudonymiser_client::PseudonymiserClient;
use vir_shared::keys::{KeyDomain, PseudoKey};
use vir_shared::RegionCode;

use crate::blinding::{blind_batch, finalize_batch, parse_element};
use crate::oprf::PublicKey;
use crate::service::RETRY_AFTER_MS;

/// Elements per `Evaluate` call. The default rate-limit burst (2,000) holds two of these.
pub const MAX_CLIENT_BATCH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum KeyClientError {
    #[error("pseudonymiser call failed: {} ({:?})", .0.message(), .0.code())]
    Rpc(#[from] tonic::Status),
    #[error("input {index} cannot be pseudonymised: it is empty or longer than 65,535 bytes")]
    InvalidInput { index: usize },
    #[error("invalid response from the pseudonymiser: {0}")]
    InvalidResponse(String),
    #[error("the pseudonymiser publishes no key for {domain} version {version}")]
    UnknownKey { domain: &'static str, version: u32 },
    #[error("the pseudonymiser's proof for {domain} version {version} did not verify against its published key")]
    Verification { domain: &'static str, version: u32 },
    #[error("local blinding task failed: {0}")]
    Task(String),
}

impl KeyClientError {
    /// The pseudonymiser refused the batch for this node's rate limit; retry later.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, KeyClientError::Rpc(s) if s.code() == tonic::Code::ResourceExhausted)
    }

    /// When a rate-limited batch would be admitted, as told by the pseudonymiser.
    pub fn retry_after(&self) -> Option<Duration> {
        let KeyClientError::Rpc(status) = self else {
            return None;
        };
        let ms = status.metadata().get(RETRY_AFTER_MS)?.to_str().ok()?;
        ms.parse().ok().map(Duration::from_millis)
    }

    /// Worth retrying with back-off: rate limited, or the service unreachable or overloaded.
    /// Identity refusals, invalid inputs and failed proofs are not.
    pub fn is_transient(&self) -> bool {
        match self {
            KeyClientError::Rpc(s) => matches!(
                s.code(),
                tonic::Code::ResourceExhausted
                    | tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Aborted
                    | tonic::Code::Cancelled
            ),
            KeyClientError::Task(_) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Default)]
struct PublicKeys {
    current: u32,
    keys: HashMap<(KeyDomain, u32), PublicKey>,
}

/// A node's connection to the pseudonymiser. Cheap to clone; clones share the key cache.
#[derive(Clone)]
pub struct KeyClient {
    rpc: PseudonymiserClient<Channel>,
    region: RegionCode,
    max_batch: usize,
    public_keys: Arc<RwLock<PublicKeys>>,
}

impl std::fmt::Debug for KeyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyClient")
            .field("region", &self.region)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl KeyClient {
    /// `channel` must present this node's certificate (`vir_shared::tls::channel`); `region` is
    /// sent as the claim that the pseudonymiser checks against it.
    pub fn new(channel: Channel, region: RegionCode) -> Self {
        KeyClient {
            rpc: PseudonymiserClient::new(channel),
            region,
            max_batch: MAX_CLIENT_BATCH,
            public_keys: Arc::default(),
        }
    }

    /// Smaller batches, for a pseudonymiser configured with a burst below [`MAX_CLIENT_BATCH`].
    #[must_use]
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.clamp(1, MAX_CLIENT_BATCH);
        self
    }

    /// Blinds each input, calls Evaluate in batches of at most [`MAX_CLIENT_BATCH`], verifies
    /// each batch proof against the published public key, finalises, and returns one key per
    /// input, in order. All keys of one call have the same version: the first batch takes the
    /// current one and later batches ask for it explicitly.
    ///
    /// On an error nothing is returned, also not the keys of batches that succeeded (their
    /// rate-limit cost is spent): callers that may hit the limit should ask for at most the
    /// pseudonymiser's burst per call.
    pub async fn keys(
        &self,
        domain: KeyDomain,
        inputs: &[Vec<u8>],
    ) -> Result<Vec<PseudoKey>, KeyClientError> {
        let mut out = Vec::with_capacity(inputs.len());
        let mut version = 0;
        for (n, chunk) in inputs.chunks(self.max_batch).enumerate() {
            let chunk = chunk.to_vec();
            let offset = n * self.max_batch;
            let (chunk, blinded) = blocking(move || {
                let blinded = blind_batch(&chunk, offset)?;
                Ok((chunk, blinded))
            })
            .await?;
            let request = pb::EvaluateRequest {
                region: self.region.to_string(),
                domain: pb::KeyDomain::from(domain) as i32,
                key_version: version,
                blinded_elements: blinded.messages.clone(),
            };
            let response = self.rpc.clone().evaluate(request).await?.into_inner();
            if version != 0 && response.key_version != version {
                return Err(KeyClientError::InvalidResponse(format!(
                    "asked for key version {version}, got {}",
                    response.key_version
                )));
            }
            version = response.key_version;
            let public_key = self.public_key(domain, version).await?;
            let keys = blocking(move || {
                finalize_batch(domain, version, public_key, &chunk, &blinded, &response)
            })
            .await?;
            out.extend(keys);
        }
        Ok(out)
    }

    /// One key; prefer [`KeyClient::keys`] for several.
    pub async fn key(&self, domain: KeyDomain, input: &[u8]) -> Result<PseudoKey, KeyClientError> {
        self.keys(domain, &[input.to_vec()])
            .await?
            .pop()
            .ok_or_else(|| KeyClientError::InvalidResponse("no key returned".into()))
    }

    /// Fetches the public keys again and returns the current key version.
    pub async fn refresh_public_keys(&self) -> Result<u32, KeyClientError> {
        let response = self
            .rpc
            .clone()
            .public_keys(pb::PublicKeysRequest {})
            .await?
            .into_inner();
        let mut keys = HashMap::new();
        for key in response.keys {
            // A domain this build does not know yet is not an error: we never ask for it.
            let Ok(domain) = KeyDomain::try_from(key.domain) else {
                continue;
            };
            let point = parse_element(&key.public_key).ok_or_else(|| {
                KeyClientError::InvalidResponse(format!(
                    "public key for {} version {} is not a ristretto255 element",
                    domain.label(),
                    key.version
                ))
            })?;
            keys.insert((domain, key.version), point);
        }
        let current = response.current_version;
        let mut cache = self
            .public_keys
            .write()
            .map_err(|_| KeyClientError::Task("public key cache poisoned".into()))?;
        *cache = PublicKeys { current, keys };
        Ok(current)
    }

    /// The current key version as of the last public-key fetch; `None` before the first.
    pub fn cached_current_version(&self) -> Option<u32> {
        let cache = self.public_keys.read().ok()?;
        (cache.current != 0).then_some(cache.current)
    }

    async fn public_key(
        &self,
        domain: KeyDomain,
        version: u32,
    ) -> Result<PublicKey, KeyClientError> {
        if let Some(key) = self.cached_key(domain, version)? {
            return Ok(key);
        }
        self.refresh_public_keys().await?;
        self.cached_key(domain, version)?
            .ok_or(KeyClientError::UnknownKey {
                domain: domain.label(),
                version,
            })
    }

    fn cached_key(
        &self,
        domain: KeyDomain,
        version: u32,
    ) -> Result<Option<PublicKey>, KeyClientError> {
        let cache = self
            .public_keys
            .read()
            .map_err(|_| KeyClientError::Task("public key cache poisoned".into()))?;
        Ok(cache.keys.get(&(domain, version)).copied())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeyClientError> + Send + 'static,
) -> Result<T, KeyClientError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KeyClientError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_errors_carry_their_retry_time() {
        let mut status = tonic::Status::resource_exhausted("slow down");
        status
            .metadata_mut()
            .insert(RETRY_AFTER_MS, "1500".parse().unwrap());
        let err = KeyClientError::from(status);
        assert!(err.is_rate_limited());
        assert!(err.is_transient());
        assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
        let denied = KeyClientError::from(tonic::Status::permission_denied("who are you"));
        assert!(!denied.is_rate_limited());
        assert!(!denied.is_transient());
    }
}
