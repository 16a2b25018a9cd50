//! Verhuizing (issue 5), end to end over real TLS and gRPC: the development registry is changed
//! as `virctl dev registry` does, the nodes see it, and the isverhuisd and inverhuis messages
//! and the sealed hand-over travel through the outbox, the hub and the feeds. On SQLite, and
//! on PostgreSQL too when `VIR_TEST_POSTGRES_URL` is set.

use std::time::Duration;

use prost::Message;
use sqlx::{AnyConnection, Connection, Row};
use vir_proto as pb;
use vir_shared::clock::Clock;
use vir_shared::person::{Address, Person};
use vir_shared::regions::DRENTHE;
use vir_shared::{devregistry, Bsn};
use vir_tests::{contains, dump_sqlite, eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(60);

/// The storage backends to run on: SQLite, and PostgreSQL when configured.
async fn backends() -> Vec<bool> {
    let mut all = vec![false];
    if vir_shared::db::testing::fresh_postgres_database("probe")
        .await
        .is_some()
    {
        all.push(true);
    }
    all
}

/// A federation on SQLite, or with the hub and the nodes of Drenthe and Zuid-Limburg on fresh
/// PostgreSQL databases.
async fn start(postgres: bool) -> TestFed {
    let mut urls = Vec::new();
    if postgres {
        for name in ["verhuizing_hub", "verhuizing_drenthe", "verhuizing_zl"] {
            urls.push(
                vir_shared::db::testing::fresh_postgres_database(name)
                    .await
                    .expect("postgres"),
            );
        }
    }
    TestFed::start_with(|o| {
        if let [hub, drenthe, zl] = urls.as_slice() {
            o.hub_storage_url = Some(hub.clone());
            o.node_storage_urls
                .insert("drenthe".into(), drenthe.clone());
            o.node_storage_urls
                .insert("zuid-limburg".into(), zl.clone());
        }
    })
    .await
}

fn org_name(t: &TestFed, id: &str) -> String {
    t.fed.file.organisation(id).unwrap().name.clone()
}

async fn db(url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url).await.expect("open database")
}

async fn count(url: &str, sql: &str, bind: &str) -> i64 {
    let mut conn = db(url).await;
    sqlx::query_scalar(sql)
        .bind(bind.to_owned())
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Living youths of Drenthe, no two sharing a parent.
fn drenthe_youths(t: &TestFed) -> Vec<Person> {
    t.unrelated_youths()
        .into_iter()
        .filter(|p| {
            DRENTHE
                .municipalities
                .iter()
                .any(|(c, _)| *c == p.municipality.as_str())
        })
        .cloned()
        .collect()
}

fn address(street: &str, number: u32, postcode: &str, city: &str) -> Address {
    Address {
        street: street.into(),
        house_number: number,
        addition: None,
        postcode: postcode.parse().unwrap(),
        city: city.into(),
    }
}

/// Moves a person in the registry file the nodes read, as `virctl dev registry move` does.
fn move_to(t: &TestFed, bsn: &Bsn, municipality: &str, to: Address) {
    devregistry::move_person(
        &t.fed.registry_file(),
        bsn,
        devregistry::parse_municipality(municipality).unwrap(),
        to,
    )
    .expect("registry move");
}

/// A Drenthe school signals the youth; once that is at the hub, Zuid-Limburg's node stops and
/// the youth moves into its region.
async fn signal_then_move_while_zuid_limburg_is_down(
    t: &mut TestFed,
    youth: &Person,
    municipality: &str,
    to: Address,
) {
    signal(t, "drenthe/school", &youth.bsn, "Jan de Vries").await;
    eventually("the signal at the hub", WAIT, || async {
        outbox_empty(t, "drenthe/school").await.then_some(())
    })
    .await;
    t.fed.stop_node("zuid-limburg", false).await.unwrap();
    move_to(t, &youth.bsn, municipality, to);
}

async fn signal(t: &TestFed, org: &str, bsn: &Bsn, name: &str) -> pb::Signal {
    t.node_client(org)
        .create_signal(signal_request(bsn.as_str(), name))
        .await
        .unwrap_or_else(|e| panic!("{org} signal: {e}"))
        .into_inner()
}

async fn notices(t: &TestFed, org: &str, topic: pb::NoticeTopic) -> Vec<pb::Notice> {
    t.node_client(org)
        .list_notices(pb::ListNoticesRequest {})
        .await
        .unwrap_or_else(|e| panic!("{org} notices: {e}"))
        .into_inner()
        .notices
        .into_iter()
        .filter(|n| n.topic == topic as i32)
        .collect()
}

async fn moves(t: &TestFed, org: &str) -> pb::AdminListMovesResponse {
    t.node_client(org)
        .admin_list_moves(pb::AdminListMovesRequest {})
        .await
        .unwrap_or_else(|e| panic!("{org} moves: {e}"))
        .into_inner()
}

async fn outbox_empty(t: &TestFed, org: &str) -> bool {
    t.node_client(org)
        .status(pb::NodeStatusRequest {})
        .await
        .map(|s| s.into_inner().outbox_pending == 0)
        .unwrap_or(false)
}

/// The feed items of a region at the hub, decoded.
async fn hub_feed(t: &TestFed, region: &str) -> Vec<(i64, pb::FeedItem)> {
    let mut conn = db(&t.fed.hub_storage_url().unwrap()).await;
    let rows = sqlx::query("SELECT seq, body FROM feed WHERE region = $1 ORDER BY seq")
        .bind(region.to_owned())
        .fetch_all(&mut conn)
        .await
        .expect("hub feed");
    rows.iter()
        .map(|r| {
            let body: Vec<u8> = r.get(1);
            (
                r.get(0),
                pb::FeedItem::decode(body.as_slice()).expect("feed item"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drenthe_youth_moving_to_maastricht_gives_one_inverhuis_with_an_opened_hand_over() {
    for postgres in backends().await {
        let t = start(postgres).await;
        let youth = drenthe_youths(&t)[0].clone();
        signal(&t, "drenthe/school", &youth.bsn, "Jan de Vries").await;
        signal(&t, "drenthe/jgz", &youth.bsn, "Els Bakker").await;
        // The municipality's coordinator takes regie, so the regievoerder is not a signaller.
        let regie_oin = t
            .fed
            .file
            .organisation("drenthe/regie")
            .unwrap()
            .oin
            .clone();
        let m = t
            .node_client("drenthe/school")
            .list_matches(pb::ListMatchesRequest {})
            .await
            .unwrap()
            .into_inner()
            .matches;
        assert_eq!(m.len(), 1, "a regional client match");
        t.node_client("drenthe/school")
            .set_regie(pb::SetRegieRequest {
                match_id: m[0].id.clone(),
                coordinator_oin: regie_oin.clone(),
            })
            .await
            .expect("regie to the municipal coordinator");
        eventually("signals at the hub", WAIT, || async {
            outbox_empty(&t, "drenthe/school").await.then_some(())
        })
        .await;

        move_to(
            &t,
            &youth.bsn,
            "GM0935",
            address("Vrijthof", 7, "6211LD", "Maastricht"),
        );

        let moved_in = eventually("an inverhuis at Zuid-Limburg", WAIT, || async {
            let m = moves(&t, "zuid-limburg/beheer").await.moves_in;
            (!m.is_empty()).then_some(m)
        })
        .await;
        let package = moved_in[0].package.clone().expect("the package was opened");
        assert_eq!(moved_in[0].status, "received");
        assert_eq!(moved_in[0].from_region, "drenthe");
        assert_eq!(package.bsn, youth.bsn.as_str());
        assert_eq!(package.to_municipality, "0935");
        assert_eq!(package.from_municipality, youth.municipality.as_str());
        let mut orgs: Vec<(String, String)> = package
            .signals
            .iter()
            .map(|s| {
                (
                    s.organisation.clone(),
                    s.signaller.clone().unwrap_or_default().name,
                )
            })
            .collect();
        orgs.sort();
        let mut expected = vec![
            (org_name(&t, "drenthe/jgz"), "Els Bakker".to_owned()),
            (org_name(&t, "drenthe/school"), "Jan de Vries".to_owned()),
        ];
        expected.sort();
        assert_eq!(orgs, expected);
        assert_eq!(package.regievoerder_oin, regie_oin);
        assert!(package.signals.iter().all(|s| !s.signalled_on.is_empty()));

        // Each Drenthe signaller and the regievoerder: one isverhuisd; the officer: one inverhuis.
        for org in ["drenthe/school", "drenthe/jgz", "drenthe/regie"] {
            let n = eventually("isverhuisd", WAIT, || async {
                let n = notices(&t, org, pb::NoticeTopic::Isverhuisd).await;
                (!n.is_empty()).then_some(n)
            })
            .await;
            assert_eq!(n.len(), 1, "{org}");
            assert_eq!(n[0].detail, "out_of_region:0935", "{org}");
        }
        let inverhuis = notices(&t, "zuid-limburg/beheer", pb::NoticeTopic::Inverhuis).await;
        assert_eq!(inverhuis.len(), 1);
        assert_eq!(
            inverhuis[0].parties.len(),
            2,
            "the officer sees both signallers"
        );
        let out = moves(&t, "drenthe/beheer").await.moves_out;
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].status.as_str(), out[0].to_region.as_str()),
            ("handed_over", "zuid-limburg")
        );

        // Zuid-Limburg's officer accepts and offers a hand-over (002 art. 15).
        let accepted = t
            .node_client("zuid-limburg/beheer")
            .admin_accept_handover(pb::AdminAcceptHandoverRequest {
                move_id: moved_in[0].move_id.clone(),
                officer: Some(pb::Contact {
                    name: "R. Claessens".into(),
                    phone: "043-3500000".into(),
                    email: String::new(),
                }),
            })
            .await
            .expect("accept")
            .into_inner();
        assert_eq!(accepted.status, "accepted");
        assert!(accepted.offer_sent);
        for org in ["drenthe/school", "drenthe/jgz"] {
            let offer = eventually("the hand-over offer", WAIT, || async {
                let n = notices(&t, org, pb::NoticeTopic::HandoverOffered).await;
                (!n.is_empty()).then_some(n)
            })
            .await;
            assert_eq!(offer.len(), 1);
            assert_eq!(
                offer[0].parties[0].signaller.as_ref().unwrap().phone,
                "043-3500000"
            );
            assert_eq!(offer[0].parties[0].region, "zuid-limburg");
        }
        let refused = t
            .node_client("zuid-limburg/jgz")
            .admin_list_moves(pb::AdminListMovesRequest {})
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);

        // A later Zuid-Limburg signal on the youth matches both Drenthe signals.
        signal(&t, "zuid-limburg/jgz", &youth.bsn, "Marieke Smeets").await;
        let parties = eventually("cross-regional matches", WAIT, || async {
            let matches = t
                .node_client("zuid-limburg/jgz")
                .list_matches(pb::ListMatchesRequest {})
                .await
                .unwrap()
                .into_inner()
                .matches;
            let parties: Vec<pb::MatchParty> = matches
                .into_iter()
                .flat_map(|m| m.others)
                .filter(|p| p.region == "drenthe" && !p.contact_pending)
                .collect();
            (parties.len() == 2).then_some(parties)
        })
        .await;
        assert!(parties
            .iter()
            .any(|p| p.organisation == org_name(&t, "drenthe/school")));

        // Still exactly one inverhuis.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(moves(&t, "zuid-limburg/beheer").await.moves_in.len(), 1);
        assert_eq!(
            notices(&t, "zuid-limburg/beheer", pb::NoticeTopic::Inverhuis)
                .await
                .len(),
            1
        );
        t.shutdown().await;
    }
}

/// Every 32-byte window of the DER keys in a PEM file: each as an X25519 private key.
fn candidate_keys(pem_file: &std::path::Path) -> Vec<[u8; 32]> {
    let text = std::fs::read(pem_file).unwrap();
    let mut ders = Vec::new();
    for item in rustls_pemfile_items(&text) {
        ders.push(item);
    }
    let mut keys = Vec::new();
    for der in ders {
        for w in der.windows(32) {
            keys.push(w.try_into().unwrap());
        }
    }
    keys
}

fn rustls_pemfile_items(pem: &[u8]) -> Vec<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::PrivateKeyDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .map(|k| k.secret_der().to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_cannot_open_the_hand_over_and_the_receiver_rejects_a_tampered_one() {
    for postgres in backends().await {
        let mut t = start(postgres).await;
        let youth = drenthe_youths(&t)[1].clone();
        // Zuid-Limburg is down: the inverhuis waits in its feed at the hub.
        signal_then_move_while_zuid_limburg_is_down(
            &mut t,
            &youth,
            "0935",
            address("Markt", 3, "6211CK", "Maastricht"),
        )
        .await;
        let (seq, item) = eventually("the inverhuis in the hub's feed", WAIT, || async {
            hub_feed(&t, "zuid-limburg")
                .await
                .into_iter()
                .find(|(_, i)| matches!(i.body, Some(pb::feed_item::Body::Inverhuis(_))))
        })
        .await;
        let Some(pb::feed_item::Body::Inverhuis(inverhuis)) = item.body.clone() else {
            unreachable!()
        };
        let aad = format!("move|{}|drenthe|zuid-limburg", inverhuis.move_id).into_bytes();
        let sealed = inverhuis.sealed.clone();
        assert!(!contains(&sealed, youth.bsn.as_str()));
        assert!(!contains(&sealed, "Jan de Vries"));

        // No key the hub has opens it: its TLS key (every 32-byte window of it), and the
        // sender's own HPKE key; the receiving node's key does (the control).
        let hub_config =
            vir_hub::HubConfig::load(&t.fed.data_dir.join("config").join("hub.toml")).unwrap();
        let hub_keys = candidate_keys(&hub_config.tls.key);
        assert!(hub_keys.len() > 32, "the hub's key was read");
        for key in &hub_keys {
            assert!(vir_shared::envelope::open(key, &aad, &sealed).is_err());
        }
        let node_key = |region: &str| {
            let config = vir_node::config::NodeConfig::load(
                &t.fed
                    .data_dir
                    .join("config")
                    .join(format!("node-{region}.toml")),
            )
            .unwrap();
            vir_node::config::read_hpke_private_key(&config.hpke_private_key).unwrap()
        };
        assert!(vir_shared::envelope::open(&node_key("drenthe"), &aad, &sealed).is_err());
        let opened = vir_shared::envelope::open(&node_key("zuid-limburg"), &aad, &sealed)
            .expect("the receiving node opens it");
        assert_eq!(
            pb::HandoverPackage::decode(opened.as_slice()).unwrap().bsn,
            youth.bsn.as_str()
        );

        // Tamper with the stored envelope: the receiver refuses it.
        let mut tampered = inverhuis.clone();
        let last = tampered.sealed.len() - 1;
        tampered.sealed[last] ^= 0x01;
        let body = pb::FeedItem {
            seq: 0,
            created_unix_ms: 0,
            body: Some(pb::feed_item::Body::Inverhuis(tampered)),
        }
        .encode_to_vec();
        let mut hub_db = db(&t.fed.hub_storage_url().unwrap()).await;
        sqlx::query("UPDATE feed SET body = $1 WHERE region = 'zuid-limburg' AND seq = $2")
            .bind(body)
            .bind(seq)
            .execute(&mut hub_db)
            .await
            .unwrap();
        t.fed.start_node("zuid-limburg").await.unwrap();
        let moved_in = eventually("the tampered inverhuis handled", WAIT, || async {
            let m = moves(&t, "zuid-limburg/beheer").await.moves_in;
            (!m.is_empty()).then_some(m)
        })
        .await;
        assert_eq!(moved_in.len(), 1);
        assert_eq!(moved_in[0].status, "rejected");
        assert!(moved_in[0].package.is_none(), "nothing of it is kept");
        let n = notices(&t, "zuid-limburg/beheer", pb::NoticeTopic::Inverhuis).await;
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].detail, "rejected:drenthe");
        assert!(n[0].parties.is_empty());
        t.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_inside_the_region_gives_isverhuisd_only() {
    for postgres in backends().await {
        let t = start(postgres).await;
        let youth = drenthe_youths(&t)[2].clone();
        signal(&t, "drenthe/school", &youth.bsn, "Jan de Vries").await;
        signal(&t, "drenthe/police", &youth.bsn, "Kees Mulder").await;
        let other = if youth.municipality.as_str() == "0114" {
            "0106"
        } else {
            "0114"
        };
        move_to(
            &t,
            &youth.bsn,
            other,
            address("Hoofdstraat", 12, "7811EP", "Emmen"),
        );
        for org in ["drenthe/school", "drenthe/police"] {
            let n = eventually("isverhuisd", WAIT, || async {
                let n = notices(&t, org, pb::NoticeTopic::Isverhuisd).await;
                (!n.is_empty()).then_some(n)
            })
            .await;
            assert_eq!(n.len(), 1, "{org}");
            assert_eq!(n[0].detail, format!("within_region:{other}"), "{org}");
        }
        // The new municipality's coordinator is told too (Jeugdwet 7.1.2.3 g).
        assert_eq!(
            notices(&t, "drenthe/regie", pb::NoticeTopic::Isverhuisd)
                .await
                .len(),
            1
        );
        // A move within the same municipality: isverhuisd again, nothing else.
        move_to(
            &t,
            &youth.bsn,
            other,
            address("Hoofdstraat", 14, "7811EP", "Emmen"),
        );
        let n = eventually("isverhuisd within the municipality", WAIT, || async {
            let n = notices(&t, "drenthe/school", pb::NoticeTopic::Isverhuisd).await;
            (n.len() == 2).then_some(n)
        })
        .await;
        assert_eq!(n[1].detail, "within_municipality");
        eventually("outbox drained", WAIT, || async {
            outbox_empty(&t, "drenthe/school").await.then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1000)).await;

        let out = moves(&t, "drenthe/beheer").await.moves_out;
        let mut kinds: Vec<(&str, &str)> = out
            .iter()
            .map(|m| (m.kind.as_str(), m.status.as_str()))
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [("within_municipality", "told"), ("within_region", "told")]
        );
        for org in ["zuid-limburg/beheer", "hoeksche-waard/beheer"] {
            assert!(moves(&t, org).await.moves_in.is_empty(), "{org}");
        }
        let hub = t.fed.hub_storage_url().unwrap();
        assert_eq!(
            count(
                &hub,
                "SELECT COUNT(*) FROM moves WHERE from_region <> $1",
                ""
            )
            .await,
            0
        );
        // The controller follows the residence: the hub has the new municipality.
        let at_hub = count(
            &hub,
            "SELECT COUNT(*) FROM signals WHERE region = 'drenthe' AND municipality = $1",
            other,
        )
        .await;
        assert_eq!(at_hub, 2, "both signals upserted with the new municipality");
        t.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn death_destroys_the_youth_everywhere() {
    for postgres in backends().await {
        let t = start(postgres).await;
        let youth = drenthe_youths(&t)[3].clone();
        let a = signal(&t, "drenthe/school", &youth.bsn, "Jan de Vries").await;
        let b = signal(&t, "drenthe/jgz", &youth.bsn, "Els Bakker").await;
        let c = signal(&t, "zuid-limburg/jgz", &youth.bsn, "Marieke Smeets").await;
        // A move to Maastricht first, so the hub and Zuid-Limburg hold a move too.
        move_to(
            &t,
            &youth.bsn,
            "0935",
            address("Markt", 9, "6211CK", "Maastricht"),
        );
        eventually("the inverhuis", WAIT, || async {
            (!moves(&t, "zuid-limburg/beheer").await.moves_in.is_empty()).then_some(())
        })
        .await;
        let drenthe = t.fed.node_storage_url("drenthe").unwrap();
        let zl = t.fed.node_storage_url("zuid-limburg").unwrap();
        let hub = t.fed.hub_storage_url().unwrap();
        let key: Vec<u8> = {
            let mut conn = db(&drenthe).await;
            sqlx::query_scalar("SELECT person_key FROM youths WHERE bsn = $1")
                .bind(youth.bsn.to_string())
                .fetch_one(&mut conn)
                .await
                .expect("the youth's person key")
        };
        let refs = [a.id.clone(), b.id.clone(), c.id.clone()];
        eventually("cross-regional matches at the hub", WAIT, || async {
            let n = count(&hub, "SELECT COUNT(*) FROM matches WHERE ref_a <> $1", "").await;
            (n >= 2).then_some(())
        })
        .await;

        devregistry::record_death(&t.fed.registry_file(), &youth.bsn, t.clock.today()).unwrap();

        eventually("destroyed in both regions and at the hub", WAIT, || async {
            let left = count(
                &drenthe,
                "SELECT COUNT(*) FROM signals WHERE bsn = $1",
                youth.bsn.as_str(),
            )
            .await
                + count(
                    &zl,
                    "SELECT COUNT(*) FROM signals WHERE bsn = $1",
                    youth.bsn.as_str(),
                )
                .await
                + count(
                    &hub,
                    "SELECT COUNT(*) FROM signals WHERE signal_ref <> $1",
                    "",
                )
                .await
                + count(&hub, "SELECT COUNT(*) FROM moves WHERE move_id <> $1", "").await;
            (left == 0
                && outbox_empty(&t, "drenthe/school").await
                && outbox_empty(&t, "zuid-limburg/jgz").await)
                .then_some(())
        })
        .await;

        // Nothing about the youth remains in any database.
        let bsn = youth.bsn.as_str();
        for url in [&drenthe, &zl] {
            for table in [
                "signals",
                "youths",
                "youth_facts",
                "notices",
                "moves_in",
                "moves_out",
            ] {
                let n = count(
                    url,
                    &format!("SELECT COUNT(*) FROM {table} WHERE bsn = $1"),
                    bsn,
                )
                .await;
                assert_eq!(n, 0, "{table} still holds the youth");
            }
            for r in &refs {
                let n = count(
                    url,
                    "SELECT COUNT(*) FROM notifications WHERE signal_id = $1",
                    r,
                )
                .await
                    + count(
                        url,
                        "SELECT COUNT(*) FROM remote_matches WHERE signal_id = $1",
                        r,
                    )
                    .await;
                assert_eq!(n, 0);
            }
        }
        for r in &refs {
            let n = count(
                &hub,
                "SELECT COUNT(*) FROM matches WHERE ref_a = $1 OR ref_b = $1",
                r,
            )
            .await
                + count(
                    &hub,
                    "SELECT COUNT(*) FROM signal_keys WHERE signal_ref = $1",
                    r,
                )
                .await;
            assert_eq!(n, 0, "the hub still knows a signal of the youth");
        }
        for region in ["drenthe", "zuid-limburg", "hoeksche-waard"] {
            for (seq, item) in hub_feed(&t, region).await {
                let bytes = item.encode_to_vec();
                assert!(
                    !refs.iter().any(|r| contains(&bytes, r))
                        && !bytes.windows(key.len()).any(|w| w == key),
                    "{region} feed item {seq} still names the youth"
                );
            }
        }
        if !postgres {
            for url in [&drenthe, &zl] {
                let dump = dump_sqlite(url).await;
                assert!(
                    !contains(&dump, bsn),
                    "the node database still holds the BSN"
                );
            }
            let dump = dump_sqlite(&hub).await;
            assert!(
                !dump.windows(key.len()).any(|w| w == key),
                "the hub still holds the key"
            );
        }
        // Zuid-Limburg's administrator informs the signallers within two weeks (002 art. 17.6).
        let tasks = notices(
            &t,
            "zuid-limburg/beheer",
            pb::NoticeTopic::SignallersToInform,
        )
        .await;
        assert_eq!(tasks.len(), 1);
        let due = t.clock.today() + chrono::Days::new(14);
        assert_eq!(tasks[0].due_on, due.to_string());
        assert!(
            notices(&t, "drenthe/beheer", pb::NoticeTopic::SignallersToInform)
                .await
                .is_empty()
        );
        t.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_move_message_is_delivered_once_when_the_hub_restarts() {
    for postgres in backends().await {
        let mut t = start(postgres).await;
        let youths: Vec<Person> = drenthe_youths(&t).into_iter().skip(4).take(4).collect();
        for y in &youths {
            signal(&t, "drenthe/school", &y.bsn, "Jan de Vries").await;
        }
        eventually("signals at the hub", WAIT, || async {
            outbox_empty(&t, "drenthe/school").await.then_some(())
        })
        .await;
        // The hub crashes; the moves happen while it is down.
        t.fed.stop_hub(true).await.unwrap();
        move_to(
            &t,
            &youths[0].bsn,
            "0935",
            address("Markt", 20, "6211CK", "Maastricht"),
        );
        move_to(
            &t,
            &youths[1].bsn,
            "0917",
            address("Akerstraat", 5, "6411HA", "Heerlen"),
        );
        // Amsterdam: no regional index serves it.
        move_to(
            &t,
            &youths[2].bsn,
            "0363",
            address("Dam", 1, "1012JS", "Amsterdam"),
        );
        let within = if youths[3].municipality.as_str() == "0114" {
            "0106"
        } else {
            "0114"
        };
        move_to(
            &t,
            &youths[3].bsn,
            within,
            address("Hoofdstraat", 30, "7811EP", "Emmen"),
        );
        eventually("isverhuisd told locally", WAIT, || async {
            (notices(&t, "drenthe/school", pb::NoticeTopic::Isverhuisd)
                .await
                .len()
                == 4)
                .then_some(())
        })
        .await;

        // Back, and down again as soon as the first inverhuis reached Zuid-Limburg.
        t.fed.start_hub().await.unwrap();
        eventually("a first inverhuis", WAIT, || async {
            (!moves(&t, "zuid-limburg/beheer").await.moves_in.is_empty()).then_some(())
        })
        .await;
        t.fed.restart_hub(true).await.unwrap();

        let moved_in = eventually("both inverhuis messages", WAIT, || async {
            let m = moves(&t, "zuid-limburg/beheer").await.moves_in;
            (m.len() >= 2).then_some(m)
        })
        .await;
        eventually("every move settled", WAIT, || async {
            let out = moves(&t, "drenthe/beheer").await.moves_out;
            out.iter().all(|m| m.status != "routing").then_some(())
        })
        .await;
        t.fed.restart_hub(false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let moved_in_after = moves(&t, "zuid-limburg/beheer").await.moves_in;
        assert_eq!(
            moved_in_after.len(),
            2,
            "exactly one inverhuis per move into the region"
        );
        assert_eq!(moved_in.len(), 2);
        assert!(moved_in_after.iter().all(|m| m.status == "received"));
        assert_eq!(
            notices(&t, "zuid-limburg/beheer", pb::NoticeTopic::Inverhuis)
                .await
                .len(),
            2
        );
        assert_eq!(
            notices(&t, "drenthe/school", pb::NoticeTopic::Isverhuisd)
                .await
                .len(),
            4,
            "one isverhuisd per youth"
        );
        let uncovered = notices(&t, "drenthe/school", pb::NoticeTopic::MovedUncovered).await;
        assert_eq!(
            uncovered.len(),
            1,
            "no regional index covers Amsterdam: told once"
        );
        assert_eq!(uncovered[0].detail, "0363");
        let mut statuses: Vec<String> = moves(&t, "drenthe/beheer")
            .await
            .moves_out
            .iter()
            .map(|m| m.status.clone())
            .collect();
        statuses.sort();
        assert_eq!(
            statuses,
            ["handed_over", "handed_over", "told", "uncovered"]
        );
        let hub = t.fed.hub_storage_url().unwrap();
        assert_eq!(
            count(
                &hub,
                "SELECT COUNT(*) FROM moves WHERE status = $1",
                "delivered"
            )
            .await,
            2
        );
        assert_eq!(
            count(
                &hub,
                "SELECT COUNT(*) FROM moves WHERE status = $1",
                "uncovered"
            )
            .await,
            1
        );
        let inverhuis_items = hub_feed(&t, "zuid-limburg")
            .await
            .into_iter()
            .filter(|(_, i)| matches!(i.body, Some(pb::feed_item::Body::Inverhuis(_))))
            .count();
        assert_eq!(inverhuis_items, 2, "the hub appended each inverhuis once");
        t.shutdown().await;
    }
}

/// A region offline longer than the hub's feed retention still gets a move into it (issue 8,
/// S6): the `Inverhuis` with its sealed hand-over lives only in the feed, so pruning keeps it
/// until the node has it. The node resyncs from a snapshot, opens the package, its officer gets
/// the inverhuis; once it acknowledges, the hub's next pruning drops the item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_into_a_region_offline_past_retention_arrives_after_its_resync() {
    let mut t = start(false).await;
    vir_tests::faults::reconfigure_hub(&mut t, |c| {
        c.feed_retention_days = 1;
        c.feed_prune_interval_ms = 200;
    })
    .await;
    let youth = drenthe_youths(&t)[0].clone();
    // Zuid-Limburg is away while the youth moves to Maastricht and Drenthe hands over.
    signal_then_move_while_zuid_limburg_is_down(
        &mut t,
        &youth,
        "GM0935",
        address("Vrijthof", 7, "6211LD", "Maastricht"),
    )
    .await;
    eventually("handed over to Zuid-Limburg", WAIT, || async {
        let out = moves(&t, "drenthe/beheer").await.moves_out;
        out.iter()
            .any(|m| m.status == "handed_over" && m.to_region == "zuid-limburg")
            .then_some(())
    })
    .await;
    let inverhuis_at_hub = |feed: &[(i64, pb::FeedItem)]| {
        feed.iter()
            .filter(|(_, i)| matches!(i.body, Some(pb::feed_item::Body::Inverhuis(_))))
            .count()
    };
    eventually("the inverhuis in Zuid-Limburg's feed", WAIT, || async {
        (inverhuis_at_hub(&hub_feed(&t, "zuid-limburg").await) == 1).then_some(())
    })
    .await;

    // Two days later (retention: one day) the hub has pruned Zuid-Limburg's feed: its position
    // is gone, but the unacknowledged inverhuis is kept.
    t.clock.advance(chrono::Duration::days(2));
    let as_zl = vir_tests::faults::hub_as_node(&t, "zuid-limburg", &t.fed.file.hub.url.clone());
    let refusal = eventually("Zuid-Limburg's position pruned", WAIT, || async {
        let request = pb::SubscribeRequest {
            region: "zuid-limburg".into(),
            from_seq: 1,
        };
        as_zl.clone().subscribe(request).await.err()
    })
    .await;
    assert!(refusal.message().contains("resync needed"), "{refusal:?}");
    assert_eq!(inverhuis_at_hub(&hub_feed(&t, "zuid-limburg").await), 1);

    // Back: the resync brings the move in, with the package opened, and the officer is told.
    t.fed.start_node("zuid-limburg").await.unwrap();
    let moved_in = eventually("the inverhuis at Zuid-Limburg", WAIT, || async {
        let m = moves(&t, "zuid-limburg/beheer").await.moves_in;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(moved_in.len(), 1);
    assert_eq!(moved_in[0].status, "received");
    assert_eq!(moved_in[0].from_region, "drenthe");
    let package = moved_in[0].package.clone().expect("the package was opened");
    assert_eq!(package.bsn, youth.bsn.as_str());
    let inverhuis = notices(&t, "zuid-limburg/beheer", pb::NoticeTopic::Inverhuis).await;
    assert_eq!(inverhuis.len(), 1, "the officer is told once");
    // Acknowledged: the next pruning removes it.
    eventually("the kept item pruned after the ack", WAIT, || async {
        (inverhuis_at_hub(&hub_feed(&t, "zuid-limburg").await) == 0).then_some(())
    })
    .await;
    t.shutdown().await;
}

/// At the age limit the youth is destroyed as after a death (003 art. 16.5): each region's node
/// destroys its signals and has the hub erase them too, with their keys, matches and every feed
/// item that names them, not only the keys a removal takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_age_limit_erases_the_youth_at_the_hub_as_a_death_does() {
    let t = start(false).await;
    let youth = drenthe_youths(&t)[4].clone();
    let a = signal(&t, "drenthe/school", &youth.bsn, "Jan de Vries").await;
    let b = signal(&t, "zuid-limburg/jgz", &youth.bsn, "Marieke Smeets").await;
    let hub = t.fed.hub_storage_url().unwrap();
    let refs = [a.id.clone(), b.id.clone()];
    eventually("the cross-regional match at the hub", WAIT, || async {
        let n = count(
            &hub,
            "SELECT COUNT(*) FROM matches WHERE ref_a = $1 OR ref_b = $1",
            &a.id,
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    let names_the_youth = |feed: &[(i64, pb::FeedItem)]| {
        feed.iter()
            .filter(|(_, item)| {
                let bytes = item.encode_to_vec();
                refs.iter().any(|r| contains(&bytes, r))
            })
            .count()
    };
    assert!(names_the_youth(&hub_feed(&t, "drenthe").await) > 0);

    // The youth's 23rd birthday.
    let birthday = youth
        .birth_date
        .checked_add_months(chrono::Months::new(23 * 12))
        .unwrap();
    let today = t.clock.today();
    if birthday > today {
        t.clock
            .advance(chrono::Duration::days((birthday - today).num_days()));
    }

    eventually("erased at the hub by both regions", WAIT, || async {
        let mut left = 0;
        for r in &refs {
            left += count(
                &hub,
                "SELECT COUNT(*) FROM signals WHERE signal_ref = $1",
                r,
            )
            .await
                + count(
                    &hub,
                    "SELECT COUNT(*) FROM matches WHERE ref_a = $1 OR ref_b = $1",
                    r,
                )
                .await;
        }
        for region in ["drenthe", "zuid-limburg"] {
            left += names_the_youth(&hub_feed(&t, region).await) as i64;
        }
        (left == 0
            && outbox_empty(&t, "drenthe/school").await
            && outbox_empty(&t, "zuid-limburg/jgz").await)
            .then_some(())
    })
    .await;
    t.shutdown().await;
}
