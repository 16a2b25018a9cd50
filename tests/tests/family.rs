//! Family, address and candidate matches end to end (issue 4): siblings across regions,
//! half-siblings and cousins, Zuid-Limburg's address matches, signals without a BSN with the
//! administrator's decision, and linking such a signal to its BSN.

use std::time::Duration;

use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::node_client::NodeClient;
use vir_shared::person::Person;
use vir_shared::regions::region_of_municipality;
use vir_tests::{contains, dump_sqlite, eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(30);
/// How long "nothing happens" is watched: several forwarder and feed rounds.
const SETTLE: Duration = Duration::from_secs(3);

type Client = NodeClient<Channel>;

fn region_of(p: &Person) -> &'static str {
    region_of_municipality(p.municipality.as_str())
        .expect("a shipped region")
        .code
}

fn common_parents(a: &Person, b: &Person) -> usize {
    a.parents.iter().filter(|p| b.parents.contains(p)).count()
}

/// The first pair of youths (under 18) for which `pick` holds.
fn pair(t: &TestFed, pick: impl Fn(&Person, &Person) -> bool) -> (Person, Person) {
    let youths = t.youths();
    for (i, a) in youths.iter().enumerate() {
        for b in &youths[i + 1..] {
            if pick(a, b) {
                return ((*a).clone(), (*b).clone());
            }
        }
    }
    panic!("no such pair in the registry");
}

async fn matches(client: &Client) -> Vec<pb::Match> {
    let mut client = client.clone();
    client
        .list_matches(pb::ListMatchesRequest {})
        .await
        .expect("list matches")
        .into_inner()
        .matches
}

async fn notifications(client: &Client) -> Vec<pb::Notification> {
    let mut client = client.clone();
    client
        .list_notifications(pb::ListNotificationsRequest {})
        .await
        .expect("list notifications")
        .into_inner()
        .notifications
}

/// Waits for a match of `kind` naming `other_org` with its contact details.
async fn await_match(client: &Client, kind: pb::MatchKind, other_org: &str) -> pb::Match {
    eventually(
        &format!("a {kind:?} match with {other_org}"),
        WAIT,
        || async move {
            matches(client).await.into_iter().find(|m| {
                m.kind() == kind
                    && m.others
                        .iter()
                        .any(|p| !p.contact_pending && p.organisation == other_org)
            })
        },
    )
    .await
}

/// Waits until exactly one notification of `kind` names `other_org`, then checks it stays one.
async fn told_once(client: &Client, kind: pb::MatchKind, other_org: &str) -> pb::Notification {
    let count = |list: &[pb::Notification]| {
        list.iter()
            .filter(|n| n.kind() == kind && n.parties.iter().any(|p| p.organisation == other_org))
            .count()
    };
    let told = eventually(&format!("told of {other_org}"), WAIT, || async move {
        let list = notifications(client).await;
        (count(&list) > 0).then_some(list)
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    let later = notifications(client).await;
    assert_eq!(count(&later), 1, "told exactly once about {other_org}");
    told.into_iter()
        .find(|n| n.kind() == kind)
        .expect("the notification")
}

async fn signal(client: &Client, bsn: &str, name: &str) -> pb::Signal {
    let mut client = client.clone();
    client
        .create_signal(signal_request(bsn, name))
        .await
        .expect("signal created")
        .into_inner()
}

fn without_bsn(
    surname: &str,
    given: &str,
    birth: &str,
    gender: &str,
    municipality: &str,
    name: &str,
) -> pb::CreateSignalRequest {
    pb::CreateSignalRequest {
        without_bsn: Some(pb::NoBsnIdentity {
            surname: surname.into(),
            given_name: given.into(),
            birth_date: birth.into(),
            gender: gender.into(),
            municipality: municipality.into(),
            ..Default::default()
        }),
        ..signal_request("", name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siblings_in_two_regions_make_one_family_match_and_the_hub_learns_no_identity() {
    let t = TestFed::start().await;
    let (a, b) = pair(&t, |a, b| a.parents == b.parents && a.bsn != b.bsn);
    let school = t.node_client("drenthe/school");
    let jgz = t.node_client("zuid-limburg/jgz");
    let on_a = signal(&school, a.bsn.as_str(), "Jan de Vries").await;
    let on_b = signal(&jgz, b.bsn.as_str(), "Marieke Smeets").await;

    let at_school = await_match(
        &school,
        pb::MatchKind::Family,
        "GGD Zuid Limburg Jeugdgezondheidszorg",
    )
    .await;
    let at_jgz = await_match(&jgz, pb::MatchKind::Family, "CBS De Regenboog Assen").await;
    assert_eq!(
        at_school.id, at_jgz.id,
        "one hub match, seen from both sides"
    );
    // Each side learns which youth of its own is concerned, and the other's contact only.
    assert_eq!(at_school.your_signal_id, on_a.id);
    assert_eq!(at_jgz.your_signal_id, on_b.id);
    let other = &at_school.others[0];
    assert_eq!(other.signaller.as_ref().unwrap().name, "Marieke Smeets");
    assert_eq!(other.region, "zuid-limburg");
    let told = told_once(
        &school,
        pb::MatchKind::Family,
        "GGD Zuid Limburg Jeugdgezondheidszorg",
    )
    .await;
    assert_eq!(told.your_signal_id, on_a.id);
    told_once(&jgz, pb::MatchKind::Family, "CBS De Regenboog Assen").await;
    for m in matches(&school).await {
        assert_eq!(
            m.kind(),
            pb::MatchKind::Family,
            "no other match on the sibling"
        );
    }

    // The hub holds keys only: no BSN (youths or parents), name, date or address.
    let hub_url = t.fed.hub_storage_url().unwrap();
    let mut t = t;
    let hub = t.fed.hub.take().unwrap();
    hub.shutdown().await.unwrap();
    let dump = dump_sqlite(&hub_url).await;
    let path = hub_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut raw = std::fs::read(&path).unwrap();
    raw.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    let mut secrets: Vec<String> = Vec::new();
    for p in [&a, &b] {
        secrets.push(p.bsn.to_string());
        secrets.push(p.surname.clone());
        secrets.push(p.given_names.clone());
        secrets.push(p.birth_date.format("%Y-%m-%d").to_string());
        secrets.push(p.address.street.clone());
        secrets.push(p.address.postcode.to_string());
        secrets.extend(p.parents.iter().map(|x| x.to_string()));
    }
    secrets.extend(["Jan de Vries".to_owned(), "Marieke Smeets".to_owned()]);
    for secret in &secrets {
        assert!(
            !contains(&dump, secret),
            "hub table data contains {secret:?}"
        );
        assert!(
            !contains(&raw, secret),
            "hub database file contains {secret:?}"
        );
    }
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_siblings_match_and_cousins_do_not() {
    let t = TestFed::start().await;
    let (half_a, half_b) = pair(&t, |a, b| common_parents(a, b) == 1);
    let (cousin_a, cousin_b) = pair(&t, |a, b| {
        vir_certs::registry::are_cousins(a, b, &t.registry.people)
    });
    let hw = t.node_client("hoeksche-waard/cjg");
    let jgz = t.node_client("drenthe/jgz");
    let mw = t.node_client("drenthe/mw");
    let youthcare = t.node_client("zuid-limburg/youthcare");
    signal(&mw, cousin_a.bsn.as_str(), "Kees Bakker").await;
    signal(&youthcare, cousin_b.bsn.as_str(), "Ilse Janssen").await;
    signal(&hw, half_a.bsn.as_str(), "Fenna Visser").await;
    signal(&jgz, half_b.bsn.as_str(), "Bram Mulder").await;

    await_match(
        &hw,
        pb::MatchKind::Family,
        "GGD Drenthe Jeugdgezondheidszorg",
    )
    .await;
    await_match(&jgz, pb::MatchKind::Family, "CJG Hoeksche Waard").await;
    tokio::time::sleep(SETTLE).await;
    assert!(matches(&mw).await.is_empty(), "cousins share no parent");
    assert!(
        matches(&youthcare).await.is_empty(),
        "cousins share no parent"
    );
    assert!(notifications(&mw).await.is_empty());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_matches_only_where_both_regions_have_them_on() {
    let t = TestFed::start().await;
    // Step-siblings: the same address, no common parent.
    let step = |region: &'static str| {
        move |a: &Person, b: &Person| {
            common_parents(a, b) == 0 && a.address == b.address && region_of(a) == region
        }
    };
    let (zl_a, zl_b) = pair(&t, step("zuid-limburg"));
    let (dr_a, dr_b) = pair(&t, step("drenthe"));
    let zl_school = t.node_client("zuid-limburg/school");
    let zl_jgz = t.node_client("zuid-limburg/jgz");
    let dr_school = t.node_client("drenthe/school");
    let dr_jgz = t.node_client("drenthe/jgz");
    let dr_mw = t.node_client("drenthe/mw");
    signal(&dr_school, dr_a.bsn.as_str(), "Jan de Vries").await;
    signal(&dr_jgz, dr_b.bsn.as_str(), "Anouk Smit").await;
    signal(&zl_school, zl_a.bsn.as_str(), "Roos Hendriks").await;
    signal(&zl_jgz, zl_b.bsn.as_str(), "Marieke Smeets").await;

    // Inside Zuid-Limburg: an address match, told to both, once.
    await_match(
        &zl_school,
        pb::MatchKind::Address,
        "GGD Zuid Limburg Jeugdgezondheidszorg",
    )
    .await;
    await_match(
        &zl_jgz,
        pb::MatchKind::Address,
        "Sint-Maartenscollege Maastricht",
    )
    .await;
    told_once(
        &zl_school,
        pb::MatchKind::Address,
        "GGD Zuid Limburg Jeugdgezondheidszorg",
    )
    .await;

    // Across the border: Drenthe has it off, so its signal on a Zuid-Limburg youth's
    // step-sibling makes the client match only.
    signal(&dr_mw, zl_b.bsn.as_str(), "Kees Bakker").await;
    await_match(
        &dr_mw,
        pb::MatchKind::Client,
        "GGD Zuid Limburg Jeugdgezondheidszorg",
    )
    .await;
    tokio::time::sleep(SETTLE).await;
    let kinds: Vec<pb::MatchKind> = matches(&dr_mw).await.iter().map(|m| m.kind()).collect();
    assert_eq!(kinds, [pb::MatchKind::Client]);
    // Inside Drenthe: none.
    assert!(matches(&dr_school).await.is_empty());
    assert!(matches(&dr_jgz).await.is_empty());
    t.shutdown().await;
}

/// The pending candidates at a node, as its administrator sees them.
async fn pending_candidates(admin: &Client) -> Vec<pb::Candidate> {
    let mut admin = admin.clone();
    admin
        .admin_list_candidates(pb::AdminListCandidatesRequest { pending_only: true })
        .await
        .expect("list candidates")
        .into_inner()
        .candidates
}

async fn decide(admin: &Client, id: &str, confirm: bool) -> pb::Candidate {
    let mut admin = admin.clone();
    admin
        .admin_decide_candidate(pb::AdminDecideCandidateRequest {
            candidate_id: id.to_owned(),
            confirm,
        })
        .await
        .expect("decision")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_without_a_bsn_are_candidates_until_the_administrator_decides() {
    let t = TestFed::start().await;
    let mut school = t.node_client("drenthe/school");
    let mut jgz = t.node_client("drenthe/jgz");
    let mw = t.node_client("drenthe/mw");
    let police = t.node_client("drenthe/police");
    let admin = t.node_client("drenthe/beheer");

    let first = school
        .create_signal(without_bsn(
            "Van der Berg",
            "Anna",
            "2012-03-04",
            "V",
            "0106",
            "Jan de Vries",
        ))
        .await
        .expect("a signal without a BSN")
        .into_inner();
    assert!(first.bsn.is_empty());
    assert_eq!(first.verwijsindex_number.len(), 9);
    let second = jgz
        .create_signal(without_bsn(
            "Berg, van der",
            "anna",
            "2012-03-04",
            "V",
            "0106",
            "Anouk Smit",
        ))
        .await
        .expect("the same youth written differently")
        .into_inner();
    assert_ne!(
        second.verwijsindex_number, first.verwijsindex_number,
        "another organisation's description"
    );
    // The same organisation describing the youth again: the same number, one signal.
    let again = school
        .create_signal(without_bsn(
            "van der berg",
            "Anna",
            "2012-03-04",
            "V",
            "0106",
            "Jan de Vries",
        ))
        .await
        .expect_err("one signal per organisation per youth");
    assert_eq!(again.code(), tonic::Code::AlreadyExists);

    // A partner cannot see the candidates; nobody is told before the decision.
    let refused = school
        .admin_list_candidates(pb::AdminListCandidatesRequest { pending_only: true })
        .await
        .expect_err("administrators only");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let pending = pending_candidates(&admin).await;
    assert_eq!(pending.len(), 1);
    let candidate = &pending[0];
    assert_eq!(candidate.sides.len(), 2);
    assert!(candidate.sides.iter().all(|s| s.birth_date == "2012-03-04"));
    assert!(notifications(&school).await.is_empty());
    assert!(matches(&school).await.is_empty());

    // Confirmed: both signallers told once, with each other's contact details.
    let decided = decide(&admin, &candidate.id, true).await;
    assert_eq!(decided.status(), pb::CandidateStatus::Confirmed);
    assert_eq!(
        decide(&admin, &candidate.id, true).await.status(),
        pb::CandidateStatus::Confirmed
    );
    told_once(
        &school,
        pb::MatchKind::Candidate,
        "GGD Drenthe Jeugdgezondheidszorg",
    )
    .await;
    told_once(&jgz, pb::MatchKind::Candidate, "CBS De Regenboog Assen").await;
    await_match(
        &school,
        pb::MatchKind::Candidate,
        "GGD Drenthe Jeugdgezondheidszorg",
    )
    .await;

    // Rejected: never told.
    let mut mw_c = mw.clone();
    mw_c.create_signal(without_bsn(
        "de Vries",
        "Sem",
        "2014-05-06",
        "M",
        "0114",
        "Kees Bakker",
    ))
    .await
    .expect("signal");
    let mut police_c = police.clone();
    police_c
        .create_signal(without_bsn(
            "Vries, de",
            "",
            "2014-05-06",
            "M",
            "0114",
            "Ahmed Yilmaz",
        ))
        .await
        .expect("signal");
    let pending = pending_candidates(&admin).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        decide(&admin, &pending[0].id, false).await.status(),
        pb::CandidateStatus::Rejected
    );
    tokio::time::sleep(SETTLE).await;
    assert!(notifications(&mw).await.is_empty());
    assert!(notifications(&police).await.is_empty());
    assert!(matches(&mw).await.is_empty());
    assert!(pending_candidates(&admin).await.is_empty());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_a_signal_without_a_bsn_gives_exactly_one_client_match() {
    let t = TestFed::start().await;
    let youth = t.youths()[0].clone();
    let zl_jgz = t.node_client("zuid-limburg/jgz");
    let mut school = t.node_client("drenthe/school");
    let zl_admin = t.node_client("zuid-limburg/beheer");
    signal(&zl_jgz, youth.bsn.as_str(), "Marieke Smeets").await;

    // Described with a given name the registry does not have: not resolved, a VIN.
    let surname = format!("{} {}", youth.surname_prefix, youth.surname);
    let gender = vir_shared::fallback::gender_code(youth.gender);
    let made = school
        .create_signal(without_bsn(
            &surname,
            "Onbekend",
            &youth.birth_date.format("%Y-%m-%d").to_string(),
            gender,
            youth.municipality.as_str(),
            "Jan de Vries",
        ))
        .await
        .expect("a signal without a BSN")
        .into_inner();
    assert!(!made.verwijsindex_number.is_empty());
    // The hub proposes the pair as a cross-regional candidate; nobody is told.
    eventually("the candidate at Zuid-Limburg", WAIT, || async {
        (!pending_candidates(&zl_admin).await.is_empty()).then_some(())
    })
    .await;

    let linked = school
        .link_signal(pb::LinkSignalRequest {
            signal_id: made.id.clone(),
            bsn: youth.bsn.to_string(),
        })
        .await
        .expect("linked")
        .into_inner();
    assert_eq!(linked.bsn, youth.bsn.to_string());
    assert!(linked.verwijsindex_number.is_empty());

    await_match(
        &school,
        pb::MatchKind::Client,
        "GGD Zuid Limburg Jeugdgezondheidszorg",
    )
    .await;
    await_match(&zl_jgz, pb::MatchKind::Client, "CBS De Regenboog Assen").await;
    told_once(
        &school,
        pb::MatchKind::Client,
        "GGD Zuid Limburg Jeugdgezondheidszorg",
    )
    .await;
    for client in [&school, &zl_jgz] {
        let all = matches(client).await;
        assert_eq!(all.len(), 1, "exactly one match: {all:?}");
        assert_eq!(all[0].kind(), pb::MatchKind::Client);
        assert!(notifications(client)
            .await
            .iter()
            .all(|n| n.kind() == pb::MatchKind::Client));
    }
    assert!(
        pending_candidates(&zl_admin).await.is_empty(),
        "the candidate gave way"
    );
    t.shutdown().await;
}
