//! The pseudonymiser as the nodes use it: one key per BSN whatever node asks, separate domains,
//! and a rate limit per node.

use std::sync::Arc;

use tonic::Code;
use vir_pseudonymiser::KeyClient;
use vir_shared::keys::KeyDomain;
use vir_shared::tls::TlsPaths;
use vir_tests::TestFed;

fn node_key_client(t: &TestFed, region: &str) -> KeyClient {
    let dir = t.fed.pki.dir().join(format!("node-{region}"));
    let tls = TlsPaths::new(
        dir.join("cert.pem"),
        dir.join("key.pem"),
        t.fed.pki.root_path(),
    );
    let channel =
        vir_shared::tls::channel(&t.fed.file.pseudonymiser.url, &tls, "localhost").unwrap();
    KeyClient::new(channel, region.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bsn_gives_the_same_key_on_every_node_and_domains_differ() {
    let t = TestFed::start().await;
    let bsn = t.youths()[0].bsn.to_string().into_bytes();
    let other = t.youths()[1].bsn.to_string().into_bytes();

    let mut person_keys = Vec::new();
    for region in ["drenthe", "zuid-limburg", "hoeksche-waard"] {
        let keys = node_key_client(&t, region)
            .keys(KeyDomain::Person, &[bsn.clone(), other.clone()])
            .await
            .expect("keys");
        person_keys.push(keys);
    }
    assert!(
        person_keys.windows(2).all(|w| w[0] == w[1]),
        "every node gets the same keys"
    );
    assert_ne!(
        person_keys[0][0], person_keys[0][1],
        "different BSNs, different keys"
    );

    let client = node_key_client(&t, "drenthe");
    let address = client
        .keys(KeyDomain::Address, std::slice::from_ref(&bsn))
        .await
        .unwrap();
    let fallback = client
        .keys(KeyDomain::Fallback, std::slice::from_ref(&bsn))
        .await
        .unwrap();
    assert_ne!(person_keys[0][0].value, address[0].value);
    assert_ne!(person_keys[0][0].value, fallback[0].value);
    assert_ne!(address[0].value, fallback[0].value);
    assert!(person_keys[0][0].version >= 1);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_refuses_a_node_above_its_limit() {
    let t = TestFed::start().await;
    // The local federation allows 20,000 keys at once per node; ask for more in small batches.
    let client = Arc::new(node_key_client(&t, "hoeksche-waard"));
    let batch: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| format!("probe-{i}").into_bytes())
        .collect();
    let mut refused = None;
    for round in 0..40 {
        match client.keys(KeyDomain::Person, &batch).await {
            Ok(keys) => assert_eq!(keys.len(), batch.len()),
            Err(e) => {
                refused = Some((round, e));
                break;
            }
        }
    }
    let (round, err) = refused.expect("refused before 40,000 keys");
    assert!(err.is_rate_limited(), "refused for the rate limit: {err}");
    assert!(
        (19..=21).contains(&round),
        "refused around the burst of 20,000, at round {round}"
    );
    match err {
        vir_pseudonymiser::KeyClientError::Rpc(status) => {
            assert_eq!(status.code(), Code::ResourceExhausted)
        }
        other => panic!("expected RESOURCE_EXHAUSTED, got {other}"),
    }
    // Another node keeps its own budget.
    assert!(node_key_client(&t, "drenthe")
        .keys(KeyDomain::Person, &batch[..10])
        .await
        .is_ok());
    t.shutdown().await;
}
