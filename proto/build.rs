//! Compiles `trama/v1/*.proto` with protox (pure Rust, no system `protoc`)
//! and generates the prost messages and tonic services.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "trama/v1/common.proto",
    "trama/v1/subject.proto",
    "trama/v1/record.proto",
    "trama/v1/stats.proto",
    "trama/v1/services.proto",
    "trama/v1/referrals.proto",
    "trama/v1/federation.proto",
    "trama/v1/connector.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out.join("trama_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&fds))?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
