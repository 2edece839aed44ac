//! What a refusal says to an operator: chosen from the gateway's
//! `ErrorInfo` (the reason, and the rule that decided) and `BadRequest`
//! (the field), never by reading the message's text; in the operator's
//! language, with what to do. The rule's name is not shown to operators:
//! the data-protection officer reads it in the access log, where every
//! decision keeps it; a rule the console does not know is shown
//! with the policy's own reason, which the federation wrote for operators.

use tonic_types::StatusExt;
use trama_proto::v1;

use crate::lang::{self, Texts};

/// Words for a policy rule of the federation's shipped policy, if known.
pub fn rule(rule: &str, t: &Texts) -> Option<&'static str> {
    let (it, en) = match rule {
        "case-id-required" => (
            "questa finalità riguarda una cartella: indica il numero della cartella",
            "this purpose acts on a case: give the case number",
        ),
        "case-bound" => (
            "il numero indicato non è una cartella aperta del vostro ente che comprende questa persona",
            "the number given is not an open case of your organisation that includes this person",
        ),
        "health-needs-a-health-purpose" => (
            "i dati sanitari (GDPR art. 9) si leggono solo per la presa in carico o la valutazione multidimensionale",
            "health data (GDPR art. 9) are read only for taking charge or a multidimensional assessment",
        ),
        "judicial-needs-a-judicial-purpose" => (
            "i dati giudiziari (GDPR art. 10) si leggono solo per la presa in carico o la tutela dei minori",
            "judicial data (GDPR art. 10) are read only for taking charge or child protection",
        ),
        "programmazione-aggregates-only" => (
            "la programmazione legge solo statistiche anonime, mai una persona",
            "planning reads anonymous statistics only, never a person",
        ),
        "default-deny" => (
            "nessuna regola della federazione lo consente al vostro ruolo per questa finalità: chiedete l'accesso al responsabile della protezione dei dati",
            "no rule of the federation allows it to your role for this purpose: ask the data-protection officer for access",
        ),
        _ => return None,
    };
    Some(lang::pick(t, it, en))
}

/// A section's refusal as the record page shows it: the rule's words, else
/// the policy's reason.
pub fn section(rule_name: &str, reason: &str, t: &Texts) -> String {
    match rule(rule_name, t) {
        Some(words) => words.to_string(),
        None => reason.to_string(),
    }
}

/// A call's refusal in the operator's words: a denial by rule, a field to
/// correct, or the gateway's message where neither is known.
pub fn refusal(status: &tonic::Status, t: &Texts) -> String {
    if let Some(info) = status.get_details_error_info() {
        let rule_name = info.metadata.get("rule").map(String::as_str).unwrap_or("");
        if let Some(words) = rule(rule_name, t) {
            return words.to_string();
        }
        if let Some(words) = reason(&info.reason, t) {
            return words.to_string();
        }
    }
    if let Some(words) = status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().and_then(|v| field(&v.field, t)))
    {
        return words.to_string();
    }
    status.message().to_string()
}

/// Words for a reason of the gateway's `ErrorInfo`.
fn reason(reason: &str, t: &Texts) -> Option<&'static str> {
    let (it, en) = match reason {
        "CASE_UNCHECKED" => (
            "il sistema del vostro ente non ha potuto confermare la cartella ora: riprovate tra poco",
            "your organisation's system could not confirm the case now: try again shortly",
        ),
        "AUDIT_UNAVAILABLE" => (
            "il registro degli accessi non è raggiungibile: nessun dato viene letto finché non torna",
            "the access log cannot be reached: no data is read until it is back",
        ),
        "DISCLOSURE_RISK" => (
            "la tabella riguarderebbe troppe poche persone: allargate o togliete un filtro",
            "the table would concern too few people: widen or drop a filter",
        ),
        _ => return None,
    };
    Some(lang::pick(t, it, en))
}

/// Words for a field the gateway refused.
fn field(field: &str, t: &Texts) -> Option<&'static str> {
    let (it, en) = match field {
        "context.case_id" => (
            "numero della cartella: indicatelo come è scritto nella cartella",
            "case number: give it as it is written on the case",
        ),
        "context.purpose" => ("scegliete una finalità", "choose a purpose"),
        "query" => (
            "indicate il codice fiscale (o una sua parte), oppure cognome con nome o data di nascita",
            "give the tax code (or part of it), or the family name with a given name or birth date",
        ),
        "query.tax_code" | "subject.tax_code" => (
            "il codice fiscale non è valido: controllate le 16 lettere e cifre; per una parte usate il campo apposito",
            "the tax code is not valid: check its 16 letters and digits; for a part of one use its own field",
        ),
        "query.tax_code_fragment" => (
            "la parte di codice fiscale va da 6 a 16 lettere e cifre",
            "a part of a tax code has 6 to 16 letters and digits",
        ),
        "query.birth_date" => (
            "la data di nascita non è valida: scrivetela come 1958-07-14",
            "the birth date is not valid: write it as 1958-07-14",
        ),
        "query.family_name" | "query.given_name" => (
            "il nome è troppo lungo: al massimo 100 caratteri",
            "the name is too long: at most 100 characters",
        ),
        _ => return None,
    };
    Some(lang::pick(t, it, en))
}

/// One partner's outcome, in words.
pub(crate) fn outcome_line(o: &v1::SourceOutcome, t: &Texts) -> String {
    let status = match v1::OutcomeStatus::try_from(o.status) {
        Ok(v1::OutcomeStatus::Ok) => t.answered,
        Ok(v1::OutcomeStatus::NotFound) => t.not_known,
        Ok(v1::OutcomeStatus::Denied) => t.denied,
        Ok(v1::OutcomeStatus::Timeout) => t.timeout,
        Ok(v1::OutcomeStatus::Unavailable) => t.down,
        _ => t.error,
    };
    let denied = o.status == v1::OutcomeStatus::Denied as i32;
    match rule(&o.rule, t) {
        Some(words) if denied => format!("{}: {status}: {words}", o.organisation),
        None if denied && o.rule.is_empty() => {
            format!("{}: {status} ({})", o.organisation, t.denied_by_partner)
        }
        None if denied => format!("{}: {status} ({})", o.organisation, t.denied_by_federation),
        _ => format!("{}: {status}", o.organisation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    #[test]
    fn refusals_are_read_from_their_details_never_from_their_text() {
        let t = &crate::lang::IT;
        let field = tonic::Status::with_error_details(
            tonic::Code::InvalidArgument,
            "context.case_id: state its id in RequestContext.case_id",
            ErrorDetails::with_bad_request_violation("context.case_id", "English"),
        );
        assert!(refusal(&field, t).starts_with("numero della cartella"));
        let unknown = tonic::Status::with_error_details(
            tonic::Code::PermissionDenied,
            "a rule of this federation's own",
            ErrorDetails::with_error_info(
                "POLICY_DENIED",
                "gateway.trama",
                std::collections::HashMap::from([("rule".to_string(), "local-rule".to_string())]),
            ),
        );
        assert_eq!(refusal(&unknown, t), "a rule of this federation's own");
        assert_eq!(
            section("case-id-required", "English reason", &crate::lang::EN),
            "this purpose acts on a case: give the case number"
        );
    }
}
