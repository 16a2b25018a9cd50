//! `Hub.Submit` input: bytes → `SubmitRequest` / `Operation` → the hub's validated operations.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;
use vir_proto as pb;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = pb::SubmitRequest::decode(data) {
        let _ = vir_hub::ops::parse_batch(request.operations);
    }
    if let Ok(op) = pb::Operation::decode(data) {
        let _ = vir_hub::ops::Operation::try_from(op);
    }
});
