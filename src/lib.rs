//! The `trama` binary's library: the command line, client profiles, output
//! rendering, the synthetic data generator and the demo federation. The
//! gateway and the connector runtime live in their own crates
//! (`trama-gateway`, `trama-connector`); this crate wires them to the
//! command line.

pub mod bench;
pub mod bench_audit;
pub mod bench_federation;
pub mod bench_load;
pub mod cli;
pub mod client;
pub mod demo;
pub mod quality;
pub mod render;
pub mod seed;
pub mod soak;
