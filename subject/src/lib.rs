//! Identifying people in Trama: the Italian tax code (*codice fiscale*) and
//! its validation, the Belfiore codes of birthplaces, name folding and
//! similarity, and the scoring of a candidate against what a caller knows.
//!
//! Shared by the gateway (request validation, grouping candidates), the
//! connectors (matching) and the synthetic data generator; [`wire`] reads
//! and writes the identifying fields of `trama.v1` messages for both ends.

pub mod belfiore;
pub mod codice_fiscale;
pub mod matching;
pub mod names;
pub mod text;
pub mod wire;

pub use codice_fiscale::{TaxCode, TaxCodeError};
pub use names::Sex;
