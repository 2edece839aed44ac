//! Validation of Federation requests. Every refusal is `INVALID_ARGUMENT`
//! with a field violation naming the field and the fix.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use trama_proto::sections;
use trama_proto::v1::{self, Section};
use trama_subject::TaxCode;

/// A refused field.
pub fn violation(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

/// Checks the request context; returns it with every field trimmed, as the
/// policy decides on it, the connectors receive it and the audit records it.
pub fn context(ctx: Option<&v1::RequestContext>) -> Result<v1::RequestContext, Status> {
    let Some(ctx) = ctx.map(trimmed) else {
        return Err(violation(
            "context",
            "every call states its context: purpose (for example presa_in_carico), case id and operator",
        ));
    };
    if ctx.purpose.trim().is_empty() {
        return Err(violation(
            "context.purpose",
            "state the purpose of the access, for example presa_in_carico or verifica_presa_in_carico",
        ));
    }
    let operator = ctx.operator.clone().unwrap_or_default();
    if operator.id.trim().is_empty() {
        return Err(violation(
            "context.operator.id",
            "name the operator on whose behalf the system asks (their id in your organisation's system); it is written to the audit log",
        ));
    }
    if operator.role.trim().is_empty() {
        return Err(violation(
            "context.operator.role",
            "state the operator's role, for example assistente_sociale; the policy decides by role",
        ));
    }
    Ok(ctx)
}

/// The context with surrounding blanks removed from every field.
pub fn trimmed(ctx: &v1::RequestContext) -> v1::RequestContext {
    v1::RequestContext {
        purpose: ctx.purpose.trim().to_string(),
        case_id: ctx.case_id.trim().to_string(),
        operator: ctx.operator.as_ref().map(|o| v1::Operator {
            id: o.id.trim().to_string(),
            role: o.role.trim().to_string(),
        }),
        legal_basis: ctx.legal_basis.trim().to_string(),
    }
}

/// Parses a tax code field, if present.
pub fn tax_code(field: &str, value: &str) -> Result<Option<TaxCode>, Status> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    TaxCode::parse(value).map(Some).map_err(|e| {
        violation(
            field,
            format!(
                "not a valid codice fiscale: {e} (to search with a partial or possibly mistyped code, send it as tax_code_fragment)"
            ),
        )
    })
}

/// Checks a date field, if present.
pub fn date(field: &str, value: Option<&v1::Date>) -> Result<(), Status> {
    let Some(d) = value else { return Ok(()) };
    let valid = d.to_date().is_some();
    if valid && (1850..=2200).contains(&d.year) {
        Ok(())
    } else {
        Err(violation(
            field,
            format!("{}-{}-{} is not a valid date", d.year, d.month, d.day),
        ))
    }
}

/// Checks a `FindSubject` query: something that identifies a person.
pub fn subject_query(
    q: Option<&v1::SubjectQuery>,
    known_source: impl Fn(&str) -> bool,
) -> Result<Option<TaxCode>, Status> {
    let Some(q) = q else {
        return Err(violation(
            "query",
            "give a tax code, a local id, or a family name with a given name or birth date",
        ));
    };
    let code = tax_code("query.tax_code", &q.tax_code)?;
    date("query.birth_date", q.birth_date.as_ref())?;
    if let Some(local) = &q.local_id {
        if !known_source(&local.organisation) {
            return Err(violation(
                "query.local_id.organisation",
                format!(
                    "`{}` is not a source of this federation",
                    local.organisation
                ),
            ));
        }
        if local.id.trim().is_empty() {
            return Err(violation(
                "query.local_id.id",
                "give the partner's id for the person",
            ));
        }
    }
    let fragment = !q.tax_code_fragment.trim().is_empty();
    if fragment {
        let today = time::OffsetDateTime::now_utc().date();
        trama_subject::codice_fiscale::Fragment::parse(&q.tax_code_fragment, today)
            .map_err(|e| violation("query.tax_code_fragment", e.to_string()))?;
    }
    let has_name = !q.family_name.trim().is_empty();
    let has_second = !q.given_name.trim().is_empty() || q.birth_date.is_some();
    if code.is_none() && !fragment && q.local_id.is_none() && !(has_name && has_second) {
        return Err(violation(
            "query",
            "no identifier: give a tax code (or a fragment of one), a local id, or a family name with a given name or birth date",
        ));
    }
    if !q.birthplace_code.is_empty()
        && !trama_subject::belfiore::is_known(&q.birthplace_code.to_ascii_uppercase())
    {
        return Err(violation(
            "query.birthplace_code",
            format!(
                "`{}` is not a Belfiore code of a municipality or country",
                q.birthplace_code
            ),
        ));
    }
    Ok(code)
}

/// Checks a `GetRecord` subject key.
pub fn subject_key(
    key: Option<&v1::SubjectKey>,
    known_source: impl Fn(&str) -> bool,
) -> Result<Option<TaxCode>, Status> {
    let Some(key) = key else {
        return Err(violation(
            "subject",
            "give the person's tax code or partners' local ids",
        ));
    };
    let code = tax_code("subject.tax_code", &key.tax_code)?;
    for (i, local) in key.local_ids.iter().enumerate() {
        if !known_source(&local.organisation) {
            return Err(violation(
                &format!("subject.local_ids[{i}].organisation"),
                format!(
                    "`{}` is not a source of this federation",
                    local.organisation
                ),
            ));
        }
        if local.id.trim().is_empty() {
            return Err(violation(&format!("subject.local_ids[{i}].id"), "empty id"));
        }
    }
    if code.is_none() && key.local_ids.is_empty() {
        return Err(violation(
            "subject",
            "no identifier: give the person's tax code or partners' local ids",
        ));
    }
    Ok(code)
}

/// Checks the sections asked for.
pub fn sections(raw: &[i32]) -> Result<Vec<Section>, Status> {
    if raw.is_empty() {
        return Err(violation(
            "sections",
            format!("ask for at least one section: {}", sections::all_names()),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        match Section::try_from(*s) {
            Ok(Section::Unspecified) | Err(_) => {
                return Err(violation(
                    &format!("sections[{i}]"),
                    format!("unknown section {s}; known: {}", sections::all_names()),
                ));
            }
            Ok(section) if !out.contains(&section) => out.push(section),
            Ok(_) => {}
        }
    }
    Ok(out)
}
