//! The spine's matching paths end to end: cross-regional client match through the hub,
//! regional matches with a third and fourth signaller, and regional-only organisations.

use std::time::Duration;

use vir_proto as pb;
use vir_tests::{contains, dump_sqlite, eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(30);

/// The parties named in an organisation's notifications, as (organisation, signaller name).
async fn notified_parties(
    client: &mut vir_proto::node_client::NodeClient<tonic::transport::Channel>,
) -> Vec<(String, String)> {
    let list = client
        .list_notifications(pb::ListNotificationsRequest {})
        .await
        .expect("list notifications")
        .into_inner()
        .notifications;
    list.iter()
        .flat_map(|n| n.parties.iter())
        .map(|p| {
            (
                p.organisation.clone(),
                p.signaller.clone().unwrap_or_default().name,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_regional_client_match_reaches_both_sides_and_hub_learns_no_identity() {
    let t = TestFed::start().await;
    let youth = t.youths()[0].clone();
    let bsn = youth.bsn.to_string();

    let mut school = t.node_client("drenthe/school");
    let mut jgz = t.node_client("zuid-limburg/jgz");
    school
        .create_signal(signal_request(&bsn, "Jan de Vries"))
        .await
        .expect("Drenthe school signals");
    jgz.create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .expect("Zuid-Limburg JGZ signals");

    // Both sides see the match with the other side's organisation and contact details.
    for (client, other_org, other_name, other_region) in [
        (
            &mut school,
            "GGD Zuid Limburg Jeugdgezondheidszorg",
            "Marieke Smeets",
            "zuid-limburg",
        ),
        (
            &mut jgz,
            "CBS De Regenboog Assen",
            "Jan de Vries",
            "drenthe",
        ),
    ] {
        let party = eventually("cross-regional match with contact details", WAIT, || {
            let mut client = client.clone();
            async move {
                let matches = client
                    .list_matches(pb::ListMatchesRequest {})
                    .await
                    .ok()?
                    .into_inner()
                    .matches;
                matches
                    .into_iter()
                    .flat_map(|m| m.others)
                    .find(|p| !p.contact_pending && p.organisation == other_org)
            }
        })
        .await;
        assert_eq!(party.region, other_region);
        let contact = party.signaller.expect("contact details");
        assert_eq!(contact.name, other_name);
        assert!(!contact.phone.is_empty() && !contact.email.is_empty());

        let notified = eventually("a notification naming the other side", WAIT, || {
            let mut client = client.clone();
            async move {
                let parties = notified_parties(&mut client).await;
                parties
                    .iter()
                    .any(|(org, _)| org == other_org)
                    .then_some(parties)
            }
        })
        .await;
        assert_eq!(
            notified.iter().filter(|(org, _)| org == other_org).count(),
            1,
            "told exactly once about the other side"
        );
    }

    // The hub's database holds neither the BSN nor any name: not the youth's, not the
    // signallers' (those travel sealed), not the organisations'.
    let hub_url = t.fed.hub_storage_url().unwrap();
    let t = {
        let TestFed {
            fed,
            clock,
            registry,
            dir,
        } = t;
        let mut fed = fed;
        // Stop the hub so its SQLite WAL is checkpointed into the file we also scan raw.
        let hub = fed.hub.take().unwrap();
        hub.shutdown().await.unwrap();
        TestFed {
            fed,
            clock,
            registry,
            dir,
        }
    };
    let dump = dump_sqlite(&hub_url).await;
    assert!(!dump.is_empty(), "the hub stored something");
    let raw_path = hub_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut raw = std::fs::read(&raw_path).unwrap();
    raw.extend(std::fs::read(format!("{raw_path}-wal")).unwrap_or_default());
    for secret in [
        bsn.as_str(),
        youth.surname.as_str(),
        youth.given_names.as_str(),
        youth.address.street.as_str(),
        youth.address.postcode.as_str(),
        &youth.birth_date.format("%Y-%m-%d").to_string(),
        "Jan de Vries",
        "Marieke Smeets",
        "CBS De Regenboog",
    ] {
        assert!(
            !contains(&dump, secret),
            "hub table data contains {secret:?}"
        );
        assert!(
            !contains(&raw, secret),
            "hub database file contains {secret:?}"
        );
    }
    t.fed.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regional_match_tells_third_and_fourth_signaller_and_everyone_exactly_once() {
    let t = TestFed::start().await;
    let bsn = t.youths()[1].bsn.to_string();
    let orgs = [
        ("drenthe/school", "Anna Bakker"),
        ("drenthe/jgz", "Bram Mulder"),
        ("drenthe/mw", "Chris Visser"),
        ("drenthe/police", "Dewi Smit"),
    ];
    for (org, name) in orgs {
        t.node_client(org)
            .create_signal(signal_request(&bsn, name))
            .await
            .unwrap_or_else(|e| panic!("{org} signals: {e}"));
    }

    // Every signaller is told about each of the three others exactly once.
    for (org, name) in orgs {
        let parties = notified_parties(&mut t.node_client(org)).await;
        let mut names: Vec<&str> = parties.iter().map(|(_, n)| n.as_str()).collect();
        names.sort();
        let mut expected: Vec<&str> = orgs
            .iter()
            .map(|(_, n)| *n)
            .filter(|n| *n != name)
            .collect();
        expected.sort();
        assert_eq!(
            names, expected,
            "{org} is told about each other signaller once"
        );

        let matches = t
            .node_client(org)
            .list_matches(pb::ListMatchesRequest {})
            .await
            .unwrap()
            .into_inner()
            .matches;
        let others: usize = matches.iter().map(|m| m.others.len()).sum();
        assert_eq!(others, 3, "{org} sees three other parties");
    }
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admitted_organisation_matches_in_its_region_and_never_reaches_the_hub() {
    let t = TestFed::start().await;
    let bsn = t.youths()[2].bsn.to_string();
    let mut sport = t.node_client("drenthe/sport");
    let created = sport
        .create_signal(signal_request(&bsn, "Sanne Sport"))
        .await
        .expect("regional-only organisation signals")
        .into_inner();
    assert!(!created.national);
    t.node_client("drenthe/jgz")
        .create_signal(signal_request(&bsn, "Bram Mulder"))
        .await
        .expect("JGZ signals");

    let parties = notified_parties(&mut sport).await;
    assert_eq!(parties.len(), 1, "the regional match is made and told");

    // The JGZ signal (admitted) reaches the hub; the sport signal never does.
    let mut hub = vir_proto::hub_client::HubClient::new(
        vir_shared::tls::channel(&t.fed.file.hub.url, &t.fed.file.operator, "localhost").unwrap(),
    );
    eventually("the JGZ signal at the hub", WAIT, || {
        let mut hub = hub.clone();
        async move {
            let s = hub.status(pb::HubStatusRequest {}).await.ok()?.into_inner();
            (s.active_signals == 1).then_some(())
        }
    })
    .await;
    // Give the forwarder every chance to (wrongly) send more, then check again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = hub
        .status(pb::HubStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        s.active_signals, 1,
        "only the admitted organisation's signal is at the hub"
    );

    let node_url = t.fed.node_storage_url("drenthe").unwrap();
    let hub_url = t.fed.hub_storage_url().unwrap();
    let sport_ref = created.id;
    let hub_dump = dump_sqlite(&hub_url).await;
    assert!(
        !contains(&hub_dump, &sport_ref),
        "the hub never saw the sport signal's ref"
    );
    assert!(contains(&dump_sqlite(&node_url).await, &sport_ref));
    t.shutdown().await;
}

/// The contact details of a signaller, as a match shows them to the other side.
async fn others_on_matches(t: &TestFed, org: &str) -> Vec<(String, String, String)> {
    t.node_client(org)
        .list_matches(pb::ListMatchesRequest {})
        .await
        .expect("list matches")
        .into_inner()
        .matches
        .iter()
        .flat_map(|m| m.others.iter())
        .map(|o| {
            let c = o.signaller.clone().unwrap_or_default();
            (o.organisation.clone(), c.name, c.phone)
        })
        .collect()
}

/// Corrected contact details of a signaller (002 art. 19, 23; 003 art. 17) reach everyone who
/// had them: the signaller in the same region and, sealed through the hub, the one in the
/// other region. Each sees the new details on the match and gets one "corrected" notice; the
/// hub relays the sealed details without learning them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_of_contact_details_reaches_both_regions_once() {
    let t = TestFed::start().await;
    let bsn = t.unrelated_bsns(1).remove(0);
    let zl = t
        .node_client("zuid-limburg/jgz")
        .create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .expect("Zuid-Limburg's signal")
        .into_inner();
    for org in ["zuid-limburg/school", "drenthe/school"] {
        t.node_client(org)
            .create_signal(signal_request(&bsn, "Jan de Vries"))
            .await
            .expect("signal");
    }
    let zl_org = t.organisation_name("zuid-limburg/jgz");
    for org in ["zuid-limburg/school", "drenthe/school"] {
        eventually("the first details on the match", WAIT, || async {
            others_on_matches(&t, org)
                .await
                .contains(&(
                    zl_org.clone(),
                    "Marieke Smeets".into(),
                    "010-1234567".into(),
                ))
                .then_some(())
        })
        .await;
    }

    let corrected = pb::Contact {
        name: "Marieke Smeets-Janssen".into(),
        phone: "043-7654321".into(),
        email: "m.smeets-janssen@example.nl".into(),
    };
    t.node_client("zuid-limburg/beheer")
        .admin_correct_signal(pb::AdminCorrectSignalRequest {
            signal_id: zl.id.clone(),
            signaller: Some(corrected.clone()),
        })
        .await
        .expect("the administrator corrects");

    let wanted = (
        zl_org.clone(),
        corrected.name.clone(),
        corrected.phone.clone(),
    );
    for org in ["zuid-limburg/school", "drenthe/school"] {
        eventually("the corrected details on the match", WAIT, || async {
            let others = others_on_matches(&t, org).await;
            (others.contains(&wanted) && !others.iter().any(|o| o.1 == "Marieke Smeets"))
                .then_some(())
        })
        .await;
        let notices: Vec<pb::Notice> = t
            .node_client(org)
            .list_notices(pb::ListNoticesRequest {})
            .await
            .expect("notices")
            .into_inner()
            .notices
            .into_iter()
            .filter(|n| n.topic == pb::NoticeTopic::SignalCorrected as i32)
            .collect();
        assert_eq!(notices.len(), 1, "{org}: told once");
        let party = &notices[0].parties[0];
        assert_eq!(party.organisation, zl_org, "{org}");
        assert_eq!(
            party.signaller.clone().unwrap_or_default(),
            corrected,
            "{org}"
        );
    }
    // The hub saw the relay, never the details.
    let hub_db = dump_sqlite(&t.fed.hub_storage_url().unwrap()).await;
    assert!(
        !contains(&hub_db, &corrected.name),
        "the hub never sees the name"
    );
    assert!(!contains(&hub_db, &corrected.phone), "nor the phone number");
    t.shutdown().await;
}
