//! Bad input and bad callers are refused with a clear status on the first RPC, and nothing is
//! stored: invalid or unknown BSN, a youth aged 23 or more, an end date beyond 2 years, an
//! unknown organisation, a certificate from another CA or an expired one (UNAUTHENTICATED on
//! the first call, with the reason), a spoofed region.

use chrono::Duration as Days;
use tonic::Code;
use vir_proto as pb;
use vir_proto::hub_client::HubClient;
use vir_proto::node_client::NodeClient;
use vir_tests::{signal_request, start_date, TestFed};

async fn signal_count(t: &TestFed, org: &str) -> usize {
    t.node_client(org)
        .list_signals(pb::ListSignalsRequest {})
        .await
        .expect("list signals")
        .into_inner()
        .signals
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signal_input_is_refused_with_a_clear_error_and_nothing_is_stored() {
    let t = TestFed::start().await;
    let mut school = t.node_client("drenthe/school");
    let youth_bsn = t.youths()[0].bsn.to_string();
    let unknown_bsn = (10_000_000u32..)
        .filter_map(vir_shared::Bsn::from_prefix)
        .find(|b| t.registry.people.iter().all(|p| p.bsn != *b))
        .unwrap()
        .to_string();
    let too_late = (start_date() + Days::days(2 * 366 + 1))
        .format("%Y-%m-%d")
        .to_string();

    let cases: Vec<(&str, pb::CreateSignalRequest, Code, &str)> = vec![
        (
            "invalid BSN",
            signal_request("123456789", "A"),
            Code::InvalidArgument,
            "bsn",
        ),
        (
            "short BSN",
            signal_request("12345", "A"),
            Code::InvalidArgument,
            "bsn",
        ),
        (
            "BSN unknown to the registry",
            signal_request(&unknown_bsn, "A"),
            Code::NotFound,
            "bsn",
        ),
        (
            "youth aged 23 or more",
            signal_request(&t.adult().bsn.to_string(), "A"),
            Code::FailedPrecondition,
            "23",
        ),
        (
            "end date beyond 2 years",
            pb::CreateSignalRequest {
                end_date: too_late,
                ..signal_request(&youth_bsn, "A")
            },
            Code::InvalidArgument,
            "end_date",
        ),
        (
            "malformed end date",
            pb::CreateSignalRequest {
                end_date: "next year".into(),
                ..signal_request(&youth_bsn, "A")
            },
            Code::InvalidArgument,
            "end_date",
        ),
        (
            "no signaller",
            pb::CreateSignalRequest {
                signaller: None,
                ..signal_request(&youth_bsn, "A")
            },
            Code::InvalidArgument,
            "signaller",
        ),
    ];
    for (what, request, code, field) in cases {
        let err = school.create_signal(request).await.expect_err(what);
        assert_eq!(err.code(), code, "{what}: {}", err.message());
        assert!(
            err.message().contains(field),
            "{what}: message {:?} names {field:?}",
            err.message()
        );
    }
    assert_eq!(
        signal_count(&t, "drenthe/school").await,
        0,
        "nothing stored"
    );

    // An organisation with a valid certificate of the federation that is not a partner of
    // this node (a Zuid-Limburg school calling the Drenthe node).
    let zl_school = t
        .fed
        .file
        .organisation("zuid-limburg/school")
        .unwrap()
        .tls
        .clone();
    let drenthe = t.fed.file.node("drenthe").unwrap().url.clone();
    let mut stranger =
        NodeClient::new(vir_shared::tls::channel(&drenthe, &zl_school, "localhost").unwrap());
    let err = stranger
        .create_signal(signal_request(&youth_bsn, "A"))
        .await
        .expect_err("unknown organisation");
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());
    assert_eq!(signal_count(&t, "drenthe/school").await, 0);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_from_another_ca_or_expired_are_refused_on_the_first_rpc() {
    let t = TestFed::start().await;
    let drenthe = t.fed.file.node("drenthe").unwrap().url.clone();
    let school_oin: vir_shared::Oin = t
        .fed
        .file
        .organisation("drenthe/school")
        .unwrap()
        .oin
        .parse()
        .unwrap();

    // Same organisation and OIN, but issued by a look-alike CA the federation does not trust.
    let foreign = vir_certs::DevPki::create(&t.dir.path().join("foreign"), "Foreign").unwrap();
    let mut forged = foreign
        .issue_client("forged", "CBS De Regenboog Assen", &school_oin)
        .unwrap();
    forged.ca = t.fed.pki.root_path(); // the client trusts the real server
    let mut client =
        NodeClient::new(vir_shared::tls::channel(&drenthe, &forged, "localhost").unwrap());
    let err = client
        .list_signals(pb::ListSignalsRequest {})
        .await
        .expect_err("a certificate of another CA is refused");
    assert!(
        matches!(
            err.code(),
            Code::Unavailable | Code::Unknown | Code::Unauthenticated
        ),
        "another CA: {err:?}"
    );

    // An expired certificate of the right CA.
    let now = chrono::Utc::now();
    let expired = t
        .fed
        .pki
        .issue_client_valid(
            "expired",
            "CBS De Regenboog Assen",
            &school_oin,
            now - Days::days(400),
            now - Days::days(30),
        )
        .unwrap();
    let mut client =
        NodeClient::new(vir_shared::tls::channel(&drenthe, &expired, "localhost").unwrap());
    let err = client
        .list_signals(pb::ListSignalsRequest {})
        .await
        .expect_err("an expired certificate is refused");
    assert!(
        matches!(
            err.code(),
            Code::Unavailable | Code::Unknown | Code::Unauthenticated
        ),
        "expired: {err:?}"
    );

    // The genuine certificate still works.
    assert!(t
        .node_client("drenthe/school")
        .list_signals(pb::ListSignalsRequest {})
        .await
        .is_ok());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_claiming_another_region_or_an_unknown_caller_is_refused_by_hub_and_pseudonymiser() {
    let t = TestFed::start().await;
    let node_tls = |region: &str| {
        let dir = t.fed.pki.dir().join(format!("node-{region}"));
        vir_shared::tls::TlsPaths::new(
            dir.join("cert.pem"),
            dir.join("key.pem"),
            t.fed.pki.root_path(),
        )
    };
    let hub_url = t.fed.file.hub.url.clone();
    let mut as_drenthe = HubClient::new(
        vir_shared::tls::channel(&hub_url, &node_tls("drenthe"), "localhost").unwrap(),
    );

    // Drenthe's certificate, Zuid-Limburg's name in the body.
    let err = as_drenthe
        .submit(pb::SubmitRequest {
            region: "zuid-limburg".into(),
            operations: vec![],
        })
        .await
        .expect_err("spoofed region on submit");
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());
    let err = as_drenthe
        .subscribe(pb::SubscribeRequest {
            region: "zuid-limburg".into(),
            from_seq: 1,
        })
        .await
        .expect_err("spoofed region on subscribe");
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());

    // A partner organisation's certificate is not a node's.
    let school = t
        .fed
        .file
        .organisation("drenthe/school")
        .unwrap()
        .tls
        .clone();
    let mut as_school =
        HubClient::new(vir_shared::tls::channel(&hub_url, &school, "localhost").unwrap());
    let err = as_school
        .submit(pb::SubmitRequest {
            region: "drenthe".into(),
            operations: vec![],
        })
        .await
        .expect_err("unknown OIN at the hub");
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());

    let pseudo_url = t.fed.file.pseudonymiser.url.clone();
    let mut pseudo = vir_proto::pseudonymiser_client::PseudonymiserClient::new(
        vir_shared::tls::channel(&pseudo_url, &node_tls("drenthe"), "localhost").unwrap(),
    );
    let err = pseudo
        .evaluate(pb::EvaluateRequest {
            region: "hoeksche-waard".into(),
            domain: pb::KeyDomain::Person as i32,
            key_version: 0,
            blinded_elements: vec![],
        })
        .await
        .expect_err("spoofed region at the pseudonymiser");
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());

    // Nothing was applied at the hub.
    let status = as_drenthe
        .status(pb::HubStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.active_signals, 0);
    t.shutdown().await;
}
