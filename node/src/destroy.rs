//! Destruction: a signal, or all of a youth's signals, erased with everything about them
//! ("alle digitale gegevens van het signaal gewist", 003 art. 16.2), with the tellings the
//! sources ask for: the signaller learns their signal was destroyed; after a destruction
//! because of the rights, every signaller who had a match with it is told (003 art. 20; 002
//! art. 23); after a death in Zuid-Limburg the administrator gets a task naming the
//! organisations to inform (002 art. 17.6). Every destruction is in the access log.

use chrono::Days;
use sqlx::AnyConnection;

use crate::accesslog::Actor;
use crate::index::RegionalIndex;
use crate::party::Party;
use crate::signal::{Signal, SignalStatus};
use crate::store::notices::{self, Notice, Topic};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{erase, lifecycle, signals, StoreError};

/// Why a signal is destroyed; the code in notices and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestroyWhy {
    /// By an administrator: the signal was made wrongly (003 art. 16.3-16.4).
    Wrong,
    /// An objection was upheld (003 art. 16.6, 18.3).
    ObjectionUpheld,
    AgeLimit,
    Death,
    /// The archive term is over (003 art. 16.2).
    ArchiveTerm,
}

impl DestroyWhy {
    pub fn as_str(self) -> &'static str {
        match self {
            DestroyWhy::Wrong => "wrong",
            DestroyWhy::ObjectionUpheld => "objection_upheld",
            DestroyWhy::AgeLimit => "age_limit",
            DestroyWhy::Death => "death",
            DestroyWhy::ArchiveTerm => "archive_term",
        }
    }
}

impl RegionalIndex {
    /// Destroys all of a youth's signals, archive included (003 art. 16.5).
    pub(crate) async fn destroy_youth_in(
        &self,
        conn: &mut AnyConnection,
        bsn: &vir_shared::Bsn,
        why: DestroyWhy,
    ) -> Result<(), StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        signals::lock_youth(&mut *conn, bsn).await?;
        let all = lifecycle::all_on_youth(&mut *conn, bsn).await?;
        for signal in all.iter().filter(|s| s.status == SignalStatus::Active) {
            self.end_signal(&mut *conn, signal, SignalStatus::Inactive, now_ms)
                .await?;
        }
        if matches!(why, DestroyWhy::Death | DestroyWhy::AgeLimit) {
            // The youth is destroyed, not one signal (issue 5 for a death; 003 art. 16.5 at the
            // age limit): the hub erases this region's signals of the youth with their keys,
            // matches, moves and every feed item that names them, after the removals just
            // queued. Each region does so for its own signals (at 23 each region's rules reach
            // the same day).
            let refs: Vec<String> = all
                .iter()
                .filter(|s| s.national)
                .map(|s| s.id.clone())
                .collect();
            if !refs.is_empty() {
                let op = OutboxOp::Forget { signal_refs: refs };
                outbox::append(&mut *conn, &op, now_ms).await?;
            }
        }
        erase::erase_youth(&mut *conn, bsn).await?;
        let days = self.rules.config.lifetime.death_inform_days;
        if why == DestroyWhy::Death && days > 0 {
            // 002 art. 17.6: the administrator informs the signallers within the term; only
            // this task, naming the organisations, is kept.
            let due = self
                .clock
                .today()
                .checked_add_days(Days::new(u64::from(days)));
            for admin in self.rules.administrators() {
                let mut task = Notice::new(admin.oin.as_str(), Topic::SignallersToInform, now_ms);
                task.due_on = due;
                task.detail = why.as_str().to_owned();
                task.parties = all
                    .iter()
                    .map(|s| Party::of_signal(s, &self.region))
                    .collect();
                notices::insert(&mut *conn, &task).await?;
            }
        } else {
            for signal in &all {
                self.tell_destroyed(&mut *conn, signal, why, now_ms).await?;
            }
        }
        self.audit_in(
            &mut *conn,
            &Actor::scheduler(&self.region),
            "destroy_youth",
            "youth",
            Some(bsn),
            why.as_str(),
        )
        .await?;
        tracing::info!(
            signals = all.len(),
            reason = why.as_str(),
            "youth's signals destroyed"
        );
        Ok(())
    }

    /// The signaller learns that their signal was destroyed, and why (no youth named).
    async fn tell_destroyed(
        &self,
        conn: &mut AnyConnection,
        signal: &Signal,
        why: DestroyWhy,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut notice = Notice::new(signal.partner_oin.as_str(), Topic::SignalDestroyed, now_ms);
        notice.signal_id = signal.id.clone();
        notice.detail = why.as_str().to_owned();
        notices::insert(conn, &notice).await
    }

    /// Destroys one signal in the caller's transaction: it ends (a hub `remove` if national),
    /// every signaller who had a match with it is told when the law asks (003 art. 20; 002 art.
    /// 23), and every trace is erased. Returns how many signallers were told.
    pub(crate) async fn destroy_in(
        &self,
        conn: &mut AnyConnection,
        signal: &Signal,
        why: DestroyWhy,
        actor: &Actor,
    ) -> Result<usize, StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        signals::lock_youth(&mut *conn, &signal.bsn).await?;
        if signal.status == SignalStatus::Active {
            self.end_signal(&mut *conn, signal, SignalStatus::Inactive, now_ms)
                .await?;
        }
        // Who had a match with it is read before the erasure wipes the memberships, and told
        // after it, so the erasure does not scrub the telling.
        let matched = match why {
            DestroyWhy::Wrong | DestroyWhy::ObjectionUpheld => {
                lifecycle::ever_matched_with(&mut *conn, &signal.id).await?
            }
            _ => Vec::new(),
        };
        erase::erase_signal(&mut *conn, &signal.id, &signal.bsn).await?;
        let told = self
            .tell(&mut *conn, &matched, signal, Topic::SignalRemoved, now_ms)
            .await?;
        if why != DestroyWhy::ArchiveTerm {
            self.tell_destroyed(&mut *conn, signal, why, now_ms).await?;
        }
        self.audit_in(
            &mut *conn,
            actor,
            "destroy_signal",
            &format!("signal:{}", signal.id),
            Some(&signal.bsn),
            why.as_str(),
        )
        .await?;
        Ok(told)
    }

    /// Tells every signaller who ever had a regional match with `signal` that it was corrected
    /// or removed (003 art. 20; 002 art. 23). Other regions learn a removal from the hub.
    pub(crate) async fn tell_removed(
        &self,
        conn: &mut AnyConnection,
        signal: &Signal,
        topic: Topic,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let others = lifecycle::ever_matched_with(&mut *conn, &signal.id).await?;
        self.tell(conn, &others, signal, topic, now_ms).await
    }

    /// Tells the signallers of `others` about `signal` (corrected or removed).
    async fn tell(
        &self,
        conn: &mut AnyConnection,
        others: &[Signal],
        signal: &Signal,
        topic: Topic,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut party = Party::of_signal(signal, &self.region);
        if topic == Topic::SignalRemoved {
            // A removed signal's contact details are not handed out again.
            party.contact = Default::default();
        }
        for other in others {
            let mut notice = Notice::new(other.partner_oin.as_str(), topic, now_ms);
            notice.signal_id = other.id.clone();
            notice.bsn = other.bsn.to_string();
            notice.parties = vec![party.clone()];
            notices::insert(&mut *conn, &notice).await?;
        }
        Ok(others.len())
    }
}
