//! `AccessLog`: who accessed a person's data, when and why, read back from
//! the gateway's audit log by the person's pseudonyms (for the
//! data-protection officer and the data subject); or, without a person,
//! the log's entries by operator, organisation, purpose, call and period
//! (the officer's review, which the policy sees as a resource of its
//! own). Newest first, in pages: one call reads a bounded part of the log
//! and says where the next page starts.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trama_audit::search::{self, Cursor, Filter, Search};
use trama_proto::v1;
use trama_subject::text;

use crate::audit::{Facts, Finished};
use crate::call::{Admitted, FederationRequest};
use crate::error::CallError;
use crate::federation::FederationService;
use crate::policy::{Action, LogScope, Resource};
use crate::validate::{self, Context, SubjectKey};

/// Entries one call reads at most to fill its page (`AccessLogResponse`
/// says so to clients).
const MAX_SCAN: usize = 5000;

/// Longest operator id a filter takes, in characters.
const MAX_OPERATOR: usize = 200;

/// Longest organisation, purpose or call a filter takes, in characters.
const MAX_CODE: usize = 100;

impl FederationRequest for v1::AccessLogRequest {
    const CALL: &'static str = "AccessLog";

    fn context(&self) -> Option<&v1::RequestContext> {
        self.context.as_ref()
    }

    fn subject_as_sent(&self) -> (&str, Vec<(&str, &str)>) {
        // The subject is recorded once validated: an access-log read is
        // about the log, and a refused one names nobody.
        ("", Vec::new())
    }
}

/// A valid `AccessLog`.
#[derive(Debug)]
struct Valid {
    ctx: Context,
    /// The person, if one is asked about.
    key: Option<SubjectKey>,
    filter: Filter,
    /// Where the page starts in each replica's chain.
    from: Cursor,
    limit: u32,
}

impl Valid {
    /// What the listing is by, as its own audit entry records it.
    fn filters(&self) -> String {
        let f = &self.filter;
        let instant = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        let page = Some(self.from.token()).filter(|t| !t.is_empty());
        [
            ("operator", f.operator_id.clone()),
            ("organisation", f.organisation.clone()),
            ("purpose", f.purpose.clone()),
            ("call", f.call.clone()),
            ("from", instant(f.from)),
            ("to", instant(f.to)),
            ("page", page),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
    }

    fn scope(&self) -> LogScope {
        if self.key.is_some() {
            LogScope::Person
        } else {
            LogScope::Review
        }
    }
}

/// Runs an `AccessLog` through the pipeline.
pub async fn run(
    gw: FederationService,
    call: Admitted,
    req: v1::AccessLogRequest,
) -> Finished<v1::AccessLogResponse> {
    let v = match validated(&gw, &req) {
        Ok(v) => v,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let mut facts = Facts {
        subjects: v
            .key
            .as_ref()
            .map(|k| gw.auditor.key(k))
            .unwrap_or_default(),
        filters: v.filters(),
        ..Facts::default()
    };
    let policy = gw.policy.load();
    let asker = v.ctx.asker(&call.client.organisation);
    let d = policy.decide(&asker, Action::AccessLog, Resource::AuditLog(v.scope()));
    if !d.allowed {
        return Finished::refused(CallError::denied("access log", &d), facts);
    }
    facts.permitted_by = vec![d.rule.clone()];
    let mut pseudonyms = facts.subjects.clone();
    pseudonyms.sort();
    pseudonyms.dedup();
    let page = match read(&gw, &v, &pseudonyms).await {
        Ok(page) => page,
        Err(e) => return Finished::refused(e, facts),
    };
    tracing::info!(
        client = %call.client.organisation,
        purpose = %v.ctx.purpose,
        scope = v.scope().id(),
        entries = page.entries.len(),
        "access log answered"
    );
    let asked = v.key.is_some().then_some(pseudonyms.as_slice());
    let entries = page
        .entries
        .into_iter()
        .map(|found| crate::audit::access_entry(found, asked))
        .collect();
    let chain = match &gw.auditor.integrity {
        Some(integrity) => Some(integrity.check(&gw.auditor.log).await),
        None => None,
    };
    let answer = v1::AccessLogResponse {
        entries,
        chain,
        next_page_token: page.next.map(|c| c.token()).unwrap_or_default(),
    };
    Finished::answered(answer, facts)
}

/// One page of the log, as the request asks.
async fn read(
    gw: &FederationService,
    v: &Valid,
    pseudonyms: &[String],
) -> Result<search::Page, CallError> {
    let s = Search {
        subjects: pseudonyms,
        filter: &v.filter,
        from: &v.from,
        limit: usize::try_from(v.limit).unwrap_or(usize::MAX),
        scan: MAX_SCAN,
    };
    search::search(gw.auditor.log.store(), s)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "access log read failed");
            CallError::AuditUnavailable
        })
}

fn validated(gw: &FederationService, req: &v1::AccessLogRequest) -> Result<Valid, CallError> {
    let ctx = validate::context(req.context.as_ref())?;
    let key = match req.subject.as_ref().filter(|k| !empty_key(k)) {
        Some(k) => Some(validate::subject_key(Some(k), |o| gw.registry.contains(o))?),
        None => None,
    };
    let filter = Filter {
        operator_id: code("operator_id", &req.operator_id, MAX_OPERATOR)?,
        organisation: code("organisation", &req.organisation, MAX_CODE)?,
        purpose: code("purpose", &req.purpose, MAX_CODE)?,
        call: code("call", &req.call, MAX_CODE)?,
        from: instant("from", &req.from)?,
        to: instant("to", &req.to)?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to <= from
    {
        return Err(CallError::invalid(
            "to",
            "the period ends before it starts: give a `to` later than `from`",
        ));
    }
    Ok(Valid {
        ctx,
        key,
        filter,
        from: page_token(&req.page_token)?,
        limit: match req.limit {
            0 => 100,
            n => n.min(1000),
        },
    })
}

/// Longest page token taken, in characters.
const MAX_TOKEN: usize = 4000;

/// The cursor a page token stands for.
fn page_token(token: &str) -> Result<Cursor, CallError> {
    if token.len() > MAX_TOKEN {
        return Err(CallError::invalid(
            "page_token",
            format!(
                "at most {MAX_TOKEN} characters: send back the previous answer's next_page_token"
            ),
        ));
    }
    Cursor::parse(token).map_err(|problem| CallError::invalid("page_token", problem))
}

/// Whether a subject key names nobody: no tax code and no local id (a
/// client that sends an empty key asks about no one).
fn empty_key(k: &v1::SubjectKey) -> bool {
    text::is_blank(&k.tax_code) && k.local_ids.is_empty()
}

/// A filter on an id or a code: absent when empty; at most `max`
/// characters, with no blanks inside (they are matched exactly).
fn code(field: &str, value: &str, max: usize) -> Result<Option<String>, CallError> {
    if value.is_empty() {
        return Ok(None);
    }
    let trimmed = text::trim(value);
    if trimmed.is_empty() {
        return Err(CallError::invalid(
            field,
            "it holds only spaces or invisible characters; give a value or leave it out",
        ));
    }
    if trimmed.chars().count() > max {
        return Err(CallError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CallError::invalid(
            field,
            "an id or code has no spaces inside: give it exactly as the log records it, for example laura.ferrari or presa_in_carico",
        ));
    }
    Ok(Some(trimmed.to_string()))
}

/// A period's bound: absent when empty, else an RFC 3339 instant.
fn instant(field: &str, value: &str) -> Result<Option<OffsetDateTime>, CallError> {
    let value = text::trim(value);
    if value.is_empty() {
        return Ok(None);
    }
    OffsetDateTime::parse(value, &Rfc3339).map(Some).map_err(|_| {
        CallError::invalid(
            field,
            "not an RFC 3339 instant: write a date, a time and an offset, for example 2026-07-14T00:00:00+02:00",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_codes_and_periods_are_instants() {
        assert_eq!(code("operator_id", "", 10), Ok(None));
        assert_eq!(
            code("operator_id", " laura.ferrari ", 20),
            Ok(Some("laura.ferrari".into()))
        );
        for (value, why) in [
            ("\u{200b}", "invisible"),
            ("laura fer", "no spaces inside"),
            ("abcdefghijk", "at most 10"),
        ] {
            let e = code("operator_id", value, 10).err();
            assert!(
                matches!(&e, Some(CallError::Invalid { field, description })
                    if field == "operator_id" && description.contains(why)),
                "{value}: {e:?}"
            );
        }
        assert!(instant("from", "2026-07-14T00:00:00+02:00").is_ok_and(|t| t.is_some()));
        assert_eq!(instant("to", " "), Ok(None));
        assert!(
            matches!(instant("to", "2026-07-14"), Err(CallError::Invalid { field, .. }) if field == "to")
        );
    }
}
