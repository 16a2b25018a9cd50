//! The service's one secret: a 32-byte seed from which every OPRF key is derived.
//!
//! The seed lives in its own file (hex, mode 0600), never in the TOML configuration, so a
//! configuration can be shown, reviewed and versioned without leaking it. `init-seed` writes a
//! fresh one and refuses to overwrite an existing file: replacing the seed silently would change
//! every key in the federation at once. Rotation is done with key versions instead
//! ([`crate::oprf::KeySet`]).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

pub const SEED_LEN: usize = 32;

/// The secret seed. `Debug` never shows it.
#[derive(Clone)]
pub struct Seed([u8; SEED_LEN]);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}: already exists; refusing to overwrite a seed (it would change every key)")]
    Exists(PathBuf),
    #[error("{path}: not a {SEED_LEN}-byte hex seed: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: readable by group or others (mode {mode:o}); run `chmod 600` on it")]
    Permissions { path: PathBuf, mode: u32 },
}

impl Seed {
    /// A fresh random seed from the operating system.
    pub fn generate() -> Seed {
        let mut bytes = [0u8; SEED_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Seed(bytes)
    }

    pub fn from_bytes(bytes: [u8; SEED_LEN]) -> Seed {
        Seed(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// Reads a seed file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<Seed, SeedError> {
        check_permissions(path)?;
        let text = std::fs::read_to_string(path).map_err(|error| SeedError::Io {
            path: path.to_owned(),
            error,
        })?;
        let format = |reason: String| SeedError::Format {
            path: path.to_owned(),
            reason,
        };
        let bytes = hex::decode(text.trim()).map_err(|e| format(e.to_string()))?;
        let bytes: [u8; SEED_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format(format!("{} bytes", bytes.len())))?;
        Ok(Seed(bytes))
    }

    /// Writes a new random seed to `path` with mode 0600. Refuses an existing file.
    pub fn init_file(path: &Path) -> Result<(), SeedError> {
        let io = |error: std::io::Error| SeedError::Io {
            path: path.to_owned(),
            error,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                SeedError::Exists(path.to_owned())
            } else {
                io(e)
            }
        })?;
        let seed = Seed::generate();
        file.write_all(format!("{}\n", hex::encode(seed.0)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), SeedError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|error| SeedError::Io {
        path: path.to_owned(),
        error,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SeedError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), SeedError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.hex");
        Seed::init_file(&path).unwrap();
        let seed = Seed::load(&path).unwrap();
        assert_eq!(format!("{seed:?}"), "Seed(<redacted>)");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(matches!(Seed::init_file(&path), Err(SeedError::Exists(_))));
        assert_eq!(Seed::load(&path).unwrap().as_bytes(), seed.as_bytes());
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_seed_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.hex");
        std::fs::write(&path, hex::encode([7u8; SEED_LEN])).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Seed::load(&path),
            Err(SeedError::Permissions { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn malformed_seed_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.hex");
        std::fs::write(&path, "abcd\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Seed::load(&path).unwrap_err().to_string();
        assert!(err.contains("2 bytes"), "{err}");
    }
}
