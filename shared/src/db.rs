//! Storage connections: one code path for SQLite (embedded default) and PostgreSQL (production).
//!
//! Queries are runtime queries through sqlx's `Any` driver with `$1, $2, …` placeholders, which
//! both SQLite and PostgreSQL accept, so the same SQL text serves both; only the migrations
//! differ per backend (types, auto-increment). No `DATABASE_URL` is needed to build.
//!
//! SQLite allows one writer at a time. Rather than let concurrent write transactions fail with
//! SQLITE_BUSY when they upgrade their lock, writers take [`Db::write`], which serialises them in
//! the process for SQLite, and on PostgreSQL when the service asks for it
//! ([`Tuning::postgres_serialised_writes`]).
//!
//! On SQLite every [`Db::write`] transaction also runs on the same connection, kept apart from
//! the readers' pool. SQLite drops a connection's whole page cache when another connection has
//! written since its last transaction, so writers taking turns on the pool's connections would
//! each start cold and read every index page they touch from the file again; one writer
//! connection keeps its cache warm (profiled: this dominated hub ingest at a million keys).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported storage URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("creating the data directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
}

/// A connection pool plus what the code needs to know about its backend.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    writer: Arc<Mutex<()>>,
    /// SQLite: the one connection [`Db::write`] uses (see the module docs).
    write_pool: Option<AnyPool>,
    /// PostgreSQL: [`Db::write`] takes [`WRITER_LOCK`] ([`Tuning::postgres_serialised_writes`]).
    serialise_postgres_writes: bool,
}

/// The transaction-level advisory lock of [`Tuning::postgres_serialised_writes`] (the bytes of
/// "vir_writ"; advisory locks are per database, so services on one server do not share it).
const WRITER_LOCK: i64 = 0x7669_725f_7772_6974;

/// A write transaction; for SQLite it also holds the process-wide writer lock.
pub struct WriteTx {
    pub tx: Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Transaction<'static, Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// The URL of an SQLite database file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

pub fn backend_of(url: &str) -> Result<Backend, DbError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(DbError::UnsupportedUrl(url.to_owned()))
    }
}

/// Whether a PostgreSQL URL carries a password (`user:password@` or `?password=`).
pub fn has_inline_password(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return false;
    };
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, q),
        None => (rest, ""),
    };
    let authority = authority.split('/').next().unwrap_or("");
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    in_userinfo || query.split('&').any(|kv| kv.starts_with("password="))
}

impl Db {
    /// Connects and runs the backend's migrations. `sqlite` and `postgres` are the migrators
    /// embedded by the calling crate with `sqlx::migrate!`.
    pub async fn connect(url: &str, sqlite: &Migrator, postgres: &Migrator) -> Result<Db, DbError> {
        Self::connect_tuned(url, sqlite, postgres, Tuning::default()).await
    }

    /// [`Db::connect`] with a service's own settings on top of the defaults.
    pub async fn connect_tuned(
        url: &str,
        sqlite: &Migrator,
        postgres: &Migrator,
        tuning: Tuning,
    ) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        if backend == Backend::Sqlite {
            if let Some(dir) = sqlite_dir(url) {
                std::fs::create_dir_all(&dir).map_err(|source| DbError::CreateDir {
                    path: dir.clone(),
                    source,
                })?;
            }
        }
        let options = AnyConnectOptions::from_str(url)?;
        let connections = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        };
        let every = match backend {
            Backend::Sqlite => &[][..],
            Backend::Postgres => tuning.postgres_session,
        };
        let pool = pool_options(backend, connections, every)
            .connect_with(options.clone())
            .await?;
        match backend {
            Backend::Sqlite => sqlite.run(&pool).await?,
            Backend::Postgres => postgres.run(&pool).await?,
        }
        let write_pool = match backend {
            Backend::Sqlite => Some(
                pool_options(backend, 1, tuning.sqlite_writer)
                    // The writer lives as long as the process: its page cache stays warm.
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect_lazy_with(options),
            ),
            Backend::Postgres => None,
        };
        Ok(Db {
            pool,
            backend,
            writer: Arc::new(Mutex::new(())),
            write_pool,
            serialise_postgres_writes: tuning.postgres_serialised_writes,
        })
    }

    /// SQLite: checkpoints the WAL from a background task every `every`, passively (never
    /// waiting for the writer or readers), until the pools close. Otherwise the commit that
    /// crosses `wal_autocheckpoint` copies the WAL into the database file and syncs both,
    /// inside that write transaction: a stall of milliseconds on the path of whatever waits
    /// for it (profiled on the hub's ingest and on a notification's path through the nodes,
    /// BENCHMARKS.md). Give the writer a large `wal_autocheckpoint` as a backstop
    /// ([`Tuning::sqlite_writer`]). Nothing to do on PostgreSQL.
    pub fn spawn_background_checkpoints(&self, every: Duration) {
        if self.backend != Backend::Sqlite {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                tokio::time::sleep(every).await;
                if pool.is_closed() {
                    return;
                }
                match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    Ok(_) => failures = 0,
                    Err(_) if pool.is_closed() => return,
                    Err(e) => {
                        failures += 1;
                        // The writer's backstop still checkpoints: say so once, not every
                        // time.
                        if failures == 1 {
                            tracing::warn!(error = %e, "background WAL checkpoint failed");
                        }
                    }
                }
            }
        });
    }

    /// Begins a write transaction (see the module docs for why SQLite writers are serialised).
    pub async fn write(&self) -> Result<WriteTx, sqlx::Error> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let mut tx = self
            .write_pool
            .as_ref()
            .unwrap_or(&self.pool)
            .begin()
            .await?;
        if self.backend == Backend::Postgres && self.serialise_postgres_writes {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITER_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        Ok(WriteTx { tx, _guard: guard })
    }

    pub async fn close(&self) {
        if let Some(write_pool) = &self.write_pool {
            write_pool.close().await;
        }
        self.pool.close().await;
    }
}

/// Settings a service adds to the defaults, run on each new connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tuning {
    /// SQLite pragmas for the writer connection only (page cache, temporary storage,
    /// checkpoints), after the defaults.
    pub sqlite_writer: &'static [&'static str],
    /// Statements (`SET …`) for every PostgreSQL connection.
    pub postgres_session: &'static [&'static str],
    /// PostgreSQL: every [`Db::write`] transaction first takes one advisory lock, so the
    /// database's writers go one at a time, as they do on SQLite, across processes too. For a
    /// service whose write transactions take shared rows (counters) in an order that depends on
    /// the data, which under concurrency deadlocks.
    pub postgres_serialised_writes: bool,
}

/// How often [`Db::spawn_background_checkpoints`] checkpoints, for hub and nodes. Once a second
/// rather than more often: an index page that several commits dirty in the meantime is copied
/// into the database file once (at a million keys on the hub, every 250 ms cost a quarter more
/// per signal; BENCHMARKS.md, change 8).
pub const BACKGROUND_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// A pool of up to `connections`, with the SQLite settings every connection gets, then the
/// statements of `extra` in order (on either backend).
fn pool_options(
    backend: Backend,
    connections: u32,
    extra: &'static [&'static str],
) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL: readers do not block the writer. NORMAL sync is durable at
                    // checkpoints and safe against corruption in WAL mode.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA foreign_keys = ON",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                for statement in extra {
                    sqlx::query(statement).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
}

fn sqlite_dir(url: &str) -> Option<String> {
    let path = sqlite_path(url)?;
    let parent = path.parent()?;
    let s = parent.to_string_lossy().into_owned();
    (!s.is_empty()).then_some(s)
}

/// The database file of an SQLite URL; `None` for an in-memory database or another backend.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty()
        || path.starts_with(":memory:")
        || query.split('&').any(|kv| kv == "mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

/// Helpers for the storage test suites, which run on SQLite always and on PostgreSQL when
/// `VIR_TEST_POSTGRES_URL` names a server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
/// With `VIR_REQUIRE_POSTGRES=1` (as in CI) a missing URL is an error, so the PostgreSQL half
/// can never be skipped silently.
pub mod testing {
    use sqlx::Connection;

    /// The storage URLs a suite must run against: a fresh SQLite file in `dir`, and a fresh
    /// PostgreSQL database when configured.
    pub async fn storage_urls(dir: &std::path::Path, name: &str) -> Vec<String> {
        let mut urls = vec![super::sqlite_url(&dir.join(format!("{name}.sqlite")))];
        if let Some(url) = fresh_postgres_database(name).await {
            urls.push(url);
        }
        urls
    }

    /// Test databases older than this are dropped by the next test run on the same server.
    const TEST_DATABASE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

    /// Creates a new, empty database on the configured PostgreSQL server and returns its URL.
    /// Its name ends in a UUIDv7, which carries the time it was made: the first call in a
    /// process drops the test databases of earlier runs (older than
    /// [`TEST_DATABASE_LIFETIME`]), so a developer's own server does not fill up.
    pub async fn fresh_postgres_database(name: &str) -> Option<String> {
        let admin = match std::env::var("VIR_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var("VIR_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "VIR_REQUIRE_POSTGRES=1 but VIR_TEST_POSTGRES_URL is not set"
                );
                return None;
            }
        };
        let db = format!(
            "vir_{}_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            uuid::Uuid::now_v7().simple()
        )
        .to_lowercase();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("connecting to VIR_TEST_POSTGRES_URL: {e}"));
        static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SWEPT.swap(true, std::sync::atomic::Ordering::Relaxed) {
            drop_old_test_databases(&mut conn).await;
        }
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating test database {db}: {e}"));
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Some(format!("{base}/{db}"))
    }

    /// Drops `vir_…_<UUIDv7>` databases made more than [`TEST_DATABASE_LIFETIME`] ago. One still
    /// in use (a long run beside this one) refuses the drop, which is ignored.
    async fn drop_old_test_databases(conn: &mut sqlx::PgConnection) {
        let Ok(names) = sqlx::query_scalar::<_, String>(
            "SELECT datname FROM pg_database WHERE datname LIKE 'vir\\_%'",
        )
        .fetch_all(&mut *conn)
        .await
        else {
            return;
        };
        let now = std::time::SystemTime::now();
        for name in names {
            if made_at(&name).is_some_and(|at| {
                now.duration_since(at)
                    .is_ok_and(|age| age > TEST_DATABASE_LIFETIME)
            }) {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut *conn)
                    .await;
            }
        }
    }

    /// When a test database was made, from the UUIDv7 at the end of its name.
    fn made_at(name: &str) -> Option<std::time::SystemTime> {
        let (_, hex) = name.rsplit_once('_')?;
        let id = uuid::Uuid::try_parse(hex).ok()?;
        let (secs, nanos) = id.get_timestamp()?.to_unix();
        Some(std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos))
    }

    #[test]
    fn a_test_database_name_tells_when_it_was_made() {
        let before = std::time::SystemTime::now() - std::time::Duration::from_millis(2);
        let name = format!("vir_hub_storage_{}", uuid::Uuid::now_v7().simple());
        let at = made_at(&name).expect("a UUIDv7 name");
        assert!(at >= before && at <= std::time::SystemTime::now(), "{at:?}");
        let old_style = format!("vir_hub_{}", uuid::Uuid::new_v4().simple());
        assert_eq!(
            made_at(&old_style),
            None,
            "a v4 name has no time: left alone"
        );
        assert_eq!(made_at("vir_production"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_path_names_the_file_and_not_memory() {
        let url = sqlite_url(Path::new("/var/lib/vir/hub.sqlite"));
        assert_eq!(
            sqlite_path(&url),
            Some(PathBuf::from("/var/lib/vir/hub.sqlite"))
        );
        assert_eq!(sqlite_path("sqlite:hub.db"), Some(PathBuf::from("hub.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(
            sqlite_path("sqlite://shared?mode=memory&cache=shared"),
            None
        );
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    /// With the writer's own checkpoints pushed far away, the background task is what copies
    /// committed pages from the WAL into the database file.
    #[tokio::test]
    async fn background_checkpoints_copy_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.sqlite");
        let tuning = Tuning {
            sqlite_writer: &["PRAGMA wal_autocheckpoint = 100000"],
            ..Tuning::default()
        };
        let empty = Migrator::DEFAULT;
        let db = Db::connect_tuned(&sqlite_url(&path), &empty, &empty, tuning)
            .await
            .unwrap();
        let mut tx = db.write().await.unwrap();
        sqlx::query("CREATE TABLE filler (data BLOB NOT NULL)")
            .execute(&mut **tx)
            .await
            .unwrap();
        for _ in 0..256 {
            sqlx::query("INSERT INTO filler (data) VALUES (randomblob(4096))")
                .execute(&mut **tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let file_len = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(
            file_len() < 256 * 4096,
            "before any checkpoint the rows are only in the WAL ({} bytes in the file)",
            file_len()
        );

        db.spawn_background_checkpoints(Duration::from_millis(20));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while file_len() < 256 * 4096 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            file_len() >= 256 * 4096,
            "the background checkpoint copied the rows ({} bytes in the file)",
            file_len()
        );
        db.close().await;
    }
}
