//! Referrals (*segnalazioni*) from one partner to another, delivered
//! exactly once and followed to closure.
//!
//! A send is stored durably, its content sealed ([`seal`]), before the
//! sender hears back; [`Referrals::deliver_forever`] hands it to the target's
//! connector, which writes it into the partner's inbox table in one
//! transaction keyed by the referral's id (a second delivery writes
//! nothing), and the content is deleted once the target acknowledges.
//! Status changes come through `UpdateReferral` or from the partner's own
//! table ([`Referrals::follow_forever`]), each checked against the
//! referral's life ([`life`]) and recorded with who and when ([`store`]).

pub mod calls;
mod follow;
pub mod life;
pub mod seal;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use time::OffsetDateTime;
use tokio::sync::Notify;
use trama_proto::v1::{self, Delivery, ReferralStatus, Urgency};

use crate::error::CallError;
use crate::registry::{Registry, Source};
use life::{Deadlines, Party};
use seal::Sealer;
use store::{Event, Inserted, ListQuery, Store, Stored};

/// Longest message a referral carries, in characters.
pub const MAX_MESSAGE: usize = 4_000;
/// Longest reason given with a status change, in characters.
pub const MAX_REASON: usize = 500;
/// Longest idempotency key.
pub const MAX_KEY: usize = 128;
/// Most referrals per page of a list.
pub const MAX_PAGE: u32 = 200;
/// Delivery retries wait at most this long.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How a gateway handles referrals: the `[referrals]` table, read by
/// [`crate::config`].
pub use crate::config::ReferralSettings as Settings;

/// Why referrals cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The key.
    #[error(transparent)]
    Key(#[from] seal::KeyError),
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The store's schema is newer than this gateway knows, or cannot be
    /// migrated.
    #[error(transparent)]
    Schema(#[from] trama_plumbing::schema::SchemaError),
}

/// A send, checked.
#[derive(Debug, Clone)]
pub struct Send {
    /// The sending organisation.
    pub sender: String,
    /// Its operator.
    pub operator: String,
    /// The idempotency key.
    pub key: String,
    /// The target organisation.
    pub target: String,
    /// The target's service, if any.
    pub service: String,
    /// How soon.
    pub urgency: Urgency,
    /// The purpose stated.
    pub purpose: String,
    /// The case id stated.
    pub case_id: String,
    /// What it says.
    pub content: v1::ReferralContent,
    /// The person's pseudonyms, for the audit of later calls.
    pub subjects: Vec<String>,
}

/// The gateway's referrals.
#[derive(Debug, Clone)]
pub struct Referrals {
    store: Store,
    sealer: Arc<Sealer>,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    /// What following the partners' tables remembers between reads.
    followed: Arc<follow::Followed>,
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn timestamp(ms: i64) -> Option<prost_types::Timestamp> {
    (ms > 0).then(|| prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    })
}

fn internal(e: impl std::fmt::Display) -> CallError {
    tracing::error!(error = %e, "the referral store failed");
    CallError::Internal("the referral store failed".into())
}

impl Referrals {
    /// Opens the key and the store.
    pub async fn open(settings: Settings) -> Result<Referrals, SetupError> {
        let sealer = Sealer::open(&settings.key)?;
        let store = Store::open(&settings.store, |sender, key| {
            sealer.key_fingerprint(sender, key)
        })
        .await?;
        Ok(Referrals {
            store,
            sealer: Arc::new(sealer),
            settings: Arc::new(settings),
            wake: Arc::new(Notify::new()),
            followed: Arc::new(follow::Followed::default()),
        })
    }

    /// The store, for reading in tests and tools.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether `organisation` takes referrals.
    pub fn accepts(&self, organisation: &str) -> bool {
        self.settings.targets.contains_key(organisation)
    }

    /// Stores a referral, or finds the one sent before with the same key.
    /// The answer, and only the answer, names the key the sender sent: the
    /// store keeps its keyed fingerprint.
    pub async fn send(&self, s: Send) -> Result<(v1::Referral, bool), CallError> {
        let Some(deadlines) = self.settings.targets.get(&s.target) else {
            return Err(CallError::Precondition {
                subject: "target".into(),
                description: format!(
                    "{} does not take referrals: ask its IT person to map an inbox table, or choose another partner",
                    s.target
                ),
            });
        };
        let (row, first) = self.stored(&s, deadlines)?;
        match self.store.insert(&row, &first).await.map_err(internal)? {
            Inserted::New => {
                metrics::counter!("trama_referrals_sent_total", "target" => s.target.clone())
                    .increment(1);
                self.wake.notify_one();
                let referral = self.view(row, vec![first]);
                Ok((with_key(referral, &s.key), false))
            }
            Inserted::Existing(before) if before.fingerprint == row.fingerprint => {
                let events = self.store.events(&before.id).await.map_err(internal)?;
                Ok((with_key(self.view(*before, events), &s.key), true))
            }
            Inserted::Existing(before) => Err(CallError::Conflict {
                field: "idempotency_key".into(),
                description: format!(
                    "`{}` was used for referral {} with other content: use a new key for a new referral",
                    s.key, before.id
                ),
            }),
        }
    }

    /// The row of a new referral, its content sealed, and its first event.
    fn stored(&self, s: &Send, deadlines: &Deadlines) -> Result<(Stored, Event), CallError> {
        let fingerprint = self.sealer.fingerprint(&fingerprinted(s));
        let id = self.sealer.new_id().map_err(internal)?;
        let sealed = self
            .sealer
            .seal(&id, &s.content.encode_to_vec())
            .map_err(internal)?;
        let created = now_ms();
        let sent = OffsetDateTime::from_unix_timestamp(created / 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let due = deadlines.due(sent, s.urgency).unix_timestamp() * 1000;
        let row = Stored {
            id,
            sender: s.sender.clone(),
            sender_operator: s.operator.clone(),
            key_fingerprint: self.sealer.key_fingerprint(&s.sender, &s.key),
            fingerprint,
            target: s.target.clone(),
            target_service: s.service.clone(),
            urgency: s.urgency as i32,
            purpose: s.purpose.clone(),
            case_id: s.case_id.clone(),
            status: ReferralStatus::Requested as i32,
            status_reason: String::new(),
            created,
            due: due.max(created),
            delivery: Delivery::Pending as i32,
            attempts: 0,
            next_attempt: created,
            problem: String::new(),
            delivered: 0,
            sealed: Some(hex::encode(&sealed)),
            subjects: s.subjects.join(","),
        };
        let first = Event {
            status: ReferralStatus::Requested as i32,
            reason: String::new(),
            organisation: s.sender.clone(),
            operator: s.operator.clone(),
            at: created,
            via: "trama".into(),
            push: false,
        };
        Ok((row, first))
    }

    /// The referral `id` as `organisation` may see it (its sender or its
    /// target); anyone else is told it does not exist.
    pub async fn get(&self, organisation: &str, id: &str) -> Result<Stored, CallError> {
        match self.store.get(id).await.map_err(internal)? {
            Some(r) if r.sender == organisation || r.target == organisation => Ok(r),
            _ => Err(CallError::NotFound(format!(
                "no referral {id} sent by or to {organisation}"
            ))),
        }
    }

    /// The referral with its history, as the API shows it.
    pub async fn shown(&self, r: Stored) -> Result<v1::Referral, CallError> {
        let events = self.store.events(&r.id).await.map_err(internal)?;
        Ok(self.view(r, events))
    }

    /// A page of `q`, and how many of the box are overdue.
    pub async fn list(&self, q: &ListQuery) -> Result<(Vec<v1::Referral>, u32), CallError> {
        let (rows, overdue) = self.store.list(q, now_ms()).await.map_err(internal)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut events = self.store.events_of(&ids).await.map_err(internal)?;
        let out = rows
            .into_iter()
            .map(|r| {
                let history = events.remove(&r.id).unwrap_or_default();
                self.view(r, history)
            })
            .collect();
        Ok((out, u32::try_from(overdue).unwrap_or(u32::MAX)))
    }

    /// A party's status change, checked against the referral's life.
    pub async fn update(
        &self,
        organisation: &str,
        operator: &str,
        id: &str,
        to: ReferralStatus,
        reason: &str,
    ) -> Result<v1::Referral, CallError> {
        let mut r = self.get(organisation, id).await?;
        let party = if r.target == organisation {
            Party::Target
        } else {
            Party::Sender
        };
        let event = Event {
            status: to as i32,
            reason: reason.trim().to_string(),
            organisation: organisation.to_string(),
            operator: operator.to_string(),
            at: now_ms(),
            via: "trama".into(),
            // The target's own table is told of every change: its own
            // made through Trama, and the sender's (a cancellation).
            push: true,
        };
        self.apply(&r, party, &event).await?;
        self.wake.notify_one();
        r.status = event.status;
        r.status_reason = event.reason;
        self.shown(r).await
    }

    /// Checks and records one change of `r`.
    async fn apply(&self, r: &Stored, party: Party, event: &Event) -> Result<(), CallError> {
        let from = ReferralStatus::try_from(r.status).unwrap_or(ReferralStatus::Unspecified);
        let to = ReferralStatus::try_from(event.status).unwrap_or(ReferralStatus::Unspecified);
        life::check(from, to, party, &event.reason).map_err(|e| CallError::Precondition {
            subject: "status".into(),
            description: format!("{e} (referral {} is {})", r.id, life::name(from)),
        })?;
        if !self
            .store
            .change(&r.id, r.status, event)
            .await
            .map_err(internal)?
        {
            return Err(CallError::Precondition {
                subject: "status".into(),
                description: format!(
                    "referral {} changed while this change was made: read it again",
                    r.id
                ),
            });
        }
        metrics::counter!("trama_referral_changes_total", "status" => life::name(to)).increment(1);
        Ok(())
    }

    fn view(&self, r: Stored, events: Vec<Event>) -> v1::Referral {
        let now = now_ms();
        v1::Referral {
            overdue: r.status == ReferralStatus::Requested as i32 && r.due < now,
            history: events
                .into_iter()
                .map(|e| v1::ReferralEvent {
                    status: e.status,
                    reason: e.reason,
                    organisation: e.organisation,
                    operator_id: e.operator,
                    at: timestamp(e.at),
                    via: e.via,
                })
                .collect(),
            id: r.id,
            sender: r.sender,
            target: r.target,
            target_service: r.target_service,
            urgency: r.urgency,
            status: r.status,
            status_reason: r.status_reason,
            created: timestamp(r.created),
            due: timestamp(r.due),
            delivery: r.delivery,
            delivery_attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            delivery_problem: r.problem,
            delivered: timestamp(r.delivered),
            purpose: r.purpose,
            case_id: r.case_id,
            // Kept only as a keyed fingerprint: not shown.
            idempotency_key: String::new(),
            sender_operator: r.sender_operator,
            content: None,
        }
    }
}

/// The referral as the answer to its send shows it, with the key the
/// sender sent.
fn with_key(mut referral: v1::Referral, key: &str) -> v1::Referral {
    referral.idempotency_key = key.to_string();
    referral
}

/// What a retried send must repeat to be the same referral.
fn fingerprinted(s: &Send) -> Vec<u8> {
    let mut bytes = Vec::new();
    for part in [&s.target, &s.service, &s.purpose, &s.case_id] {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(0x1f);
    }
    bytes.extend_from_slice(&(s.urgency as i32).to_be_bytes());
    bytes.extend_from_slice(&s.content.encode_to_vec());
    bytes
}

impl Referrals {
    /// Delivers what waits, as soon as it is stored and again with
    /// backoff while a target is down; runs until the gateway stops.
    pub async fn deliver_forever(self, registry: Registry) {
        loop {
            let wait = match self.deliver_due(&registry).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(error = %e, "referral delivery could not read its store");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round of deliveries, and of status changes for the targets'
    /// own tables; how long until the next round is due.
    async fn deliver_due(&self, registry: &Registry) -> Result<Duration, store::StoreError> {
        let due = self.store.due_deliveries(now_ms(), 64).await?;
        let rounds = due.iter().map(|r| self.deliver(registry, r));
        futures_util::future::join_all(rounds).await;
        let unpushed = self.push_due(registry).await?;
        let next = self.store.next_attempt().await?;
        let wait = next.map_or(Duration::from_secs(60), |at| {
            Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0).clamp(50, 60_000))
        });
        // A change the target could not take yet is offered again soon.
        Ok(if unpushed {
            wait.min(Duration::from_secs(5))
        } else {
            wait
        })
    }

    /// Writes the target's changes made through Trama into its own table;
    /// whether some are still waiting.
    async fn push_due(&self, registry: &Registry) -> Result<bool, store::StoreError> {
        let pending = self.store.pending_pushes(64).await?;
        let mut waiting = false;
        // In order: a referral's later change waits for its earlier one.
        let mut held_back = std::collections::HashSet::new();
        for p in pending {
            if held_back.contains(&p.referral) {
                continue;
            }
            let Some(source) = registry.all().iter().find(|s| s.organisation == p.target) else {
                continue;
            };
            let mut request = tonic::Request::new(v1::UpdateReferralStatusRequest {
                id: p.referral.clone(),
                status: p.event.status,
                reason: p.event.reason.clone(),
                operator_id: p.event.operator.clone(),
                at: timestamp(p.event.at),
            });
            request.set_timeout(source.timeout.max(Duration::from_secs(5)));
            match source.client.clone().update_referral_status(request).await {
                Ok(_) => self.store.pushed(&p.referral, p.seq).await?,
                Err(status) => {
                    tracing::info!(target = %p.target, code = ?status.code(), "a status change not yet written into the partner's table");
                    waiting = true;
                    held_back.insert(p.referral.clone());
                }
            }
        }
        Ok(waiting)
    }

    /// One delivery attempt of `r`.
    async fn deliver(&self, registry: &Registry, r: &Stored) {
        let outcome = match registry.all().iter().find(|s| s.organisation == r.target) {
            Some(source) => self.attempt(source, r).await,
            None => Attempt::Failed(format!("{} is not in the gateway's registry", r.target)),
        };
        let done = match outcome {
            Attempt::Delivered => self.store.delivered(&r.id, now_ms()).await,
            Attempt::Refused(reason) => {
                metrics::counter!("trama_referrals_refused_total", "target" => r.target.clone())
                    .increment(1);
                let event = Event {
                    status: ReferralStatus::Rejected as i32,
                    reason: format!("refused by {}'s rules: {reason}", r.target),
                    organisation: r.target.clone(),
                    operator: String::new(),
                    at: now_ms(),
                    via: "partner-system".into(),
                    push: false,
                };
                self.store.refused(&r.id, &event).await
            }
            Attempt::Failed(problem) => {
                let backoff = backoff(r.attempts);
                let next = now_ms() + i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX);
                tracing::info!(target = %r.target, attempts = r.attempts + 1, "referral not delivered yet; retrying");
                self.store.retry(&r.id, next, &problem).await
            }
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "a referral's delivery could not be recorded");
        }
    }

    async fn attempt(&self, source: &Source, r: &Stored) -> Attempt {
        let Some(content) = self.content(r) else {
            return Attempt::Failed(
                "the sealed content does not open with this gateway's key".into(),
            );
        };
        let mut request = tonic::Request::new(v1::DeliverReferralRequest {
            id: r.id.clone(),
            sender: r.sender.clone(),
            sender_operator: r.sender_operator.clone(),
            target_service: r.target_service.clone(),
            urgency: r.urgency,
            content: Some(content),
            purpose: r.purpose.clone(),
            case_id: r.case_id.clone(),
            created: timestamp(r.created),
            due: timestamp(r.due),
        });
        request.set_timeout(source.timeout.max(Duration::from_secs(5)));
        let mut client = source.client.clone();
        match client.deliver_referral(request).await {
            Ok(_) => {
                metrics::counter!("trama_referrals_delivered_total", "target" => r.target.clone())
                    .increment(1);
                Attempt::Delivered
            }
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                Attempt::Refused(status.message().to_string())
            }
            Err(status) => Attempt::Failed(format!(
                "{}: {}",
                trama_proto::code_name(status.code()),
                status.message()
            )),
        }
    }

    fn content(&self, r: &Stored) -> Option<v1::ReferralContent> {
        let sealed = hex::decode(r.sealed.as_deref()?).ok()?;
        let plain = self.sealer.open_sealed(&r.id, &sealed).ok()?;
        v1::ReferralContent::decode(plain.as_slice()).ok()
    }
}

/// How one delivery attempt ended.
enum Attempt {
    Delivered,
    Refused(String),
    Failed(String),
}

/// 1 s, doubling with each attempt, at most [`MAX_BACKOFF`].
fn backoff(attempts: i64) -> Duration {
    let shift = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    Duration::from_secs(1u64 << shift).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn referrals(dir: &std::path::Path) -> Referrals {
        let settings = Settings {
            store: format!("sqlite://{}", dir.join("referrals.db").display()),
            key: dir.join("referrals.key"),
            poll: Duration::from_secs(30),
            targets: std::collections::HashMap::from([(
                "comune".to_string(),
                Deadlines::default(),
            )]),
        };
        Referrals::open(settings)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn send(key: &str, message: &str) -> Send {
        Send {
            sender: "asl".into(),
            operator: "cps.rossi".into(),
            key: key.into(),
            target: "comune".into(),
            service: String::new(),
            urgency: Urgency::Urgent,
            purpose: "presa_in_carico".into(),
            case_id: "CPS-1".into(),
            content: v1::ReferralContent {
                person: Some(v1::ReferredPerson {
                    tax_code: "RSSMRA80A01D150X".into(),
                    ..Default::default()
                }),
                reasons: vec!["mental-health".into()],
                message: message.into(),
            },
            subjects: vec!["p1".into()],
        }
    }

    #[tokio::test]
    async fn one_key_one_referral_and_the_content_sealed_until_delivered() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = referrals(dir.path()).await;
        let marker = "Segnalazione urgente per la signora";
        let (first, replayed) = r
            .send(send("k1", marker))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!replayed);
        assert_eq!(first.status, ReferralStatus::Requested as i32);
        let (again, replayed) = r
            .send(send("k1", marker))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            replayed && again.id == first.id,
            "a retried send is the same referral"
        );
        let other = r.send(send("k1", "another message")).await;
        assert!(
            matches!(&other, Err(CallError::Conflict { field, .. }) if field == "idempotency_key"),
            "{other:?}"
        );
        assert!(matches!(
            r.send(Send {
                target: "caritas".into(),
                ..send("k2", marker)
            })
            .await,
            Err(CallError::Precondition { .. })
        ));
        let stored = r.store().get(&first.id).await.ok().flatten();
        let sealed = stored.and_then(|s| s.sealed).unwrap_or_default();
        assert!(!sealed.is_empty(), "held, sealed, until delivered");
        r.store()
            .delivered(&first.id, now_ms())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let after = r.store().get(&first.id).await.ok().flatten();
        assert_eq!(after.as_ref().and_then(|s| s.sealed.clone()), None);
        r.store().close().await;
        for file in ["referrals.db", "referrals.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            for clear in [marker.as_bytes(), b"RSSMRA80A01D150X", b"mental-health"] {
                assert!(
                    !bytes.windows(clear.len()).any(|w| w == clear),
                    "{file} holds clear text"
                );
            }
        }
    }

    /// The table as an earlier version wrote it: the sender's key as sent.
    const CLEAR_KEYS_TABLE: &str = "CREATE TABLE trama_referral (\
       id TEXT PRIMARY KEY, sender TEXT NOT NULL, sender_operator TEXT NOT NULL, \
       idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, target TEXT NOT NULL, \
       target_service TEXT NOT NULL, urgency BIGINT NOT NULL, purpose TEXT NOT NULL, \
       case_id TEXT NOT NULL, status BIGINT NOT NULL, status_reason TEXT NOT NULL, \
       created BIGINT NOT NULL, due BIGINT NOT NULL, delivery BIGINT NOT NULL, \
       attempts BIGINT NOT NULL, next_attempt BIGINT NOT NULL, problem TEXT NOT NULL, \
       delivered BIGINT NOT NULL, sealed TEXT, subjects TEXT NOT NULL, \
       UNIQUE (sender, idempotency_key))";

    #[tokio::test]
    async fn a_store_of_clear_keys_is_fingerprinted_when_opened() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key = "cps-RSSMRA80A01D150X";
        let sealer =
            Sealer::open(&dir.path().join("referrals.key")).unwrap_or_else(|e| panic!("{e}"));
        let content = sealer.fingerprint(&fingerprinted(&send(key, "m")));
        let file = dir.path().join("referrals.db");
        let old = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for statement in [
            CLEAR_KEYS_TABLE,
            "INSERT INTO trama_referral VALUES ('r-1', 'asl', 'cps.rossi', 'cps-RSSMRA80A01D150X', \
             ?, 'comune', '', 3, 'presa_in_carico', 'CPS-1', 1, '', 1, 2, 2, 0, 1, '', 1, NULL, 'p1')",
        ] {
            sqlx::query(statement)
                .bind(&content)
                .execute(&old)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        old.close().await;

        let r = referrals(dir.path()).await;
        let (again, replayed) = r
            .send(send(key, "m"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(replayed, "the key still finds its referral");
        assert_eq!(again.id, "r-1");
        assert_eq!(again.idempotency_key, key, "the answer names the key sent");
        let stored = r
            .store()
            .get("r-1")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(
            stored.key_fingerprint,
            sealer.key_fingerprint("asl", key),
            "the key replaced by its fingerprint"
        );
        r.store().close().await;
        for file in ["referrals.db", "referrals.db-wal", "referrals.db-shm"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(16).any(|w| w == b"RSSMRA80A01D150X"),
                "{file} holds the key"
            );
        }

        // Opened again, nothing is fingerprinted twice.
        let r = referrals(dir.path()).await;
        let (again, replayed) = r
            .send(send(key, "m"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(replayed && again.id == "r-1", "{again:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_committed_together_keep_one_referral_per_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = referrals(dir.path()).await;
        let sends: Vec<_> = (0..60)
            .map(|i| {
                let r = r.clone();
                // Twenty retries of one key among forty keys of their own.
                let key = if i % 3 == 0 {
                    "same".to_string()
                } else {
                    format!("k{i}")
                };
                tokio::spawn(async move { r.send(send(&key, "m")).await })
            })
            .collect();
        let mut same = std::collections::HashSet::new();
        let mut replayed = 0;
        for (i, s) in sends.into_iter().enumerate() {
            let (referral, again) = s
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
            if i % 3 == 0 {
                same.insert(referral.id);
                replayed += usize::from(again);
            } else {
                assert!(!again);
            }
        }
        assert_eq!(same.len(), 1, "one referral for the repeated key");
        assert_eq!(replayed, 19);
        let q = ListQuery {
            side: "sender",
            organisation: "asl".into(),
            limit: 100,
            ..ListQuery::default()
        };
        assert_eq!(r.list(&q).await.map(|(l, _)| l.len()).ok(), Some(41));
    }

    #[tokio::test]
    async fn only_the_parties_see_it_and_changes_follow_its_life() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = referrals(dir.path()).await;
        let (sent, _) = r
            .send(send("k1", "m"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            r.get("caritas", &sent.id).await,
            Err(CallError::NotFound(_))
        ));
        let early = r
            .update("asl", "x", &sent.id, ReferralStatus::Accepted, "")
            .await;
        assert!(
            matches!(early, Err(CallError::Precondition { .. })),
            "{early:?}"
        );
        let accepted = r
            .update("comune", "ferrari", &sent.id, ReferralStatus::Accepted, "")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(accepted.status, ReferralStatus::Accepted as i32);
        assert_eq!(accepted.history.len(), 2);
        assert_eq!(accepted.history[1].operator_id, "ferrari");
        let back = r
            .update("comune", "ferrari", &sent.id, ReferralStatus::Requested, "")
            .await;
        let Err(CallError::Precondition { description, .. }) = back else {
            panic!("{back:?}")
        };
        assert!(description.contains("is accepted"), "{description}");
    }

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
