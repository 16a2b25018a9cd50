//! What the person registry says of a youth that family, address and candidate matches use:
//! the legal parents (Jeugdwet 7.1.2.3 e; 001 Q14-15), the address (7.1.2.3 d) and the
//! fallback identity (normalised surname, birth date, gender; 002 art. 8.5-8.7).
//!
//! They are recorded per youth (`youth_facts`) when a signal is made, and looked at again by
//! [`run`]: when the registry changed them (a new partner recognises a child, an adoption, a
//! move), the youth's regional links are redone and its national signals are upserted again,
//! so the hub matches on the new parent and address keys.

use std::time::Duration;

use sqlx::AnyConnection;
use tokio_util::sync::CancellationToken;
use vir_shared::fallback::{address_input_of, fallback_input_of};
use vir_shared::person::Person;
use vir_shared::Bsn;

use crate::index::RegionalIndex;
use crate::store::links::{self, ADDRESS, FALLBACK, PARENT};
use crate::store::nobsn::NoBsnYouth;
use crate::store::StoreError;

/// How often the registry is looked at again for youths with active signals.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60 * 60);

/// The facts of one youth.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct YouthFacts {
    /// The parents' BSNs.
    pub parents: Vec<Bsn>,
    /// The address-domain input of the registry address.
    pub address: Option<String>,
    /// The fallback-domain input.
    pub fallback: String,
}

impl std::fmt::Debug for YouthFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YouthFacts")
            .field("parents", &self.parents.len())
            .finish_non_exhaustive()
    }
}

impl YouthFacts {
    pub fn of_person(person: &Person) -> YouthFacts {
        YouthFacts {
            parents: person.parents.clone(),
            address: Some(address_input_of(person)),
            fallback: fallback_input_of(person),
        }
    }

    /// A youth without a BSN: no registry parents or address, only the described identity.
    /// The stated address helps the administrator, but an address match is on the registry
    /// address (Jeugdwet 7.1.2.3 d), which such a youth does not have.
    pub fn of_no_bsn(youth: &NoBsnYouth) -> YouthFacts {
        YouthFacts {
            parents: Vec::new(),
            address: None,
            fallback: youth.fallback.clone(),
        }
    }

    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = self
            .parents
            .iter()
            .map(|p| (PARENT.to_owned(), p.to_string()))
            .collect();
        rows.extend(self.address.iter().map(|a| (ADDRESS.to_owned(), a.clone())));
        rows.push((FALLBACK.to_owned(), self.fallback.clone()));
        rows
    }

    pub fn from_rows(rows: &[(String, String)]) -> YouthFacts {
        let mut facts = YouthFacts::default();
        for (kind, value) in rows {
            match kind.as_str() {
                PARENT => facts.parents.extend(value.parse::<Bsn>().ok()),
                ADDRESS => facts.address = Some(value.clone()),
                FALLBACK => facts.fallback = value.clone(),
                _ => {}
            }
        }
        facts
    }
}

/// The recorded facts of a youth.
pub async fn of_youth(conn: &mut AnyConnection, bsn: &str) -> Result<YouthFacts, StoreError> {
    Ok(YouthFacts::from_rows(&links::facts_of(conn, bsn).await?))
}

/// Records a youth's facts; true if they changed.
pub async fn record(
    conn: &mut AnyConnection,
    bsn: &Bsn,
    facts: &YouthFacts,
) -> Result<bool, StoreError> {
    links::replace_facts(conn, bsn.as_str(), &facts.rows()).await
}

impl RegionalIndex {
    /// Looks at the registry again for every youth with a signal: where the facts changed,
    /// redoes the youth's regional links and upserts its national signals again; a move or a
    /// death is acted on as well ([`crate::verhuizing`]). Returns how many youths changed.
    pub async fn refresh_registry_facts(&self) -> Result<usize, StoreError> {
        let youths: Vec<String> = {
            let mut conn = self.db.pool.acquire().await?;
            sqlx::query_scalar("SELECT DISTINCT bsn FROM signals ORDER BY bsn")
                .fetch_all(&mut *conn)
                .await?
        };
        let mut changed = 0;
        for text in youths {
            // A youth without a BSN is not in the registry: its facts are as described.
            let Ok(bsn) = text.parse::<Bsn>() else {
                continue;
            };
            if self.reconcile_youth(&bsn).await?.changed() {
                changed += 1;
            }
        }
        if changed > 0 {
            tracing::info!(
                youths = changed,
                "registry facts changed; keys upserted again"
            );
        }
        Ok(changed)
    }
}

/// Refreshes the registry facts at start and then every [`REFRESH_EVERY`], until `shutdown`.
pub async fn run(index: RegionalIndex, shutdown: CancellationToken) {
    loop {
        if let Err(e) = index.refresh_registry_facts().await {
            tracing::warn!(error = %e, "refreshing registry facts failed; will retry");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(REFRESH_EVERY) => {}
        }
    }
}
