//! The one clock that every date rule reads (2-year expiry, archive, age 23, working days).
//!
//! Production uses [`SystemClock`]. Tests use [`ManualClock`]. The local development federation
//! uses [`DevClock`]: the system time plus an offset kept in a file, so that
//! `virctl dev clock set 2027-03-29` moves every service of the federation at once and a tester
//! can play years of lifecycle in seconds. A production configuration refuses a dev clock
//! (see [`ClockConfig::build`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A source of "now". Every date rule takes its time from here, never from `Utc::now()`.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Today's date. Dates are UTC dates; the services run in one time zone, and the
    /// difference with Dutch local time only matters in the hour around midnight.
    fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. For tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(ManualClock(Mutex::new(start)))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = now;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// System time plus an offset in seconds read from a file shared by the local federation.
/// The file is re-read when its modification time changes, checked at most every 200 ms.
#[derive(Debug)]
pub struct DevClock {
    file: PathBuf,
    state: Mutex<DevClockState>,
}

#[derive(Debug)]
struct DevClockState {
    checked_at: Option<Instant>,
    modified: Option<SystemTime>,
    offset_seconds: i64,
}

impl DevClock {
    const RECHECK: Duration = Duration::from_millis(200);

    pub fn new(file: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(DevClock {
            file: file.into(),
            state: Mutex::new(DevClockState {
                checked_at: None,
                modified: None,
                offset_seconds: 0,
            }),
        })
    }

    /// Writes the offset that makes the dev clock show `target` now.
    pub fn write_target(file: &Path, target: DateTime<Utc>) -> std::io::Result<i64> {
        let offset = (target - Utc::now()).num_seconds();
        Self::write_offset(file, offset)?;
        Ok(offset)
    }

    pub fn write_offset(file: &Path, offset_seconds: i64) -> std::io::Result<()> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Write then rename, so a reader never sees half a number.
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, format!("{offset_seconds}\n"))?;
        std::fs::rename(tmp, file)
    }

    pub fn read_offset(file: &Path) -> std::io::Result<i64> {
        match std::fs::read_to_string(file) {
            Ok(text) => text.trim().parse().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", file.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }
}

impl Clock for DevClock {
    fn now(&self) -> DateTime<Utc> {
        let mut state = self.state.lock().expect("clock lock");
        let due = state
            .checked_at
            .is_none_or(|t| t.elapsed() >= Self::RECHECK);
        if due {
            state.checked_at = Some(Instant::now());
            let modified = std::fs::metadata(&self.file)
                .and_then(|m| m.modified())
                .ok();
            if modified != state.modified {
                state.modified = modified;
                match Self::read_offset(&self.file) {
                    Ok(offset) => state.offset_seconds = offset,
                    Err(e) => {
                        tracing::warn!(error = %e, "dev clock file unreadable; keeping offset")
                    }
                }
            }
        }
        Utc::now() + chrono::Duration::seconds(state.offset_seconds)
    }
}

/// The `[clock]` section of a service configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// `system` (default) or `dev`.
    #[serde(default)]
    pub mode: ClockMode,
    /// For `dev`: the offset file shared by the local federation.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    #[default]
    System,
    Dev,
}

#[derive(Debug, thiserror::Error)]
pub enum ClockConfigError {
    #[error("clock.mode = \"dev\" is refused in a production configuration (environment = \"production\")")]
    DevInProduction,
    #[error("clock.mode = \"dev\" needs clock.file")]
    MissingFile,
}

impl ClockConfig {
    pub fn build(&self, production: bool) -> Result<SharedClock, ClockConfigError> {
        match self.mode {
            ClockMode::System => Ok(Arc::new(SystemClock)),
            ClockMode::Dev if production => Err(ClockConfigError::DevInProduction),
            ClockMode::Dev => {
                let file = self.file.clone().ok_or(ClockConfigError::MissingFile)?;
                Ok(DevClock::new(file))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_clock_follows_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev-clock");
        let clock = DevClock::new(&file);
        let before = clock.now();
        assert!((before - Utc::now()).num_seconds().abs() < 5);

        let target = "2027-03-29T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        DevClock::write_target(&file, target).unwrap();
        std::thread::sleep(DevClock::RECHECK + Duration::from_millis(50));
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2027, 3, 29).unwrap());
    }

    #[test]
    fn production_refuses_dev_clock() {
        let cfg = ClockConfig {
            mode: ClockMode::Dev,
            file: Some("x".into()),
        };
        assert!(matches!(
            cfg.build(true),
            Err(ClockConfigError::DevInProduction)
        ));
        assert!(cfg.build(false).is_ok());
    }
}
