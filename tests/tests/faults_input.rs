//! S9 (issue 8), on stable: bad input never panics or corrupts. The same wire-to-domain
//! conversions and configuration parsers as the `cargo fuzz` targets in `fuzz/` (which need
//! nightly and cargo-fuzz), driven by proptest so every CI run covers them:
//!
//! - arbitrary bytes decoded as the wire messages a server accepts (`SubmitRequest`,
//!   `Operation`, `PseudoKey`, `CreateSignalRequest`, `Contact`, `NoBsnIdentity`) and, when they
//!   decode, converted with their `TryFrom` into domain types;
//! - structured wire messages with hostile field values (empty, huge, control characters,
//!   wrong key lengths and domains, op id 0 and beyond i64);
//! - the hub, node and pseudonymiser configurations with lines dropped, values replaced by
//!   arbitrary text, and arbitrary text.
//!
//! A conversion must return `Ok` or `Err`; a panic fails the test. An accepted value must be
//! what the message said (checked for the fields that round-trip).

use proptest::prelude::*;
use prost::Message;
use vir_proto as pb;

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{0,80}",
        "\\PC{0,40}",
        "[\\x00-\\x1f]{1,5}",
        Just("x".repeat(5000)),
        "[0-9]{0,12}",
        Just("0106".to_owned()),
    ]
}

fn wire_key() -> impl Strategy<Value = pb::PseudoKey> {
    (
        -2i32..6,
        prop_oneof![Just(0u32), Just(1u32), any::<u32>()],
        prop_oneof![
            prop::collection::vec(any::<u8>(), 64),
            prop::collection::vec(any::<u8>(), 0..100)
        ],
    )
        .prop_map(|(domain, version, value)| pb::PseudoKey {
            domain,
            version,
            value,
        })
}

fn wire_operation() -> impl Strategy<Value = pb::Operation> {
    let upsert = (
        hostile_string(),
        prop::option::of(wire_key()),
        hostile_string(),
        prop::collection::vec(wire_key(), 0..5),
        prop::option::of(wire_key()),
        prop::option::of(wire_key()),
    )
        .prop_map(
            |(signal_ref, person_key, municipality, parent_keys, address_key, fallback_key)| {
                pb::operation::Op::Upsert(pb::SignalUpsert {
                    signal_ref,
                    person_key,
                    municipality,
                    parent_keys,
                    address_key,
                    fallback_key,
                })
            },
        );
    let remove = hostile_string()
        .prop_map(|signal_ref| pb::operation::Op::Remove(pb::SignalRemove { signal_ref }));
    let relay = (
        hostile_string(),
        hostile_string(),
        hostile_string(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(match_id, to_region, about_signal_ref, sealed)| {
            pb::operation::Op::Relay(pb::EnvelopeRelay {
                match_id,
                to_region,
                about_signal_ref,
                sealed,
            })
        });
    (
        prop_oneof![
            Just(0u64),
            1u64..100,
            Just(i64::MAX as u64 + 1),
            any::<u64>()
        ],
        prop::option::of(prop_oneof![upsert, remove, relay]),
    )
        .prop_map(|(op_id, op)| pb::Operation { op_id, op })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_a_wire_conversion(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(request) = pb::SubmitRequest::decode(bytes.as_slice()) {
            let _ = vir_hub::ops::parse_batch(request.operations);
        }
        if let Ok(op) = pb::Operation::decode(bytes.as_slice()) {
            let _ = vir_hub::ops::Operation::try_from(op);
        }
        if let Ok(key) = pb::PseudoKey::decode(bytes.as_slice()) {
            let _ = vir_shared::keys::PseudoKey::try_from(key);
        }
        if let Ok(request) = pb::CreateSignalRequest::decode(bytes.as_slice()) {
            let _ = vir_node::signal::NewSignal::try_from(request);
        }
        if let Ok(contact) = pb::Contact::decode(bytes.as_slice()) {
            let _ = vir_node::signal::Contact::try_from(contact);
        }
        if let Ok(identity) = pb::NoBsnIdentity::decode(bytes.as_slice()) {
            let _ = vir_node::nobsn::NoBsnIdentity::try_from(identity);
        }
    }

    #[test]
    fn hostile_operations_are_refused_or_accepted_faithfully(op in wire_operation()) {
        let op_id = op.op_id;
        let wire = op.clone();
        if let Ok(parsed) = vir_hub::ops::Operation::try_from(op) {
            prop_assert_eq!(parsed.op_id, op_id);
            prop_assert!(op_id >= 1 && op_id <= i64::MAX as u64);
            if let (vir_hub::ops::Op::Remove { signal_ref }, Some(pb::operation::Op::Remove(r))) = (&parsed.op, &wire.op) {
                prop_assert_eq!(signal_ref.as_str(), r.signal_ref.as_str());
            }
        }
        // A batch of them: refused as a whole or every op kept, in order.
        let batch = vec![wire.clone(), pb::Operation { op_id: op_id.wrapping_add(1), ..wire }];
        if let Ok(parsed) = vir_hub::ops::parse_batch(batch) {
            prop_assert_eq!(parsed.len(), 2);
        }
    }

    #[test]
    fn hostile_signal_requests_never_panic(
        bsn in hostile_string(),
        name in hostile_string(),
        phone in hostile_string(),
        email in hostile_string(),
        end_date in hostile_string(),
        with_contact in any::<bool>(),
    ) {
        let request = pb::CreateSignalRequest {
            bsn: bsn.clone(),
            signaller: with_contact.then_some(pb::Contact { name, phone, email }),
            end_date,
            ..Default::default()
        };
        if let Ok(signal) = vir_node::signal::NewSignal::try_from(request) {
            prop_assert_eq!(signal.bsn.as_str(), bsn.trim());
        }
    }

    #[test]
    fn damaged_configurations_never_panic(
        which in 0usize..3,
        drop_line in any::<prop::sample::Index>(),
        replace_line in any::<prop::sample::Index>(),
        value in "\\PC{0,30}",
        garbage in "\\PC{0,200}",
    ) {
        let examples = [
            include_str!("../../deploy/examples/hub.toml"),
            include_str!("../../deploy/examples/node-drenthe.toml"),
            include_str!("../../deploy/examples/pseudonymiser.toml"),
        ];
        let lines: Vec<&str> = examples[which].lines().collect();
        let dropped = drop_line.index(lines.len());
        let replaced = replace_line.index(lines.len());
        let damaged: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != dropped)
            .map(|(i, l)| match (i == replaced, l.split_once('=')) {
                (true, Some((key, _))) => format!("{key}= {value:?}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        for text in [damaged.as_str(), garbage.as_str()] {
            if let Ok(c) = toml::from_str::<vir_hub::HubConfig>(text) {
                let _ = c.validate();
            }
            let _ = vir_node::config::NodeConfig::from_toml(text);
            let _ = vir_pseudonymiser::config::Config::from_toml(text);
        }
    }
}
