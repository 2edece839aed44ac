//! Following referrals in the partners' own tables: every poll interval
//! the gateway reads each target's status changes since the last read
//! (`ListReferralChanges`) and brings each referral to the status the
//! partner's table shows. The table is the truth: when the partner's
//! software moved a referral through several statuses between two reads
//! (or while its connector or the gateway was down), the steps it must
//! have passed through are recorded as `inferred`, with the partner's
//! time. A status no run of the target's steps reaches (a move backwards,
//! a cancellation written by the target) is refused once, logged once and
//! counted. A target that answers again after failing has its pending
//! deliveries retried at once instead of at the end of their back-off.

use std::collections::HashSet;
use std::sync::Mutex;

use trama_proto::v1::{self, ReferralStatus};

use super::life::{self, Party};
use super::store::Event;
use super::{MAX_REASON, Referrals, now_ms};
use crate::registry::{Registry, Source};

/// The reason recorded for a rejection or failure the partner's software
/// wrote without one (the referral's life asks for one).
const NO_REASON: &str = "not stated in the partner's software";

/// What following remembers between reads (in memory: a restarted
/// gateway reads the tables again from its stored cursors).
#[derive(Debug)]
pub(super) struct Followed {
    /// Targets whose last read failed.
    down: Mutex<HashSet<String>>,
    /// Changes already refused, by referral and status: refused once,
    /// logged once.
    refused: moka::sync::Cache<(String, i32), ()>,
}

impl Default for Followed {
    fn default() -> Followed {
        Followed {
            down: Mutex::new(HashSet::new()),
            refused: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(24 * 3600))
                .build(),
        }
    }
}

impl Followed {
    /// Records whether `target` answered; whether it just came back.
    fn answered(&self, target: &str, ok: bool) -> bool {
        let Ok(mut down) = self.down.lock() else {
            return false;
        };
        if ok {
            down.remove(target)
        } else {
            down.insert(target.to_string());
            false
        }
    }
}

impl Referrals {
    /// Reads every target's own status changes every poll interval, and
    /// keeps the overdue gauge; runs until the gateway stops.
    pub async fn follow_forever(self, registry: Registry) {
        loop {
            for source in registry.all() {
                if self.accepts(&source.organisation) {
                    self.follow(source).await;
                }
            }
            match self.store.overdue(now_ms()).await {
                Ok(n) => metrics::gauge!("trama_referrals_overdue").set(n as f64),
                Err(e) => tracing::error!(error = %e, "overdue referrals could not be counted"),
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    /// Applies one target's changes since the last read.
    async fn follow(&self, source: &Source) {
        let since = match self.store.cursor(&source.organisation).await {
            Ok(since) => since,
            Err(e) => return tracing::error!(error = %e, "referral cursor unreadable"),
        };
        let mut request = tonic::Request::new(v1::ListReferralChangesRequest { since });
        request.set_timeout(source.timeout.max(std::time::Duration::from_secs(5)));
        let mut client = source.client.clone();
        let answer = match client.list_referral_changes(request).await {
            Ok(a) => a.into_inner(),
            Err(status) => {
                self.followed.answered(&source.organisation, false);
                return tracing::info!(source = %source.organisation, code = ?status.code(), "referral changes not read");
            }
        };
        if self.followed.answered(&source.organisation, true) {
            self.deliver_now(&source.organisation).await;
        }
        for change in answer.changes {
            self.follow_change(&source.organisation, change).await;
        }
        if let Err(e) = self
            .store
            .set_cursor(&source.organisation, &answer.as_of)
            .await
        {
            tracing::error!(error = %e, "referral cursor not recorded");
        }
    }

    /// `target` is back: what waits for it is delivered now.
    async fn deliver_now(&self, target: &str) {
        match self.store.due_now(target, now_ms()).await {
            Ok(0) => {}
            Ok(waiting) => {
                tracing::info!(target = %target, waiting, "a partner is back; its referrals are delivered now");
                self.wake.notify_one();
            }
            Err(e) => {
                tracing::error!(error = %e, "pending deliveries could not be brought forward")
            }
        }
    }

    /// Brings one referral to the status the target's table shows.
    async fn follow_change(&self, target: &str, change: v1::ReferralChange) {
        let Ok(r) = self.get(target, &change.id).await else {
            return tracing::warn!(source = %target, "a status change for a referral this gateway did not send");
        };
        if r.status == change.status {
            return;
        }
        let from = ReferralStatus::try_from(r.status).unwrap_or(ReferralStatus::Unspecified);
        let to = ReferralStatus::try_from(change.status).unwrap_or(ReferralStatus::Unspecified);
        let Some(steps) = life::path(from, to) else {
            return self.refuse_once(target, &r.id, from, to);
        };
        let at = change.at.map_or_else(now_ms, |t| {
            t.seconds * 1000 + i64::from(t.nanos / 1_000_000)
        });
        let mut now = r;
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            let event = step_event(target, &change, *step, at, last);
            if let Err(e) = self.apply(&now, Party::Target, &event).await {
                // Changed meanwhile through Trama: the next read settles it.
                return tracing::info!(source = %target, problem = %e, "a referral changed while its partner's status was followed");
            }
            now.status = event.status;
            if !last {
                metrics::counter!("trama_referral_steps_inferred_total").increment(1);
            }
        }
    }

    /// A status the referral cannot reach from where it is: refused, said
    /// once per referral and status.
    fn refuse_once(&self, target: &str, id: &str, from: ReferralStatus, to: ReferralStatus) {
        let key = (id.to_string(), to as i32);
        if self.followed.refused.contains_key(&key) {
            return;
        }
        self.followed.refused.insert(key, ());
        metrics::counter!("trama_referral_changes_refused_total", "target" => target.to_string())
            .increment(1);
        tracing::warn!(
            source = %target,
            from = life::name(from),
            to = life::name(to),
            "a status in the partner's table is not one the referral can reach; ignored"
        );
    }
}

/// The event of one step read from (or inferred for) the target's table.
fn step_event(
    target: &str,
    change: &v1::ReferralChange,
    step: ReferralStatus,
    at: i64,
    last: bool,
) -> Event {
    let reason = if last {
        let given: String = change.reason.chars().take(MAX_REASON).collect();
        let needed = matches!(step, ReferralStatus::Rejected | ReferralStatus::Failed);
        if given.trim().is_empty() && needed {
            NO_REASON.to_string()
        } else {
            given
        }
    } else {
        String::new()
    };
    Event {
        status: step as i32,
        reason,
        organisation: target.to_string(),
        operator: if last {
            change.operator_id.clone()
        } else {
            String::new()
        },
        at,
        via: if last { "partner-system" } else { "inferred" }.into(),
        push: false,
    }
}
