//! The `vir-hub` binary as an operator meets it: a configuration mistake is one clear message.

use std::process::Command;

/// `check-config` on a file without its `tls` table: exit code 1, and one line naming the
/// program, the file and the missing key, the reason written once (it was printed twice, once
/// in the wrapper's message and again as that message's cause).
#[test]
fn a_configuration_mistake_names_the_file_and_the_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nstorage_url = \"sqlite://hub.sqlite\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vir-hub"))
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("vir-hub runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("vir-hub: error: {}: ", config.display())),
        "{stderr}"
    );
    assert_eq!(stderr.matches("missing field `tls`").count(), 1, "{stderr}");
}
