//! Generated protobuf and gRPC code for `vir.v1`: the only crate with generated code.
//!
//! Everything else converts these wire types into domain types at the edge (`TryFrom`).
#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("vir.v1");
}

pub use v1::*;
