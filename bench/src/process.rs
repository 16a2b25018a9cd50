//! The hub as a process of its own, so that its resident memory is the hub's alone: locating
//! the `vir-hub` binary of this workspace next to the bench executable (building it when it is
//! missing), running it with a configuration file, and reading `/proc/<pid>/status`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use crate::setup::Identities;

/// How long a started hub may take to answer its first call.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The target directory of this executable (`target/<profile>`, also for test executables in
/// `target/<profile>/deps`).
fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let mut dir = exe
        .parent()
        .context("the bench executable has no folder")?
        .to_owned();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    Ok(dir)
}

/// The `vir-hub` binary next to this executable; built with cargo (same profile, same target
/// directory) when missing. `Err` says why there is none.
pub fn locate_or_build() -> anyhow::Result<PathBuf> {
    let dir = profile_dir()?;
    let binary = dir.join("vir-hub");
    if binary.is_file() {
        return Ok(binary);
    }
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("unnamed profile folder")?
        .to_owned();
    let target = dir.parent().context("no target folder")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("no workspace folder")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile_arg = if profile == "debug" { "dev" } else { &profile };
    eprintln!("building vir-hub ({profile}) for the scale scenario…");
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "vir-hub", "--profile", profile_arg])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(workspace)
        .status()
        .context("running cargo to build vir-hub")?;
    if !status.success() || !binary.is_file() {
        bail!("building vir-hub failed ({status})");
    }
    Ok(binary)
}

/// A running hub process. Killed when dropped.
pub struct HubProcess {
    child: Child,
    pub pid: u32,
    pub url: String,
}

impl HubProcess {
    /// Starts `binary run --config <dir>/hub.toml` on a free port and waits until node 0 gets
    /// an answer to `Status`.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        ids: &Identities,
        storage_url: &str,
    ) -> anyhow::Result<HubProcess> {
        let listen = crate::setup::free_port()?;
        let config = dir.join("hub.toml");
        std::fs::write(&config, ids.hub_toml(listen, storage_url))?;
        let log = std::fs::File::create(dir.join("hub.log"))?;
        let child = Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the hub process has no pid")?;
        let process = HubProcess {
            child,
            pid,
            url: format!("https://{listen}"),
        };
        let client = ids.hub_client(0, &process.url)?;
        let start = Instant::now();
        loop {
            let attempt = client.clone().status(vir_proto::HubStatusRequest {}).await;
            match attempt {
                Ok(_) => return Ok(process),
                Err(e) if start.elapsed() > READY_WITHIN => {
                    bail!(
                        "the hub process did not answer within {READY_WITHIN:?} ({e}); see {}",
                        dir.join("hub.log").display()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Stops the process (SIGKILL: its database is thrown away) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Resident memory now and at its peak (VmRSS, VmHWM) of a process, in MiB.
pub fn memory_mib(pid: Option<u32>) -> anyhow::Result<(f64, f64)> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{path} has no {name}"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed status line")?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
