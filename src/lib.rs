//! The `trama` binary's library: the product's command line. The gateway
//! and the connector runtime live in their own crates (`trama-gateway`,
//! `trama-connector`), client profiles and output in `trama-client`, and
//! the demo, seed, soak and bench tools in `trama-lab`; this crate wires
//! them to the command line.

pub mod args;
pub mod cli;
#[cfg(feature = "lab")]
pub mod lab;
pub mod pki;
pub mod refer;
