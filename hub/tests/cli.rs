//! The `vir-hub` binary as an operator meets it: a configuration mistake is one clear message.

use std::process::Command;

/// Writes `text` to `config`, runs `vir-hub check-config` on it, expects exit code 1 and
/// returns what it printed on stderr.
fn check_config_fails(config: &std::path::Path, text: &str) -> String {
    std::fs::write(config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vir-hub"))
        .arg("check-config")
        .arg("--config")
        .arg(config)
        .output()
        .expect("vir-hub runs");
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `check-config` on a file without its `tls` table: exit code 1, and one line naming the
/// program, the file and the missing key, the reason written once (it was printed twice, once
/// in the wrapper's message and again as that message's cause).
#[test]
fn a_configuration_mistake_names_the_file_and_the_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    let stderr = check_config_fails(
        &config,
        "listen = \"127.0.0.1:0\"\nstorage_url = \"sqlite://hub.sqlite\"\n",
    );
    assert!(
        stderr.starts_with(&format!("vir-hub: error: {}: ", config.display())),
        "{stderr}"
    );
    assert_eq!(stderr.matches("missing field `tls`").count(), 1, "{stderr}");
}

/// Production refuses a database on another host reached without checking its certificate,
/// and says what to write instead (deploy/README.md §1).
#[test]
fn production_refuses_an_unverified_link_to_a_remote_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    let with_url = |url: &str| {
        check_config_fails(
            &config,
            &format!(
                "environment = \"production\"\nlisten = \"127.0.0.1:0\"\n\
                 storage_url = \"{url}\"\n\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nca = \"r.pem\"\n"
            ),
        )
    };
    let refused = with_url("postgres://vir_hub@db.vir.internal:5432/vir_hub");
    assert!(
        refused
            .contains("`storage_url`: reaches PostgreSQL on db.vir.internal with sslmode=prefer")
            && refused.contains("sslmode=verify-full"),
        "{refused}"
    );
    // With verify-full the URL passes, and the check goes on to the (missing) TLS files.
    let passed = with_url(
        "postgres://vir_hub@db.vir.internal:5432/vir_hub?sslmode=verify-full&sslrootcert=/ca.pem",
    );
    assert!(!passed.contains("storage_url"), "{passed}");
    assert!(passed.contains("`tls`"), "{passed}");
}
