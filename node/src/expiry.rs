//! Ends signals whose end date has come (003 art. 1, 16.1: active at most 2 years, or until
//! the earlier end date the signaller set), so that they stop matching here and, through an
//! outbox `remove`, at the hub.
//!
//! The sweep runs when the clock's date changes (checked every [`CHECK_EVERY`]), so a test or
//! the development federation that moves the clock sees expiry within a second. Creating a
//! signal also expires the youth's due signals first, in its own transaction.

use std::time::Duration;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;

use crate::index::RegionalIndex;

/// How often the date is looked at; a sweep only runs when it changed.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Runs until `shutdown` is cancelled.
pub async fn run(index: RegionalIndex, shutdown: CancellationToken) {
    let mut swept: Option<NaiveDate> = None;
    loop {
        let today = index.clock.today();
        if swept != Some(today) {
            match index.expire_due().await {
                Ok(0) => swept = Some(today),
                Ok(expired) => {
                    tracing::info!(expired, %today, "expired signals past their end date");
                    swept = Some(today);
                }
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed; will retry"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}
