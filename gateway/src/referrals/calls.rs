//! `SendReferral`, `GetReferral`, `ListReferrals` and `UpdateReferral`:
//! checked here, kept by [`crate::referrals`]. Every call is audited; a
//! send is audited as about the person referred, and so are later calls
//! about that referral (by the pseudonyms stored with it). What the audit
//! records beyond the usual: `referral:<id>`, `target:<org>` and
//! `status:<status>`.

use trama_proto::v1::{self, Delivery, ReferralBox, ReferralStatus, Urgency};

use crate::audit::{Facts, Finished};
use crate::call::{Admitted, FederationRequest};
use crate::cases::CasePerson;
use crate::error::CallError;
use crate::federation::FederationService;
use crate::policy::{Action, Resource};
use crate::referrals::store::{ListQuery, Stored};
use crate::referrals::{self, MAX_KEY, MAX_MESSAGE, MAX_PAGE, MAX_REASON, life};
use crate::validate::{self, Context};

macro_rules! request {
    ($req:ty, $name:literal) => {
        impl FederationRequest for $req {
            const CALL: &'static str = $name;
            fn context(&self) -> Option<&v1::RequestContext> {
                self.context.as_ref()
            }
            fn subject_as_sent(&self) -> (&str, Vec<(&str, &str)>) {
                ("", Vec::new())
            }
        }
    };
}

impl FederationRequest for v1::SendReferralRequest {
    const CALL: &'static str = "SendReferral";
    fn context(&self) -> Option<&v1::RequestContext> {
        self.context.as_ref()
    }
    fn subject_as_sent(&self) -> (&str, Vec<(&str, &str)>) {
        let tax = self
            .content
            .as_ref()
            .and_then(|c| c.person.as_ref())
            .map_or("", |p| p.tax_code.as_str());
        (tax, Vec::new())
    }
}
request!(v1::GetReferralRequest, "GetReferral");
request!(v1::ListReferralsRequest, "ListReferrals");
request!(v1::UpdateReferralRequest, "UpdateReferral");

fn facts_of(r: &Stored, what: &[String]) -> Facts {
    let mut asked = vec![format!("referral:{}", r.id), format!("target:{}", r.target)];
    asked.extend_from_slice(what);
    Facts {
        subjects: r
            .subjects
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        sections_asked: asked,
        ..Facts::default()
    }
}

/// Runs a `SendReferral`.
pub async fn send(
    gw: FederationService,
    call: Admitted,
    req: v1::SendReferralRequest,
) -> Finished<v1::SendReferralResponse> {
    let org = call.client.organisation.clone();
    let checked = match checked_send(&gw, &org, req) {
        Ok(s) => s,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let facts = Facts {
        subjects: checked.subjects.clone(),
        sections_asked: vec![format!("target:{}", checked.target)],
        ..Facts::default()
    };
    let (ctx, send) = (checked.ctx, checked.send);
    let decision = gw.policy.load().decide(
        &ctx.asker(&org),
        Action::Refer,
        Resource::Source(&send.target),
    );
    if !decision.allowed {
        let what = format!("referral to {}", send.target);
        return Finished::refused(CallError::denied(what, &decision), facts);
    }
    let mut facts = facts;
    facts.permitted_by = vec![decision.rule.clone()];
    // A referral under the sender's case: the case must include the person
    // referred.
    let person = referred(&send.content, &org, &gw.auditor.pseudonyms);
    match gw
        .cases
        .check(&gw.registry, &org, &ctx, &person, call.deadline)
        .await
    {
        Ok(case) => facts.case = case,
        Err(refused) => {
            facts.case = refused.check;
            return Finished::refused(refused.error, facts);
        }
    }
    match gw.referrals.send(send).await {
        Ok((referral, replayed)) => {
            facts
                .sections_asked
                .insert(0, format!("referral:{}", referral.id));
            let answer = v1::SendReferralResponse {
                referral: Some(referral),
                replayed,
            };
            Finished::answered(answer, facts)
        }
        Err(e) => Finished::refused(e, facts),
    }
}

/// The person a referral is about, as the sender's own connector is asked
/// about them when the sender states a case.
fn referred(
    content: &v1::ReferralContent,
    org: &str,
    pseudonyms: &trama_audit::Pseudonymiser,
) -> CasePerson {
    let p = content.person.clone().unwrap_or_default();
    let query = v1::SubjectQuery {
        tax_code: p.tax_code,
        given_name: p.given_name,
        family_name: p.family_name,
        birth_date: p.birth_date,
        birthplace_code: p.birthplace_code,
        ..v1::SubjectQuery::default()
    };
    CasePerson::of(&query, org, pseudonyms)
}

/// A send, checked, with the caller's context.
struct CheckedSend {
    ctx: Context,
    subjects: Vec<String>,
    target: String,
    send: referrals::Send,
}

fn checked_send(
    gw: &FederationService,
    org: &str,
    req: v1::SendReferralRequest,
) -> Result<CheckedSend, CallError> {
    let ctx = validate::context(req.context.as_ref())?;
    let key = req.idempotency_key.trim().to_string();
    if key.is_empty() || key.chars().count() > MAX_KEY || key.chars().any(char::is_control) {
        return Err(CallError::invalid(
            "idempotency_key",
            format!(
                "required, 1 to {MAX_KEY} printable characters: a key of the sender's own, the same when a send is retried"
            ),
        ));
    }
    let target = req.target.trim().to_string();
    if target.is_empty() {
        return Err(CallError::invalid(
            "target",
            "required: the partner to refer to, for example `comune`",
        ));
    }
    if !gw.registry.contains(&target) {
        return Err(CallError::Precondition {
            subject: "target".into(),
            description: format!(
                "{target} is not a partner of this federation (trama query sources lists them)"
            ),
        });
    }
    if !gw.referrals.accepts(&target) {
        // What the federation's partners take is no secret: said before
        // the policy is asked.
        return Err(CallError::Precondition {
            subject: "target".into(),
            description: format!(
                "{target} does not take referrals: its connector maps no inbox (`referrals = true` at the gateway)"
            ),
        });
    }
    let service = req.target_service.trim().to_string();
    if !service.is_empty() && !service.starts_with(&format!("{target}/")) {
        return Err(CallError::invalid(
            "target_service",
            format!("`{service}` is not a service of {target}: its ids start with `{target}/`"),
        ));
    }
    let content = content(req.content)?;
    let tax = content
        .person
        .as_ref()
        .map(|p| p.tax_code.clone())
        .unwrap_or_default();
    let subjects = gw.auditor.pseudonyms.subject(&tax, Vec::new());
    let urgency = Urgency::try_from(req.urgency).unwrap_or(Urgency::Routine);
    Ok(CheckedSend {
        subjects: subjects.clone(),
        target: target.clone(),
        send: referrals::Send {
            sender: org.to_string(),
            operator: ctx.operator_id.clone(),
            key,
            target,
            service,
            urgency,
            purpose: ctx.purpose.clone(),
            case_id: ctx.case_id.clone(),
            content,
            subjects,
        },
        ctx,
    })
}

/// Checks what a referral says: who (a tax code, or names with the birth
/// date), why (known need codes) and a message within its limit.
fn content(raw: Option<v1::ReferralContent>) -> Result<v1::ReferralContent, CallError> {
    let mut c = raw.ok_or_else(|| {
        CallError::invalid("content", "required: the person, the reasons and a message")
    })?;
    let mut p = c.person.take().unwrap_or_default();
    let tax = validate::tax_code("content.person.tax_code", &p.tax_code)?;
    p.tax_code = tax.map(|t| t.to_string()).unwrap_or_default();
    validate::date("content.person.birth_date", p.birth_date.as_ref())?;
    let named = !p.family_name.trim().is_empty()
        && !p.given_name.trim().is_empty()
        && p.birth_date.is_some();
    if p.tax_code.is_empty() && !named {
        return Err(CallError::invalid(
            "content.person",
            "say who is referred: a tax code, or family name, given name and birth date",
        ));
    }
    if !p.birthplace_code.trim().is_empty()
        && !trama_subject::belfiore::is_known(p.birthplace_code.trim())
    {
        return Err(CallError::invalid(
            "content.person.birthplace_code",
            format!("`{}` is not a Belfiore code", p.birthplace_code.trim()),
        ));
    }
    c.person = Some(p);
    if c.reasons.is_empty() {
        return Err(CallError::invalid(
            "content.reasons",
            format!(
                "at least one reason, a need code: {}",
                trama_proto::stats::NEEDS.join(", ")
            ),
        ));
    }
    for (i, r) in c.reasons.iter_mut().enumerate() {
        *r = r.trim().to_string();
        if !trama_proto::stats::NEEDS.contains(&r.as_str()) {
            return Err(CallError::invalid(
                format!("content.reasons[{i}]"),
                format!(
                    "`{r}` is not a need code; use one of {}",
                    trama_proto::stats::NEEDS.join(", ")
                ),
            ));
        }
    }
    let chars = c.message.chars().count();
    if chars > MAX_MESSAGE {
        return Err(CallError::invalid(
            "content.message",
            format!(
                "{chars} characters, over the limit of {MAX_MESSAGE}: shorten it, or send documents through the partner's own channel"
            ),
        ));
    }
    Ok(c)
}

fn id_of(id: &str) -> Result<String, CallError> {
    let id = id.trim();
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| CallError::invalid("id", format!("`{id}` is not a referral id (a UUID)")))
}

/// Runs a `GetReferral`.
pub async fn get(
    gw: FederationService,
    call: Admitted,
    req: v1::GetReferralRequest,
) -> Finished<v1::GetReferralResponse> {
    let found = async {
        validate::context(req.context.as_ref())?;
        let id = id_of(&req.id)?;
        gw.referrals.get(&call.client.organisation, &id).await
    };
    let r = match found.await {
        Ok(r) => r,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let is_target =
        r.target == call.client.organisation && r.delivery == Delivery::Delivered as i32;
    let mut facts = facts_of(&r, &[]);
    let mut referral = match gw.referrals.shown(r).await {
        Ok(referral) => referral,
        Err(e) => return Finished::refused(e, facts),
    };
    if is_target {
        referral.content = read_through(&gw, &call, &req, &referral.target).await;
        if referral.content.is_some() {
            facts.sections_asked.push("content".into());
        }
    }
    Finished::answered(
        v1::GetReferralResponse {
            referral: Some(referral),
        },
        facts,
    )
}

/// What a delivered referral says, read for the target's own operator
/// from the target's inbox table through its connector at this moment;
/// nothing is kept. `None` when the connector cannot say (no `read` query,
/// down, refused): the referral is shown without it.
async fn read_through(
    gw: &FederationService,
    call: &Admitted,
    req: &v1::GetReferralRequest,
    target: &str,
) -> Option<v1::ReferralContent> {
    let source = gw
        .registry
        .all()
        .iter()
        .find(|s| s.organisation == target)?;
    let mut ask = tonic::Request::new(v1::ReadReferralRequest {
        id: req.id.trim().to_string(),
        context: req.context.clone(),
        client_organisation: call.client.organisation.clone(),
    });
    ask.set_timeout(source.timeout);
    match source.client.clone().read_referral(ask).await {
        Ok(answer) => answer.into_inner().content,
        Err(status) => {
            tracing::info!(source = %target, code = ?status.code(), "a referral's content not read from its target");
            None
        }
    }
}

/// Runs a `ListReferrals`.
pub async fn list(
    gw: FederationService,
    call: Admitted,
    req: v1::ListReferralsRequest,
) -> Finished<v1::ListReferralsResponse> {
    let query = match list_query(&call.client.organisation, &req) {
        Ok(q) => q,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let facts = Facts {
        sections_asked: vec![format!(
            "box:{}",
            if query.side == "target" {
                "inbox"
            } else {
                "outbox"
            }
        )],
        ..Facts::default()
    };
    match gw.referrals.list(&query).await {
        Ok((referrals, overdue)) => {
            let more = referrals.len() as i64 == query.limit;
            let next_page_token = if more {
                (query.offset + query.limit).to_string()
            } else {
                String::new()
            };
            let answer = v1::ListReferralsResponse {
                referrals,
                next_page_token,
                overdue,
            };
            Finished::answered(answer, facts)
        }
        Err(e) => Finished::refused(e, facts),
    }
}

fn list_query(org: &str, req: &v1::ListReferralsRequest) -> Result<ListQuery, CallError> {
    validate::context(req.context.as_ref())?;
    let side = match ReferralBox::try_from(req.r#box) {
        Ok(ReferralBox::Inbox) => "target",
        Ok(ReferralBox::Outbox) => "sender",
        _ => {
            return Err(CallError::invalid(
                "box",
                "say which: REFERRAL_BOX_INBOX (sent to you) or REFERRAL_BOX_OUTBOX (sent by you)",
            ));
        }
    };
    let mut statuses = Vec::new();
    for (i, s) in req.statuses.iter().enumerate() {
        match ReferralStatus::try_from(*s) {
            Ok(st) if st != ReferralStatus::Unspecified => statuses.push(st as i32),
            _ => {
                return Err(CallError::invalid(
                    format!("statuses[{i}]"),
                    format!("{s} is not a referral status"),
                ));
            }
        }
    }
    if req.page_size > MAX_PAGE {
        return Err(CallError::invalid(
            "page_size",
            format!("{} is over the limit of {MAX_PAGE}", req.page_size),
        ));
    }
    let offset = if req.page_token.is_empty() {
        0
    } else {
        req.page_token
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| {
                CallError::invalid(
                    "page_token",
                    "not a token of this list: send the next_page_token of the previous page",
                )
            })?
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    Ok(ListQuery {
        side,
        organisation: org.to_string(),
        statuses,
        overdue_at: req.overdue_only.then_some(now),
        created_before: (req.older_than_days > 0)
            .then(|| now - i64::from(req.older_than_days) * 86_400_000),
        offset,
        limit: i64::from(if req.page_size == 0 {
            50
        } else {
            req.page_size
        }),
    })
}

/// Runs an `UpdateReferral`.
pub async fn update(
    gw: FederationService,
    call: Admitted,
    req: v1::UpdateReferralRequest,
) -> Finished<v1::UpdateReferralResponse> {
    let org = call.client.organisation.clone();
    let checked = async {
        let ctx = validate::context(req.context.as_ref())?;
        let id = id_of(&req.id)?;
        let status = match ReferralStatus::try_from(req.status) {
            Ok(s) if s != ReferralStatus::Unspecified => s,
            _ => {
                return Err(CallError::invalid(
                    "status",
                    "the new status: accepted, rejected, in_progress, completed, failed or cancelled",
                ));
            }
        };
        if req.reason.chars().count() > MAX_REASON {
            return Err(CallError::invalid(
                "reason",
                format!("over the limit of {MAX_REASON} characters"),
            ));
        }
        let r = gw.referrals.get(&org, &id).await?;
        Ok((ctx, r, status))
    };
    let (ctx, r, status) = match checked.await {
        Ok(c) => c,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let facts = facts_of(&r, &[format!("status:{}", life::name(status))]);
    match gw
        .referrals
        .update(&org, &ctx.operator_id, &r.id, status, &req.reason)
        .await
    {
        Ok(referral) => Finished::answered(
            v1::UpdateReferralResponse {
                referral: Some(referral),
            },
            facts,
        ),
        Err(e) => Finished::refused(e, facts),
    }
}
