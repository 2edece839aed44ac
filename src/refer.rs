//! `trama query refer`, `referral` and `referrals`: send a referral, read
//! or change one, list the organisation's inbox or outbox.

use anyhow::bail;
use tonic::transport::Channel;
use trama_client::render;
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;

/// `trama query refer` arguments.
#[derive(Debug, clap::Args)]
pub struct ReferArgs {
    /// The partner referred to, for example `comune`.
    #[arg(long)]
    pub to: String,
    /// A service of the partner's offer, for example `comune/SAD`.
    #[arg(long)]
    pub service: Option<String>,
    /// The person's codice fiscale.
    #[arg(long)]
    pub tax_code: Option<String>,
    /// Family name (with --given-name and --birth-date, when there is no tax code).
    #[arg(long)]
    pub family_name: Option<String>,
    /// Given name.
    #[arg(long)]
    pub given_name: Option<String>,
    /// Birth date, YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// Birthplace, Belfiore code.
    #[arg(long)]
    pub birthplace: Option<String>,
    /// Why, as need codes (repeatable), for example `mental-health`.
    #[arg(long = "reason", required = true)]
    pub reasons: Vec<String>,
    /// A message to the partner's operators.
    #[arg(long, default_value = "")]
    pub message: String,
    /// routine, urgent, asap or stat.
    #[arg(long, default_value = "routine")]
    pub urgency: String,
    /// Your key for this referral: sending again with the same key gives the same referral.
    /// The gateway keeps only a keyed fingerprint of it; use a reference of your own, not a tax code.
    #[arg(long)]
    pub key: String,
}

/// `trama query referral` arguments.
#[derive(Debug, clap::Args)]
pub struct ReferralArgs {
    /// The referral's id.
    pub id: String,
    /// Change its status: accepted, rejected, in_progress, completed, failed, cancelled.
    #[arg(long)]
    pub set: Option<String>,
    /// Why (required for rejected, failed and cancelled).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `trama query referrals` arguments.
#[derive(Debug, clap::Args)]
pub struct ReferralsArgs {
    /// `inbox` (sent to you) or `outbox` (sent by you).
    #[arg(default_value = "inbox")]
    pub r#box: String,
    /// Only this status (repeatable).
    #[arg(long = "status")]
    pub statuses: Vec<String>,
    /// Only overdue referrals.
    #[arg(long)]
    pub overdue: bool,
    /// Only referrals sent at least this many days ago.
    #[arg(long, default_value_t = 0)]
    pub older_than_days: u32,
    /// Referrals per page (50 by default, at most 200).
    #[arg(long, default_value_t = 0)]
    pub page_size: u32,
    /// The page that follows the one with this token (printed under each page).
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Every page, one after another.
    #[arg(long, conflicts_with = "page_token")]
    pub all: bool,
}

fn status(text: &str) -> anyhow::Result<v1::ReferralStatus> {
    match trama_proto::referrals::parse(text) {
        Some(s) => Ok(s),
        None => bail!(
            "`{text}`: write requested, accepted, rejected, in_progress, completed, failed or cancelled"
        ),
    }
}

fn urgency(text: &str) -> anyhow::Result<v1::Urgency> {
    let name = format!("URGENCY_{}", text.trim().to_ascii_uppercase());
    match v1::Urgency::from_str_name(&name) {
        Some(u) if u != v1::Urgency::Unspecified => Ok(u),
        _ => bail!("--urgency `{text}`: write routine, urgent, asap or stat"),
    }
}

/// Sends a referral.
pub async fn send(
    client: &mut FederationClient<Channel>,
    context: v1::RequestContext,
    a: ReferArgs,
    timeout: std::time::Duration,
    json: bool,
) -> anyhow::Result<String> {
    let person = v1::ReferredPerson {
        tax_code: a.tax_code.unwrap_or_default(),
        given_name: a.given_name.unwrap_or_default(),
        family_name: a.family_name.unwrap_or_default(),
        birth_date: a
            .birth_date
            .as_deref()
            .map(crate::args::parse_date)
            .transpose()?,
        birthplace_code: a.birthplace.unwrap_or_default(),
    };
    let request = trama_client::requests::with_deadline(
        v1::SendReferralRequest {
            context: Some(context),
            idempotency_key: a.key,
            target: a.to,
            target_service: a.service.unwrap_or_default(),
            content: Some(v1::ReferralContent {
                person: Some(person),
                reasons: a.reasons,
                message: a.message,
            }),
            urgency: urgency(&a.urgency)? as i32,
        },
        timeout,
    );
    let answer = client
        .send_referral(request)
        .await
        .map_err(send_error)?
        .into_inner();
    if json {
        return render::json(&answer, "trama.v1.SendReferralResponse").map_err(anyhow::Error::msg);
    }
    let r = answer.referral.unwrap_or_default();
    let head = if answer.replayed {
        "sent before with this key: the same referral\n"
    } else {
        "stored; delivering\n"
    };
    Ok(format!("{head}{}", render::referral(&r)))
}

/// Reads a referral, or changes its status.
pub async fn referral(
    client: &mut FederationClient<Channel>,
    context: v1::RequestContext,
    a: ReferralArgs,
    timeout: std::time::Duration,
    json: bool,
) -> anyhow::Result<String> {
    let r = match a.set {
        Some(to) => {
            let request = trama_client::requests::with_deadline(
                v1::UpdateReferralRequest {
                    context: Some(context),
                    id: a.id,
                    status: status(&to)? as i32,
                    reason: a.reason,
                },
                timeout,
            );
            let answer = client
                .update_referral(request)
                .await
                .map_err(crate::args::status_error)?;
            answer.into_inner().referral
        }
        None => {
            let request = trama_client::requests::with_deadline(
                v1::GetReferralRequest {
                    context: Some(context),
                    id: a.id,
                },
                timeout,
            );
            let answer = client
                .get_referral(request)
                .await
                .map_err(crate::args::status_error)?;
            answer.into_inner().referral
        }
    }
    .unwrap_or_default();
    if json {
        return render::json(&r, "trama.v1.Referral").map_err(anyhow::Error::msg);
    }
    Ok(render::referral(&r))
}

/// A send that failed: where the answer was lost on the way, whether it
/// was stored cannot be known, and sending again with the same key is
/// safe (it gives the same referral, or stores it now).
fn send_error(status: tonic::Status) -> anyhow::Error {
    let unknown = matches!(
        status.code(),
        tonic::Code::Unknown
            | tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Internal
    );
    if unknown {
        anyhow::anyhow!(
            "the send may or may not have been stored: the answer was lost ({:?}: {}). \
             Send it again with the same --key: the gateway gives the same referral if it \
             stored it, or stores it now",
            status.code(),
            status.message()
        )
    } else {
        crate::args::status_error(status)
    }
}

/// Lists the inbox or the outbox.
pub async fn referrals(
    client: &mut FederationClient<Channel>,
    context: v1::RequestContext,
    a: ReferralsArgs,
    timeout: std::time::Duration,
    json: bool,
) -> anyhow::Result<String> {
    let r#box = match a.r#box.as_str() {
        "inbox" => v1::ReferralBox::Inbox,
        "outbox" => v1::ReferralBox::Outbox,
        other => bail!("`{other}`: write inbox or outbox"),
    };
    let statuses = a
        .statuses
        .iter()
        .map(|s| status(s).map(|s| s as i32))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut asked = v1::ListReferralsRequest {
        context: Some(context),
        r#box: r#box as i32,
        statuses,
        overdue_only: a.overdue,
        older_than_days: a.older_than_days,
        page_size: a.page_size,
        page_token: a.page_token,
    };
    let mut all = v1::ListReferralsResponse::default();
    loop {
        let request = trama_client::requests::with_deadline(asked.clone(), timeout);
        let page = client
            .list_referrals(request)
            .await
            .map_err(crate::args::status_error)?
            .into_inner();
        all.overdue = page.overdue;
        all.referrals.extend(page.referrals);
        all.next_page_token = page.next_page_token;
        if !a.all || all.next_page_token.is_empty() {
            break;
        }
        asked.page_token = std::mem::take(&mut all.next_page_token);
    }
    if json {
        return render::json(&all, "trama.v1.ListReferralsResponse").map_err(anyhow::Error::msg);
    }
    Ok(render::referrals(&all))
}
