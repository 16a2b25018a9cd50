//! SQL for the `signals` and `youths` tables.

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use vir_shared::keys::{KeyDomain, PseudoKey, KEY_LEN};
use vir_shared::{Bsn, MunicipalityCode};

use super::{format_date, parse_date, StoreError};
use crate::config::Category;
use crate::signal::{Contact, Signal, SignalStatus};

const COLUMNS: &str = "id, bsn, municipality, partner_oin, organisation, category, \
     signaller_name, signaller_phone, signaller_email, status, national, created_ms, end_date, \
     withdrawn_ms";

fn from_row(row: &AnyRow) -> Result<Signal, StoreError> {
    let text = |name: &'static str| -> Result<String, StoreError> { Ok(row.try_get(name)?) };
    Ok(Signal {
        id: text("id")?,
        bsn: text("bsn")?
            .parse()
            .map_err(|_| StoreError::Corrupt("signals.bsn"))?,
        municipality: text("municipality")?
            .parse()
            .map_err(|_| StoreError::Corrupt("signals.municipality"))?,
        partner_oin: text("partner_oin")?
            .parse()
            .map_err(|_| StoreError::Corrupt("signals.partner_oin"))?,
        organisation: text("organisation")?,
        category: Category::parse(&text("category")?)
            .ok_or(StoreError::Corrupt("signals.category"))?,
        signaller: Contact {
            name: text("signaller_name")?,
            phone: text("signaller_phone")?,
            email: text("signaller_email")?,
        },
        status: SignalStatus::parse(&text("status")?)
            .ok_or(StoreError::Corrupt("signals.status"))?,
        national: row.try_get::<i64, _>("national")? != 0,
        created_ms: row.try_get("created_ms")?,
        end_date: parse_date(&text("end_date")?, "signals.end_date")?,
        withdrawn_ms: row.try_get("withdrawn_ms")?,
    })
}

fn from_rows(rows: Vec<AnyRow>) -> Result<Vec<Signal>, StoreError> {
    rows.iter().map(from_row).collect()
}

/// Inserts a new signal; a second active one by the same organisation on the same youth is
/// [`StoreError::AlreadyActive`].
pub async fn insert(conn: &mut AnyConnection, s: &Signal) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO signals ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&s.id)
    .bind(s.bsn.as_str())
    .bind(s.municipality.as_str())
    .bind(s.partner_oin.as_str())
    .bind(&s.organisation)
    .bind(s.category.as_str())
    .bind(&s.signaller.name)
    .bind(&s.signaller.phone)
    .bind(&s.signaller.email)
    .bind(s.status.as_str())
    .bind(i64::from(s.national))
    .bind(s.created_ms)
    .bind(format_date(s.end_date))
    .bind(s.withdrawn_ms)
    .execute(conn)
    .await
    .map_err(StoreError::from_insert)?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Signal>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM signals WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The active signal of `partner_oin` on this youth, if any.
pub async fn active_by_partner(
    conn: &mut AnyConnection,
    bsn: &Bsn,
    partner_oin: &str,
) -> Result<Option<Signal>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signals WHERE bsn = $1 AND partner_oin = $2 AND status = 'active'"
    ))
    .bind(bsn.as_str())
    .bind(partner_oin)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Active signals on a youth, oldest first.
pub async fn active_on_youth(
    conn: &mut AnyConnection,
    bsn: &Bsn,
) -> Result<Vec<Signal>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signals WHERE bsn = $1 AND status = 'active' \
         ORDER BY created_ms, id"
    ))
    .bind(bsn.as_str())
    .fetch_all(conn)
    .await?;
    from_rows(rows)
}

/// All signals of a partner, newest first.
pub async fn of_partner(
    conn: &mut AnyConnection,
    partner_oin: &str,
) -> Result<Vec<Signal>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signals WHERE partner_oin = $1 ORDER BY created_ms DESC, id"
    ))
    .bind(partner_oin)
    .fetch_all(conn)
    .await?;
    from_rows(rows)
}

/// Active signals whose end date has come (active while today < end_date), optionally of one
/// youth only.
pub async fn due_to_expire(
    conn: &mut AnyConnection,
    today: NaiveDate,
    bsn: Option<&Bsn>,
    limit: i64,
) -> Result<Vec<Signal>, StoreError> {
    let today = format_date(today);
    let rows = match bsn {
        Some(bsn) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM signals \
                 WHERE status = 'active' AND end_date <= $1 AND bsn = $2 ORDER BY id LIMIT $3"
            ))
            .bind(today)
            .bind(bsn.as_str())
            .bind(limit)
            .fetch_all(conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM signals \
                 WHERE status = 'active' AND end_date <= $1 ORDER BY id LIMIT $2"
            ))
            .bind(today)
            .bind(limit)
            .fetch_all(conn)
            .await?
        }
    };
    from_rows(rows)
}

/// Ends an active signal: `Inactive` (withdrawn, archive) or `Expired`. False if it was not
/// active (already ended by a concurrent writer).
pub async fn deactivate(
    conn: &mut AnyConnection,
    id: &str,
    status: SignalStatus,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let withdrawn_ms = (status == SignalStatus::Inactive).then_some(now_ms);
    let done = sqlx::query(
        "UPDATE signals SET status = $1, withdrawn_ms = $2 WHERE id = $3 AND status = 'active'",
    )
    .bind(status.as_str())
    .bind(withdrawn_ms)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_active(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM signals WHERE status = 'active'")
            .fetch_one(conn)
            .await?,
    )
}

/// Locks the youth's row until the end of the transaction, so that writers on one youth take
/// turns. Under PostgreSQL (READ COMMITTED) two concurrent creates on the same youth would
/// otherwise each miss the other's signal and never match; SQLite serialises writers anyway.
pub async fn lock_youth(conn: &mut AnyConnection, bsn: &Bsn) -> Result<(), StoreError> {
    sqlx::query("UPDATE youths SET municipality = municipality WHERE bsn = $1")
        .bind(bsn.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the youth's municipality of residence (the latest from the registry). Also locks
/// the youth's row, like [`lock_youth`].
pub async fn upsert_youth(
    conn: &mut AnyConnection,
    bsn: &Bsn,
    municipality: &MunicipalityCode,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO youths (bsn, municipality) VALUES ($1, $2) \
         ON CONFLICT (bsn) DO UPDATE SET municipality = excluded.municipality",
    )
    .bind(bsn.as_str())
    .bind(municipality.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// The cached person key of a youth, if the pseudonymiser has been asked already.
pub async fn person_key(
    conn: &mut AnyConnection,
    bsn: &Bsn,
) -> Result<Option<PseudoKey>, StoreError> {
    let row = sqlx::query("SELECT person_key, key_version FROM youths WHERE bsn = $1")
        .bind(bsn.as_str())
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let value: Option<Vec<u8>> = row.try_get("person_key")?;
    let version: Option<i64> = row.try_get("key_version")?;
    match (value, version) {
        (Some(value), Some(version)) => {
            let value: [u8; KEY_LEN] = value
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("youths.person_key"))?;
            let version =
                u32::try_from(version).map_err(|_| StoreError::Corrupt("youths.key_version"))?;
            Ok(Some(PseudoKey {
                domain: KeyDomain::Person,
                version,
                value,
            }))
        }
        _ => Ok(None),
    }
}

pub async fn store_person_key(
    conn: &mut AnyConnection,
    bsn: &Bsn,
    key: &PseudoKey,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE youths SET person_key = $1, key_version = $2 WHERE bsn = $3")
        .bind(key.value.to_vec())
        .bind(i64::from(key.version))
        .bind(bsn.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
