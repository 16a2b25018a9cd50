//! SQL for `notices`: the rules' prompts, reminders and alerts to a partner (consult, inform,
//! renew, regie, deadline missed, a party left, a signal corrected or removed, administrator
//! tasks). They share the `notification` counter with match notifications, so both read in
//! the order they were made.

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use vir_proto as pb;

use super::{counter, format_date, next_value, parse_date, StoreError};
use crate::party::{parties_from_json, parties_to_json, Party};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    ConsultationRequested,
    InformingRequired,
    Regie,
    DeadlineMissed,
    RenewalDue,
    ArchivedSignals,
    PartyLeft,
    SignalCorrected,
    SignalRemoved,
    SignalDestroyed,
    DestructionRequested,
    ObjectionDecisionDue,
    SignallersToInform,
    /// Verhuizing (issue 5).
    Isverhuisd,
    Inverhuis,
    MovedUncovered,
    HandoverOffered,
}

const TOPICS: [(Topic, &str, pb::NoticeTopic); 17] = [
    (
        Topic::ConsultationRequested,
        "consultation_requested",
        pb::NoticeTopic::ConsultationRequested,
    ),
    (
        Topic::InformingRequired,
        "informing_required",
        pb::NoticeTopic::InformingRequired,
    ),
    (Topic::Regie, "regie", pb::NoticeTopic::Regie),
    (
        Topic::DeadlineMissed,
        "deadline_missed",
        pb::NoticeTopic::DeadlineMissed,
    ),
    (
        Topic::RenewalDue,
        "renewal_due",
        pb::NoticeTopic::RenewalDue,
    ),
    (
        Topic::ArchivedSignals,
        "archived_signals",
        pb::NoticeTopic::ArchivedSignals,
    ),
    (Topic::PartyLeft, "party_left", pb::NoticeTopic::PartyLeft),
    (
        Topic::SignalCorrected,
        "signal_corrected",
        pb::NoticeTopic::SignalCorrected,
    ),
    (
        Topic::SignalRemoved,
        "signal_removed",
        pb::NoticeTopic::SignalRemoved,
    ),
    (
        Topic::SignalDestroyed,
        "signal_destroyed",
        pb::NoticeTopic::SignalDestroyed,
    ),
    (
        Topic::DestructionRequested,
        "destruction_requested",
        pb::NoticeTopic::DestructionRequested,
    ),
    (
        Topic::ObjectionDecisionDue,
        "objection_decision_due",
        pb::NoticeTopic::ObjectionDecisionDue,
    ),
    (
        Topic::SignallersToInform,
        "signallers_to_inform",
        pb::NoticeTopic::SignallersToInform,
    ),
    (Topic::Isverhuisd, "isverhuisd", pb::NoticeTopic::Isverhuisd),
    (Topic::Inverhuis, "inverhuis", pb::NoticeTopic::Inverhuis),
    (
        Topic::MovedUncovered,
        "moved_uncovered",
        pb::NoticeTopic::MovedUncovered,
    ),
    (
        Topic::HandoverOffered,
        "handover_offered",
        pb::NoticeTopic::HandoverOffered,
    ),
];

impl Topic {
    pub fn as_str(self) -> &'static str {
        TOPICS.iter().find(|t| t.0 == self).map_or("", |t| t.1)
    }

    pub fn parse(text: &str) -> Option<Topic> {
        TOPICS.iter().find(|t| t.1 == text).map(|t| t.0)
    }

    pub fn to_proto(self) -> pb::NoticeTopic {
        TOPICS
            .iter()
            .find(|t| t.0 == self)
            .map_or(pb::NoticeTopic::Unspecified, |t| t.2)
    }

    /// Topics that are tasks for administrators until marked done.
    pub fn is_admin_task(self) -> bool {
        matches!(
            self,
            Topic::DestructionRequested | Topic::SignallersToInform
        )
    }
}

/// A notice to a partner. `Debug` omits the youth and the parties.
#[derive(Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: String,
    pub partner_oin: String,
    /// The signal it is about (the recipient's own, except in administrator tasks); empty if
    /// none. Erasing a signal deletes the notices about it.
    pub signal_id: String,
    /// The youth concerned, empty if none (kept for erasure and inzage, never shown).
    pub bsn: String,
    pub topic: Topic,
    pub match_id: String,
    pub parties: Vec<Party>,
    pub due_on: Option<NaiveDate>,
    /// A short code (never a name or a concern).
    pub detail: String,
    pub created_ms: i64,
    pub done_ms: Option<i64>,
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice")
            .field("id", &self.id)
            .field("topic", &self.topic)
            .field("signal_id", &self.signal_id)
            .finish_non_exhaustive()
    }
}

impl Notice {
    /// A notice to `partner_oin`; set the other fields on the result.
    pub fn new(partner_oin: &str, topic: Topic, now_ms: i64) -> Notice {
        Notice {
            id: uuid::Uuid::new_v4().to_string(),
            partner_oin: partner_oin.to_owned(),
            signal_id: String::new(),
            bsn: String::new(),
            topic,
            match_id: String::new(),
            parties: Vec::new(),
            due_on: None,
            detail: String::new(),
            created_ms: now_ms,
            done_ms: None,
        }
    }
}

pub async fn insert(conn: &mut AnyConnection, n: &Notice) -> Result<(), StoreError> {
    let seq = next_value(&mut *conn, counter::NOTIFICATION).await?;
    sqlx::query(
        "INSERT INTO notices (id, seq, partner_oin, signal_id, bsn, topic, match_id, parties, \
         due_on, detail, created_ms, done_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&n.id)
    .bind(seq)
    .bind(&n.partner_oin)
    .bind(&n.signal_id)
    .bind(&n.bsn)
    .bind(n.topic.as_str())
    .bind(&n.match_id)
    .bind(parties_to_json(&n.parties))
    .bind(n.due_on.map(format_date))
    .bind(&n.detail)
    .bind(n.created_ms)
    .bind(n.done_ms)
    .execute(conn)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, partner_oin, signal_id, bsn, topic, match_id, parties, due_on, detail, \
     created_ms, done_ms";

fn from_row(row: &AnyRow) -> Result<Notice, StoreError> {
    let parties: String = row.try_get("parties")?;
    let due_on: Option<String> = row.try_get("due_on")?;
    let topic: String = row.try_get("topic")?;
    Ok(Notice {
        id: row.try_get("id")?,
        partner_oin: row.try_get("partner_oin")?,
        signal_id: row.try_get("signal_id")?,
        bsn: row.try_get("bsn")?,
        topic: Topic::parse(&topic).ok_or(StoreError::Corrupt("notices.topic"))?,
        match_id: row.try_get("match_id")?,
        parties: parties_from_json(&parties).ok_or(StoreError::Corrupt("notices.parties"))?,
        due_on: due_on
            .map(|d| parse_date(&d, "notices.due_on"))
            .transpose()?,
        detail: row.try_get("detail")?,
        created_ms: row.try_get("created_ms")?,
        done_ms: row.try_get("done_ms")?,
    })
}

/// A partner's notices, in the order they were made.
pub async fn of_partner(
    conn: &mut AnyConnection,
    partner_oin: &str,
) -> Result<Vec<Notice>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notices WHERE partner_oin = $1 ORDER BY seq"
    ))
    .bind(partner_oin)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Notices about one youth (for inzage and erasure).
pub async fn of_youth(conn: &mut AnyConnection, bsn: &str) -> Result<Vec<Notice>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notices WHERE bsn = $1 ORDER BY seq"
    ))
    .bind(bsn)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Open administrator tasks (destruction requests, death notices) of these partners.
pub async fn open_tasks(
    conn: &mut AnyConnection,
    partner_oin: &str,
) -> Result<Vec<Notice>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notices WHERE partner_oin = $1 AND done_ms IS NULL \
         AND topic IN ('destruction_requested', 'signallers_to_inform') ORDER BY seq"
    ))
    .bind(partner_oin)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Replaces a notice's parties (erasure takes a destroyed signal out of them).
pub async fn set_parties(
    conn: &mut AnyConnection,
    id: &str,
    parties: &[Party],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE notices SET parties = $1 WHERE id = $2")
        .bind(parties_to_json(parties))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks an administrator task of `partner_oin` done; false if there is no such open task.
pub async fn mark_done(
    conn: &mut AnyConnection,
    id: &str,
    partner_oin: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE notices SET done_ms = $1 WHERE id = $2 AND partner_oin = $3 AND done_ms IS NULL",
    )
    .bind(now_ms)
    .bind(id)
    .bind(partner_oin)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Notice>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM notices WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}
