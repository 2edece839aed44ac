//! What one audit entry says: who asked (organisation, operator, role), why
//! (purpose, case, legal basis, whether the case was verified), about whom
//! (keyed pseudonyms), what (sections asked and returned), which sources
//! answered and how, the decision and its reason, and when. Never contents,
//! names or tax codes.

use serde::{Deserialize, Serialize};

/// One audited call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// When the call was answered, RFC 3339 UTC.
    pub time: String,
    /// The call, for example `GetRecord`.
    pub call: String,
    /// The client organisation, from its certificate.
    pub organisation: String,
    /// The operator's identifier, as vouched for by the organisation.
    pub operator_id: String,
    /// The operator's role.
    pub operator_role: String,
    /// The purpose stated.
    pub purpose: String,
    /// The case id stated, if any.
    pub case_id: String,
    /// Whether the case stated was checked with the organisation that
    /// states it: `verified` (an open case of that organisation including
    /// the person), `unverified` (taken as stated, by the gateway's explicit
    /// rule for organisations that map no cases), `refused` (not such a
    /// case), `failed` (the check could not be made); empty when no case
    /// was stated or the call stopped before the check. Left out of the
    /// payload when empty, so entries written before the field existed
    /// hash as they did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub case_check: String,
    /// The legal basis stated, if any.
    pub legal_basis: String,
    /// Keyed pseudonyms of the subject(s) concerned: of the tax code and of
    /// each partner's local id seen in the call.
    pub subjects: Vec<String>,
    /// Keyed pseudonyms of other people the answer showed (the candidates
    /// of a search).
    #[serde(default)]
    pub candidates: Vec<String>,
    /// Sections asked for.
    pub sections_asked: Vec<String>,
    /// Sections that carried at least one entry in the answer.
    pub sections_returned: Vec<String>,
    /// Each source asked and its outcome.
    pub sources: Vec<SourceEntry>,
    /// `permit`, `deny`, `invalid` or `error`.
    pub decision: String,
    /// Why: the policy rule and reason, or the invalid field.
    pub reason: String,
    /// The gRPC status of the answer, for example `OK`.
    pub status: String,
    /// For an `AccessLog`, what it listed by: `key=value` pairs separated
    /// by spaces (`operator`, `organisation`, `purpose`, `call`, `from`,
    /// `to`, `before`); empty otherwise. Left out of the payload when
    /// empty, so entries written before the field existed hash as they
    /// did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filters: String,
}

/// What one source did in an audited call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// The source organisation.
    pub organisation: String,
    /// Its outcome: `ok`, `not_found`, `denied`, `timeout`, `unavailable`,
    /// `error`.
    pub outcome: String,
    /// How many entries it contributed.
    pub entries: u32,
}

impl Entry {
    /// The canonical bytes hashed into the chain (and stored as is).
    pub fn to_payload(&self) -> String {
        // Serialising a plain struct of strings cannot fail; an empty
        // payload would still be chained and caught by verification.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored payload back.
    pub fn from_payload(payload: &str) -> Result<Entry, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_check_is_read_and_written_only_where_there_is_one() {
        let before = Entry {
            call: "GetRecord".into(),
            case_id: "CS-1".into(),
            ..Entry::default()
        };
        let payload = before.to_payload();
        assert!(!payload.contains("case_check"), "{payload}");
        assert_eq!(Entry::from_payload(&payload).ok(), Some(before.clone()));
        let checked = Entry {
            case_check: "verified".into(),
            ..before
        };
        let payload = checked.to_payload();
        assert!(payload.contains(r#""case_check":"verified""#), "{payload}");
        assert_eq!(Entry::from_payload(&payload).ok(), Some(checked));
    }
}
