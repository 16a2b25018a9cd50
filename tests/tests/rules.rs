//! The regions' rules end to end, over real mutual TLS through the whole federation: a
//! cross-regional match that ends when one side expires (003 art. 1, 16.1-16.2), the
//! administrator role on the admin RPCs with the access log (NEN 7513), and Hoeksche Waard's
//! urgent signal that gets a coordinator without a match (004 §5).

use std::time::Duration;

use tonic::Code;
use vir_proto as pb;
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(30);

async fn notices(
    client: &mut vir_proto::node_client::NodeClient<tonic::transport::Channel>,
    topic: pb::NoticeTopic,
) -> Vec<pb::Notice> {
    client
        .list_notices(pb::ListNoticesRequest {})
        .await
        .expect("list notices")
        .into_inner()
        .notices
        .into_iter()
        .filter(|n| n.topic == topic as i32)
        .collect()
}

/// 003 art. 16.1-16.2, 002 art. 17.1-17.2: a Drenthe signal with an end date 10 days ahead
/// matches a Zuid-Limburg signal through the hub; when its end date comes, the Drenthe node's
/// scheduler expires it, the removal reaches the hub, the match ends and the Zuid-Limburg
/// signaller is told. Zuid-Limburg asks for the consultation within 10 working days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_regional_match_ends_when_one_side_expires_art_16_1() {
    let t = TestFed::start().await;
    let youth = t.youths()[3].clone();
    let bsn = youth.bsn.to_string();
    let ends = (vir_tests::start_date() + chrono::Days::new(10))
        .format("%Y-%m-%d")
        .to_string();
    let mut school = t.node_client("drenthe/school");
    let mut jgz = t.node_client("zuid-limburg/jgz");
    let short = pb::CreateSignalRequest {
        end_date: ends,
        ..signal_request(&bsn, "Jan de Vries")
    };
    school.create_signal(short).await.expect("Drenthe signals");
    jgz.create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .expect("Zuid-Limburg signals");

    let match_id = eventually(
        "the cross-regional match with contact details",
        WAIT,
        || {
            let mut jgz = jgz.clone();
            async move {
                let matches = jgz
                    .list_matches(pb::ListMatchesRequest {})
                    .await
                    .ok()?
                    .into_inner()
                    .matches;
                matches
                    .into_iter()
                    .find(|m| {
                        m.others
                            .iter()
                            .any(|p| !p.contact_pending && p.region == "drenthe")
                    })
                    .map(|m| m.id)
            }
        },
    )
    .await;
    let asked = eventually("Zuid-Limburg asks for the consultation", WAIT, || {
        let mut jgz = jgz.clone();
        async move {
            notices(&mut jgz, pb::NoticeTopic::ConsultationRequested)
                .await
                .into_iter()
                .next()
        }
    })
    .await;
    assert_eq!(asked.match_id, match_id);
    let due = chrono::NaiveDate::parse_from_str(&asked.due_on, "%Y-%m-%d").unwrap();
    assert!(
        (due - vir_tests::start_date()).num_days() >= 14,
        "10 working days (002 art. 10.1): {due}"
    );

    t.clock.advance(chrono::Duration::days(10));
    let left = eventually(
        "the Zuid-Limburg signaller is told the Drenthe party left",
        WAIT,
        || {
            let mut jgz = jgz.clone();
            async move {
                notices(&mut jgz, pb::NoticeTopic::PartyLeft)
                    .await
                    .into_iter()
                    .next()
            }
        },
    )
    .await;
    assert_eq!(left.match_id, match_id);
    assert_eq!(left.parties[0].organisation, "CBS De Regenboog Assen");
    let matches = jgz
        .list_matches(pb::ListMatchesRequest {})
        .await
        .unwrap()
        .into_inner()
        .matches;
    assert!(matches.iter().all(|m| m.id != match_id), "the match ended");
    let mine = school
        .list_signals(pb::ListSignalsRequest {})
        .await
        .unwrap()
        .into_inner()
        .signals;
    assert_eq!(mine[0].status, pb::SignalStatus::Expired as i32);
    assert!(
        !mine[0].archive_until.is_empty(),
        "in the archive (003 art. 16.2)"
    );
    t.shutdown().await;
}

/// The Admin* RPCs answer the administrator only (PERMISSION_DENIED otherwise, and logged);
/// the administrator does not signal; every access is in the access log, whose chain holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_administrator_reads_the_access_log_and_the_chain_holds_nen_7513() {
    let t = TestFed::start().await;
    let bsn = t.youths()[4].bsn.to_string();
    let mut school = t.node_client("drenthe/school");
    let mut admin = t.node_client("drenthe/beheer");
    school
        .create_signal(signal_request(&bsn, "Anna Bakker"))
        .await
        .expect("school signals");
    school
        .list_signals(pb::ListSignalsRequest {})
        .await
        .unwrap();

    let refused = school
        .admin_verify_access_log(pb::AdminVerifyAccessLogRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = admin
        .create_signal(signal_request(&bsn, "Beheer"))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "the administrator does not signal"
    );

    let about = admin
        .admin_access_log(pb::AdminAccessLogRequest {
            bsn: bsn.clone(),
            ..Default::default()
        })
        .await
        .expect("the administrator reads the log")
        .into_inner()
        .entries;
    let actions: Vec<&str> = about.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"CreateSignal") && actions.contains(&"ListSignals"),
        "{actions:?}"
    );
    assert!(
        about.iter().all(|e| !e.subject.contains(&bsn)),
        "a pseudonym, never the BSN"
    );
    let by_school = admin
        .admin_access_log(pb::AdminAccessLogRequest {
            actor_oin: about[0].actor_oin.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(
        by_school
            .iter()
            .any(|e| e.action == "AdminVerifyAccessLog" && e.result == "PermissionDenied"),
        "the refusal is logged"
    );
    let v = admin
        .admin_verify_access_log(pb::AdminVerifyAccessLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(v.intact && v.entries >= 4, "{v:?}");
    // The head it answers is an anchor for a later check; a malformed one is refused by name.
    let again = admin
        .admin_verify_access_log(pb::AdminVerifyAccessLogRequest {
            anchors: vec![v.head.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.intact && again.entries >= v.entries, "{again:?}");
    let refused = admin
        .admin_verify_access_log(pb::AdminVerifyAccessLogRequest {
            anchors: vec!["12:not-a-hash".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("anchors"), "{refused:?}");

    let export = admin
        .admin_inzage(pb::AdminInzageRequest {
            bsn: bsn.clone(),
            requested_by: pb::Addressee::Parents as i32,
            youth_not_capable: true,
        })
        .await
        .expect("inzage")
        .into_inner();
    assert_eq!(export.signals, 1);
    assert!(export.export_json.contains("Anna Bakker"));
    t.shutdown().await;
}

/// 004 §5, §12: in Hoeksche Waard an urgent signal gets its coordinator at once, without a
/// match (the CJG's regisseur); Drenthe has no urgency codes and refuses one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_hoeksche_waard_signal_gets_a_coordinator_without_a_match_par_5() {
    let t = TestFed::start().await;
    let bsn = t.youths()[5].bsn.to_string();
    let urgent = pb::CreateSignalRequest {
        urgency: 2,
        ..signal_request(&bsn, "Wim Wellant")
    };
    let refused = t
        .node_client("drenthe/school")
        .create_signal(urgent.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    let created = t
        .node_client("hoeksche-waard/school")
        .create_signal(urgent)
        .await
        .expect("urgent signal")
        .into_inner();
    assert_eq!(created.urgency, 2);
    let told = eventually("the CJG is given regie", WAIT, || {
        let mut cjg = t.node_client("hoeksche-waard/cjg");
        async move {
            notices(&mut cjg, pb::NoticeTopic::Regie)
                .await
                .into_iter()
                .next()
        }
    })
    .await;
    assert_eq!(told.detail, "urgent");
    let mut school = t.node_client("hoeksche-waard/school");
    let regie = eventually("the signaller learns who coordinates", WAIT, || {
        let mut school = school.clone();
        async move {
            notices(&mut school, pb::NoticeTopic::Regie)
                .await
                .into_iter()
                .next()
        }
    })
    .await;
    assert_eq!(regie.parties[0].organisation, "CJG Hoeksche Waard");
    assert!(
        school
            .list_matches(pb::ListMatchesRequest {})
            .await
            .unwrap()
            .into_inner()
            .matches
            .is_empty(),
        "no match needed"
    );
    t.shutdown().await;
}
