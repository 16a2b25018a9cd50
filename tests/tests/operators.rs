//! What operators see: `/metrics` on every service moves with activity, gRPC reflection lists
//! the services, and `virctl status` summarises a running federation.

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use vir_shared::metrics::http::{sample_sum, scrape};
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(30);

fn node_metrics_url(t: &TestFed, region: &str) -> String {
    t.fed
        .file
        .nodes
        .iter()
        .find(|n| n.region == region)
        .and_then(|n| n.metrics.clone())
        .expect("the local federation serves node metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_every_service_move_with_activity() {
    let t = TestFed::start().await;
    let drenthe = node_metrics_url(&t, "drenthe");
    let limburg = node_metrics_url(&t, "zuid-limburg");
    let hub = t.fed.file.hub.metrics.clone().expect("hub metrics");
    let pseudonymiser = t
        .fed
        .file
        .pseudonymiser
        .metrics
        .clone()
        .expect("pseudonymiser metrics");

    let before = scrape(&drenthe).await.unwrap();
    assert_eq!(
        sample_sum(&before, "vir_node_signals", &[("state", "active")]),
        Some(0.0)
    );
    assert_eq!(
        sample_sum(&before, "vir_build_info", &[("service", "node")]),
        Some(1.0)
    );
    let evaluated_before = sample_sum(
        &scrape(&pseudonymiser).await.unwrap(),
        "vir_pseudonymiser_evaluations_total",
        &[("unit", "elements")],
    )
    .unwrap_or(0.0);

    let bsn = t.youths()[0].bsn.to_string();
    t.node_client("drenthe/school")
        .create_signal(signal_request(&bsn, "Jan de Vries"))
        .await
        .expect("Drenthe signals");
    t.node_client("zuid-limburg/jgz")
        .create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .expect("Zuid-Limburg signals");
    // A refused call shows under its own code.
    let refused = t
        .node_client("drenthe/school")
        .create_signal(signal_request("123456789", "Jan de Vries"))
        .await;
    assert!(refused.is_err());

    // The cross-regional match reaches the hub and both nodes; the outbox empties.
    eventually("a national match counted on both nodes", WAIT, || async {
        for url in [&drenthe, &limburg] {
            let page = scrape(url).await.ok()?;
            let national = sample_sum(&page, "vir_node_matches", &[("kind", "national_client")]);
            let outbox = sample_sum(&page, "vir_node_outbox_depth", &[]);
            let behind = sample_sum(&page, "vir_node_feed_items_behind", &[]);
            (national == Some(1.0) && outbox == Some(0.0) && behind == Some(0.0)).then_some(())?;
        }
        Some(())
    })
    .await;
    let page = scrape(&drenthe).await.unwrap();
    assert_eq!(
        sample_sum(&page, "vir_node_signals", &[("state", "active")]),
        Some(1.0)
    );
    assert!(
        sample_sum(
            &page,
            "vir_rpc_duration_seconds_count",
            &[("method", "vir.v1.Node/CreateSignal"), ("code", "Ok")]
        ) >= Some(1.0)
    );
    assert!(
        sample_sum(
            &page,
            "vir_rpc_duration_seconds_count",
            &[
                ("method", "vir.v1.Node/CreateSignal"),
                ("code", "InvalidArgument")
            ]
        ) >= Some(1.0),
        "the refused call is counted with its code:\n{page}"
    );

    let hub_page = scrape(&hub).await.unwrap();
    for region in ["drenthe", "zuid-limburg"] {
        assert_eq!(
            sample_sum(&hub_page, "vir_hub_signals", &[("region", region)]),
            Some(1.0),
            "{hub_page}"
        );
        assert_eq!(
            sample_sum(&hub_page, "vir_hub_feed_lag", &[("region", region)]),
            Some(0.0),
            "{hub_page}"
        );
    }
    assert_eq!(
        sample_sum(&hub_page, "vir_hub_matches", &[("kind", "client")]),
        Some(1.0)
    );
    assert!(
        sample_sum(
            &hub_page,
            "vir_rpc_duration_seconds_count",
            &[("method", "vir.v1.Hub/Submit"), ("code", "Ok")]
        ) >= Some(2.0)
    );

    let ps_page = scrape(&pseudonymiser).await.unwrap();
    let evaluated = sample_sum(
        &ps_page,
        "vir_pseudonymiser_evaluations_total",
        &[("unit", "elements")],
    )
    .unwrap();
    assert!(evaluated > evaluated_before, "{ps_page}");
    assert!(
        sample_sum(
            &ps_page,
            "vir_rpc_duration_seconds_count",
            &[("method", "vir.v1.Pseudonymiser/Evaluate")]
        ) >= Some(1.0)
    );
    assert_eq!(
        sample_sum(
            &ps_page,
            "vir_pseudonymiser_refusals_total",
            &[("reason", "rate_limit")]
        ),
        Some(0.0)
    );

    // A withdrawal ends the match: the gauges follow.
    let mut school = t.node_client("drenthe/school");
    let signals = school
        .list_signals(vir_proto::ListSignalsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .signals;
    school
        .withdraw_signal(vir_proto::WithdrawSignalRequest {
            signal_id: signals[0].id.clone(),
        })
        .await
        .expect("withdraw");
    eventually("the hub's match ended", WAIT, || async {
        let page = scrape(&hub).await.ok()?;
        (sample_sum(&page, "vir_hub_matches", &[("kind", "client")]) == Some(0.0)).then_some(())
    })
    .await;
    let page = scrape(&drenthe).await.unwrap();
    assert_eq!(
        sample_sum(&page, "vir_node_signals", &[("state", "inactive")]),
        Some(1.0)
    );
    t.shutdown().await;
}

/// The service names a reflection client gets from `ListServices`.
async fn reflected_services(channel: tonic::transport::Channel) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let answer = answers.next().await.expect("one answer").expect("no error");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services_of_every_server() {
    let t = TestFed::start().await;
    let file = &t.fed.file;
    let operator = &file.operator;
    let drenthe = file.node("drenthe").unwrap();
    let org = t.fed.org_tls("drenthe/school").unwrap();
    let node = vir_shared::tls::channel(&drenthe.url, &org, &drenthe.server_name).unwrap();
    let hub = vir_shared::tls::channel(&file.hub.url, operator, &file.hub.server_name).unwrap();
    let pseudonymiser = vir_shared::tls::channel(
        &file.pseudonymiser.url,
        operator,
        &file.pseudonymiser.server_name,
    )
    .unwrap();
    for (channel, own) in [
        (node, "vir.v1.Node"),
        (hub, "vir.v1.Hub"),
        (pseudonymiser, "vir.v1.Pseudonymiser"),
    ] {
        let services = reflected_services(channel).await;
        for expected in [own, "grpc.health.v1.Health"] {
            assert!(
                services.iter().any(|s| s == expected),
                "{own}: {expected} missing from {services:?}"
            );
        }
    }
    t.shutdown().await;
}
