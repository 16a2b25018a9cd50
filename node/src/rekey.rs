//! Re-keying after a pseudonymiser key rotation, so that no cross-regional match is lost.
//!
//! The task asks the pseudonymiser for its public keys at start and then every
//! `forwarder.key_check_ms`. When the current key version differs from the version of a cached
//! key of a youth with an active national signal (person key in `youths`; parent, address and
//! fallback keys in `pseudo_keys`), that youth is re-keyed: in batches of
//! `forwarder.rekey_batch` youths the missing keys are obtained in one OPRF call per domain (the
//! `KeyClient` asks for the current version), then, in one transaction per batch, the cached
//! keys are replaced and an outbox `upsert` is appended for each of the youth's active national
//! signals. The forwarder sends those like any other operation, in outbox order; the hub takes
//! a key of another version for a known signal as a rotation and keeps its matches, and makes
//! the matches that need both sides on the new version once they are.
//!
//! Batches are paced to `forwarder.rekey_keys_per_minute`, below the pseudonymiser's per-node
//! limit, so that new signals are still keyed while a rotation runs; a rate-limited call waits
//! as long as the pseudonymiser says and is tried again. Cached keys of other versions of
//! youths without an active national signal stay; the forwarder does not use them once it
//! knows the current version (it shares this task's client), and fetches a current key
//! instead. They are kept rather than deleted so that a key of the old version that an
//! in-flight batch still sends is seen, and re-keyed, at the next check. The progress is in
//! the node's `Status` (`key_version`, `rekey_pending`).
//!
//! Only counts and versions are logged, never a BSN or another key input.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use vir_pseudonymiser::client::{KeyClient, KeyClientError};
use vir_shared::db::Db;
use vir_shared::keys::{KeyDomain, PseudoKey};
use vir_shared::{Bsn, SharedClock};

use crate::keyinputs::UpsertInputs;
use crate::store::outbox::{self, OutboxOp};
use crate::store::{links, signals, StoreError};

/// What the node knows of a rotation, for `Status`.
#[derive(Debug, Default)]
pub struct RekeyState {
    /// The pseudonymiser's current key version at the last check; 0 before the first.
    current_version: AtomicU32,
    /// Youths with an active national signal still holding a key of another version.
    pending: AtomicU64,
}

impl RekeyState {
    pub fn current_version(&self) -> u32 {
        self.current_version.load(Ordering::Relaxed)
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("pseudonymiser: {0}")]
    Keys(#[from] KeyClientError),
    #[error("pseudonymiser returned {got} keys for {asked} inputs")]
    Count { asked: usize, got: usize },
    #[error("pseudonymiser answered with key version {got} while re-keying to {want}")]
    VersionMoved { want: u32, got: u32 },
}

impl From<sqlx::Error> for RekeyError {
    fn from(e: sqlx::Error) -> Self {
        RekeyError::Store(StoreError::from(e))
    }
}

/// The re-key task of one node.
pub struct Rekeyer {
    pub db: Db,
    pub clock: SharedClock,
    /// A clone of the forwarder's client: they share the public-key cache, so once this task
    /// has seen a new version the forwarder no longer uses cached keys of the old one.
    pub keys: KeyClient,
    pub address_match: bool,
    /// Woken after a batch's upserts are in the outbox (the forwarder's notify).
    pub wake: Arc<Notify>,
    pub check_every: Duration,
    pub batch: usize,
    pub keys_per_minute: u32,
    pub state: Arc<RekeyState>,
}

/// One youth to re-key: its key inputs as recorded.
struct Youth {
    bsn: Bsn,
    inputs: UpsertInputs,
}

impl Rekeyer {
    /// Checks at start and then every `check_every`, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.pass(&shutdown).await {
                Ok(0) => {}
                Ok(youths) => tracing::info!(
                    youths,
                    version = self.state.current_version(),
                    "re-key after a key rotation done"
                ),
                Err(e) => tracing::warn!(error = %e, "re-keying failed; will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.check_every) => {}
            }
        }
    }

    /// One check and, if needed, the re-key of every youth not on the current version.
    /// Returns how many youths were re-keyed.
    pub async fn pass(&self, shutdown: &CancellationToken) -> Result<usize, RekeyError> {
        let current = self.keys.refresh_public_keys().await?;
        let stale = self.stale_youths(current).await?;
        // Pending before the version: whoever sees the new version sees its work too.
        self.state
            .pending
            .store(stale.len() as u64, Ordering::Relaxed);
        self.state.current_version.store(current, Ordering::Relaxed);
        if stale.is_empty() {
            return Ok(0);
        }
        tracing::info!(
            youths = stale.len(),
            version = current,
            "cached keys of another key version: re-keying"
        );
        let mut done = 0;
        for chunk in stale.chunks(self.batch.max(1)) {
            if shutdown.is_cancelled() {
                return Ok(done);
            }
            let asked = loop {
                match self.rekey_batch(chunk, current).await {
                    Ok(asked) => break asked,
                    Err(RekeyError::Keys(e)) if e.is_rate_limited() => {
                        let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                        tokio::select! {
                            _ = shutdown.cancelled() => return Ok(done),
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                    Err(e) => return Err(e),
                }
            };
            done += chunk.len();
            self.state
                .pending
                .store((stale.len() - done) as u64, Ordering::Relaxed);
            let pause = Duration::from_millis(
                (asked as u64).saturating_mul(60_000) / u64::from(self.keys_per_minute.max(1)),
            );
            if done < stale.len() && !pause.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(done),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        Ok(done)
    }

    /// Youths with an active national signal and a cached key of another version than
    /// `current`. A key not cached at all is not stale: the forwarder fetches it when it sends.
    async fn stale_youths(&self, current: u32) -> Result<Vec<Youth>, RekeyError> {
        let mut conn = self.db.pool.acquire().await?;
        let bsns: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT bsn FROM signals WHERE status = 'active' AND national = 1 \
             ORDER BY bsn",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut stale = Vec::new();
        for text in bsns {
            let Ok(bsn) = text.parse::<Bsn>() else {
                continue;
            };
            let Some(youth) = self.youth(&mut conn, bsn).await? else {
                continue;
            };
            if self.is_stale(&mut conn, &youth, current).await? {
                stale.push(youth);
            }
        }
        Ok(stale)
    }

    /// The youth's key inputs, from one of its active national signals.
    async fn youth(&self, conn: &mut AnyConnection, bsn: Bsn) -> Result<Option<Youth>, StoreError> {
        let signals = signals::active_on_youth(&mut *conn, &bsn).await?;
        let Some(signal) = signals.iter().find(|s| s.national) else {
            return Ok(None);
        };
        let inputs = UpsertInputs::of_signal(conn, signal, self.address_match).await?;
        Ok(Some(Youth { bsn, inputs }))
    }

    async fn is_stale(
        &self,
        conn: &mut AnyConnection,
        youth: &Youth,
        current: u32,
    ) -> Result<bool, StoreError> {
        if youth.inputs.with_bsn {
            if let Some(key) = signals::person_key(&mut *conn, &youth.bsn).await? {
                if key.version != current {
                    return Ok(true);
                }
            }
        }
        for (domain, input) in youth.inputs.wanted() {
            if let Some(key) = links::cached_key(&mut *conn, domain, input).await? {
                if key.version != current {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Fetches every key of the batch's youths and, in one transaction, caches them and queues
    /// an upsert for each active national signal. Returns how many keys were asked.
    async fn rekey_batch(&self, youths: &[Youth], current: u32) -> Result<usize, RekeyError> {
        let mut wanted: BTreeMap<KeyDomain, Vec<String>> = BTreeMap::new();
        let mut want = |domain: KeyDomain, input: &str| {
            let list = wanted.entry(domain).or_default();
            if !list.iter().any(|i| i == input) {
                list.push(input.to_owned());
            }
        };
        for youth in youths {
            if youth.inputs.with_bsn {
                want(KeyDomain::Person, youth.bsn.as_str());
            }
            for (domain, input) in youth.inputs.wanted() {
                want(domain, input);
            }
        }
        let mut fetched: BTreeMap<(KeyDomain, String), PseudoKey> = BTreeMap::new();
        let mut asked = 0;
        for (domain, inputs) in wanted {
            let bytes: Vec<Vec<u8>> = inputs.iter().map(|i| i.as_bytes().to_vec()).collect();
            asked += bytes.len();
            let keys = self.keys.keys(domain, &bytes).await?;
            if keys.len() != inputs.len() {
                return Err(RekeyError::Count {
                    asked: inputs.len(),
                    got: keys.len(),
                });
            }
            for (input, key) in inputs.into_iter().zip(keys) {
                if key.version != current {
                    // Rotated again meanwhile: the next check starts over with that version.
                    return Err(RekeyError::VersionMoved {
                        want: current,
                        got: key.version,
                    });
                }
                fetched.insert((domain, input), key);
            }
        }

        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn: &mut AnyConnection = &mut tx.tx;
        let mut queued = 0;
        for youth in youths {
            signals::lock_youth(&mut *conn, &youth.bsn).await?;
            // Erased, expired or withdrawn since the scan: nothing to key, nothing to cache.
            let national: Vec<_> = signals::active_on_youth(&mut *conn, &youth.bsn)
                .await?
                .into_iter()
                .filter(|s| s.national)
                .collect();
            if national.is_empty() {
                continue;
            }
            if youth.inputs.with_bsn {
                if let Some(key) = fetched.get(&(KeyDomain::Person, youth.bsn.to_string())) {
                    signals::store_person_key(&mut *conn, &youth.bsn, key).await?;
                }
            }
            for (domain, input) in youth.inputs.wanted() {
                if let Some(key) = fetched.get(&(domain, input.to_owned())) {
                    links::store_key(&mut *conn, input, key).await?;
                }
            }
            for signal in national {
                let op = OutboxOp::Upsert {
                    signal_ref: signal.id,
                };
                outbox::append(&mut *conn, &op, now_ms).await?;
                queued += 1;
            }
        }
        tx.commit().await?;
        if queued > 0 {
            self.wake.notify_one();
        }
        tracing::info!(
            youths = youths.len(),
            keys = asked,
            upserts = queued,
            version = current,
            "re-keyed a batch of youths"
        );
        Ok(asked)
    }
}
