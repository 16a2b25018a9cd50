//! The historical archive as a signaller sees it (003 art. 16.8; 002 art. 17.10; Jeugdwet
//! 7.1.4.6): while one of the caller's signals is active, the inactive and expired signals of
//! other organisations on the same youth are visible to it, until their archive term ends.
//! Archived signals never match: matching reads active signals only ([`crate::matching`]).

use crate::config::Partner;
use crate::index::RegionalIndex;
use crate::rules::RuleError;
use crate::signal::{Signal, SignalStatus};
use crate::store::notices::{self, Notice};
use crate::store::{lifecycle, signals};

impl RegionalIndex {
    /// (archived signal, the caller's active signal that makes it visible, the youth) for each
    /// archived signal of another organisation on the youths of the caller's active signals.
    pub async fn visible_archive(
        &self,
        partner: &Partner,
    ) -> Result<Vec<(Signal, Signal, vir_shared::Bsn)>, RuleError> {
        let mut conn = self.db.pool.acquire().await?;
        let mut out = Vec::new();
        for mine in signals::of_partner(&mut conn, partner.oin.as_str()).await? {
            if mine.status != SignalStatus::Active {
                continue;
            }
            for archived in lifecycle::archived_on_youth(&mut conn, &mine.bsn).await? {
                if archived.partner_oin != partner.oin {
                    let youth = mine.bsn.clone();
                    out.push((archived, mine.clone(), youth));
                }
            }
        }
        Ok(out)
    }

    /// The partner's notices (prompts, reminders, alerts), oldest first.
    pub async fn notices(&self, partner: &Partner) -> Result<Vec<Notice>, RuleError> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(notices::of_partner(&mut conn, partner.oin.as_str()).await?)
    }
}
