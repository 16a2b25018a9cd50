//! Generated protobuf and gRPC code for `vir.v1`: the only crate with generated code.
//!
//! Everything else converts these wire types into domain types at the edge (`TryFrom`).
#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("vir.v1");
}

pub use v1::*;

/// The encoded `FileDescriptorSet` of `vir.proto`, for gRPC reflection and for knowing the
/// fixed set of method paths (metrics labels come only from it).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/vir_descriptor.bin"));
