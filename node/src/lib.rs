//! The chassis both kinds of Trama node (gateway and connector) share: how
//! they read their configuration ([`config`]), what
//! their gRPC servers serve besides their own service (health, reflection in
//! both versions stock tools speak) and how they answer a request beyond
//! their limits, how their calls are timed ([`timing`]).

pub mod check;
pub mod config;
pub mod server;
pub mod timing;
