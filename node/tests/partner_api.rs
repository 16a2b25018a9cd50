//! End-to-end tests of the partner API: a node on 127.0.0.1:0 with a fresh development PKI,
//! partners calling over real mutual TLS. Hub and pseudonymiser point at a closed port: the
//! forwarder and feed just retry, and operations stay in the outbox.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use chrono::{Months, NaiveDate, TimeZone, Utc};
use tonic::transport::Channel;
use tonic::Code;
use vir_certs::DevPki;
use vir_node::config::{Category, ForwarderConfig, NodeConfig, Partner, RegistryConfig, Upstream};
use vir_proto as pb;
use vir_proto::node_client::NodeClient;
use vir_shared::clock::{ClockConfig, ManualClock};
use vir_shared::person::{Address, Gender, Person, RegistryFile};
use vir_shared::service::ServiceHandle;
use vir_shared::tls::TlsPaths;
use vir_shared::{Bsn, Oin, RegionCode};

const TODAY: (i32, u32, u32) = (2026, 5, 10);

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).unwrap()
}

fn bsn(prefix: u32) -> Bsn {
    (prefix..).find_map(Bsn::from_prefix).unwrap()
}

/// The people in the test registry.
struct People {
    youth: Bsn,
    second_youth: Bsn,
    aged_23: Bsn,
    deceased: Bsn,
    unknown: Bsn,
}

fn person(bsn: &Bsn, birth_date: NaiveDate) -> Person {
    Person {
        bsn: bsn.clone(),
        given_names: "Noor Anna".into(),
        surname_prefix: "van".into(),
        surname: "Dijk".into(),
        gender: Gender::Female,
        birth_date,
        address: Address {
            street: "Kerkstraat".into(),
            house_number: 12,
            addition: None,
            postcode: "9401AB".parse().unwrap(),
            city: "Assen".into(),
        },
        municipality: "0106".parse().unwrap(),
        parents: vec![],
        death_date: None,
    }
}

fn write_registry(path: &Path) -> People {
    let people = People {
        youth: bsn(30_000_000),
        second_youth: bsn(30_000_100),
        aged_23: bsn(30_000_200),
        deceased: bsn(30_000_300),
        unknown: bsn(30_000_400),
    };
    let mut dead = person(
        &people.deceased,
        NaiveDate::from_ymd_opt(2014, 1, 1).unwrap(),
    );
    dead.death_date = Some(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap());
    let file = RegistryFile {
        people: vec![
            person(&people.youth, NaiveDate::from_ymd_opt(2013, 9, 1).unwrap()),
            person(
                &people.second_youth,
                NaiveDate::from_ymd_opt(2020, 2, 29).unwrap(),
            ),
            // 23 today: no longer a youth.
            person(&people.aged_23, today() - Months::new(23 * 12)),
            dead,
        ],
    };
    vir_certs::registry::write(path, &file).unwrap();
    people
}

/// An address nothing listens on: the node's links to hub and pseudonymiser keep failing.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    format!("https://{addr}")
}

struct Federation {
    _dir: tempfile::TempDir,
    node: ServiceHandle,
    clients: Vec<TlsPaths>,
    stranger: TlsPaths,
    people: People,
}

/// Partners 1..=4: 1-3 national, 4 regional only.
async fn start() -> Federation {
    vir_shared::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), "VIR Dev").unwrap();
    let region: RegionCode = "drenthe".parse().unwrap();
    let node = pki
        .issue_node(
            "node-drenthe",
            &region,
            &vir_certs::test_oin(1),
            "localhost",
        )
        .unwrap();
    let categories = [
        Category::Jgz,
        Category::School,
        Category::SocialWork,
        Category::Police,
    ];
    let mut partners = Vec::new();
    let mut clients = Vec::new();
    for (n, category) in (1..=4u64).zip(categories) {
        let oin: Oin = vir_certs::test_oin(100 + n);
        let organisation = format!("Organisation {n}");
        clients.push(
            pki.issue_client(&format!("partner-{n}"), &organisation, &oin)
                .unwrap(),
        );
        partners.push(Partner {
            oin,
            organisation,
            category,
            national: n <= 3,
            role: Default::default(),
        });
    }
    let stranger = pki
        .issue_client("stranger", "Not A Partner", &vir_certs::test_oin(999))
        .unwrap();
    let registry = dir.path().join("registry.json");
    let people = write_registry(&registry);

    let config = NodeConfig {
        environment: vir_node::config::Environment::Development,
        region,
        name: "Verwijsindex Drenthe".into(),
        municipalities: vec!["0106".parse().unwrap()],
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: node.tls.clone(),
        hpke_private_key: node.hpke_private_key.clone(),
        hub: Upstream {
            url: closed_port(),
            server_name: "localhost".into(),
        },
        pseudonymiser: Upstream {
            url: closed_port(),
            server_name: "localhost".into(),
        },
        storage_url: vir_shared::db::sqlite_url(&dir.path().join("node.sqlite")),
        registry: RegistryConfig {
            file: registry,
            watch_ms: 1000,
        },
        partners,
        forwarder: ForwarderConfig::default(),
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
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(TODAY.0, TODAY.1, TODAY.2, 9, 0, 0)
            .unwrap(),
    );
    let node = vir_node::spawn(config, clock as Arc<_>).await.unwrap();
    Federation {
        _dir: dir,
        node,
        clients,
        stranger,
        people,
    }
}

impl Federation {
    fn client_with(&self, tls: &TlsPaths) -> NodeClient<Channel> {
        NodeClient::new(vir_shared::tls::channel(&self.node.url(), tls, "localhost").unwrap())
    }

    /// Partner `n` (1-based).
    fn partner(&self, n: usize) -> NodeClient<Channel> {
        self.client_with(&self.clients[n - 1])
    }
}

fn create(bsn: &Bsn, name: &str, end_date: &str) -> pb::CreateSignalRequest {
    pb::CreateSignalRequest {
        bsn: bsn.to_string(),
        signaller: Some(pb::Contact {
            name: name.into(),
            phone: "0592 123 456".into(),
            email: format!("{}@example.nl", name.to_lowercase().replace(' ', ".")),
        }),
        end_date: end_date.into(),
        ..Default::default()
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

async fn status(client: &mut NodeClient<Channel>) -> pb::NodeStatusResponse {
    client
        .status(pb::NodeStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn third_and_fourth_signallers_are_matched_and_everyone_is_told_once() {
    let fed = start().await;
    let youth = fed.people.youth.clone();
    let mut ids = Vec::new();
    for n in 1..=4 {
        let signal = fed
            .partner(n)
            .create_signal(create(&youth, &format!("Signaller {n}"), ""))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(signal.youth_name, "N.A. van Dijk");
        assert_eq!(signal.end_date, "2028-05-10");
        assert_eq!(signal.national, n <= 3);
        ids.push(signal.id);
    }

    for (n, expected) in [(1, 3), (2, 3), (3, 2), (4, 1)] {
        let told = notifications(&mut fed.partner(n)).await;
        assert_eq!(told.len(), expected, "signaller {n}");
        let mut named: Vec<String> = told
            .iter()
            .flat_map(|t| {
                t.parties
                    .iter()
                    .map(|p| p.signaller.as_ref().unwrap().name.clone())
            })
            .collect();
        named.sort();
        let mut others: Vec<String> = (1..=4)
            .filter(|m| *m != n)
            .map(|m| format!("Signaller {m}"))
            .collect();
        others.sort();
        assert_eq!(
            named, others,
            "signaller {n} is told about each other party exactly once"
        );
        assert!(told
            .iter()
            .all(|t| t.kind == pb::MatchKind::Client as i32 && t.your_signal_id == ids[n - 1]));
    }
    // Signaller 2 heard of 1 (when it signalled), then of 3, then of 4.
    let told = notifications(&mut fed.partner(2)).await;
    let order: Vec<&str> = told
        .iter()
        .map(|t| t.parties[0].organisation.as_str())
        .collect();
    assert_eq!(
        order,
        ["Organisation 1", "Organisation 3", "Organisation 4"]
    );

    let matches = fed
        .partner(1)
        .list_matches(pb::ListMatchesRequest {})
        .await
        .unwrap()
        .into_inner()
        .matches;
    assert_eq!(matches.len(), 1);
    let others = &matches[0].others;
    assert_eq!(others.len(), 3);
    let police = others.iter().find(|p| p.category == "police").unwrap();
    assert_eq!(police.organisation, "Organisation 4");
    assert_eq!(police.region, "drenthe");
    assert_eq!(police.signalled_on, "2026-05-10");
    assert!(!police.contact_pending);
    assert_eq!(
        police.signaller.as_ref().unwrap().email,
        "signaller.4@example.nl"
    );

    // The first signaller withdraws: the others still match each other.
    let withdrawn = fed
        .partner(1)
        .withdraw_signal(pb::WithdrawSignalRequest {
            signal_id: ids[0].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.status, pb::SignalStatus::Inactive as i32);
    let matches = fed
        .partner(2)
        .list_matches(pb::ListMatchesRequest {})
        .await
        .unwrap()
        .into_inner()
        .matches;
    assert_eq!(matches[0].others.len(), 2);
    // Someone else's signal cannot be withdrawn.
    let err = fed
        .partner(1)
        .withdraw_signal(pb::WithdrawSignalRequest {
            signal_id: ids[1].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let s = status(&mut fed.partner(4)).await;
    assert_eq!(s.region, "drenthe");
    assert_eq!((s.active_signals, s.matches), (3, 1));
    // Three national upserts and one national remove wait for the (unreachable) hub.
    assert_eq!(s.outbox_pending, 4);
    assert!(!s.hub_connected);
    fed.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_the_right_code_and_store_nothing() {
    let fed = start().await;
    let mut p1 = fed.partner(1);
    let cases = [
        (
            create(&fed.people.youth, "A", "").tap_bsn("123456789"),
            Code::InvalidArgument,
            "bsn",
        ),
        (
            create(&fed.people.youth, "A", "").tap_bsn("12345"),
            Code::InvalidArgument,
            "bsn",
        ),
        (
            create(&fed.people.unknown, "A", ""),
            Code::NotFound,
            "bsn: not known",
        ),
        (
            create(&fed.people.aged_23, "A", ""),
            Code::FailedPrecondition,
            "under 23",
        ),
        (
            create(&fed.people.deceased, "A", ""),
            Code::FailedPrecondition,
            "deceased",
        ),
        (
            create(&fed.people.youth, "A", "2028-05-11"),
            Code::InvalidArgument,
            "end_date",
        ),
        (
            create(&fed.people.youth, "A", "2026-05-10"),
            Code::InvalidArgument,
            "end_date",
        ),
        (
            create(&fed.people.youth, "A", "next year"),
            Code::InvalidArgument,
            "end_date",
        ),
        (
            create(&fed.people.youth, "", ""),
            Code::InvalidArgument,
            "signaller.name",
        ),
        (
            pb::CreateSignalRequest {
                signaller: Some(pb::Contact {
                    name: "A".into(),
                    ..Default::default()
                }),
                ..create(&fed.people.youth, "A", "")
            },
            Code::InvalidArgument,
            "phone number or an e-mail",
        ),
    ];
    for (request, code, message) in cases {
        let err = p1.create_signal(request).await.unwrap_err();
        assert_eq!(err.code(), code, "{}", err.message());
        assert!(
            err.message().contains(message),
            "{:?} lacks {message:?}",
            err.message()
        );
    }

    // A certificate from the federation whose OIN is not a partner: refused on every RPC.
    let mut stranger = fed.client_with(&fed.stranger);
    let err = stranger
        .create_signal(create(&fed.people.youth, "A", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = stranger.status(pb::NodeStatusRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // A second active signal by the same organisation on the same youth.
    p1.create_signal(create(&fed.people.youth, "A", "2027-01-01"))
        .await
        .unwrap();
    let err = p1
        .create_signal(create(&fed.people.youth, "A", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    let signals = p1
        .list_signals(pb::ListSignalsRequest {})
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert_eq!(signals.len(), 1, "only the one valid signal is stored");
    assert_eq!(signals[0].end_date, "2027-01-01");
    let s = status(&mut p1).await;
    assert_eq!((s.active_signals, s.matches, s.outbox_pending), (1, 0, 1));
    fed.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_regional_only_partner_writes_no_outbox_operation() {
    let fed = start().await;
    let mut regional_only = fed.partner(4);
    let signal = regional_only
        .create_signal(create(&fed.people.second_youth, "Agent", ""))
        .await
        .unwrap()
        .into_inner();
    assert!(!signal.national);
    assert_eq!(status(&mut regional_only).await.outbox_pending, 0);
    regional_only
        .withdraw_signal(pb::WithdrawSignalRequest {
            signal_id: signal.id,
        })
        .await
        .unwrap();
    assert_eq!(status(&mut regional_only).await.outbox_pending, 0);

    fed.partner(1)
        .create_signal(create(&fed.people.second_youth, "Nurse", ""))
        .await
        .unwrap();
    let s = status(&mut regional_only).await;
    assert_eq!((s.active_signals, s.outbox_pending), (1, 1));
    // Partners see only their own signals.
    let mine = regional_only
        .list_signals(pb::ListSignalsRequest {})
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, pb::SignalStatus::Inactive as i32);
    fed.node.shutdown().await.unwrap();
}

trait TapBsn {
    fn tap_bsn(self, bsn: &str) -> Self;
}

impl TapBsn for pb::CreateSignalRequest {
    fn tap_bsn(mut self, bsn: &str) -> Self {
        self.bsn = bsn.into();
        self
    }
}
