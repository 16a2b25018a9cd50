//! Writing certificates and keys to disk: private keys only ever exist with mode 0600.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Writes a private key (or any secret) so that it is readable by its owner only.
///
/// The mode is set on the open file before a byte is written, so a pre-existing file with a
/// wider mode never holds the new secret, even briefly.
pub(crate) fn write_secret(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
        write_all(file, path, contents)
    }
    #[cfg(not(unix))]
    {
        let file = options
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        write_all(file, path, contents)
    }
}

fn write_all(mut file: fs::File, path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes a public file (certificates, chains).
pub(crate) fn write_public(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn read_to_string(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub(crate) fn create_dir(path: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating directory {}", path.display()))
}

/// The directory `<dir>/<name>` for a leaf. The name becomes a path component, so it must be a
/// plain file name: no separators, no `.` or `..`, nothing that escapes `dir`.
pub(crate) fn leaf_dir(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        bail!(
            "certificate name {name:?} must be a plain file name of letters, digits, '-', '_' or '.'"
        );
    }
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_names_cannot_escape_the_directory() {
        let dir = Path::new("/tmp/pki");
        assert_eq!(leaf_dir(dir, "hub").unwrap(), dir.join("hub"));
        assert_eq!(leaf_dir(dir, "node-1.a").unwrap(), dir.join("node-1.a"));
        for bad in ["", ".", "..", "../x", "a/b", "a b", "/abs"] {
            assert!(leaf_dir(dir, bad).is_err(), "{bad:?} accepted");
        }
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_0600_even_over_a_wider_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_secret(&path, b"new").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }
}
