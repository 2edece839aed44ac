//! `AccessLog`: who accessed a person's data, when and why, read back from
//! the gateway's audit log by the person's pseudonyms (for the
//! data-protection officer and the data subject).

use trama_proto::v1;

use crate::call::{Admitted, Facts, FederationRequest, Finished};
use crate::error::CallError;
use crate::policy::{Action, Resource};
use crate::service::FederationService;
use crate::validate::{self, Context, SubjectKey};

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
    key: SubjectKey,
    limit: u32,
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
        subjects: gw.auditor.key(&v.key),
        ..Facts::default()
    };
    let policy = gw.policy.load();
    let asker = v.ctx.asker(&call.client.organisation);
    let d = policy.decide(&asker, Action::AccessLog, Resource::AuditLog);
    if !d.allowed {
        return Finished::refused(CallError::denied("access log", &d), facts);
    }
    facts.permitted_by = vec![d.rule.clone()];
    let mut pseudonyms = facts.subjects.clone();
    pseudonyms.sort();
    pseudonyms.dedup();
    let read = gw
        .auditor
        .log
        .store()
        .by_subject(&pseudonyms, i64::from(v.limit))
        .await;
    let found = match read {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "access log read failed");
            return Finished::refused(CallError::AuditUnavailable, facts);
        }
    };
    tracing::info!(
        client = %call.client.organisation,
        purpose = %v.ctx.purpose,
        entries = found.len(),
        "access log answered"
    );
    let entries = found
        .into_iter()
        .map(|(seq, e)| crate::audit::access_entry(seq, e, &pseudonyms))
        .collect();
    let chain = match &gw.auditor.integrity {
        Some(integrity) => Some(integrity.check(&gw.auditor.log).await),
        None => None,
    };
    Finished::answered(v1::AccessLogResponse { entries, chain }, facts)
}

fn validated(gw: &FederationService, req: &v1::AccessLogRequest) -> Result<Valid, CallError> {
    Ok(Valid {
        ctx: validate::context(req.context.as_ref())?,
        key: validate::subject_key(req.subject.as_ref(), |o| gw.registry.contains(o))?,
        limit: match req.limit {
            0 => 100,
            n => n.min(1000),
        },
    })
}
