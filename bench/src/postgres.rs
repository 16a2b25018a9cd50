//! Throw-away PostgreSQL databases on the server the operator names (`--postgres URL` or
//! `VIR_TEST_POSTGRES_URL`): one fresh database per measurement, dropped afterwards.

use anyhow::Context;
use sqlx::Connection;

/// A database created for one measurement.
pub struct FreshDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl FreshDatabase {
    /// Creates `vir_bench_<what>_<random>` on the server of `admin`.
    pub async fn create(admin: &str, what: &str) -> anyhow::Result<FreshDatabase> {
        let name = format!(
            "vir_bench_{}_{}",
            what.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            uuid::Uuid::new_v4().simple()
        )
        .to_lowercase();
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .context("connecting to the PostgreSQL server")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await.ok();
        let (base, query) = match admin.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin, String::new()),
        };
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        Ok(FreshDatabase {
            admin: admin.to_owned(),
            url: format!("{base}/{name}{query}"),
            name,
        })
    }

    /// Drops the database (its connections are closed by force).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping database {}", self.name))?;
        conn.close().await.ok();
        Ok(())
    }
}

/// The PostgreSQL server to measure on: the flag, else `VIR_TEST_POSTGRES_URL`.
pub fn server_url(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var("VIR_TEST_POSTGRES_URL").ok())
        .filter(|u| !u.is_empty())
}
