//! The node's partner API input: `CreateSignalRequest`, `Contact`, `NoBsnIdentity` → domain.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;
use vir_proto as pb;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = pb::CreateSignalRequest::decode(data) {
        let _ = vir_node::signal::NewSignal::try_from(request);
    }
    if let Ok(contact) = pb::Contact::decode(data) {
        let _ = vir_node::signal::Contact::try_from(contact);
    }
    if let Ok(identity) = pb::NoBsnIdentity::decode(data) {
        let _ = vir_node::nobsn::NoBsnIdentity::try_from(identity);
    }
});
