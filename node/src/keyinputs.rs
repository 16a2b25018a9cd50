//! The keys an upsert carries besides the youth's person key, and where they come from:
//! - the parents' person keys (input: the parent's 9 BSN digits, like any person, so a
//!   parent's key equals their key as a person; Jeugdwet 7.1.2.3 e);
//! - the address key (input: `vir_shared::fallback::address_input`), only where the region
//!   has address matching on (002 art. 1 "Match" 2b): the hub matches addresses only between
//!   signals that both carry one;
//! - the fallback key (input: normalised surname, birth date, gender; 002 art. 8.5-8.7), for
//!   every signal, so that a youth signalled without a BSN in one region can be proposed as a
//!   candidate with the same youth signalled with a BSN in another.
//!
//! Keys are obtained from the pseudonymiser in one OPRF batch per domain and cached by input
//! (`pseudo_keys`), like the youths' person keys.

use std::collections::{BTreeMap, HashMap};

use sqlx::AnyConnection;
use vir_proto as pb;
use vir_pseudonymiser::client::{KeyClient, KeyClientError};
use vir_shared::db::Db;
use vir_shared::keys::{KeyDomain, PseudoKey};

use crate::signal::Signal;
use crate::store::{links, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("pseudonymiser: {0}")]
    Keys(#[from] KeyClientError),
    #[error("pseudonymiser returned {got} keys for {asked} inputs")]
    Count { asked: usize, got: usize },
}

impl FetchError {
    /// How long the pseudonymiser asked us to wait, if it rate-limited us.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            FetchError::Keys(k) => k.retry_after(),
            _ => None,
        }
    }
}

/// The key inputs of one upsert. `Debug` is redacted: the inputs are personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct UpsertInputs {
    /// False for a youth without a BSN: no person key, no parents.
    pub with_bsn: bool,
    pub parents: Vec<String>,
    pub address: Option<String>,
    pub fallback: String,
}

impl std::fmt::Debug for UpsertInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpsertInputs")
            .field("with_bsn", &self.with_bsn)
            .field("parents", &self.parents.len())
            .finish_non_exhaustive()
    }
}

impl UpsertInputs {
    /// The inputs of a signal's upsert, from its youth's recorded facts.
    pub async fn of_signal(
        conn: &mut AnyConnection,
        signal: &Signal,
        address_match: bool,
    ) -> Result<UpsertInputs, StoreError> {
        let with_bsn = !crate::family::without_bsn(&mut *conn, &signal.bsn).await?;
        let facts = crate::facts::of_youth(conn, signal.bsn.as_str()).await?;
        Ok(UpsertInputs {
            with_bsn,
            parents: facts.parents.iter().map(|p| p.to_string()).collect(),
            address: facts.address.filter(|_| address_match && with_bsn),
            fallback: facts.fallback,
        })
    }

    /// The (domain, input) of every key besides the person key.
    pub(crate) fn wanted(&self) -> Vec<(KeyDomain, &str)> {
        let mut out: Vec<(KeyDomain, &str)> = self
            .parents
            .iter()
            .map(|p| (KeyDomain::Person, p.as_str()))
            .collect();
        out.extend(
            self.address
                .iter()
                .map(|a| (KeyDomain::Address, a.as_str())),
        );
        if !self.fallback.is_empty() {
            out.push((KeyDomain::Fallback, self.fallback.as_str()));
        }
        out
    }
}

/// The keys of a batch of upserts: cached ones, and the inputs still to fetch.
#[derive(Default)]
pub struct KeyInputs {
    known: HashMap<(KeyDomain, String), PseudoKey>,
    missing: BTreeMap<KeyDomain, Vec<String>>,
    /// The pseudonymiser's current key version, when known: a cached key of another version
    /// (from before a rotation) counts as missing.
    current: Option<u32>,
}

impl KeyInputs {
    /// Takes only cached keys of version `current` (any version when `None`).
    pub fn at_version(current: Option<u32>) -> KeyInputs {
        KeyInputs {
            current,
            ..KeyInputs::default()
        }
    }

    /// Notes the inputs of one upsert, taking cached keys from `pseudo_keys`.
    pub async fn want(
        &mut self,
        conn: &mut AnyConnection,
        inputs: &UpsertInputs,
    ) -> Result<(), StoreError> {
        for (domain, input) in inputs.wanted() {
            let slot = (domain, input.to_owned());
            let listed = self
                .missing
                .get(&domain)
                .is_some_and(|m| m.iter().any(|i| i == input));
            if self.known.contains_key(&slot) || listed {
                continue;
            }
            match links::cached_key(&mut *conn, domain, input).await? {
                Some(key) if self.current.is_none_or(|v| v == key.version) => {
                    self.known.insert(slot, key);
                }
                _ => self
                    .missing
                    .entry(domain)
                    .or_default()
                    .push(input.to_owned()),
            }
        }
        Ok(())
    }

    /// Fetches the missing keys, one OPRF batch per domain, and caches them. The domains' batches
    /// go out at once: each is a round trip on the way of a new signal to the hub, so one after
    /// the other they added up on a notification's path (BENCHMARKS.md, fifth round).
    pub async fn fetch_missing(&mut self, db: &Db, client: &KeyClient) -> Result<(), FetchError> {
        let missing = std::mem::take(&mut self.missing);
        if missing.is_empty() {
            return Ok(());
        }
        let fetched =
            futures::future::try_join_all(missing.into_iter().map(|(domain, inputs)| async move {
                let bytes: Vec<Vec<u8>> = inputs.iter().map(|i| i.as_bytes().to_vec()).collect();
                let keys = client.keys(domain, &bytes).await?;
                if keys.len() != inputs.len() {
                    return Err(FetchError::Count {
                        asked: inputs.len(),
                        got: keys.len(),
                    });
                }
                Ok((domain, inputs, keys))
            }))
            .await?;
        let mut tx = db.write().await.map_err(StoreError::from)?;
        for (_, inputs, keys) in &fetched {
            for (input, key) in inputs.iter().zip(keys) {
                links::store_key(&mut tx.tx, input, key).await?;
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        for (domain, inputs, keys) in fetched {
            tracing::info!(
                domain = domain.label(),
                inputs = inputs.len(),
                "keys obtained from the pseudonymiser"
            );
            for (input, key) in inputs.into_iter().zip(keys) {
                self.known.insert((domain, input), key);
            }
        }
        Ok(())
    }

    /// An upsert with the parent, address and fallback keys of `inputs` (signal ref, person
    /// key and municipality are the caller's). None if a key is missing.
    pub fn upsert(&self, inputs: &UpsertInputs) -> Option<pb::SignalUpsert> {
        let key = |domain: KeyDomain, input: &str| {
            self.known
                .get(&(domain, input.to_owned()))
                .map(pb::PseudoKey::from)
        };
        let mut parent_keys = Vec::with_capacity(inputs.parents.len());
        for parent in &inputs.parents {
            parent_keys.push(key(KeyDomain::Person, parent)?);
        }
        let address_key = match &inputs.address {
            Some(address) => Some(key(KeyDomain::Address, address)?),
            None => None,
        };
        let fallback_key = match inputs.fallback.as_str() {
            "" => None,
            fallback => Some(key(KeyDomain::Fallback, fallback)?),
        };
        Some(pb::SignalUpsert {
            parent_keys,
            address_key,
            fallback_key,
            ..Default::default()
        })
    }
}
