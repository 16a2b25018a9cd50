//! Inzage across regions at the hub (issue 6, "Rights"; 002 art. 18-19): a request reaches
//! only the other regions that have or had a signal on the person key; an answer goes only
//! from an asked region back to the requester; re-sent operations change nothing. On every
//! storage backend (SQLite always, PostgreSQL when `VIR_TEST_POSTGRES_URL` is set).

use chrono::{TimeZone, Utc};
use vir_hub::{HubError, HubState, NodeEntry};
use vir_proto as pb;
use vir_shared::clock::ManualClock;
use vir_shared::{Oin, RegionCode};

const REGIONS: [&str; 3] = ["drenthe", "zuid-limburg", "hoeksche-waard"];
const REQUEST_ID: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

async fn open(url: &str) -> HubState {
    let nodes: Vec<NodeEntry> = REGIONS
        .iter()
        .enumerate()
        .map(|(i, code)| NodeEntry {
            oin: format!("000000990000000001{i:02}").parse::<Oin>().unwrap(),
            region: region(code),
            municipalities: Vec::new(),
        })
        .collect();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    HubState::open(url, &nodes, clock).await.unwrap()
}

fn person_key(n: u8) -> pb::PseudoKey {
    pb::PseudoKey {
        domain: pb::KeyDomain::Person as i32,
        version: 1,
        value: vec![n; 64],
    }
}

fn upsert(op_id: u64, signal_ref: &str, n: u8) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::Upsert(pb::SignalUpsert {
            signal_ref: signal_ref.into(),
            person_key: Some(person_key(n)),
            municipality: "0106".into(),
            ..Default::default()
        })),
    }
}

fn request(op_id: u64, n: u8) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::InzageRequest(pb::InzageRequest {
            request_id: REQUEST_ID.into(),
            person_key: Some(person_key(n)),
        })),
    }
}

fn answer(op_id: u64, to: &str) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::InzageAnswer(pb::InzageAnswer {
            request_id: REQUEST_ID.into(),
            to_region: to.into(),
            sealed: vec![0xA5; 200],
        })),
    }
}

async fn feed(state: &HubState, code: &str) -> Vec<pb::feed_item::Body> {
    state
        .feed_page(&region(code), 1, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|i| i.body)
        .collect()
}

#[tokio::test]
async fn inzage_request_reaches_regions_with_a_signal_and_answers_go_back_only_art_18() {
    let dir = tempfile::tempdir().unwrap();
    for url in vir_shared::db::testing::storage_urls(dir.path(), "inzage").await {
        let state = open(&url).await;
        let (drenthe, limburg, hoeksche) = (REGIONS[0], REGIONS[1], REGIONS[2]);
        // The youth (key 1) in Drenthe and Zuid-Limburg (removed since: still asked);
        // Hoeksche Waard only has another youth (key 2).
        state
            .submit(&region(drenthe), vec![upsert(1, "d-1", 1)])
            .await
            .unwrap();
        state
            .submit(
                &region(limburg),
                vec![
                    upsert(1, "l-1", 1),
                    pb::Operation {
                        op_id: 2,
                        op: Some(pb::operation::Op::Remove(pb::SignalRemove {
                            signal_ref: "l-1".into(),
                        })),
                    },
                ],
            )
            .await
            .unwrap();
        state
            .submit(&region(hoeksche), vec![upsert(1, "h-1", 2)])
            .await
            .unwrap();

        // An answer to a request nobody made is refused.
        let e = state
            .submit(&region(limburg), vec![answer(3, drenthe)])
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::FailedPrecondition(_)), "{e}");

        let limburg_before = feed(&state, limburg).await.len();
        let hoeksche_before = feed(&state, hoeksche).await.len();
        state
            .submit(&region(drenthe), vec![request(2, 1)])
            .await
            .unwrap();
        // Re-sent: a duplicate, nothing appended twice.
        state
            .submit(&region(drenthe), vec![request(2, 1)])
            .await
            .unwrap();

        let asked: Vec<pb::InzageRequested> = feed(&state, limburg)
            .await
            .into_iter()
            .skip(limburg_before)
            .filter_map(|b| match b {
                pb::feed_item::Body::InzageRequested(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].from_region, drenthe);
        assert_eq!(asked[0].request_id, REQUEST_ID);
        assert_eq!(asked[0].person_key, Some(person_key(1)));
        assert_eq!(
            feed(&state, hoeksche).await.len(),
            hoeksche_before,
            "not asked"
        );
        let forwarded: Vec<pb::InzageForwarded> = feed(&state, drenthe)
            .await
            .into_iter()
            .filter_map(|b| match b {
                pb::feed_item::Body::InzageForwarded(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(forwarded.len(), 1);
        assert_eq!(forwarded[0].to_regions, [limburg]);

        // Hoeksche Waard was not asked; Limburg may not send the answer elsewhere.
        let e = state
            .submit(&region(hoeksche), vec![answer(2, drenthe)])
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::FailedPrecondition(_)), "{e}");
        let e = state
            .submit(&region(limburg), vec![answer(3, hoeksche)])
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::FailedPrecondition(_)), "{e}");
        // Too large a sealed answer is malformed.
        let mut big = answer(3, drenthe);
        if let Some(pb::operation::Op::InzageAnswer(a)) = big.op.as_mut() {
            a.sealed = vec![0; vir_hub::ops::MAX_INZAGE_SEALED_LEN + 1];
        }
        let e = state.submit(&region(limburg), vec![big]).await.unwrap_err();
        assert!(matches!(e, HubError::InvalidArgument(_)), "{e}");

        state
            .submit(&region(limburg), vec![answer(3, drenthe)])
            .await
            .unwrap();
        state
            .submit(&region(limburg), vec![answer(3, drenthe)])
            .await
            .unwrap();
        let answered: Vec<pb::InzageAnswered> = feed(&state, drenthe)
            .await
            .into_iter()
            .filter_map(|b| match b {
                pb::feed_item::Body::InzageAnswered(a) => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(answered.len(), 1, "relayed once");
        assert_eq!(answered[0].from_region, limburg);
        assert_eq!(answered[0].sealed, vec![0xA5; 200]);

        // Another region cannot reuse the request id.
        let e = state
            .submit(&region(hoeksche), vec![request(2, 2)])
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::FailedPrecondition(_)), "{e}");
    }
}
