//! The edge where `trama.v1` requests become the connector's own types
//! ([`crate::model`]), and where they are refused when a field the call needs
//! is missing: a purpose, an operator, a case id or an identifier that is
//! empty once whitespace and invisible characters are removed counts as
//! missing, whatever the gateway let through.

use time::Date;
use trama_proto::v1::{self, Section};
use trama_subject::text;

use crate::error::CallError;
use crate::model::{Context, Lookup, RecordKey};

/// Most candidates a connector returns for one query.
pub const MAX_CANDIDATES: usize = 50;
/// Candidates returned when the caller does not say how many.
const DEFAULT_CANDIDATES: usize = 10;

/// A `MatchSubject` call.
#[derive(Debug, Clone)]
pub struct MatchCall {
    /// On whose behalf and why.
    pub context: Context,
    /// Whom to look for.
    pub lookup: Lookup,
    /// How many candidates to return at most.
    pub max: usize,
}

/// A `FetchRecord` call.
#[derive(Debug, Clone)]
pub struct FetchCall {
    /// On whose behalf and why.
    pub context: Context,
    /// Whose record.
    pub key: RecordKey,
    /// The sections asked for.
    pub sections: Vec<Section>,
}

/// Reads a `MatchSubject` request for the partner `organisation`; `today`
/// dates a tax-code fragment.
pub fn match_subject(
    req: &v1::MatchSubjectRequest,
    organisation: &str,
    today: Date,
) -> Result<MatchCall, CallError> {
    let context = context(&req.client_organisation, req.context.as_ref())?;
    let lookup = lookup(req.query.as_ref(), organisation, today)?;
    let max = match req.max_candidates {
        0 => DEFAULT_CANDIDATES,
        n => usize::try_from(n).map_or(MAX_CANDIDATES, |n| n.min(MAX_CANDIDATES)),
    };
    Ok(MatchCall {
        context,
        lookup,
        max,
    })
}

/// Reads a `FetchRecord` request.
pub fn fetch_record(req: &v1::FetchRecordRequest) -> Result<FetchCall, CallError> {
    Ok(FetchCall {
        sections: sections(&req.sections)?,
        context: context(&req.client_organisation, req.context.as_ref())?,
        key: record_key(&req.tax_code, &req.local_id)?,
    })
}

/// A `CheckCase` call.
#[derive(Debug, Clone)]
pub struct CaseCall {
    /// On whose behalf and why.
    pub context: Context,
    /// The case to check.
    pub case_id: String,
    /// The person it must include.
    pub lookup: Lookup,
}

/// Reads a `CheckCase` request for the partner `organisation`; `today`
/// dates a tax-code fragment. The context must state the case.
pub fn check_case(
    req: &v1::CheckCaseRequest,
    organisation: &str,
    today: Date,
) -> Result<CaseCall, CallError> {
    let context = context(&req.client_organisation, req.context.as_ref())?;
    let Some(case_id) = context.case_id.clone() else {
        return Err(CallError::invalid(
            "context.case_id",
            "state the case to check",
        ));
    };
    Ok(CaseCall {
        lookup: lookup(req.subject.as_ref(), organisation, today)?,
        context,
        case_id,
    })
}

/// A `CountPeople` call.
#[derive(Debug, Clone)]
pub struct CountCall {
    /// On whose behalf and why.
    pub context: Context,
    /// What to count.
    pub ask: crate::facts::CountAsk,
}

/// Most dimensions a table (or its base groups) may use.
const MAX_DIMENSIONS: usize = 6;

/// Reads a `CountPeople` request. The gateway has validated it already;
/// the connector checks again what it relies on.
pub fn count_people(req: &v1::CountPeopleRequest) -> Result<CountCall, CallError> {
    use trama_proto::stats::{Dimension, period_of};
    let dims = |field: &str, names: &[String]| -> Result<Vec<Dimension>, CallError> {
        if names.len() > MAX_DIMENSIONS {
            return Err(CallError::invalid(field, "too many dimensions"));
        }
        names
            .iter()
            .map(|n| {
                Dimension::parse(n)
                    .ok_or_else(|| CallError::invalid(field, format!("unknown dimension `{n}`")))
            })
            .collect()
    };
    let mut filters = Vec::new();
    for (i, f) in req.filters.iter().enumerate() {
        let field = format!("filters[{i}]");
        let dimension = match f.dimension.as_str() {
            "period" => Dimension::Year,
            name => Dimension::parse(name)
                .ok_or_else(|| CallError::invalid(&field, format!("unknown dimension `{name}`")))?,
        };
        if dimension.is_period() && f.values.iter().any(|v| period_of(v).is_none()) {
            return Err(CallError::invalid(
                &field,
                "a period is 2025, 2025-Q2 or 2025-07",
            ));
        }
        filters.push(crate::facts::FactFilter {
            dimension,
            values: f.values.clone(),
        });
    }
    Ok(CountCall {
        context: context(&req.client_organisation, req.context.as_ref())?,
        ask: crate::facts::CountAsk {
            group_by: dims("group_by", &req.group_by)?,
            filters,
            base_by: dims("base_by", &req.base_by)?,
        },
    })
}

/// A field that may be left empty: `None` when it is, refused when it holds
/// only blanks or invisible characters (a value that shows nothing is a
/// mistake or a trick, not an absence), trimmed otherwise.
fn optional(field: &str, value: &str) -> Result<Option<String>, CallError> {
    if value.is_empty() {
        Ok(None)
    } else if text::is_blank(value) {
        Err(CallError::invalid(
            field,
            "holds only blanks or invisible characters; leave it empty if there is none",
        ))
    } else {
        Ok(Some(text::trim(value).to_string()))
    }
}

/// A field the call needs: refused when empty or blank, trimmed otherwise.
fn required(field: &str, value: &str, fix: &str) -> Result<String, CallError> {
    match optional(field, value)? {
        Some(v) => Ok(v),
        None => Err(CallError::invalid(field, fix)),
    }
}

/// The context of a call; every field the partner's rules and audit rely
/// on must be there.
pub fn context(client: &str, ctx: Option<&v1::RequestContext>) -> Result<Context, CallError> {
    let client = required(
        "client_organisation",
        client,
        "the gateway names the client organisation it authenticated",
    )?;
    let Some(ctx) = ctx else {
        return Err(CallError::invalid(
            "context",
            "every call states its purpose, operator and, where needed, case id",
        ));
    };
    let operator = ctx.operator.clone().unwrap_or_default();
    Ok(Context {
        client,
        purpose: required(
            "context.purpose",
            &ctx.purpose,
            "state the purpose of the access, for example presa_in_carico",
        )?,
        case_id: optional("context.case_id", &ctx.case_id)?,
        operator_id: required(
            "context.operator.id",
            &operator.id,
            "name the operator on whose behalf the call is made",
        )?,
        operator_role: required(
            "context.operator.role",
            &operator.role,
            "state the operator's role, for example assistente_sociale",
        )?,
    })
}

/// The sections asked for; an unknown one is refused.
pub fn sections(raw: &[i32]) -> Result<Vec<Section>, CallError> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| match Section::try_from(*s) {
            Ok(Section::Unspecified) | Err(_) => Err(CallError::invalid(
                format!("sections[{i}]"),
                format!(
                    "unknown section {s}; known: {}",
                    trama_proto::sections::all_names()
                ),
            )),
            Ok(section) => Ok(section),
        })
        .collect()
}

/// Whose record: this partner's id, else the tax code.
pub fn record_key(tax_code: &str, local_id: &str) -> Result<RecordKey, CallError> {
    let tax_code = optional("tax_code", tax_code)?;
    match (optional("local_id", local_id)?, tax_code) {
        (Some(id), _) => Ok(RecordKey::LocalId(id)),
        (None, Some(code)) => Ok(RecordKey::TaxCode(code.to_ascii_uppercase())),
        (None, None) => Err(CallError::invalid(
            "tax_code",
            "name the person: a tax code, or this partner's local id",
        )),
    }
}

/// Whom a query looks for. Blank identifying fields are refused; a query
/// that names nothing to search by is refused too. A local id of another
/// organisation is no identifier here, but not an error: the gateway asks
/// every partner the same query.
pub fn lookup(
    query: Option<&v1::SubjectQuery>,
    organisation: &str,
    today: Date,
) -> Result<Lookup, CallError> {
    let Some(query) = query else {
        return Err(CallError::invalid(
            "query",
            "say whom to look for: a tax code, a local id, or names with a birth date",
        ));
    };
    for (field, value) in [
        ("query.tax_code", &query.tax_code),
        ("query.tax_code_fragment", &query.tax_code_fragment),
        ("query.given_name", &query.given_name),
        ("query.family_name", &query.family_name),
        ("query.birthplace_code", &query.birthplace_code),
    ] {
        optional(field, value)?;
    }
    let local = match &query.local_id {
        Some(l) => optional("query.local_id.id", &l.id)?.map(|id| (l.organisation.as_str(), id)),
        None => None,
    };
    let names_someone = local.is_some()
        || [
            &query.tax_code,
            &query.tax_code_fragment,
            &query.given_name,
            &query.family_name,
        ]
        .iter()
        .any(|v| !v.is_empty())
        || query.birth_date.is_some();
    if !names_someone {
        return Err(CallError::invalid(
            "query",
            "say whom to look for: a tax code, a local id, or names with a birth date",
        ));
    }
    Ok(Lookup {
        local_id: local
            .filter(|(org, _)| *org == organisation)
            .map(|(_, id)| id),
        traits: trama_subject::wire::traits_of_query(query, today),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

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

    /// The field a refusal names, or `None` when the input is accepted.
    fn refused<T>(result: Result<T, CallError>) -> Option<String> {
        match result {
            Ok(_) => None,
            Err(CallError::Invalid { field, .. }) => Some(field),
            Err(e) => panic!("not a refusal: {e}"),
        }
    }

    #[test]
    fn blank_context_fields_are_refused() {
        let zw = "\u{200B}";
        let cases = [
            ("comune", ctx("presa_in_carico", "CS-1", "op", "as"), None),
            ("comune", ctx("presa_in_carico", "", "op", "as"), None),
            ("", ctx("p", "", "op", "as"), Some("client_organisation")),
            ("comune", ctx(zw, "", "op", "as"), Some("context.purpose")),
            ("comune", ctx(" ", "", "op", "as"), Some("context.purpose")),
            ("comune", ctx("p", zw, "op", "as"), Some("context.case_id")),
            (
                "comune",
                ctx("p", "\u{FEFF} \u{2060}", "op", "as"),
                Some("context.case_id"),
            ),
            (
                "comune",
                ctx("p", "", "\u{200D}", "as"),
                Some("context.operator.id"),
            ),
            (
                "comune",
                ctx("p", "", "op", ""),
                Some("context.operator.role"),
            ),
            (
                "comune",
                ctx("p", "", "op", "\u{E0020}"),
                Some("context.operator.role"),
            ),
        ];
        for (client, c, want) in cases {
            assert_eq!(
                refused(context(client, Some(&c))).as_deref(),
                want,
                "{client:?} {c:?}"
            );
        }
        assert_eq!(refused(context("comune", None)).as_deref(), Some("context"));
        let ok = context(
            "comune",
            Some(&ctx(" p\u{200B}", "\u{200B}CS-1 ", "op", "as")),
        );
        let ok = ok.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.purpose, "p");
        assert_eq!(ok.case_id.as_deref(), Some("CS-1"));
    }

    #[test]
    fn identifiers_that_show_nothing_are_refused() {
        assert_eq!(refused(record_key("", "")).as_deref(), Some("tax_code"));
        assert_eq!(
            refused(record_key("\u{200B}", "")).as_deref(),
            Some("tax_code")
        );
        assert_eq!(
            refused(record_key("", " \u{200C}")).as_deref(),
            Some("local_id")
        );
        assert_eq!(
            record_key("rssmra80a01h501u", "").ok(),
            Some(RecordKey::TaxCode("RSSMRA80A01H501U".into()))
        );
        assert_eq!(
            record_key("RSSMRA80A01H501U", " 42 ").ok(),
            Some(RecordKey::LocalId("42".into()))
        );

        let today = date!(2026 - 01 - 01);
        let query = |f: fn(&mut v1::SubjectQuery)| {
            let mut q = v1::SubjectQuery::default();
            f(&mut q);
            refused(lookup(Some(&q), "comune", today))
        };
        assert_eq!(query(|_| {}).as_deref(), Some("query"));
        assert_eq!(
            query(|q| q.tax_code = "\u{200B}".into()).as_deref(),
            Some("query.tax_code")
        );
        assert_eq!(
            query(|q| {
                q.family_name = "Rossi".into();
                q.given_name = "\u{2063}".into();
            })
            .as_deref(),
            Some("query.given_name")
        );
        assert_eq!(
            query(|q| {
                q.local_id = Some(v1::LocalId {
                    organisation: "comune".into(),
                    id: "\u{FEFF}".into(),
                })
            })
            .as_deref(),
            Some("query.local_id.id")
        );
        assert_eq!(query(|q| q.family_name = "Rossi".into()), None);
        // Another partner's id names nobody here, but is a fine query.
        let other = v1::SubjectQuery {
            local_id: Some(v1::LocalId {
                organisation: "asl".into(),
                id: "7".into(),
            }),
            ..Default::default()
        };
        let l = lookup(Some(&other), "comune", today).ok();
        assert_eq!(l.map(|l| l.local_id), Some(None));
    }

    #[test]
    fn unknown_sections_are_refused() {
        assert_eq!(
            sections(&[Section::Health as i32]).ok(),
            Some(vec![Section::Health])
        );
        assert_eq!(refused(sections(&[1, 0])).as_deref(), Some("sections[1]"));
        assert_eq!(refused(sections(&[99])).as_deref(), Some("sections[0]"));
    }
}
