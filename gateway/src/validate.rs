//! Validation of Federation requests into the gateway's own types: who asks
//! and why ([`Context`]), whom about ([`SubjectKey`], [`FindQuery`]) and
//! what ([`sections`]). Every refusal is [`CallError::Invalid`] naming the
//! field and the fix. A field that is empty once whitespace and invisible
//! characters are removed is empty: a case id of one zero-width space is no
//! case id.

use trama_proto::sections;
use trama_proto::v1::{self, Section};
use trama_subject::TaxCode;
use trama_subject::text;

use crate::error::CallError;
use crate::policy::Asker;

/// Who asks and why, as the policy decides on it, the connectors receive it
/// and the audit records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The purpose, for example `presa_in_carico`.
    pub purpose: String,
    /// The case id, possibly empty.
    pub case_id: String,
    /// The operator's id in the client's system.
    pub operator_id: String,
    /// The operator's role.
    pub role: String,
    /// The legal basis, possibly empty.
    pub legal_basis: String,
}

impl Context {
    /// The asker, for the policy, on behalf of the client `organisation`.
    pub fn asker<'a>(&'a self, organisation: &'a str) -> Asker<'a> {
        Asker {
            organisation,
            operator_id: &self.operator_id,
            role: &self.role,
            purpose: &self.purpose,
            case_id: &self.case_id,
            legal_basis: &self.legal_basis,
        }
    }

    /// The wire form forwarded to the connectors.
    pub fn to_proto(&self) -> v1::RequestContext {
        v1::RequestContext {
            purpose: self.purpose.clone(),
            case_id: self.case_id.clone(),
            operator: Some(v1::Operator {
                id: self.operator_id.clone(),
                role: self.role.clone(),
            }),
            legal_basis: self.legal_basis.clone(),
        }
    }
}

/// A partner's own id for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalId {
    /// The partner organisation.
    pub organisation: String,
    /// Its id for the person.
    pub id: String,
}

/// Whom a `GetRecord` or `AccessLog` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey {
    /// The tax code, canonical, if given.
    pub tax_code: Option<TaxCode>,
    /// Partners' local ids.
    pub local_ids: Vec<LocalId>,
}

impl SubjectKey {
    /// The tax code as text, empty when not given.
    pub fn tax_text(&self) -> String {
        self.tax_code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// The local id given for `organisation`, if any.
    pub fn local_at(&self, organisation: &str) -> Option<&str> {
        self.local_ids
            .iter()
            .find(|l| l.organisation == organisation)
            .map(|l| l.id.as_str())
    }
}

/// Whom a `FindSubject` looks for.
#[derive(Debug, Clone, PartialEq)]
pub struct FindQuery {
    /// The tax code, canonical, if given.
    pub tax_code: Option<TaxCode>,
    /// A partner's local id, if given.
    pub local_id: Option<LocalId>,
    /// The query as forwarded to the connectors (tax code canonical).
    pub wire: v1::SubjectQuery,
    /// Candidates asked of each source.
    pub max_candidates: u32,
}

impl FindQuery {
    /// Whether only the partner of the local id can answer: the query
    /// gives a local id and neither a tax code nor names.
    pub fn local_id_only(&self) -> Option<&LocalId> {
        let names = !text::is_blank(&self.wire.family_name);
        self.local_id
            .as_ref()
            .filter(|_| self.tax_code.is_none() && !names)
    }
}

/// Checks the request context.
pub fn context(ctx: Option<&v1::RequestContext>) -> Result<Context, CallError> {
    let Some(raw) = ctx else {
        return Err(CallError::invalid(
            "context",
            "every call states its context: purpose (for example presa_in_carico), case id and operator",
        ));
    };
    let ctx = trimmed(raw);
    let required = [
        (
            "context.purpose",
            &ctx.purpose,
            "state the purpose of the access, for example presa_in_carico or verifica_presa_in_carico",
        ),
        (
            "context.operator.id",
            &ctx.operator_id,
            "name the operator on whose behalf the system asks (their id in your organisation's system); it is written to the audit log",
        ),
        (
            "context.operator.role",
            &ctx.role,
            "state the operator's role, for example assistente_sociale; the policy decides by role",
        ),
    ];
    for (field, value, fix) in required {
        if value.is_empty() {
            return Err(CallError::invalid(field, fix));
        }
    }
    // Optional fields: absent is fine, present but invisible is not.
    for (field, given, value) in [
        ("context.case_id", &raw.case_id, &ctx.case_id),
        ("context.legal_basis", &raw.legal_basis, &ctx.legal_basis),
    ] {
        if !given.is_empty() && value.is_empty() {
            return Err(CallError::invalid(
                field,
                "it holds only spaces or invisible characters; give a real value or leave it out",
            ));
        }
    }
    Ok(ctx)
}

/// The context with blanks and invisible characters removed from both ends
/// of every field (what the audit records even of a refused call).
pub fn trimmed(ctx: &v1::RequestContext) -> Context {
    let operator = ctx.operator.clone().unwrap_or_default();
    Context {
        purpose: text::trim(&ctx.purpose).to_string(),
        case_id: text::trim(&ctx.case_id).to_string(),
        operator_id: text::trim(&operator.id).to_string(),
        role: text::trim(&operator.role).to_string(),
        legal_basis: text::trim(&ctx.legal_basis).to_string(),
    }
}

/// Parses a tax code field, if present.
pub fn tax_code(field: &str, value: &str) -> Result<Option<TaxCode>, CallError> {
    if text::is_blank(value) {
        return Ok(None);
    }
    TaxCode::parse(text::trim(value)).map(Some).map_err(|e| {
        CallError::invalid(
            field,
            format!(
                "not a valid codice fiscale: {e} (to search with a partial or possibly mistyped code, send it as tax_code_fragment)"
            ),
        )
    })
}

/// Checks a date field, if present.
pub fn date(field: &str, value: Option<&v1::Date>) -> Result<(), CallError> {
    let Some(d) = value else { return Ok(()) };
    let valid = d.to_date().is_some();
    if valid && (1850..=2200).contains(&d.year) {
        Ok(())
    } else {
        Err(CallError::invalid(
            field,
            format!("{}-{}-{} is not a valid date", d.year, d.month, d.day),
        ))
    }
}

/// Checks a partner's local id: a source of this federation, a visible id.
fn local_id(
    field: &str,
    local: &v1::LocalId,
    known_source: &impl Fn(&str) -> bool,
) -> Result<LocalId, CallError> {
    let organisation = text::trim(&local.organisation);
    if !known_source(organisation) {
        return Err(CallError::invalid(
            format!("{field}.organisation"),
            format!(
                "`{}` is not a source of this federation",
                local.organisation
            ),
        ));
    }
    if text::is_blank(&local.id) {
        return Err(CallError::invalid(
            format!("{field}.id"),
            "give the partner's id for the person",
        ));
    }
    Ok(LocalId {
        organisation: organisation.to_string(),
        id: text::trim(&local.id).to_string(),
    })
}

/// Longest family or given name a search takes, in characters.
pub const MAX_NAME: usize = 100;

/// Checks a `FindSubject` query: something that identifies a person.
pub fn subject_query(
    q: Option<&v1::SubjectQuery>,
    max_candidates: u32,
    known_source: impl Fn(&str) -> bool,
) -> Result<FindQuery, CallError> {
    let Some(q) = q else {
        return Err(CallError::invalid(
            "query",
            "give a tax code, a local id, or a family name with a given name or birth date",
        ));
    };
    let code = tax_code("query.tax_code", &q.tax_code)?;
    date("query.birth_date", q.birth_date.as_ref())?;
    let local = q
        .local_id
        .as_ref()
        .map(|l| local_id("query.local_id", l, &known_source))
        .transpose()?;
    let fragment = fragment(&q.tax_code_fragment)?;
    let has_name = !text::is_blank(&q.family_name);
    let has_second = !text::is_blank(&q.given_name) || q.birth_date.is_some();
    if code.is_none() && !fragment && local.is_none() && !(has_name && has_second) {
        return Err(CallError::invalid(
            "query",
            "no identifier: give a tax code (or a fragment of one), a local id, or a family name with a given name or birth date",
        ));
    }
    birthplace(&q.birthplace_code)?;
    for (field, name) in [
        ("query.family_name", &q.family_name),
        ("query.given_name", &q.given_name),
    ] {
        if name.chars().count() > MAX_NAME {
            return Err(CallError::invalid(
                field,
                format!(
                    "at most {MAX_NAME} characters; write the name as it is on the person's documents"
                ),
            ));
        }
    }
    Ok(FindQuery {
        wire: normalised(q, code.as_ref(), local.as_ref()),
        tax_code: code,
        local_id: local,
        max_candidates: match max_candidates {
            0 => 10,
            n => n.min(50),
        },
    })
}

/// Checks a tax-code fragment; whether one was given.
fn fragment(value: &str) -> Result<bool, CallError> {
    if text::is_blank(value) {
        return Ok(false);
    }
    let today = time::OffsetDateTime::now_utc().date();
    trama_subject::codice_fiscale::Fragment::parse(text::trim(value), today)
        .map(|_| true)
        .map_err(|e| CallError::invalid("query.tax_code_fragment", e.to_string()))
}

/// Checks a birthplace's Belfiore code, if given.
fn birthplace(code: &str) -> Result<(), CallError> {
    if code.is_empty() || trama_subject::belfiore::is_known(&code.to_ascii_uppercase()) {
        return Ok(());
    }
    Err(CallError::invalid(
        "query.birthplace_code",
        format!("`{code}` is not a Belfiore code of a municipality or country"),
    ))
}

/// The query as forwarded to the connectors: the tax code canonical, the
/// local id trimmed.
fn normalised(
    q: &v1::SubjectQuery,
    code: Option<&TaxCode>,
    local: Option<&LocalId>,
) -> v1::SubjectQuery {
    let mut wire = q.clone();
    if let Some(c) = code {
        wire.tax_code = c.to_string();
    }
    if let Some(l) = local {
        wire.local_id = Some(v1::LocalId {
            organisation: l.organisation.clone(),
            id: l.id.clone(),
        });
    }
    wire
}

/// Checks a `GetRecord` or `AccessLog` subject key.
pub fn subject_key(
    key: Option<&v1::SubjectKey>,
    known_source: impl Fn(&str) -> bool,
) -> Result<SubjectKey, CallError> {
    let Some(key) = key else {
        return Err(CallError::invalid(
            "subject",
            "give the person's tax code or partners' local ids",
        ));
    };
    let code = tax_code("subject.tax_code", &key.tax_code)?;
    let local_ids = key
        .local_ids
        .iter()
        .enumerate()
        .map(|(i, l)| local_id(&format!("subject.local_ids[{i}]"), l, &known_source))
        .collect::<Result<Vec<_>, _>>()?;
    if code.is_none() && local_ids.is_empty() {
        return Err(CallError::invalid(
            "subject",
            "no identifier: give the person's tax code or partners' local ids",
        ));
    }
    Ok(SubjectKey {
        tax_code: code,
        local_ids,
    })
}

/// Checks the sections asked for; duplicates are asked once.
pub fn sections(raw: &[i32]) -> Result<Vec<Section>, CallError> {
    if raw.is_empty() {
        return Err(CallError::invalid(
            "sections",
            format!("ask for at least one section: {}", sections::all_names()),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        match Section::try_from(*s) {
            Ok(Section::Unspecified) | Err(_) => {
                return Err(CallError::invalid(
                    format!("sections[{i}]"),
                    format!("unknown section {s}; known: {}", sections::all_names()),
                ));
            }
            Ok(section) if !out.contains(&section) => out.push(section),
            Ok(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(purpose: &str, case_id: &str, id: &str, role: &str) -> v1::RequestContext {
        v1::RequestContext {
            purpose: purpose.into(),
            case_id: case_id.into(),
            operator: Some(v1::Operator {
                id: id.into(),
                role: role.into(),
            }),
            legal_basis: String::new(),
        }
    }

    /// The refused field, or `None` when the context passes.
    fn check(c: v1::RequestContext) -> Option<String> {
        match context(Some(&c)) {
            Ok(_) => None,
            Err(CallError::Invalid { field, .. }) => Some(field),
            Err(e) => panic!("not an invalid field: {e:?}"),
        }
    }

    #[test]
    fn invisible_fields_are_empty() {
        let zw = "\u{200B}";
        for (c, refused) in [
            (ctx("presa_in_carico", "CS-1", "op", "as"), None),
            (ctx("presa_in_carico", "", "op", "as"), None),
            (
                ctx("presa_in_carico", zw, "op", "as"),
                Some("context.case_id"),
            ),
            (
                ctx("presa_in_carico", " \u{FEFF} ", "op", "as"),
                Some("context.case_id"),
            ),
            (ctx(zw, "CS-1", "op", "as"), Some("context.purpose")),
            (
                ctx("presa_in_carico", "CS-1", "\u{2060}", "as"),
                Some("context.operator.id"),
            ),
            (
                ctx("presa_in_carico", "CS-1", "op", "\u{200D}\u{200C}"),
                Some("context.operator.role"),
            ),
        ] {
            assert_eq!(check(c.clone()).as_deref(), refused, "{c:?}");
        }
    }

    #[test]
    fn context_is_trimmed_of_invisible_ends() {
        let Ok(c) = context(Some(&ctx(
            "\u{200B}presa_in_carico ",
            "CS-1\u{200E}",
            "op",
            "as",
        ))) else {
            panic!("valid")
        };
        assert_eq!(c.purpose, "presa_in_carico");
        assert_eq!(c.case_id, "CS-1");
    }

    #[test]
    fn invisible_local_ids_are_refused() {
        let key = v1::SubjectKey {
            tax_code: String::new(),
            local_ids: vec![v1::LocalId {
                organisation: "comune".into(),
                id: "\u{200B}".into(),
            }],
        };
        let refused = subject_key(Some(&key), |o| o == "comune").err();
        assert!(
            matches!(&refused, Some(CallError::Invalid { field, .. }) if field == "subject.local_ids[0].id"),
            "{refused:?}"
        );
    }
}
