//! Records: finding a person across the sources and reading the sections
//! of their record the purpose allows. The two calls ([`find`] and
//! [`record`]) run through the core's pipeline ([`crate::call`]);
//! [`merge`] groups candidates and merges records keeping each entry's
//! provenance; [`locator`] remembers which sources hold a person, so a
//! record read by tax code alone asks only those.

pub mod find;
pub mod locator;
pub mod merge;
pub mod record;
