//! End to end over real mutual TLS and gRPC on 127.0.0.1:0, with a fresh development PKI per
//! test: identity from certificates, feeds streamed to both nodes, restart and resume.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::{Code, Streaming};
use vir_certs::{test_oin, DevPki};
use vir_hub::{Environment, HubConfig, NodeEntry};
use vir_proto as pb;
use vir_proto::hub_client::HubClient;
use vir_shared::clock::{ClockConfig, SystemClock};
use vir_shared::service::ServiceHandle;
use vir_shared::tls::TlsPaths;
use vir_shared::{Oin, RegionCode};

const WAIT: Duration = Duration::from_secs(10);

/// A PKI, the hub's configuration and the credentials of two nodes, an operator and a stranger.
struct Setup {
    _dir: tempfile::TempDir,
    config: HubConfig,
    drenthe: TlsPaths,
    limburg: TlsPaths,
    operator: TlsPaths,
    stranger: TlsPaths,
}

impl Setup {
    fn new() -> Setup {
        vir_shared::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::create(&dir.path().join("pki"), "VIR Dev").unwrap();
        let hub = pki
            .issue_service("hub", "VIR Hub", &test_oin(1), "localhost")
            .unwrap();
        let node = |name: &str, region: &str, oin: Oin| {
            let region: RegionCode = region.parse().unwrap();
            let creds = pki.issue_node(name, &region, &oin, "localhost").unwrap();
            (
                NodeEntry {
                    oin,
                    region,
                    municipalities: Vec::new(),
                },
                creds.tls,
            )
        };
        let (drenthe_entry, drenthe) = node("node-drenthe", "drenthe", test_oin(2));
        let (limburg_entry, limburg) = node("node-limburg", "zuid-limburg", test_oin(3));
        let operator = pki
            .issue_client("operator", "VIR Beheer", &test_oin(9))
            .unwrap();
        let stranger = pki
            .issue_client("stranger", "Onbekende Organisatie", &test_oin(77))
            .unwrap();
        let config = HubConfig {
            environment: Environment::Development,
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: hub,
            storage_url: vir_shared::db::sqlite_url(&dir.path().join("hub.sqlite")),
            nodes: vec![drenthe_entry, limburg_entry],
            operators: vec![test_oin(9)],
            heartbeat_ms: 200,
            clock: ClockConfig::default(),
            metrics: None,
            log_format: None,
            report_threshold: 5,
            limits: Default::default(),
            feed_retention_days: 30,
            feed_prune_interval_ms: 60_000,
        };
        Setup {
            _dir: dir,
            config,
            drenthe,
            limburg,
            operator,
            stranger,
        }
    }

    async fn spawn(&self) -> ServiceHandle {
        vir_hub::spawn(self.config.clone(), Arc::new(SystemClock))
            .await
            .unwrap()
    }
}

fn client(hub: &ServiceHandle, tls: &TlsPaths) -> HubClient<Channel> {
    HubClient::new(vir_shared::tls::channel(&hub.url(), tls, "localhost").unwrap())
}

fn upsert(op_id: u64, signal_ref: &str, key_byte: u8) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::Upsert(pb::SignalUpsert {
            signal_ref: signal_ref.into(),
            person_key: Some(pb::PseudoKey {
                domain: pb::KeyDomain::Person as i32,
                version: 1,
                value: vec![key_byte; 64],
            }),
            municipality: "0106".into(),
            ..Default::default()
        })),
    }
}

fn submit(region: &str, operations: Vec<pb::Operation>) -> pb::SubmitRequest {
    pb::SubmitRequest {
        region: region.into(),
        operations,
    }
}

async fn subscribe(
    client: &mut HubClient<Channel>,
    region: &str,
    from_seq: u64,
) -> Streaming<pb::FeedEvent> {
    let request = pb::SubscribeRequest {
        region: region.into(),
        from_seq,
    };
    client.subscribe(request).await.unwrap().into_inner()
}

/// The next feed item, skipping heartbeats.
async fn next_item(stream: &mut Streaming<pb::FeedEvent>) -> pb::FeedItem {
    loop {
        let event = tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("a feed event in time")
            .expect("stream healthy")
            .expect("stream open");
        if let Some(pb::feed_event::Event::Item(item)) = event.event {
            return item;
        }
    }
}

/// Items until the first heartbeat, which the hub sends only when it has nothing more.
async fn items_until_idle(stream: &mut Streaming<pb::FeedEvent>) -> Vec<pb::FeedItem> {
    let mut items = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("a feed event in time")
            .expect("stream healthy")
            .expect("stream open");
        match event.event {
            Some(pb::feed_event::Event::Item(item)) => items.push(item),
            Some(pb::feed_event::Event::Heartbeat(_)) => return items,
            None => panic!("empty feed event"),
        }
    }
}

fn match_created(item: &pb::FeedItem) -> &pb::MatchCreated {
    match &item.body {
        Some(pb::feed_item::Body::MatchCreated(m)) => m,
        other => panic!("expected MatchCreated, got {other:?}"),
    }
}

fn chain_of(tls: &TlsPaths) -> Vec<Vec<u8>> {
    vir_shared::tls::load_certs(&tls.cert)
        .unwrap()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect()
}

#[tokio::test]
async fn a_cross_region_match_streams_to_both_nodes() {
    let setup = Setup::new();
    let hub = setup.spawn().await;
    let mut drenthe = client(&hub, &setup.drenthe);
    let mut limburg = client(&hub, &setup.limburg);
    let mut drenthe_feed = subscribe(&mut drenthe, "drenthe", 0).await;
    let mut limburg_feed = subscribe(&mut limburg, "zuid-limburg", 1).await;

    let r = drenthe
        .submit(submit("drenthe", vec![upsert(1, "d-1", 5)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.last_applied_op_id, 1);
    limburg
        .submit(submit("zuid-limburg", vec![upsert(1, "l-1", 5)]))
        .await
        .unwrap();

    let d = next_item(&mut drenthe_feed).await;
    let l = next_item(&mut limburg_feed).await;
    assert_eq!((d.seq, l.seq), (1, 1));
    let (dm, lm) = (match_created(&d), match_created(&l));
    assert_eq!(dm.match_id, lm.match_id);
    assert_eq!(
        (dm.your_signal_ref.as_str(), dm.other_region.as_str()),
        ("d-1", "zuid-limburg")
    );
    assert_eq!(
        (lm.your_signal_ref.as_str(), lm.other_region.as_str()),
        ("l-1", "drenthe")
    );
    // Each node gets the chain the other presented, to verify and seal to its HPKE key.
    assert_eq!(dm.other_node_chain, chain_of(&setup.limburg));
    assert_eq!(lm.other_node_chain, chain_of(&setup.drenthe));

    // Idle feeds get heartbeats with the head.
    let event = tokio::time::timeout(WAIT, drenthe_feed.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match event.event {
        Some(pb::feed_event::Event::Heartbeat(h)) => assert_eq!(h.head_seq, 1),
        other => panic!("expected a heartbeat, got {other:?}"),
    }

    drenthe
        .ack(pb::AckRequest {
            region: "drenthe".into(),
            seq: 1,
        })
        .await
        .unwrap();
    let mut operator = client(&hub, &setup.operator);
    let status = operator
        .status(pb::HubStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((status.active_signals, status.matches), (2, 1));
    let d = status
        .regions
        .iter()
        .find(|r| r.region == "drenthe")
        .unwrap();
    assert_eq!(
        (d.feed_head_seq, d.feed_acked_seq, d.subscribers),
        (1, 1, 1)
    );

    // Shutdown completes with subscriptions open: they end.
    tokio::time::timeout(WAIT, hub.shutdown())
        .await
        .unwrap()
        .unwrap();
    let end = tokio::time::timeout(WAIT, drenthe_feed.message())
        .await
        .unwrap();
    assert!(
        !matches!(end, Ok(Some(_))),
        "the stream ends at shutdown: {end:?}"
    );
}

#[tokio::test]
async fn an_unknown_oin_is_denied() {
    let setup = Setup::new();
    let hub = setup.spawn().await;
    let mut stranger = client(&hub, &setup.stranger);
    let err = stranger
        .submit(submit("drenthe", vec![upsert(1, "x-1", 1)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = stranger
        .subscribe(pb::SubscribeRequest {
            region: "drenthe".into(),
            from_seq: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = stranger.status(pb::HubStatusRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // An operator may read the status, but not act as a node.
    let mut operator = client(&hub, &setup.operator);
    let err = operator
        .submit(submit("drenthe", vec![upsert(1, "x-1", 1)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let status = operator
        .status(pb::HubStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.active_signals, 0);
    hub.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_spoofed_region_claim_is_denied() {
    let setup = Setup::new();
    let hub = setup.spawn().await;
    let mut drenthe = client(&hub, &setup.drenthe);
    let err = drenthe
        .submit(submit("zuid-limburg", vec![upsert(1, "d-1", 1)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = drenthe
        .subscribe(pb::SubscribeRequest {
            region: "zuid-limburg".into(),
            from_seq: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = drenthe
        .ack(pb::AckRequest {
            region: "zuid-limburg".into(),
            seq: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // Nothing was applied: the node's first op id is still new.
    let r = drenthe
        .submit(submit("drenthe", vec![upsert(1, "d-1", 1)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results[0].outcome(), pb::OpOutcome::Applied);
    let err = drenthe
        .submit(submit(
            "drenthe",
            vec![upsert(2, "d-2", 1), upsert(2, "d-3", 1)],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    hub.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_a_restart_a_subscription_resumes_without_repeats() {
    let setup = Setup::new();
    let hub = setup.spawn().await;
    let mut drenthe = client(&hub, &setup.drenthe);
    let mut limburg = client(&hub, &setup.limburg);
    drenthe
        .submit(submit(
            "drenthe",
            (1..=3)
                .map(|i| upsert(i, &format!("d-{i}"), i as u8))
                .collect(),
        ))
        .await
        .unwrap();
    limburg
        .submit(submit(
            "zuid-limburg",
            vec![upsert(1, "l-1", 1), upsert(2, "l-2", 2)],
        ))
        .await
        .unwrap();
    let mut feed = subscribe(&mut drenthe, "drenthe", 1).await;
    let before = items_until_idle(&mut feed).await;
    assert_eq!(before.iter().map(|i| i.seq).collect::<Vec<_>>(), [1, 2]);
    drop(feed);
    hub.shutdown().await.unwrap();

    let hub = setup.spawn().await;
    let mut drenthe = client(&hub, &setup.drenthe);
    let mut limburg = client(&hub, &setup.limburg);
    // A re-sent batch after the restart is still recognised.
    let again = limburg
        .submit(submit(
            "zuid-limburg",
            vec![upsert(2, "l-2", 2), upsert(3, "l-3", 3)],
        ))
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<_> = again.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(outcomes, [pb::OpOutcome::Duplicate, pb::OpOutcome::Applied]);

    // The node applied up to 2 and resumes from 3: exactly the new item, nothing repeated.
    let mut feed = subscribe(&mut drenthe, "drenthe", 3).await;
    let after = items_until_idle(&mut feed).await;
    assert_eq!(after.iter().map(|i| i.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(match_created(&after[0]).your_signal_ref, "d-3");

    // Live items keep coming on the same stream.
    limburg
        .submit(submit("zuid-limburg", vec![upsert(4, "l-4", 1)]))
        .await
        .unwrap();
    let live = next_item(&mut feed).await;
    assert_eq!(live.seq, 4);
    assert_eq!(match_created(&live).other_signal_ref, "l-4");

    // A position beyond the head is an error, not a silent wait.
    let err = drenthe
        .subscribe(pb::SubscribeRequest {
            region: "drenthe".into(),
            from_seq: 9,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    hub.shutdown().await.unwrap();
}
