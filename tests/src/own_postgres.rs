//! A throw-away PostgreSQL server owned by one test: `initdb` and `pg_ctl` from the installed
//! PostgreSQL binaries, on a free loopback port, optionally with TLS. Tests that stop, kill or
//! reconfigure a server use this one, so the shared server (`VIR_TEST_POSTGRES_URL`) is never
//! touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use vir_shared::tls::TlsPaths;

/// The server; stopped (immediately) when dropped, its folder removed with it.
pub struct OwnPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// `-c` settings for `ssl=on` and the certificate files, when started with TLS.
    tls_options: String,
    _dir: tempfile::TempDir,
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (the server refuses to run as
/// root), as ourselves otherwise.
fn as_postgres(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Gives a file to the `postgres` user (when we are root), with the given mode.
fn hand_over(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    if is_root() {
        let ok = Command::new("chown")
            .arg("postgres")
            .arg(path)
            .status()
            .expect("chown");
        assert!(ok.success(), "chown postgres {}", path.display());
    }
}

impl OwnPostgres {
    /// A plain server: no TLS.
    pub fn start() -> OwnPostgres {
        Self::start_with(None)
    }

    /// A server that offers TLS with this certificate (chain) and key, and still takes plain
    /// connections: which one a client gets is its `sslmode`.
    pub fn start_with_tls(server: &TlsPaths) -> OwnPostgres {
        Self::start_with(Some(server))
    }

    fn start_with(tls: Option<&TlsPaths>) -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .max()
            .expect("pg_ctl");
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .args(["postgres"])
            .arg(dir.path())
            .status();
        let port = vir_shared::ports::free_port().unwrap();
        let data = dir.path().join("data");
        let ok = as_postgres(&bin, "initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust"])
            .output()
            .expect("initdb");
        assert!(ok.status.success(), "initdb: {ok:?}");
        let tls_options = match tls {
            None => String::new(),
            Some(paths) => {
                // The server reads its key only when it is the server's own and not readable
                // by anyone else.
                let cert = dir.path().join("server.crt");
                let key = dir.path().join("server.key");
                std::fs::copy(&paths.cert, &cert).unwrap();
                std::fs::copy(&paths.key, &key).unwrap();
                hand_over(&cert, 0o644);
                hand_over(&key, 0o600);
                format!(
                    " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                    cert.display(),
                    key.display()
                )
            }
        };
        let pg = OwnPostgres {
            bin,
            data,
            port,
            tls_options,
            _dir: dir,
        };
        pg.up();
        pg
    }

    /// Starts the server (again), with the same settings.
    pub fn up(&self) {
        let socket_dir = self.data.parent().unwrap();
        let out = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(socket_dir.join("log"))
            .arg("-w")
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{}",
                self.port,
                socket_dir.display(),
                self.tls_options
            ))
            .arg("start")
            .output()
            .expect("pg_ctl start");
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    /// As a crash: no checkpoint, connections cut.
    pub fn kill(&self) {
        let out = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .expect("pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's URL for the `postgres` database, without TLS.
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Creates a database and returns its URL (plain; append TLS settings as needed).
    pub async fn database(&self, name: &str) -> String {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin_url())
            .await
            .expect("connect");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
