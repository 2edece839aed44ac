//! Trama's lab: everything that makes, drives or measures a federation
//! without being part of one. Synthetic partners and their legacy
//! databases (`seed`), a federation sandbox that starts a whole federation
//! as real processes for the demo, the tests and the benchmarks
//! (`sandbox`), the demo's walkthrough (`demo`), a soak with faults
//! (`soak`), the matching test set (`quality`), and the benchmarks
//! (`bench`). The `trama` binary runs them as its `demo`, `seed`, `soak`
//! and `bench` subcommands.

pub mod bench;
pub mod demo;
pub mod quality;
pub mod sandbox;
pub mod seed;
pub mod signal;
pub mod soak;
