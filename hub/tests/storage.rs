//! Ingest, matching and feeds on every storage backend: SQLite always, PostgreSQL when
//! `VIR_TEST_POSTGRES_URL` is set. Calls the hub's core directly, without TLS.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use vir_hub::{HubError, HubState, NodeEntry};
use vir_proto as pb;
use vir_shared::clock::ManualClock;
use vir_shared::{Oin, RegionCode};

const DRENTHE: &str = "drenthe";
const LIMBURG: &str = "zuid-limburg";
const HOEKSCHE: &str = "hoeksche-waard";

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

fn nodes() -> Vec<NodeEntry> {
    [DRENTHE, LIMBURG, HOEKSCHE]
        .iter()
        .enumerate()
        .map(|(i, code)| NodeEntry {
            oin: format!("000000990000000001{:02}", i)
                .parse::<Oin>()
                .unwrap(),
            region: region(code),
            municipalities: Vec::new(),
        })
        .collect()
}

async fn open(url: &str) -> HubState {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    HubState::open(url, &nodes(), clock).await.unwrap()
}

/// Runs `check` on a fresh database of every configured backend.
macro_rules! on_every_backend {
    ($name:expr, |$state:ident| $body:block) => {{
        let dir = tempfile::tempdir().unwrap();
        for url in vir_shared::db::testing::storage_urls(dir.path(), $name).await {
            let $state = open(&url).await;
            $body
        }
    }};
}

fn key(n: u8) -> pb::PseudoKey {
    pb::PseudoKey {
        domain: pb::KeyDomain::Person as i32,
        version: 1,
        value: vec![n; 64],
    }
}

fn upsert(op_id: u64, signal_ref: &str, key: pb::PseudoKey) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::Upsert(pb::SignalUpsert {
            signal_ref: signal_ref.into(),
            person_key: Some(key),
            municipality: "0106".into(),
            ..Default::default()
        })),
    }
}

fn remove(op_id: u64, signal_ref: &str) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::Remove(pb::SignalRemove {
            signal_ref: signal_ref.into(),
        })),
    }
}

fn relay(op_id: u64, match_id: &str, to: &str, about: &str, sealed: Vec<u8>) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::Relay(pb::EnvelopeRelay {
            match_id: match_id.into(),
            to_region: to.into(),
            about_signal_ref: about.into(),
            sealed,
        })),
    }
}

async fn submit(state: &HubState, from: &str, ops: Vec<pb::Operation>) -> pb::SubmitResponse {
    state.submit(&region(from), ops).await.unwrap()
}

async fn feed(state: &HubState, of: &str) -> Vec<pb::FeedItem> {
    state.feed_page(&region(of), 1, 10_000).await.unwrap()
}

fn created(item: &pb::FeedItem) -> &pb::MatchCreated {
    match &item.body {
        Some(pb::feed_item::Body::MatchCreated(m)) => m,
        other => panic!("expected MatchCreated, got {other:?}"),
    }
}

/// The matches told to `region` so far, as (its signal, the other signal), sorted.
async fn matches_told(state: &HubState, of: &str) -> Vec<(String, String)> {
    let mut told: Vec<(String, String)> = feed(state, of)
        .await
        .iter()
        .map(|item| {
            let m = created(item);
            (m.your_signal_ref.clone(), m.other_signal_ref.clone())
        })
        .collect();
    told.sort();
    told
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(mine, other)| ((*mine).to_owned(), (*other).to_owned()))
        .collect()
}

fn outcomes(response: &pb::SubmitResponse) -> Vec<pb::OpOutcome> {
    response.results.iter().map(|r| r.outcome()).collect()
}

fn assert_contiguous(items: &[pb::FeedItem]) {
    let seqs: Vec<u64> = items.iter().map(|i| i.seq).collect();
    let expected: Vec<u64> = (1..=items.len() as u64).collect();
    assert_eq!(seqs, expected, "feed sequence numbers must be 1..=n");
}

#[tokio::test]
async fn same_key_in_two_regions_makes_one_match_told_to_both() {
    on_every_backend!("hub_match", |state| {
        state
            .record_chain(&region(DRENTHE), vec![b"drenthe-leaf".to_vec()])
            .await
            .unwrap();
        state
            .record_chain(&region(LIMBURG), vec![b"limburg-leaf".to_vec()])
            .await
            .unwrap();
        let r = submit(&state, DRENTHE, vec![upsert(1, "d-1", key(7))]).await;
        assert_eq!(outcomes(&r), [pb::OpOutcome::Applied]);
        assert!(feed(&state, DRENTHE).await.is_empty());
        let r = submit(&state, LIMBURG, vec![upsert(1, "l-1", key(7))]).await;
        assert_eq!(r.last_applied_op_id, 1);

        let d = feed(&state, DRENTHE).await;
        let l = feed(&state, LIMBURG).await;
        assert_eq!((d.len(), l.len()), (1, 1));
        assert_eq!((d[0].seq, l[0].seq), (1, 1));
        let (dm, lm) = (created(&d[0]), created(&l[0]));
        assert_eq!(dm.match_id, lm.match_id);
        assert_eq!(dm.kind(), pb::MatchKind::Client);
        assert_eq!(
            (dm.your_signal_ref.as_str(), dm.other_signal_ref.as_str()),
            ("d-1", "l-1")
        );
        assert_eq!(
            (lm.your_signal_ref.as_str(), lm.other_signal_ref.as_str()),
            ("l-1", "d-1")
        );
        assert_eq!(
            (dm.other_region.as_str(), lm.other_region.as_str()),
            (LIMBURG, DRENTHE)
        );
        assert_eq!(dm.other_node_chain, vec![b"limburg-leaf".to_vec()]);
        assert_eq!(lm.other_node_chain, vec![b"drenthe-leaf".to_vec()]);
        assert!(feed(&state, HOEKSCHE).await.is_empty());

        let status = state.status().await.unwrap();
        assert_eq!((status.active_signals, status.matches), (2, 1));
    });
}

#[tokio::test]
async fn duplicate_op_ids_change_nothing() {
    on_every_backend!("hub_duplicates", |state| {
        let batch = vec![upsert(1, "d-1", key(1)), upsert(2, "d-2", key(2))];
        submit(&state, DRENTHE, batch.clone()).await;
        submit(&state, LIMBURG, vec![upsert(10, "l-1", key(1))]).await;
        assert_eq!(feed(&state, DRENTHE).await.len(), 1);

        let again = submit(&state, DRENTHE, batch).await;
        assert_eq!(
            outcomes(&again),
            [pb::OpOutcome::Duplicate, pb::OpOutcome::Duplicate]
        );
        assert_eq!(again.last_applied_op_id, 2);
        let again = submit(&state, LIMBURG, vec![upsert(10, "l-1", key(1))]).await;
        assert_eq!(outcomes(&again), [pb::OpOutcome::Duplicate]);

        // A partly re-sent batch applies only the new tail.
        let mixed = submit(
            &state,
            DRENTHE,
            vec![upsert(2, "d-2", key(2)), upsert(3, "d-3", key(3))],
        )
        .await;
        assert_eq!(
            outcomes(&mixed),
            [pb::OpOutcome::Duplicate, pb::OpOutcome::Applied]
        );
        assert_eq!(mixed.last_applied_op_id, 3);

        // Re-upserting an active, matched signal under a new op id makes no second match.
        submit(&state, DRENTHE, vec![upsert(4, "d-1", key(1))]).await;
        assert_eq!(feed(&state, DRENTHE).await.len(), 1);
        assert_eq!(feed(&state, LIMBURG).await.len(), 1);
        assert_eq!(state.status().await.unwrap().matches, 1);
    });
}

#[tokio::test]
async fn same_region_keys_do_not_match_at_the_hub() {
    on_every_backend!("hub_same_region", |state| {
        submit(
            &state,
            DRENTHE,
            vec![upsert(1, "d-1", key(5)), upsert(2, "d-2", key(5))],
        )
        .await;
        assert!(feed(&state, DRENTHE).await.is_empty());
        assert_eq!(state.status().await.unwrap().matches, 0);

        // A third region's signal matches each of them once.
        submit(&state, HOEKSCHE, vec![upsert(1, "h-1", key(5))]).await;
        let d = feed(&state, DRENTHE).await;
        let h = feed(&state, HOEKSCHE).await;
        assert_eq!((d.len(), h.len()), (2, 2));
        let mut theirs: Vec<&str> = h
            .iter()
            .map(|i| created(i).other_signal_ref.as_str())
            .collect();
        theirs.sort();
        assert_eq!(theirs, ["d-1", "d-2"]);
    });
}

/// Keys are looked up through an index of their first 8 bytes (`store::prefix`). Keys that share
/// those bytes and differ after them belong to different people: neither a person key nor a
/// parent key makes a match that way. The same key in a third region does, as the control.
#[tokio::test]
async fn keys_sharing_the_indexed_prefix_do_not_match() {
    on_every_backend!("hub_prefix", |state| {
        let mut near = key(9);
        near.value[63] = 10;
        let parent = key(30);
        let mut near_parent = key(30);
        near_parent.value[8] = 31;
        let with_parent = |op_id, signal_ref: &str, person: u8, parent: pb::PseudoKey| {
            let mut op = upsert(op_id, signal_ref, key(person));
            if let Some(pb::operation::Op::Upsert(u)) = &mut op.op {
                u.parent_keys = vec![parent];
            }
            op
        };
        submit(
            &state,
            DRENTHE,
            vec![upsert(1, "d-1", key(9)), with_parent(2, "d-2", 20, parent)],
        )
        .await;
        submit(
            &state,
            LIMBURG,
            vec![
                upsert(1, "l-1", near),
                with_parent(2, "l-2", 21, near_parent),
            ],
        )
        .await;
        assert!(feed(&state, DRENTHE).await.is_empty());
        assert!(feed(&state, LIMBURG).await.is_empty());
        assert_eq!(state.status().await.unwrap().matches, 0);

        submit(&state, HOEKSCHE, vec![upsert(1, "h-1", key(9))]).await;
        let h = feed(&state, HOEKSCHE).await;
        assert_eq!(h.len(), 1);
        assert_eq!(created(&h[0]).other_signal_ref, "d-1");
        assert_eq!(state.status().await.unwrap().matches, 1);
    });
}

#[tokio::test]
async fn remove_ends_the_match_and_tells_the_other_side() {
    on_every_backend!("hub_remove", |state| {
        submit(&state, DRENTHE, vec![upsert(1, "d-1", key(9))]).await;
        submit(&state, LIMBURG, vec![upsert(1, "l-1", key(9))]).await;
        let match_id = created(&feed(&state, LIMBURG).await[0]).match_id.clone();

        submit(&state, DRENTHE, vec![remove(2, "d-1")]).await;
        let l = feed(&state, LIMBURG).await;
        assert_eq!(l.len(), 2);
        match &l[1].body {
            Some(pb::feed_item::Body::MatchEnded(e)) => {
                assert_eq!(e.match_id, match_id);
                assert_eq!(e.your_signal_ref, "l-1");
            }
            other => panic!("expected MatchEnded, got {other:?}"),
        }
        assert_eq!(
            feed(&state, DRENTHE).await.len(),
            1,
            "the remover is not told"
        );
        let status = state.status().await.unwrap();
        assert_eq!((status.active_signals, status.matches), (1, 0));

        // Removing again, or an unknown ref, is a no-op.
        let r = submit(
            &state,
            DRENTHE,
            vec![remove(3, "d-1"), remove(4, "never-sent")],
        )
        .await;
        assert_eq!(
            outcomes(&r),
            [pb::OpOutcome::Applied, pb::OpOutcome::Applied]
        );
        assert_eq!(feed(&state, LIMBURG).await.len(), 2);

        // Re-activating matches again, as a new match.
        submit(&state, DRENTHE, vec![upsert(5, "d-1", key(9))]).await;
        let l = feed(&state, LIMBURG).await;
        assert_eq!(l.len(), 3);
        assert_ne!(created(&l[2]).match_id, match_id);
        assert_contiguous(&l);
    });
}

#[tokio::test]
async fn a_changed_key_ends_the_old_matches_on_both_sides() {
    on_every_backend!("hub_key_change", |state| {
        submit(&state, DRENTHE, vec![upsert(1, "d-1", key(1))]).await;
        submit(
            &state,
            LIMBURG,
            vec![upsert(1, "l-1", key(1)), upsert(2, "l-2", key(2))],
        )
        .await;
        // d-1 turns out to be another youth (corrected BSN): same version, other key.
        submit(&state, DRENTHE, vec![upsert(2, "d-1", key(2))]).await;
        let d = feed(&state, DRENTHE).await;
        let l = feed(&state, LIMBURG).await;
        let kinds = |items: &[pb::FeedItem]| -> Vec<&'static str> {
            items
                .iter()
                .map(|i| match i.body {
                    Some(pb::feed_item::Body::MatchCreated(_)) => "created",
                    Some(pb::feed_item::Body::MatchEnded(_)) => "ended",
                    _ => "other",
                })
                .collect()
        };
        assert_eq!(kinds(&d), ["created", "ended", "created"]);
        assert_eq!(kinds(&l), ["created", "ended", "created"]);
        assert_eq!(created(&l[2]).your_signal_ref, "l-2");
        assert_eq!(state.status().await.unwrap().matches, 1);
    });
}

/// One line per feed item: "created <yours>/<theirs>" or "ended <yours>".
async fn story(state: &HubState, of: &str) -> Vec<String> {
    feed(state, of)
        .await
        .iter()
        .map(|i| match &i.body {
            Some(pb::feed_item::Body::MatchCreated(m)) => {
                format!("created {}/{}", m.your_signal_ref, m.other_signal_ref)
            }
            Some(pb::feed_item::Body::MatchEnded(e)) => format!("ended {}", e.your_signal_ref),
            _ => "other".into(),
        })
        .collect()
}

#[tokio::test]
async fn a_mixed_batch_applies_in_order() {
    on_every_backend!("hub_mixed", |state| {
        submit(
            &state,
            LIMBURG,
            vec![upsert(1, "l-1", key(1)), upsert(2, "l-2", key(2))],
        )
        .await;
        let mut other_version = key(1);
        other_version.version = 2;
        let batch = vec![
            upsert(1, "d-1", key(1)),
            upsert(2, "d-2", key(2)),
            upsert(3, "d-1", key(2)), // the same ref again: d-1 is another youth now
            remove(4, "d-2"),
            upsert(5, "d-3", key(1)),
            upsert(6, "d-4", other_version), // another key version never matches
        ];
        let r = submit(&state, DRENTHE, batch).await;
        assert_eq!(r.last_applied_op_id, 6);
        assert_eq!(
            story(&state, DRENTHE).await,
            [
                "created d-1/l-1",
                "created d-2/l-2",
                "ended d-1",
                "created d-1/l-2",
                "created d-3/l-1"
            ]
        );
        assert_eq!(
            story(&state, LIMBURG).await,
            [
                "created l-1/d-1",
                "created l-2/d-2",
                "ended l-1",
                "created l-2/d-1",
                "ended l-2",
                "created l-1/d-3"
            ]
        );
        assert_eq!(state.status().await.unwrap().matches, 2);
    });
}

#[tokio::test]
async fn feed_sequences_are_contiguous_from_one() {
    on_every_backend!("hub_contiguous", |state| {
        let mut op = 0;
        for round in 0..5u8 {
            let mut ops = Vec::new();
            for i in 0..20u8 {
                op += 1;
                ops.push(upsert(op, &format!("d-{round}-{i}"), key(i)));
            }
            submit(&state, DRENTHE, ops).await;
            let ops = (0..10u8)
                .map(|i| {
                    upsert(
                        u64::from(round) * 10 + u64::from(i) + 1,
                        &format!("l-{round}-{i}"),
                        key(i),
                    )
                })
                .collect();
            submit(&state, LIMBURG, ops).await;
        }
        for code in [DRENTHE, LIMBURG] {
            let items = feed(&state, code).await;
            assert!(!items.is_empty());
            assert_contiguous(&items);
            let from_middle = state.feed_page(&region(code), 7, 3).await.unwrap();
            assert_eq!(
                from_middle.iter().map(|i| i.seq).collect::<Vec<_>>(),
                [7, 8, 9]
            );
            let status = state.status().await.unwrap();
            let region_status = status.regions.iter().find(|r| r.region == code).unwrap();
            assert_eq!(region_status.feed_head_seq, items.len() as u64);
            assert_eq!(state.feeds().head(&region(code)), items.len() as u64);
        }
    });
}

#[tokio::test]
async fn an_invalid_operation_writes_nothing_of_its_request() {
    on_every_backend!("hub_invalid", |state| {
        submit(&state, LIMBURG, vec![upsert(1, "l-1", key(4))]).await;
        let mut short = key(4);
        short.value.truncate(32);
        let batch = vec![upsert(1, "d-1", key(4)), upsert(2, "d-2", short)];
        let err = state.submit(&region(DRENTHE), batch).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, HubError::InvalidArgument(_)), "{err:?}");
        assert!(
            message.contains("operation 2") && message.contains("person_key"),
            "{message}"
        );

        let mut address = key(4);
        address.domain = pb::KeyDomain::Address as i32;
        let err = state
            .submit(&region(DRENTHE), vec![upsert(1, "d-1", address)])
            .await
            .unwrap_err();
        assert!(matches!(err, HubError::InvalidArgument(_)), "{err:?}");

        let unordered = vec![upsert(2, "d-1", key(4)), upsert(1, "d-2", key(4))];
        let err = state.submit(&region(DRENTHE), unordered).await.unwrap_err();
        assert!(matches!(err, HubError::InvalidArgument(_)), "{err:?}");

        let mut bad_municipality = upsert(1, "d-1", key(4));
        if let Some(pb::operation::Op::Upsert(u)) = &mut bad_municipality.op {
            u.municipality = "106".into();
        }
        let err = state
            .submit(&region(DRENTHE), vec![bad_municipality])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("upsert.municipality"), "{err}");

        let status = state.status().await.unwrap();
        assert_eq!(status.active_signals, 1);
        let drenthe = status.regions.iter().find(|r| r.region == DRENTHE).unwrap();
        assert_eq!((drenthe.last_applied_op_id, drenthe.feed_head_seq), (0, 0));
        assert!(feed(&state, LIMBURG).await.is_empty());
    });
}

#[tokio::test]
async fn envelopes_are_relayed_only_within_their_match() {
    on_every_backend!("hub_relay", |state| {
        submit(&state, DRENTHE, vec![upsert(1, "d-1", key(3))]).await;
        submit(&state, LIMBURG, vec![upsert(1, "l-1", key(3))]).await;
        submit(&state, HOEKSCHE, vec![upsert(1, "h-1", key(8))]).await;
        let match_id = created(&feed(&state, DRENTHE).await[0]).match_id.clone();

        submit(
            &state,
            DRENTHE,
            vec![relay(2, &match_id, LIMBURG, "d-1", vec![42; 100])],
        )
        .await;
        let l = feed(&state, LIMBURG).await;
        match &l[1].body {
            Some(pb::feed_item::Body::Envelope(e)) => {
                assert_eq!(
                    (e.match_id.as_str(), e.from_region.as_str()),
                    (match_id.as_str(), DRENTHE)
                );
                assert_eq!((e.about_signal_ref.as_str(), e.sealed.len()), ("d-1", 100));
            }
            other => panic!("expected EnvelopeDelivered, got {other:?}"),
        }

        let refused = |err: HubError| matches!(err, HubError::FailedPrecondition(_));
        let unknown = uuid::Uuid::new_v4().to_string();
        let err = state
            .submit(
                &region(DRENTHE),
                vec![relay(3, &unknown, LIMBURG, "d-1", vec![1])],
            )
            .await
            .unwrap_err();
        assert!(refused(err));
        let err = state
            .submit(
                &region(HOEKSCHE),
                vec![relay(2, &match_id, LIMBURG, "h-1", vec![1])],
            )
            .await
            .unwrap_err();
        assert!(refused(err), "a region outside the match may not relay");
        let err = state
            .submit(
                &region(DRENTHE),
                vec![relay(3, &match_id, LIMBURG, "l-1", vec![1])],
            )
            .await
            .unwrap_err();
        assert!(refused(err), "only about the sender's own signal");
        let big = vec![0; vir_hub::ops::MAX_SEALED_LEN + 1];
        let err = state
            .submit(
                &region(DRENTHE),
                vec![relay(3, &match_id, LIMBURG, "d-1", big)],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, HubError::InvalidArgument(_)));
        // A refused relay rolls back the valid operations before it in the same request.
        let batch = vec![
            upsert(3, "d-9", key(8)),
            relay(4, &unknown, LIMBURG, "d-1", vec![1]),
        ];
        assert!(state.submit(&region(DRENTHE), batch).await.is_err());
        assert!(feed(&state, HOEKSCHE).await.is_empty());
        assert_eq!(feed(&state, LIMBURG).await.len(), 2);

        // After the match ended, an envelope queued before still arrives.
        submit(&state, LIMBURG, vec![remove(2, "l-1")]).await;
        submit(
            &state,
            DRENTHE,
            vec![relay(3, &match_id, LIMBURG, "d-1", vec![7])],
        )
        .await;
        assert_eq!(feed(&state, LIMBURG).await.len(), 3);
    });
}

#[tokio::test]
async fn acks_and_subscription_positions_are_checked() {
    on_every_backend!("hub_ack", |state| {
        submit(&state, DRENTHE, vec![upsert(1, "d-1", key(6))]).await;
        submit(
            &state,
            LIMBURG,
            vec![upsert(1, "l-1", key(6)), upsert(2, "l-2", key(6))],
        )
        .await;
        let drenthe = region(DRENTHE);
        assert_eq!(state.subscribe_from(&drenthe, 0).await.unwrap(), 1);
        assert_eq!(state.subscribe_from(&drenthe, 3).await.unwrap(), 3);
        assert!(matches!(
            state.subscribe_from(&drenthe, 4).await,
            Err(HubError::OutOfRange(_))
        ));

        state.ack(&drenthe, 2).await.unwrap();
        state.ack(&drenthe, 1).await.unwrap();
        assert!(matches!(
            state.ack(&drenthe, 3).await,
            Err(HubError::OutOfRange(_))
        ));
        let status = state.status().await.unwrap();
        let d = status.regions.iter().find(|r| r.region == DRENTHE).unwrap();
        assert_eq!(
            (d.feed_acked_seq, d.feed_head_seq, d.last_applied_op_id),
            (2, 2, 1)
        );
    });
}

#[tokio::test]
async fn concurrent_submits_from_two_regions_miss_no_match() {
    on_every_backend!("hub_concurrent", |state| {
        let state = Arc::new(state);
        let keys = 0..40u8;
        let batch = |prefix: &'static str| -> Vec<Vec<pb::Operation>> {
            keys.clone()
                .map(|k| vec![upsert(u64::from(k) + 1, &format!("{prefix}-{k}"), key(k))])
                .collect()
        };
        let run = |code: &'static str, batches: Vec<Vec<pb::Operation>>| {
            let state = state.clone();
            tokio::spawn(async move {
                for ops in batches {
                    state.submit(&region(code), ops).await.unwrap();
                }
            })
        };
        let (a, b) = tokio::join!(run(DRENTHE, batch("d")), run(LIMBURG, batch("l")));
        a.unwrap();
        b.unwrap();
        assert_eq!(state.status().await.unwrap().matches, 40);
        assert_contiguous(&feed(&state, DRENTHE).await);
        assert_eq!(feed(&state, LIMBURG).await.len(), 40);
    });
}

#[tokio::test]
async fn state_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    for url in vir_shared::db::testing::storage_urls(dir.path(), "hub_reopen").await {
        let state = open(&url).await;
        submit(&state, DRENTHE, vec![upsert(1, "d-1", key(2))]).await;
        submit(&state, LIMBURG, vec![upsert(1, "l-1", key(2))]).await;
        state.close().await;

        let state = open(&url).await;
        assert_eq!(state.feeds().head(&region(DRENTHE)), 1);
        let again = submit(&state, LIMBURG, vec![upsert(1, "l-1", key(2))]).await;
        assert_eq!(outcomes(&again), [pb::OpOutcome::Duplicate]);
        submit(&state, HOEKSCHE, vec![upsert(1, "h-1", key(2))]).await;
        assert_eq!(feed(&state, DRENTHE).await.len(), 2);
        assert_contiguous(&feed(&state, DRENTHE).await);
        state.close().await;
    }
}

/// The key index follows corrections, removals and rolled-back requests, and is whole again
/// after a reopen (on SQLite it is built in memory when the store opens; `key_index.rs`). Every
/// kind of write that adds or drops a key (new signals, a corrected BSN, new parents, an
/// erasure, a rolled-back `Submit`) leaves the key index equal to the tables
/// (`Store::verify_key_index`, SQLite), and a reopened hub matches on what was committed.
#[tokio::test]
async fn the_key_index_follows_every_change_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    for url in vir_shared::db::testing::storage_urls(dir.path(), "hub_key_index").await {
        let with_parent = |op_id, signal_ref: &str, person: u8, parent: u8| {
            let mut op = upsert(op_id, signal_ref, key(person));
            if let Some(pb::operation::Op::Upsert(u)) = &mut op.op {
                u.parent_keys = vec![key(parent)];
            }
            op
        };
        let forget = |op_id, signal_ref: &str| pb::Operation {
            op_id,
            op: Some(pb::operation::Op::Forget(pb::PersonForget {
                signal_refs: vec![signal_ref.to_owned()],
            })),
        };
        let verified = |state: &HubState| {
            let store = state.store().clone();
            async move { store.verify_key_index().await.unwrap() }
        };
        let state = open(&url).await;
        submit(
            &state,
            DRENTHE,
            vec![
                with_parent(1, "d-1", 2, 70),
                upsert(2, "d-2", key(3)),
                upsert(3, "d-3", key(6)),
                with_parent(4, "d-4", 8, 71),
                with_parent(5, "d-5", 9, 72),
            ],
        )
        .await;
        verified(&state).await;
        // A corrected BSN: d-2 is another person now. d-3 is removed. d-4 has a new parent.
        // d-5 died: erased with its keys.
        submit(
            &state,
            DRENTHE,
            vec![
                upsert(6, "d-2", key(4)),
                remove(7, "d-3"),
                with_parent(8, "d-4", 8, 73),
                forget(9, "d-5"),
            ],
        )
        .await;
        verified(&state).await;
        // Rolled back as a whole: the relay names no match.
        let refused = state
            .submit(
                &region(HOEKSCHE),
                vec![
                    upsert(1, "h-1", key(5)),
                    relay(2, "no-such-match", DRENTHE, "h-1", vec![1]),
                ],
            )
            .await;
        assert!(refused.is_err(), "{refused:?}");
        verified(&state).await;
        state.close().await;

        let state = open(&url).await;
        submit(
            &state,
            LIMBURG,
            vec![
                upsert(1, "l-1", key(3)),
                upsert(2, "l-2", key(4)),
                with_parent(3, "l-3", 50, 70),
                upsert(4, "l-4", key(5)),
                upsert(5, "l-5", key(6)),
                with_parent(6, "l-6", 51, 71),
                with_parent(7, "l-7", 52, 73),
                with_parent(8, "l-8", 9, 72),
            ],
        )
        .await;
        verified(&state).await;
        assert_eq!(
            matches_told(&state, LIMBURG).await,
            pairs(&[("l-2", "d-2"), ("l-3", "d-1"), ("l-7", "d-4")])
        );
        state.close().await;
    }
}

/// A run that repeats a known ref among new ones inserts and indexes only the new ones, at
/// once: partners submitted next, in the same process, match them (`upsert::insert_new`). The
/// known ref carries another person key of the same version (a corrected BSN), so its old key
/// matches nothing any more.
#[tokio::test]
async fn a_run_of_known_and_new_refs_matches_the_new_ones_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for url in vir_shared::db::testing::storage_urls(dir.path(), "hub_known_and_new").await {
        let state = open(&url).await;
        submit(&state, DRENTHE, vec![upsert(1, "d-1", key(2))]).await;
        submit(
            &state,
            DRENTHE,
            vec![
                upsert(2, "d-2", key(3)),
                upsert(3, "d-1", key(4)),
                upsert(4, "d-3", key(5)),
            ],
        )
        .await;
        submit(
            &state,
            LIMBURG,
            vec![
                upsert(1, "l-1", key(3)),
                upsert(2, "l-2", key(4)),
                upsert(3, "l-3", key(5)),
                upsert(4, "l-4", key(2)),
            ],
        )
        .await;
        assert_eq!(
            matches_told(&state, LIMBURG).await,
            pairs(&[("l-1", "d-2"), ("l-2", "d-1"), ("l-3", "d-3")])
        );
        state.close().await;
    }
}

/// One hub process per SQLite database: its key index lives in the process's memory, so a second
/// store on the same file is refused while the first is open, and allowed once it is closed.
#[tokio::test]
async fn a_second_hub_on_the_same_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = vir_shared::db::sqlite_url(&dir.path().join("hub.sqlite"));
    let first = open(&url).await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    let Err(refused) = HubState::open(&url, &nodes(), clock.clone()).await else {
        panic!("a second hub was let onto the same SQLite database");
    };
    assert!(
        refused.to_string().contains("another hub process"),
        "{refused}"
    );
    first.close().await;
    let second = HubState::open(&url, &nodes(), clock).await.unwrap();
    second.close().await;
}
