//! What the connector works with, in its own types: the context of a call,
//! whom it looks for, and the people and entries it finds. Wire messages
//! become these in `from_proto.rs` and are built from them in
//! `to_proto.rs`; nothing between the two edges touches a `trama.v1`
//! message.

use std::collections::HashMap;

use trama_proto::v1::Section;
use trama_subject::matching::Traits;

use crate::values::Typed;

/// The typed values of one row, by schema field name.
pub type Fields = HashMap<&'static str, Typed>;

/// On whose behalf and why a call is made, as the gateway forwarded it:
/// every field present and without surrounding blanks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The client organisation the gateway authenticated.
    pub client: String,
    /// The purpose of the access.
    pub purpose: String,
    /// The case the access is for, if one was given.
    pub case_id: Option<String>,
    /// The operator's id in the client organisation's system.
    pub operator_id: String,
    /// The operator's role.
    pub operator_role: String,
}

/// Whom a match looks for.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// This partner's own id for the person, if the caller knows it.
    pub local_id: Option<String>,
    /// What the caller knows about the person.
    pub traits: Traits,
}

/// Whose record is read: by this partner's id, else by tax code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// This partner's own id.
    LocalId(String),
    /// A tax code, as the caller wrote it.
    TaxCode(String),
}

/// What the partner's own cases say of a case one of its operators
/// states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAnswer {
    /// An open case with that id includes the person.
    OpenWithPerson,
    /// No open case with that id includes the person: no such case, one no
    /// longer open, or another person's.
    NotOpenWithPerson,
    /// The mapping maps no cases: the partner cannot say.
    NoCasesMapped,
}

/// A person found in the partner's database.
#[derive(Debug, Clone)]
pub struct Person {
    /// The partner's id for the person.
    pub local_id: String,
    /// The tax code as recorded (upper case), even if it is not valid: the
    /// gateway shows it when sources disagree.
    pub tax_code: String,
    /// What the record says about the person, as the matcher compares it.
    pub traits: Traits,
    /// When the partner's row last changed, seconds since the Unix epoch.
    pub last_updated: Option<i64>,
}

/// A person who may be the one looked for.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The person.
    pub person: Person,
    /// How well they match, between 0 and 1.
    pub score: f64,
    /// The query fields that matched (and `ambiguous` for a tie).
    pub matched: Vec<&'static str>,
}

/// One entry of a section, as mapped from one row.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The section it belongs to.
    pub section: Section,
    /// The partner's id of the row.
    pub record_id: String,
    /// When the row last changed, seconds since the Unix epoch.
    pub last_updated: Option<i64>,
    /// The entry's typed values by schema field.
    pub fields: Fields,
}

/// A person's record: who, and the entries of the sections read.
#[derive(Debug, Clone)]
pub struct Record {
    /// The person (the first found, when the partner holds duplicates of
    /// them, whose entries the record also holds).
    pub person: Person,
    /// The entries, section by section in the order asked.
    pub entries: Vec<Entry>,
}

impl Record {
    /// The sections that hold at least one entry, in schema order.
    pub fn sections_with_entries(&self) -> Vec<Section> {
        trama_proto::sections::ALL
            .into_iter()
            .filter(|s| self.entries.iter().any(|e| e.section == *s))
            .collect()
    }
}
