//! The federation's own calls, beside the capabilities' (records in
//! [`crate::records`], statistics in [`crate::stats`], referrals in
//! [`crate::referrals`]): the access log and the list of sources, each as
//! the contents of the pipeline's stages ([`crate::call`]).

pub mod access;
pub mod sources;
