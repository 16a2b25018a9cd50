//! The pseudonymiser over real mTLS and gRPC on 127.0.0.1:0, with a fresh development PKI per
//! test, called through the node-side `KeyClient` and, for malformed requests, the raw client.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use tonic::Code;
use vir_certs::{test_oin, DevPki, NodeCredentials};
use vir_proto as pb;
use vir_proto::pseudonymiser_client::PseudonymiserClient;
use vir_pseudonymiser::config::{Config, Environment, NodeEntry, RateLimit};
use vir_pseudonymiser::seed::Seed;
use vir_pseudonymiser::{KeyClient, KeyClientError, Running};
use vir_shared::clock::{ClockConfig, SystemClock};
use vir_shared::keys::{KeyDomain, KEY_LEN};
use vir_shared::tls::TlsPaths;
use vir_shared::RegionCode;

const DRENTHE: &str = "drenthe";
const LIMBURG: &str = "zuid-limburg";

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

/// A fresh PKI, two configured nodes, one unconfigured node, and a running pseudonymiser.
struct Setup {
    dir: TempDir,
    pki: DevPki,
    config: Config,
    drenthe: NodeCredentials,
    limburg: NodeCredentials,
    stranger: NodeCredentials,
    running: Running,
}

impl Setup {
    async fn start(rate_limit: RateLimit) -> Setup {
        Self::start_with(rate_limit, 1, vec![1]).await
    }

    async fn start_with(rate_limit: RateLimit, current_version: u32, versions: Vec<u32>) -> Setup {
        vir_shared::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::create(&dir.path().join("pki"), "VIR Dev").unwrap();
        let service_tls = pki
            .issue_service(
                "pseudonymiser",
                "VIR Pseudonymiser",
                &test_oin(1),
                "localhost",
            )
            .unwrap();
        let drenthe = pki
            .issue_node("node-drenthe", &region(DRENTHE), &test_oin(11), "localhost")
            .unwrap();
        let limburg = pki
            .issue_node("node-limburg", &region(LIMBURG), &test_oin(12), "localhost")
            .unwrap();
        let stranger = pki
            .issue_node(
                "node-utrecht",
                &region("utrecht"),
                &test_oin(13),
                "localhost",
            )
            .unwrap();
        let seed_file = dir.path().join("seed.hex");
        Seed::init_file(&seed_file).unwrap();
        let config = Config {
            environment: Environment::Development,
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: service_tls,
            seed_file,
            current_version,
            versions,
            nodes: vec![
                NodeEntry {
                    oin: test_oin(11),
                    region: region(DRENTHE),
                },
                NodeEntry {
                    oin: test_oin(12),
                    region: region(LIMBURG),
                },
            ],
            rate_limit,
            clock: ClockConfig::default(),
            metrics: None,
            log_format: None,
            limits: Default::default(),
        };
        let running = vir_pseudonymiser::spawn_with_metrics(config.clone(), Arc::new(SystemClock))
            .await
            .unwrap();
        Setup {
            dir,
            pki,
            config,
            drenthe,
            limburg,
            stranger,
            running,
        }
    }

    fn url(&self) -> String {
        self.running.handle.url()
    }

    fn key_client(&self, tls: &TlsPaths, region_code: &str) -> KeyClient {
        let channel = vir_shared::tls::channel(&self.url(), tls, "localhost").unwrap();
        KeyClient::new(channel, region(region_code))
    }

    fn raw_client(&self, tls: &TlsPaths) -> PseudonymiserClient<tonic::transport::Channel> {
        PseudonymiserClient::new(vir_shared::tls::channel(&self.url(), tls, "localhost").unwrap())
    }

    fn metric(&self, pick: impl Fn(&vir_pseudonymiser::service::Metrics) -> u64) -> u64 {
        pick(&self.running.metrics)
    }
}

fn generous() -> RateLimit {
    RateLimit {
        per_minute: 60_000,
        burst: 10_000,
    }
}

fn bsns() -> Vec<Vec<u8>> {
    ["111222333", "123456782", "999999990"]
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect()
}

fn rpc_code(result: Result<impl std::fmt::Debug, KeyClientError>) -> Code {
    match result {
        Err(KeyClientError::Rpc(status)) => status.code(),
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_same_bsn_through_two_nodes_gives_the_same_key() {
    let setup = Setup::start(generous()).await;
    let drenthe = setup.key_client(&setup.drenthe.tls, DRENTHE);
    let limburg = setup.key_client(&setup.limburg.tls, LIMBURG);

    let a = drenthe.keys(KeyDomain::Person, &bsns()).await.unwrap();
    let b = limburg.keys(KeyDomain::Person, &bsns()).await.unwrap();
    assert_eq!(a, b, "OPRF output is independent of node and blind");
    assert_eq!(a.len(), 3);
    assert!(a
        .iter()
        .all(|k| k.domain == KeyDomain::Person && k.version == 1));
    assert_eq!(a[0].value.len(), KEY_LEN);
    assert_ne!(a[0].value, a[1].value);

    // Asking again (new blinds) gives the same keys; one key alone too.
    let again = drenthe.keys(KeyDomain::Person, &bsns()).await.unwrap();
    assert_eq!(a, again);
    let one = limburg.key(KeyDomain::Person, b"123456782").await.unwrap();
    assert_eq!(one, a[1]);
    assert_eq!(drenthe.cached_current_version(), Some(1));
    assert_eq!(
        setup.metric(|m| m.evaluated_elements.load(Ordering::Relaxed)),
        10
    );
    setup.running.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn different_domains_give_different_keys() {
    let setup = Setup::start(generous()).await;
    let client = setup.key_client(&setup.drenthe.tls, DRENTHE);
    let input = vec![b"123456782".to_vec()];
    let mut values = Vec::new();
    for domain in KeyDomain::ALL {
        let key = client.keys(domain, &input).await.unwrap().remove(0);
        assert_eq!(key.domain, domain);
        values.push(key.value);
    }
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 3, "every domain has its own key");
}

#[tokio::test]
async fn batches_larger_than_one_call_keep_their_order() {
    let setup = Setup::start(generous()).await;
    let inputs: Vec<Vec<u8>> = (0..250)
        .map(|i| format!("input-{i}").into_bytes())
        .collect();
    let batched = setup
        .key_client(&setup.drenthe.tls, DRENTHE)
        .with_max_batch(100)
        .keys(KeyDomain::Fallback, &inputs)
        .await
        .unwrap();
    let whole = setup
        .key_client(&setup.limburg.tls, LIMBURG)
        .keys(KeyDomain::Fallback, &inputs)
        .await
        .unwrap();
    assert_eq!(batched, whole);
    assert_eq!(
        setup.metric(|m| m.evaluate_calls.load(Ordering::Relaxed)),
        4
    );
    assert!(setup
        .key_client(&setup.drenthe.tls, DRENTHE)
        .keys(KeyDomain::Person, &[])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_unknown_oin_is_refused_on_the_first_rpc() {
    let setup = Setup::start(generous()).await;
    let stranger = setup.key_client(&setup.stranger.tls, "utrecht");
    assert_eq!(
        rpc_code(stranger.keys(KeyDomain::Person, &bsns()).await),
        Code::PermissionDenied
    );
    assert_eq!(
        rpc_code(stranger.refresh_public_keys().await),
        Code::PermissionDenied
    );

    // A partner organisation's certificate chains to the same root but is no node.
    let partner = setup
        .pki
        .issue_client("school", "Openbare Basisschool De Es", &test_oin(500))
        .unwrap();
    let school = setup.key_client(&partner, DRENTHE);
    assert_eq!(
        rpc_code(school.keys(KeyDomain::Person, &bsns()).await),
        Code::PermissionDenied
    );
    assert_eq!(
        setup.metric(|m| m.refused_identity.load(Ordering::Relaxed)),
        3
    );
    assert_eq!(
        setup.metric(|m| m.evaluated_elements.load(Ordering::Relaxed)),
        0
    );
}

#[tokio::test]
async fn a_spoofed_region_is_refused() {
    let setup = Setup::start(generous()).await;
    // Drenthe's certificate claiming to be Zuid-Limburg.
    let spoofer = setup.key_client(&setup.drenthe.tls, LIMBURG);
    let result = spoofer.keys(KeyDomain::Person, &bsns()).await;
    match &result {
        Err(KeyClientError::Rpc(status)) => {
            assert_eq!(status.code(), Code::PermissionDenied);
            assert!(status.message().contains(LIMBURG), "{}", status.message());
        }
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
    assert!(!result.unwrap_err().is_rate_limited());
    assert_eq!(
        setup.metric(|m| m.refused_identity.load(Ordering::Relaxed)),
        1
    );
}

#[tokio::test]
async fn the_rate_limit_refuses_above_its_limit() {
    let setup = Setup::start(RateLimit {
        per_minute: 1,
        burst: 5,
    })
    .await;
    let drenthe = setup.key_client(&setup.drenthe.tls, DRENTHE);
    let five: Vec<Vec<u8>> = (0..5).map(|i| format!("bsn-{i}").into_bytes()).collect();
    drenthe.keys(KeyDomain::Person, &five).await.unwrap();

    let err = drenthe
        .keys(KeyDomain::Person, &five[..1])
        .await
        .unwrap_err();
    assert!(err.is_rate_limited(), "{err}");
    assert!(err.is_transient());
    let retry = err.retry_after().expect("retry-after metadata");
    assert!(retry > Duration::from_secs(50), "{retry:?}");
    assert!(err.to_string().contains("retry after"), "{err}");

    // Another node has its own budget.
    let limburg = setup.key_client(&setup.limburg.tls, LIMBURG);
    limburg.keys(KeyDomain::Person, &five).await.unwrap();

    // A batch larger than the burst can never pass: INVALID_ARGUMENT, not a retry loop.
    let six: Vec<Vec<u8>> = (0..6).map(|i| format!("bsn-{i}").into_bytes()).collect();
    let over = setup.key_client(&setup.limburg.tls, LIMBURG);
    assert_eq!(
        rpc_code(over.keys(KeyDomain::Person, &six).await),
        Code::InvalidArgument
    );
    assert_eq!(
        setup.metric(|m| m.refused_rate_limit.load(Ordering::Relaxed)),
        2
    );
}

#[tokio::test]
async fn malformed_requests_are_invalid_arguments() {
    let setup = Setup::start(generous()).await;
    let mut raw = setup.raw_client(&setup.drenthe.tls);
    let good = setup
        .key_client(&setup.drenthe.tls, DRENTHE)
        .keys(KeyDomain::Person, &bsns())
        .await
        .unwrap();
    assert_eq!(good.len(), 3);

    let request =
        |domain: pb::KeyDomain, version: u32, elements: Vec<Vec<u8>>| pb::EvaluateRequest {
            region: DRENTHE.into(),
            domain: domain as i32,
            key_version: version,
            blinded_elements: elements,
        };
    let point = {
        // Any valid non-identity point: the ristretto255 base point.
        hex::decode("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76").unwrap()
    };
    let cases = [
        (
            request(pb::KeyDomain::Unspecified, 0, vec![point.clone()]),
            "domain",
        ),
        (
            request(pb::KeyDomain::Person, 7, vec![point.clone()]),
            "version 7",
        ),
        (request(pb::KeyDomain::Person, 0, vec![]), "empty"),
        (
            request(pb::KeyDomain::Person, 0, vec![point.clone(), vec![1, 2, 3]]),
            "element 1",
        ),
        (
            request(
                pb::KeyDomain::Person,
                0,
                vec![point.clone(), vec![0; 32], point.clone()],
            ),
            "element 1",
        ),
        (
            request(pb::KeyDomain::Person, 0, vec![point.clone(); 10_001]),
            "at most 10000",
        ),
    ];
    for (req, expect) in cases {
        let status = raw.evaluate(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{expect}: {status:?}");
        assert!(
            status.message().contains(expect),
            "{expect}: {}",
            status.message()
        );
    }

    let ok = raw
        .evaluate(request(pb::KeyDomain::Address, 1, vec![point.clone(); 2]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.key_version, 1);
    assert_eq!(ok.evaluated_elements.len(), 2);
    assert_eq!(ok.proof.len(), 64);
}

#[tokio::test]
async fn public_keys_cover_every_domain_and_served_version_and_survive_a_restart() {
    let setup = Setup::start_with(generous(), 2, vec![1, 2]).await;
    let mut raw = setup.raw_client(&setup.limburg.tls);
    let keys = raw
        .public_keys(pb::PublicKeysRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys.current_version, 2);
    assert_eq!(keys.keys.len(), 6);
    assert!(keys.keys.iter().all(|k| k.public_key.len() == 32));

    let client = setup.key_client(&setup.limburg.tls, LIMBURG);
    let v2 = client.keys(KeyDomain::Person, &bsns()).await.unwrap();
    assert!(v2.iter().all(|k| k.version == 2));

    // The keys come from the seed file only: a restarted service gives the same keys.
    let Setup {
        dir,
        config,
        running,
        limburg,
        ..
    } = setup;
    running.handle.shutdown().await.unwrap();
    let restarted = vir_pseudonymiser::spawn(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let channel = vir_shared::tls::channel(&restarted.url(), &limburg.tls, "localhost").unwrap();
    let after = KeyClient::new(channel, region(LIMBURG))
        .keys(KeyDomain::Person, &bsns())
        .await
        .unwrap();
    assert_eq!(v2, after);
    restarted.shutdown().await.unwrap();
    assert!(Path::new(dir.path()).exists());
}
