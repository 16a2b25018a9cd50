//! Inzage across regions (issue 6, "Rights"; 002 art. 18-19; 003 art. 17): the administrator
//! asks the other regions through the hub; each region with a signal on the youth answers with
//! its export sealed to the requesting node's certified key, which the hub cannot open.

use std::time::Duration;

use serde_json::Value;
use tonic::Code;
use vir_proto as pb;
use vir_tests::{contains, dump_sqlite, eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(30);

/// 002 art. 18-19; 003 art. 17: a youth signalled in Drenthe and Zuid-Limburg; Drenthe's
/// administrator asks all regions. Zuid-Limburg answers with its signal (organisation,
/// dates), Hoeksche Waard is not asked (no signal on the youth there), and the hub's database
/// holds nothing of the opened export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inzage_across_regions_art_18_answered_with_sealed_exports_the_hub_cannot_read() {
    let t = TestFed::start().await;
    let youths = t.unrelated_youths();
    let bsn = youths[0].bsn.to_string();
    let other_bsn = youths[1].bsn.to_string();

    let mut school = t.node_client("drenthe/school");
    let mut jgz = t.node_client("zuid-limburg/jgz");
    school
        .create_signal(signal_request(&bsn, "Jan de Vries"))
        .await
        .expect("Drenthe school signals");
    jgz.create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .expect("Zuid-Limburg JGZ signals");
    // Hoeksche Waard has a signal, on another youth only.
    t.node_client("hoeksche-waard/school")
        .create_signal(signal_request(&other_bsn, "Wim Wellant"))
        .await
        .expect("Hoeksche Waard school signals another youth");

    // Both national signals reached the hub: the cross-regional match is there.
    eventually("the cross-regional match", WAIT, || {
        let mut school = school.clone();
        async move {
            let matches = school
                .list_matches(pb::ListMatchesRequest {})
                .await
                .ok()?
                .into_inner()
                .matches;
            matches
                .iter()
                .flat_map(|m| m.others.iter())
                .any(|p| p.region == "zuid-limburg" && !p.contact_pending)
                .then_some(())
        }
    })
    .await;

    // Only the administrator may ask.
    let request = pb::AdminInzageRequest {
        bsn: bsn.clone(),
        requested_by: pb::Addressee::Parents as i32,
        youth_not_capable: true,
    };
    let refused = school
        .admin_inzage_all_regions(request.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let mut admin = t.node_client("drenthe/beheer");
    let asked = admin
        .admin_inzage_all_regions(request)
        .await
        .expect("inzage with the other regions")
        .into_inner();
    let regional = asked.regional.expect("the regional export");
    assert_eq!(regional.signals, 1);
    assert!(regional.export_json.contains("Jan de Vries"));

    let result = eventually("Zuid-Limburg's answer", WAIT, || {
        let mut admin = admin.clone();
        let request_id = asked.request_id.clone();
        async move {
            let r = admin
                .admin_inzage_result(pb::AdminInzageResultRequest { request_id })
                .await
                .ok()?
                .into_inner();
            (r.forwarded && r.pending_regions.is_empty() && !r.answers.is_empty()).then_some(r)
        }
    })
    .await;
    assert!(result.regional_export_json.contains("Jan de Vries"));
    let regions: Vec<&str> = result.answers.iter().map(|a| a.region.as_str()).collect();
    assert_eq!(
        regions,
        ["zuid-limburg"],
        "only the region with a signal is asked"
    );
    let answer = &result.answers[0];
    assert!(answer.answered_unix_ms > 0);
    let export: Value = serde_json::from_str(&answer.export_json).expect("JSON export");
    assert_eq!(export["region"], "zuid-limburg");
    let signals = export["signals"].as_array().expect("signals");
    assert_eq!(signals.len(), 1, "{export}");
    let signal = &signals[0];
    assert_eq!(
        signal["organisation"],
        "GGD Zuid Limburg Jeugdgezondheidszorg"
    );
    assert_eq!(signal["signaller"]["name"], "Marieke Smeets");
    assert!(signal["signalled_at"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(signal["end_date"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(export["retention"].is_object(), "{export}");

    // The reads of the result are in the access log.
    let log = admin
        .admin_access_log(pb::AdminAccessLogRequest {
            bsn: bsn.clone(),
            ..Default::default()
        })
        .await
        .expect("access log")
        .into_inner();
    assert!(
        log.entries.iter().any(|e| e.action == "AdminInzageResult"),
        "the result reads are logged"
    );

    // An unknown request id is not found.
    let unknown = admin
        .admin_inzage_result(pb::AdminInzageResultRequest {
            request_id: "00000000-0000-4000-8000-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // The hub relayed the sealed export but holds no part of it.
    let hub_url = t.fed.hub_storage_url().unwrap();
    let dump = dump_sqlite(&hub_url).await;
    assert!(!dump.is_empty(), "the hub stored something");
    for secret in [
        "GGD Zuid Limburg",
        "Marieke Smeets",
        "Jan de Vries",
        "CBS De Regenboog",
        bsn.as_str(),
    ] {
        assert!(
            !contains(&dump, secret),
            "the hub's database holds {secret:?}"
        );
    }
    t.shutdown().await;
}
