//! The node's link to the hub, end to end: two nodes, the real pseudonymiser, and a scripted
//! stand-in for the hub over real mutual TLS.
//!
//! The stand-in applies operations like the hub's contract says (op_id at or below the last
//! applied = DUPLICATE), matches person keys across regions, relays envelopes, and is sloppy
//! on purpose where the node must cope: every subscription replays the feed from 1 (the node
//! must apply each item once), and the test can push garbled items.

use std::collections::HashMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use vir_certs::DevPki;
use vir_node::config::{
    Category, Environment, ForwarderConfig, NodeConfig, Partner, RegistryConfig, Upstream,
};
use vir_proto as pb;
use vir_proto::hub_server::{Hub, HubServer};
use vir_proto::node_client::NodeClient;
use vir_shared::clock::{ClockConfig, ManualClock};
use vir_shared::person::{Address, Gender, Person, RegistryFile};
use vir_shared::service::ServiceHandle;
use vir_shared::tls::TlsPaths;
use vir_shared::{Bsn, Oin, RegionCode, SharedClock};

// ---------------------------------------------------------------------------------------------
// The scripted hub
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct HubData {
    last_applied: HashMap<String, u64>,
    /// Every op_id received out of order (must stay empty).
    gaps: Vec<(String, u64)>,
    /// Active signals: (region, signal_ref) -> person key.
    active: HashMap<(String, String), Vec<u8>>,
    chains: HashMap<String, Vec<Vec<u8>>>,
    feeds: HashMap<String, Vec<pb::FeedItem>>,
    /// match id -> both sides (region, signal_ref).
    matches: HashMap<String, [(String, String); 2]>,
    keys_seen: Vec<Vec<u8>>,
    relays: usize,
}

#[derive(Clone)]
struct FakeHub {
    data: Arc<Mutex<HubData>>,
    changed: watch::Sender<u64>,
}

impl FakeHub {
    fn new() -> Self {
        FakeHub {
            data: Arc::default(),
            changed: watch::channel(0).0,
        }
    }

    fn push(&self, data: &mut HubData, region: &str, body: pb::feed_item::Body) {
        let feed = data.feeds.entry(region.to_owned()).or_default();
        let seq = feed.len() as u64 + 1;
        feed.push(pb::FeedItem {
            seq,
            created_unix_ms: 0,
            body: Some(body),
        });
        self.changed.send_modify(|v| *v += 1);
    }

    /// Appends a raw item to a region's feed (for garbled-item tests).
    fn push_raw(&self, region: &str, body: Option<pb::feed_item::Body>) {
        let mut data = self.data.lock().unwrap();
        let feed = data.feeds.entry(region.to_owned()).or_default();
        let seq = feed.len() as u64 + 1;
        feed.push(pb::FeedItem {
            seq,
            created_unix_ms: 0,
            body,
        });
        self.changed.send_modify(|v| *v += 1);
    }

    fn apply(&self, data: &mut HubData, region: &str, op: pb::operation::Op) {
        match op {
            pb::operation::Op::Upsert(u) => {
                let key = u.person_key.unwrap().value;
                data.keys_seen.push(key.clone());
                let others: Vec<(String, String)> = data
                    .active
                    .iter()
                    .filter(|((r, _), k)| r != region && **k == key)
                    .map(|(side, _)| side.clone())
                    .collect();
                data.active
                    .insert((region.to_owned(), u.signal_ref.clone()), key);
                for (other_region, other_ref) in others {
                    let match_id = format!("m{}", data.matches.len() + 1);
                    let mine = (region.to_owned(), u.signal_ref.clone());
                    let theirs = (other_region.clone(), other_ref.clone());
                    data.matches
                        .insert(match_id.clone(), [mine.clone(), theirs.clone()]);
                    for (me, other) in [(&mine, &theirs), (&theirs, &mine)] {
                        let chain = data.chains.get(&other.0).cloned().unwrap_or_default();
                        let body = pb::feed_item::Body::MatchCreated(pb::MatchCreated {
                            match_id: match_id.clone(),
                            kind: pb::MatchKind::Client as i32,
                            your_signal_ref: me.1.clone(),
                            other_region: other.0.clone(),
                            other_signal_ref: other.1.clone(),
                            other_node_chain: chain,
                        });
                        self.push(data, &me.0, body);
                    }
                }
            }
            pb::operation::Op::Remove(r) => {
                data.active
                    .remove(&(region.to_owned(), r.signal_ref.clone()));
                let ended: Vec<(String, (String, String))> = data
                    .matches
                    .iter()
                    .filter(|(_, sides)| sides.iter().any(|s| s.0 == region && s.1 == r.signal_ref))
                    .flat_map(|(id, sides)| {
                        sides
                            .iter()
                            .filter(|s| s.0 != region)
                            .map(|s| (id.clone(), s.clone()))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                for (id, other) in ended {
                    data.matches.remove(&id);
                    let body = pb::feed_item::Body::MatchEnded(pb::MatchEnded {
                        match_id: id,
                        your_signal_ref: other.1,
                    });
                    self.push(data, &other.0, body);
                }
            }
            pb::operation::Op::Relay(e) => {
                data.relays += 1;
                let body = pb::feed_item::Body::Envelope(pb::EnvelopeDelivered {
                    match_id: e.match_id,
                    from_region: region.to_owned(),
                    about_signal_ref: e.about_signal_ref,
                    sealed: e.sealed,
                });
                self.push(data, &e.to_region, body);
            }
            // Inzage across regions is exercised against the real hub (tests/tests/inzage.rs).
            pb::operation::Op::InzageRequest(_) | pb::operation::Op::InzageAnswer(_) => {}
            // Verhuizing is exercised against the real hub (tests/tests/verhuizing.rs).
            pb::operation::Op::MoveOut(_)
            | pb::operation::Op::MoveHandover(_)
            | pb::operation::Op::HandoverOffer(_)
            | pb::operation::Op::Forget(_) => {}
        }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::FeedEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Hub for FakeHub {
    async fn snapshot(
        &self,
        _request: tonic::Request<vir_proto::SnapshotRequest>,
    ) -> Result<tonic::Response<vir_proto::SnapshotResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "this test hub keeps every feed item",
        ))
    }

    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let chain = vir_shared::tls::peer_chain(&request);
        let req = request.into_inner();
        let mut data = self.data.lock().unwrap();
        data.chains.insert(req.region.clone(), chain);
        let mut results = Vec::new();
        for op in req.operations {
            let last = data.last_applied.get(&req.region).copied().unwrap_or(0);
            let outcome = if op.op_id <= last {
                pb::OpOutcome::Duplicate
            } else {
                if op.op_id != last + 1 {
                    data.gaps.push((req.region.clone(), op.op_id));
                }
                data.last_applied.insert(req.region.clone(), op.op_id);
                self.apply(&mut data, &req.region, op.op.unwrap());
                pb::OpOutcome::Applied
            };
            results.push(pb::OperationResult {
                op_id: op.op_id,
                outcome: outcome as i32,
            });
        }
        let last_applied_op_id = data.last_applied.get(&req.region).copied().unwrap_or(0);
        Ok(Response::new(pb::SubmitResponse {
            results,
            last_applied_op_id,
        }))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let region = request.into_inner().region;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let data = self.data.clone();
        let mut changed = self.changed.subscribe();
        // Sloppy on purpose: always from 1, whatever the node asked for.
        tokio::spawn(async move {
            let mut next = 0;
            loop {
                let items: Vec<pb::FeedItem> = {
                    let data = data.lock().unwrap();
                    data.feeds
                        .get(&region)
                        .map(|f| f[next..].to_vec())
                        .unwrap_or_default()
                };
                for item in items {
                    next += 1;
                    let event = pb::FeedEvent {
                        event: Some(pb::feed_event::Event::Item(item)),
                    };
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn ack(&self, _: Request<pb::AckRequest>) -> Result<Response<pb::AckResponse>, Status> {
        Ok(Response::new(pb::AckResponse {}))
    }

    async fn status(
        &self,
        _: Request<pb::HubStatusRequest>,
    ) -> Result<Response<pb::HubStatusResponse>, Status> {
        Ok(Response::new(pb::HubStatusResponse::default()))
    }

    async fn report(
        &self,
        _: Request<pb::PolicyReportRequest>,
    ) -> Result<Response<pb::PolicyReportResponse>, Status> {
        Err(Status::unimplemented("the fake hub makes no reports"))
    }
}

async fn serve_hub(hub: FakeHub, tls: &TlsPaths, shutdown: CancellationToken) -> String {
    let config = vir_shared::tls::server_config(tls).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = vir_shared::tls::incoming(listener, config, shutdown.clone(), "fake-hub");
    tokio::spawn(
        Server::builder()
            .add_service(HubServer::new(hub))
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned()),
    );
    format!("https://{addr}")
}

// ---------------------------------------------------------------------------------------------
// The federation around it
// ---------------------------------------------------------------------------------------------

struct World {
    dir: tempfile::TempDir,
    hub: FakeHub,
    hub_url: String,
    pseudonymiser: ServiceHandle,
    clock: SharedClock,
    nodes: HashMap<&'static str, (NodeConfig, TlsPaths)>,
    youth: Bsn,
    _stop: tokio_util::sync::DropGuard,
}

const REGIONS: [&str; 2] = ["drenthe", "zuid-limburg"];

fn write_registry(path: &Path, youth: &Bsn) {
    let person = Person {
        bsn: youth.clone(),
        given_names: "Daan".into(),
        surname_prefix: String::new(),
        surname: "Smit".into(),
        gender: Gender::Male,
        birth_date: NaiveDate::from_ymd_opt(2014, 4, 4).unwrap(),
        address: Address {
            street: "Vrijthof".into(),
            house_number: 1,
            addition: None,
            postcode: "6211LE".parse().unwrap(),
            city: "Maastricht".into(),
        },
        municipality: "0935".parse().unwrap(),
        parents: vec![],
        death_date: None,
    };
    vir_certs::registry::write(
        path,
        &RegistryFile {
            people: vec![person],
        },
    )
    .unwrap();
}

async fn world() -> World {
    vir_shared::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), "VIR Dev").unwrap();
    let clock: SharedClock = ManualClock::new(Utc.with_ymd_and_hms(2026, 5, 10, 9, 0, 0).unwrap());
    let stop = CancellationToken::new();

    let hub = FakeHub::new();
    let hub_tls = pki
        .issue_service("hub", "VIR Hub", &vir_certs::test_oin(2), "localhost")
        .unwrap();
    let hub_url = serve_hub(hub.clone(), &hub_tls, stop.clone()).await;

    let mut node_creds = Vec::new();
    for (i, region) in REGIONS.iter().enumerate() {
        let region: RegionCode = region.parse().unwrap();
        let oin = vir_certs::test_oin(10 + i as u64);
        let creds = pki
            .issue_node(&format!("node-{region}"), &region, &oin, "localhost")
            .unwrap();
        node_creds.push((region, oin, creds));
    }

    let seed_file = dir.path().join("pseudonymiser.seed");
    vir_pseudonymiser::seed::Seed::init_file(&seed_file).unwrap();
    let ps_config = vir_pseudonymiser::Config {
        environment: vir_pseudonymiser::config::Environment::Development,
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: pki
            .issue_service(
                "pseudonymiser",
                "VIR Pseudonymiser",
                &vir_certs::test_oin(3),
                "localhost",
            )
            .unwrap(),
        seed_file,
        current_version: 1,
        versions: vec![1],
        nodes: node_creds
            .iter()
            .map(|(region, oin, _)| vir_pseudonymiser::config::NodeEntry {
                oin: oin.clone(),
                region: region.clone(),
            })
            .collect(),
        rate_limit: Default::default(),
        clock: ClockConfig::default(),
        metrics: None,
        log_format: None,
        limits: Default::default(),
    };
    let pseudonymiser = vir_pseudonymiser::spawn(ps_config, clock.clone())
        .await
        .unwrap();

    let youth = (40_000_000..).find_map(Bsn::from_prefix).unwrap();
    let registry = dir.path().join("registry.json");
    write_registry(&registry, &youth);

    let mut nodes = HashMap::new();
    for (i, (region, _, creds)) in node_creds.into_iter().enumerate() {
        let partner_oin: Oin = vir_certs::test_oin(100 + i as u64);
        let organisation = format!("JGZ {region}");
        let client = pki
            .issue_client(&format!("partner-{region}"), &organisation, &partner_oin)
            .unwrap();
        let config = NodeConfig {
            environment: Environment::Development,
            region: region.clone(),
            name: format!("Verwijsindex {region}"),
            municipalities: vec!["0935".parse().unwrap()],
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: creds.tls,
            hpke_private_key: creds.hpke_private_key,
            hub: Upstream {
                url: hub_url.clone(),
                server_name: "localhost".into(),
            },
            pseudonymiser: Upstream {
                url: pseudonymiser.url(),
                server_name: "localhost".into(),
            },
            storage_url: vir_shared::db::sqlite_url(&dir.path().join(format!("{region}.sqlite"))),
            registry: RegistryConfig {
                file: registry.clone(),
                watch_ms: 1000,
            },
            partners: vec![Partner {
                oin: partner_oin,
                organisation,
                category: Category::Jgz,
                national: true,
                role: Default::default(),
            }],
            forwarder: ForwarderConfig {
                batch_size: 2,
                poll_ms: 50,
                ..ForwarderConfig::default()
            },
            clock: ClockConfig::default(),
            rules: Default::default(),
            matching: Default::default(),
            moves: Default::default(),
            web: None,
            mail: None,
            metrics: None,
            log_format: None,
            report_threshold: vir_node::reports::default_threshold(),
            limits: Default::default(),
            links: Default::default(),
        };
        nodes.insert(REGIONS[i], (config, client));
    }
    World {
        dir,
        hub,
        hub_url,
        pseudonymiser,
        clock,
        nodes,
        youth,
        _stop: stop.drop_guard(),
    }
}

impl World {
    async fn start(&self, region: &str) -> ServiceHandle {
        let (config, _) = &self.nodes[region];
        vir_node::spawn(config.clone(), self.clock.clone())
            .await
            .unwrap()
    }

    fn partner(&self, node: &ServiceHandle, region: &str) -> NodeClient<Channel> {
        let (_, client) = &self.nodes[region];
        NodeClient::new(vir_shared::tls::channel(&node.url(), client, "localhost").unwrap())
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn notifications(client: &mut NodeClient<Channel>) -> Vec<pb::Notification> {
    client
        .list_notifications(pb::ListNotificationsRequest {})
        .await
        .unwrap()
        .into_inner()
        .notifications
}

async fn node_status(client: &mut NodeClient<Channel>) -> pb::NodeStatusResponse {
    client
        .status(pb::NodeStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

fn create(bsn: &Bsn, name: &str) -> pb::CreateSignalRequest {
    pb::CreateSignalRequest {
        bsn: bsn.to_string(),
        signaller: Some(pb::Contact {
            name: name.into(),
            phone: String::new(),
            email: "nurse@example.nl".into(),
        }),
        end_date: String::new(),
        ..Default::default()
    }
}

#[tokio::test]
async fn cross_regional_match_brings_sealed_contacts_across_once() {
    let w = world().await;
    let drenthe = w.start("drenthe").await;
    let limburg = w.start("zuid-limburg").await;
    let mut p_drenthe = w.partner(&drenthe, "drenthe");
    let mut p_limburg = w.partner(&limburg, "zuid-limburg");

    let mine = p_drenthe
        .create_signal(create(&w.youth, "Nurse Drenthe"))
        .await
        .unwrap()
        .into_inner();
    let theirs = p_limburg
        .create_signal(create(&w.youth, "Nurse Limburg"))
        .await
        .unwrap()
        .into_inner();

    // Each side learns the other's organisation and contact, from the opened envelope.
    for (client, other_org, other_name) in [
        (&mut p_drenthe, "JGZ zuid-limburg", "Nurse Limburg"),
        (&mut p_limburg, "JGZ drenthe", "Nurse Drenthe"),
    ] {
        eventually("the envelope to be opened", || {
            let mut c = client.clone();
            async move { !notifications(&mut c).await.is_empty() }
        })
        .await;
        let told = notifications(client).await;
        assert_eq!(told.len(), 1);
        let party = &told[0].parties[0];
        assert_eq!(party.organisation, other_org);
        assert_eq!(party.signaller.as_ref().unwrap().name, other_name);
        assert!(!party.contact_pending);
        let matches = client
            .list_matches(pb::ListMatchesRequest {})
            .await
            .unwrap()
            .into_inner()
            .matches;
        assert_eq!(matches.len(), 1);
        assert_eq!(matches[0].id, told[0].match_id);
        assert_eq!(matches[0].others[0].organisation, other_org);
    }
    {
        let data = w.hub.data.lock().unwrap();
        assert!(
            data.gaps.is_empty(),
            "op ids arrive in order: {:?}",
            data.gaps
        );
        // Both regions got the same person key from the OPRF, and never the BSN.
        assert_eq!(data.keys_seen.len(), 2);
        assert_eq!(data.keys_seen[0], data.keys_seen[1]);
        assert_eq!(data.relays, 2);
    }
    let s = node_status(&mut p_drenthe).await;
    assert!(s.hub_connected);
    assert_eq!((s.matches, s.outbox_pending, s.feed_applied_seq), (1, 0, 2));

    // Garbled items are skipped but advance the position; nobody is told anything.
    w.hub.push_raw("drenthe", None);
    w.hub.push_raw(
        "drenthe",
        Some(pb::feed_item::Body::Envelope(pb::EnvelopeDelivered {
            match_id: "m404".into(),
            from_region: "zuid-limburg".into(),
            about_signal_ref: theirs.id.clone(),
            sealed: vec![7; 80],
        })),
    );
    eventually("the garbled items to be passed", || {
        let mut c = p_drenthe.clone();
        async move { node_status(&mut c).await.feed_applied_seq == 4 }
    })
    .await;
    assert_eq!(notifications(&mut p_drenthe).await.len(), 1);

    // A restart resubscribes; the hub replays from 1, and nothing is applied twice.
    drenthe.shutdown().await.unwrap();
    {
        let db = vir_node::store::connect(&w.nodes["drenthe"].0.storage_url)
            .await
            .unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        let skipped =
            vir_node::store::counter_value(&mut conn, vir_node::store::counter::FEED_SKIPPED)
                .await
                .unwrap();
        assert_eq!(skipped, 2, "both garbled items were counted");
        drop(conn);
        db.close().await;
    }
    let drenthe = w.start("drenthe").await;
    let mut p_drenthe = w.partner(&drenthe, "drenthe");
    eventually("the restarted node to follow the feed", || {
        let mut c = p_drenthe.clone();
        async move { node_status(&mut c).await.hub_connected }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(notifications(&mut p_drenthe).await.len(), 1);
    assert_eq!(node_status(&mut p_drenthe).await.feed_applied_seq, 4);

    // Zuid-Limburg withdraws: the hub ends the match, and Drenthe's side ends with it.
    p_limburg
        .withdraw_signal(pb::WithdrawSignalRequest {
            signal_id: theirs.id.clone(),
        })
        .await
        .unwrap();
    eventually("the match to end in Drenthe", || {
        let mut c = p_drenthe.clone();
        async move {
            c.list_matches(pb::ListMatchesRequest {})
                .await
                .unwrap()
                .into_inner()
                .matches
                .is_empty()
        }
    })
    .await;
    assert_eq!(node_status(&mut p_drenthe).await.feed_applied_seq, 5);
    let _ = mine;
    drenthe.shutdown().await.unwrap();
    limburg.shutdown().await.unwrap();
    let _ = (&w.dir, &w.hub_url);
    w.pseudonymiser.shutdown().await.unwrap();
}

#[tokio::test]
async fn outbox_drains_in_order_after_the_hub_was_down() {
    let w = world().await;
    // Point Drenthe at a hub that is not there yet.
    let mut config = w.nodes["drenthe"].0.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("https://{}", listener.local_addr().unwrap());
    drop(listener);
    config.hub.url = down;
    let node = vir_node::spawn(config, w.clock.clone()).await.unwrap();
    let mut partner = w.partner(&node, "drenthe");
    let signal = partner
        .create_signal(create(&w.youth, "Nurse"))
        .await
        .unwrap()
        .into_inner();
    partner
        .withdraw_signal(pb::WithdrawSignalRequest {
            signal_id: signal.id,
        })
        .await
        .unwrap();
    partner
        .create_signal(create(&w.youth, "Nurse"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(node_status(&mut partner).await.outbox_pending, 3);
    node.shutdown().await.unwrap();

    // Back with the right hub: three operations, in order, batch size 2.
    let node = w.start("drenthe").await;
    let mut partner = w.partner(&node, "drenthe");
    eventually("the outbox to drain", || {
        let mut c = partner.clone();
        async move { node_status(&mut c).await.outbox_pending == 0 }
    })
    .await;
    {
        let data = w.hub.data.lock().unwrap();
        assert_eq!(data.last_applied.get("drenthe"), Some(&3));
        assert!(data.gaps.is_empty());
        assert_eq!(data.active.len(), 1);
    }
    let _ = node_status(&mut partner).await;
    node.shutdown().await.unwrap();
}
