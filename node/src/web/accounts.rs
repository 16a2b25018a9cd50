//! Accounts of the web UI: a professional or administrator of one partner organisation, with an
//! Argon2id password hash, and a lockout after repeated failed logins (by the node's clock).
//!
//! An account's role follows its organisation's role in `[[partners]]`: accounts of the
//! regional administrator's organisation are administrators, all others professionals, so the
//! UI can never grant what the partner API would refuse.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use vir_shared::db::Db;
use vir_shared::Oin;

use crate::config::{Partner, Role as PartnerRole};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Professional,
    Administrator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Professional => "professional",
            Role::Administrator => "administrator",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "professional" => Some(Role::Professional),
            "administrator" => Some(Role::Administrator),
            _ => None,
        }
    }

    /// Dutch label.
    pub fn label(self) -> &'static str {
        match self {
            Role::Professional => "professional",
            Role::Administrator => "beheerder",
        }
    }

    /// The only role an account of this partner may have.
    pub fn of_partner(partner: &Partner) -> Role {
        match partner.role {
            PartnerRole::Administrator => Role::Administrator,
            PartnerRole::Partner => Role::Professional,
        }
    }
}

/// An account. `Debug` leaves the hash and e-mail address out.
#[derive(Clone)]
pub struct Account {
    pub id: String,
    pub partner_oin: Oin,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until_ms: Option<i64>,
    pub active: bool,
    pub created_ms: i64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("partner_oin", &self.partner_oin)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Why input for an account is refused: the form field and the reason, in Dutch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

pub fn field_error(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field,
        reason: reason.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("storage: {0}")]
    Store(#[from] sqlx::Error),
    #[error("password hashing: {0}")]
    Hash(String),
}

/// What a new account needs.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub partner: Partner,
    pub username: String,
    pub email: String,
    pub password: String,
}

/// Checks a username: 3 to 64 of a-z, 0-9, `.`, `-`, `_` (they appear in the access log).
pub fn check_username(username: &str) -> Result<String, FieldError> {
    let username = username.trim().to_lowercase();
    let ok = (3..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(username)
    } else {
        Err(field_error(
            "username",
            "3 tot 64 tekens: kleine letters, cijfers, punt, streepje of liggend streepje",
        ))
    }
}

pub fn check_email(email: &str) -> Result<String, FieldError> {
    let email = email.trim();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if valid {
        Ok(email.to_owned())
    } else {
        Err(field_error("email", "geen geldig e-mailadres"))
    }
}

pub fn check_password(password: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(field_error(
            "password",
            format!("minstens {MIN_PASSWORD_LEN} tekens"),
        ));
    }
    Ok(())
}

/// Argon2id with the crate's default (OWASP) parameters; run off the async threads.
pub async fn hash_password(password: &str) -> Result<String, AccountError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hash(e.to_string()))?
}

/// Whether `password` matches the PHC string `hash`.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let password = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

const COLUMNS: &str = "id, partner_oin, username, email, role, password_hash, failed_logins, \
                       locked_until_ms, active, created_ms";

fn from_row(row: &AnyRow) -> Result<Account, sqlx::Error> {
    let oin: String = row.try_get("partner_oin")?;
    let role: String = row.try_get("role")?;
    let corrupt = |what: &str| sqlx::Error::Decode(format!("web_accounts.{what}").into());
    Ok(Account {
        id: row.try_get("id")?,
        partner_oin: oin.parse().map_err(|_| corrupt("partner_oin"))?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role"))?,
        password_hash: row.try_get("password_hash")?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until_ms: row.try_get("locked_until_ms")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_ms: row.try_get("created_ms")?,
    })
}

pub async fn by_username(db: &Db, username: &str) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM web_accounts WHERE username = $1"
    ))
    .bind(username.trim().to_lowercase())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM web_accounts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every account, by organisation and username.
pub async fn all(db: &Db) -> Result<Vec<Account>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM web_accounts ORDER BY partner_oin, username"
    ))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The active accounts of an organisation (the recipients of its mail).
pub async fn active_of_partner(
    conn: &mut AnyConnection,
    partner_oin: &str,
) -> Result<Vec<Account>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM web_accounts WHERE partner_oin = $1 AND active = 1 ORDER BY username"
    ))
    .bind(partner_oin)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Creates an account; a username that exists is refused on the `username` field.
pub async fn create(db: &Db, new: NewAccount, now_ms: i64) -> Result<Account, AccountError> {
    let username = check_username(&new.username)?;
    let email = check_email(&new.email)?;
    check_password(&new.password)?;
    if by_username(db, &username).await?.is_some() {
        return Err(field_error("username", "deze gebruikersnaam bestaat al").into());
    }
    let account = Account {
        id: uuid::Uuid::new_v4().to_string(),
        partner_oin: new.partner.oin.clone(),
        username,
        email,
        role: Role::of_partner(&new.partner),
        password_hash: hash_password(&new.password).await?,
        failed_logins: 0,
        locked_until_ms: None,
        active: true,
        created_ms: now_ms,
    };
    let mut tx = db.write().await?;
    sqlx::query(&format!(
        "INSERT INTO web_accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&account.id)
    .bind(account.partner_oin.as_str())
    .bind(&account.username)
    .bind(&account.email)
    .bind(account.role.as_str())
    .bind(&account.password_hash)
    .bind(account.failed_logins)
    .bind(account.locked_until_ms)
    .bind(1_i64)
    .bind(account.created_ms)
    .execute(&mut **tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            AccountError::Field(field_error("username", "deze gebruikersnaam bestaat al"))
        }
        _ => AccountError::Store(e),
    })?;
    tx.commit().await?;
    Ok(account)
}

/// Sets a new password, lifts a lockout and ends the account's sessions.
pub async fn reset_password(db: &Db, id: &str, password: &str) -> Result<bool, AccountError> {
    check_password(password)?;
    let hash = hash_password(password).await?;
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "UPDATE web_accounts SET password_hash = $1, failed_logins = 0, locked_until_ms = NULL \
         WHERE id = $2",
    )
    .bind(&hash)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Switches an account on or off; off also ends its sessions.
pub async fn set_active(db: &Db, id: &str, active: bool) -> Result<bool, sqlx::Error> {
    let mut tx = db.write().await?;
    let done = sqlx::query("UPDATE web_accounts SET active = $1 WHERE id = $2")
        .bind(i64::from(active))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if !active {
        sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// The outcome of a login attempt.
#[derive(Debug)]
pub enum Login {
    Ok(Account),
    /// Unknown user, wrong password or inactive account: the same answer for each.
    Refused,
    /// Locked until this time (Unix ms, node clock).
    Locked(i64),
}

/// Checks a username and password, counting failures: the `attempts`-th failure in a row locks
/// the account for `lock_ms`. A locked account is refused even with the right password.
pub async fn login(
    db: &Db,
    username: &str,
    password: &str,
    now_ms: i64,
    attempts: u32,
    lock_ms: i64,
) -> Result<Login, sqlx::Error> {
    let Some(account) = by_username(db, username).await? else {
        // Spend the same time as for a known account, so timing does not tell who exists.
        verify_password(password, DUMMY_HASH).await;
        return Ok(Login::Refused);
    };
    if let Some(until) = account.locked_until_ms.filter(|until| *until > now_ms) {
        return Ok(Login::Locked(until));
    }
    let good = verify_password(password, &account.password_hash).await;
    let mut tx = db.write().await?;
    if good && account.active {
        sqlx::query(
            "UPDATE web_accounts SET failed_logins = 0, locked_until_ms = NULL WHERE id = $1",
        )
        .bind(&account.id)
        .execute(&mut **tx)
        .await?;
        tx.commit().await?;
        return Ok(Login::Ok(account));
    }
    // Count from zero again once an earlier lock has run out.
    let failed = if account.locked_until_ms.is_some() {
        1
    } else {
        account.failed_logins + 1
    };
    let (failed, locked_until) = if failed >= i64::from(attempts) {
        (0, Some(now_ms + lock_ms))
    } else {
        (failed, None)
    };
    sqlx::query("UPDATE web_accounts SET failed_logins = $1, locked_until_ms = $2 WHERE id = $3")
        .bind(failed)
        .bind(locked_until)
        .bind(&account.id)
        .execute(&mut **tx)
        .await?;
    tx.commit().await?;
    Ok(match locked_until {
        Some(until) => Login::Locked(until),
        None => Login::Refused,
    })
}

/// An Argon2id hash of a random string nobody knows, to verify against for unknown users.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1lQ4v0Ilm1CSNvv3Um0J2V7XQ4ut3I8XHhWzqbXiXdE";

/// Creates the account if no account has this username (the local federation's dev accounts
/// and `vir-node create-account`); returns whether it was created.
pub async fn ensure(db: &Db, new: NewAccount, now_ms: i64) -> Result<bool, AccountError> {
    if by_username(db, &new.username).await?.is_some() {
        return Ok(false);
    }
    create(db, new, now_ms).await.map(|_| true)
}

/// Creates the accounts that do not exist yet in the storage of the node configured by
/// `config` (the first administrator, the local federation's development accounts); each
/// account's organisation must be a configured partner. Returns how many were created.
pub async fn ensure_in_storage(
    config: &crate::config::NodeConfig,
    wanted: &[(Oin, String, String, String)],
    now_ms: i64,
) -> anyhow::Result<usize> {
    use anyhow::Context;
    let db = crate::store::connect(&config.storage_url)
        .await
        .context("opening the node's storage")?;
    let mut created = 0;
    for (oin, username, email, password) in wanted {
        let partner = config
            .partners
            .iter()
            .find(|p| &p.oin == oin)
            .with_context(|| format!("{oin} is not a configured partner of this node"))?;
        let new = NewAccount {
            partner: partner.clone(),
            username: username.clone(),
            email: email.clone(),
            password: password.clone(),
        };
        if ensure(&db, new, now_ms)
            .await
            .with_context(|| format!("account {username}"))?
        {
            created += 1;
        }
    }
    db.close().await;
    Ok(created)
}
