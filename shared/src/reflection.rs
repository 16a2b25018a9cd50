//! gRPC reflection (`grpc.reflection.v1`) for every server: the `vir.v1` services and the
//! health service, so `grpcurl` and similar tools can list and call them without the .proto.

use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};

/// The reflection service describing `vir.v1` and `grpc.health.v1`.
pub fn service() -> anyhow::Result<ServerReflectionServer<impl ServerReflection>> {
    Ok(tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(vir_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?)
}
