//! The link to a PostgreSQL server on another host is TLS with the server checked
//! (`sslmode=verify-full`, deploy/README.md §1): the hub's store migrates and works over it,
//! every one of its connections is encrypted, and a server whose certificate another CA signed
//! is refused. Runs when `VIR_TEST_POSTGRES_URL` is set (always in CI), on a server of its own
//! started with `ssl=on`.

use vir_certs::{test_oin, DevPki};
use vir_tests::own_postgres::OwnPostgres;

fn postgres_configured() -> bool {
    let set = std::env::var("VIR_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty());
    if !set {
        eprintln!("VIR_TEST_POSTGRES_URL is not set: skipping the PostgreSQL TLS test");
    }
    set
}

/// How many connections to `database` are encrypted, and how many are not.
async fn connections_by_tls(pg: &OwnPostgres, database: &str) -> (i64, i64) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&pg.admin_url()).await.unwrap();
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
    )
    .bind(database)
    .fetch_one(&mut admin)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_store_works_over_verified_tls_and_refuses_a_stranger() {
    if !postgres_configured() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database_pki = DevPki::create(&dir.path().join("db-pki"), "Database").unwrap();
    let server = database_pki
        .issue_service("postgres", "Database operator", &test_oin(90), "localhost")
        .unwrap();
    let pg = OwnPostgres::start_with_tls(&server);
    let plain_url = pg.database("hub_tls").await;
    let verified = |ca: &std::path::Path| {
        format!(
            "{plain_url}?sslmode=verify-full&sslrootcert={}",
            ca.display()
        )
    };

    // The production rule accepts the verified link to this (loopback, but named) server, and
    // the store migrates, writes and reads over it.
    let url = verified(&database_pki.root_path());
    vir_shared::binary::refuse_unverified_link(&url.replace("127.0.0.1", "db.example"))
        .expect("verify-full is what production asks for");
    let store = vir_hub::store::Store::connect(&url)
        .await
        .expect("the hub's store over verify-full TLS");
    let node = vir_hub::NodeEntry {
        oin: test_oin(1),
        region: "drenthe".parse().unwrap(),
        municipalities: vec!["0106".parse().unwrap()],
    };
    store
        .register_nodes(&[node], 0)
        .await
        .expect("a write over the link");
    let nodes = store.nodes().await.expect("a read over the link");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].region.as_str(), "drenthe");
    let (encrypted, plain) = connections_by_tls(&pg, "hub_tls").await;
    assert!(encrypted >= 1, "the store holds at least one connection");
    assert_eq!(plain, 0, "every connection of the store is TLS");
    store.close().await;

    // A server certificate from another CA: the handshake fails, nothing is written.
    let other_pki = DevPki::create(&dir.path().join("other-pki"), "Elsewhere").unwrap();
    let refused = vir_hub::store::Store::connect(&verified(&other_pki.root_path())).await;
    let Err(error) = refused else {
        panic!("a stranger's certificate is refused");
    };
    let text = vir_shared::binary::chain_line(&error);
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}
