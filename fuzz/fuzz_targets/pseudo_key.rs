//! A pseudonymised key on the wire → `vir_shared::keys::PseudoKey`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;
use vir_proto as pb;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = pb::PseudoKey::decode(data) {
        let _ = vir_shared::keys::PseudoKey::try_from(key);
    }
});
