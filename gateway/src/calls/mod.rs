//! The Federation calls, each as the contents of the pipeline's stages
//! ([`crate::call`]): validate into domain types, plan (policy first), fan
//! out, combine, derive the audit facts, answer.

pub mod access;
pub mod aggregate;
pub mod find;
pub mod record;
pub mod referral;
pub mod sources;
