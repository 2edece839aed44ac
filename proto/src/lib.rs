//! The common schema of Trama, package `trama.v1`, and its two gRPC services:
//! `trama.v1.Federation` (client-facing, served by the gateway) and
//! `trama.v1.Connector` (gateway-facing, served by each connector).
//!
//! The `.proto` files under `proto/trama/v1/` are the one source of truth;
//! the Rust code is generated from them at build time.

/// Generated code for package `trama.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("trama.v1");
}

/// The encoded `FileDescriptorSet` of `trama.v1` and the well-known types it
/// imports, for server reflection and JSON rendering.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/trama_descriptor.bin"));

/// The schema version connectors and the gateway speak.
pub const SCHEMA_VERSION: &str = "v1";
