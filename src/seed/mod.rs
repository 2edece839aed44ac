//! Synthetic data for the demo federation: a population generated
//! deterministically from a seed, and each demo partner's legacy database
//! filled with the part of it that partner knows.

pub mod partners;
pub mod population;
pub mod sink;

pub use partners::Partner;
pub use population::{Population, generate};
