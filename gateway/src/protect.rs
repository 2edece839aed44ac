//! Protection of the partners and of the gateway itself: a circuit breaker
//! and a bound on calls in flight per source (so one partner's database
//! never sees more than N queries from the gateway at once, and a partner
//! that keeps failing is not waited on), per-organisation rate limits and
//! daily quotas, and load shedding when too many calls are in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a circuit breaker lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    /// Calls go through.
    Closed,
    /// Calls are refused at once until the cool-down ends.
    Open,
    /// One probe call is let through; its outcome closes or reopens.
    HalfOpen,
}

impl Circuit {
    /// The state's name, as shown in `ListSources` and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
            Circuit::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker for one source: opens after `threshold` failures in a
/// row (unavailable, timeout, error), refuses calls for `cooldown`, then
/// lets one probe through.
#[derive(Debug)]
pub struct Breaker {
    phase: Mutex<Phase>,
    threshold: u32,
    cooldown: Duration,
}

/// Why a call was not let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// When to try again.
    pub retry_after: Duration,
    /// Why, for the outcome message.
    pub reason: String,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            phase: Mutex::new(Phase::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A panic while holding this lock cannot leave the phase invalid.
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets a call go now, or refuses it. The admission is settled with
    /// [`Admission::record`]; one dropped without a verdict (the caller's
    /// own deadline passed, or the call was cancelled) changes nothing, and
    /// a probe it held is given back, so a circuit never stays half-open
    /// waiting for a probe that will not report.
    pub fn admit(self: &Arc<Self>) -> Result<Admission, Refused> {
        let mut phase = self.lock();
        let probe = match *phase {
            Phase::Closed { .. } => false,
            Phase::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(Refused {
                        retry_after: until - now,
                        reason: format!(
                            "circuit open after {} failures in a row; next probe in {} ms",
                            self.threshold,
                            (until - now).as_millis()
                        ),
                    });
                }
                *phase = Phase::HalfOpen { probing: true };
                true
            }
            Phase::HalfOpen { probing: true } => {
                return Err(Refused {
                    retry_after: Duration::from_millis(100),
                    reason: "circuit half-open: a probe is in flight".into(),
                });
            }
            Phase::HalfOpen { probing: false } => {
                *phase = Phase::HalfOpen { probing: true };
                true
            }
        };
        Ok(Admission {
            breaker: self.clone(),
            probe,
            settled: false,
        })
    }

    /// Gives back a probe that ended without a verdict.
    fn release_probe(&self) {
        let mut phase = self.lock();
        if let Phase::HalfOpen { probing: true } = *phase {
            *phase = Phase::HalfOpen { probing: false };
        }
    }

    /// Whether a call would be refused now, without letting a probe go.
    pub fn peek(&self) -> Result<(), Refused> {
        match *self.lock() {
            Phase::Open { until } if Instant::now() < until => {
                let left = until - Instant::now();
                Err(Refused {
                    retry_after: left,
                    reason: format!(
                        "circuit open after {} failures in a row; next probe in {} ms",
                        self.threshold,
                        left.as_millis()
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Records the outcome of a call that was let through.
    fn record(&self, success: bool) {
        let mut phase = self.lock();
        *phase = match (&*phase, success) {
            (_, true) => Phase::Closed { failures: 0 },
            (Phase::Closed { failures }, false) if failures + 1 < self.threshold => Phase::Closed {
                failures: failures + 1,
            },
            (_, false) => Phase::Open {
                until: Instant::now() + self.cooldown,
            },
        };
    }

    /// The state now.
    pub fn state(&self) -> Circuit {
        match *self.lock() {
            Phase::Closed { .. } => Circuit::Closed,
            Phase::Open { until } if Instant::now() < until => Circuit::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => Circuit::HalfOpen,
        }
    }
}

/// A call let through by a [`Breaker`]: settled by its verdict, or, when
/// dropped without one, given back.
#[derive(Debug)]
pub struct Admission {
    breaker: Arc<Breaker>,
    probe: bool,
    settled: bool,
}

impl Admission {
    /// Records whether the source failed the call.
    pub fn record(mut self, success: bool) {
        self.settled = true;
        self.breaker.record(success);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breaker.release_probe();
        }
    }
}

/// A bound on calls in flight to one source.
#[derive(Debug, Clone)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    max: usize,
}

impl InFlight {
    /// At most `max` calls at once.
    pub fn new(max: usize) -> InFlight {
        InFlight {
            permits: Arc::new(Semaphore::new(max.max(1))),
            max: max.max(1),
        }
    }

    /// Waits up to `wait` for a free slot.
    pub async fn acquire(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(wait, self.permits.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Calls in flight now.
    pub fn current(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// A client organisation's allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allowance {
    /// Calls per second, sustained.
    pub rate: f64,
    /// Calls allowed in a burst.
    pub burst: f64,
    /// Calls per UTC day, if bounded.
    pub daily_quota: Option<u64>,
}

/// A token bucket and the day's count: `at` is when the tokens were last
/// counted, in seconds on the clock that keeps the bucket (the process's
/// own, or the shared database's).
#[derive(Debug, Clone, PartialEq)]
struct Bucket {
    tokens: f64,
    at: f64,
    day: time::Date,
    today: u64,
}

/// Per-organisation rate limits (token buckets) and daily quotas, in this
/// process, or, for replicas sharing a PostgreSQL audit database, in that
/// database (`trama_allowance`): then an organisation's allowance holds
/// across every replica, whichever one a call reaches, and survives their
/// restarts.
#[derive(Debug)]
pub struct RateLimiter {
    default: Allowance,
    overrides: HashMap<String, Allowance>,
    buckets: Mutex<HashMap<String, Bucket>>,
    shared: Option<sqlx::AnyPool>,
    origin: Instant,
}

/// Why a client's call is refused for its rate or quota.
#[derive(Debug, Clone, PartialEq)]
pub struct Limited {
    /// When a call would be admitted again.
    pub retry_after: Duration,
    /// Which limit: `rate` or `daily_quota`.
    pub limit: &'static str,
    /// The limit's description, for the caller.
    pub description: String,
}

impl RateLimiter {
    /// Limits every organisation to `default`, except those in `overrides`,
    /// counting in this process.
    pub fn new(default: Allowance, overrides: HashMap<String, Allowance>) -> RateLimiter {
        RateLimiter {
            default,
            overrides,
            buckets: Mutex::new(HashMap::new()),
            shared: None,
            origin: Instant::now(),
        }
    }

    /// The same limits, counted in the database of `pool` that replicas
    /// share.
    pub fn shared(mut self, pool: sqlx::AnyPool) -> RateLimiter {
        self.shared = Some(pool);
        self
    }

    /// Takes one call from `organisation`'s allowance. Counted in the
    /// shared database when there is one; should it fail to answer, in
    /// this process (the call still needs its audit entry, written to that
    /// database, so an outage there refuses calls anyway).
    pub async fn take(&self, organisation: &str) -> Result<(), Limited> {
        let allowance = *self.overrides.get(organisation).unwrap_or(&self.default);
        if let Some(pool) = &self.shared {
            match take_shared(pool, organisation, allowance).await {
                Ok(taken) => return taken,
                Err(e) => {
                    metrics::counter!("trama_allowance_fallback_total").increment(1);
                    tracing::warn!(error = %e, "shared allowances unavailable; counting in this replica");
                }
            }
        }
        self.take_local(organisation, allowance)
    }

    fn take_local(&self, organisation: &str, allowance: Allowance) -> Result<(), Limited> {
        let now = self.origin.elapsed().as_secs_f64();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = buckets
            .entry(organisation.to_string())
            .or_insert_with(|| Bucket::full(allowance, now));
        b.spend(
            allowance,
            organisation,
            now,
            OffsetDateTime::now_utc().date(),
        )
    }
}

impl Bucket {
    fn full(allowance: Allowance, now: f64) -> Bucket {
        Bucket {
            tokens: allowance.burst,
            at: now,
            day: OffsetDateTime::now_utc().date(),
            today: 0,
        }
    }

    /// Refills the bucket to `now` and takes one call on day `today` (the
    /// clock's that keeps the bucket), or says why not.
    fn spend(
        &mut self,
        allowance: Allowance,
        organisation: &str,
        now: f64,
        today: time::Date,
    ) -> Result<(), Limited> {
        if self.day != today {
            self.day = today;
            self.today = 0;
        }
        if let Some(quota) = allowance.daily_quota
            && self.today >= quota
        {
            let midnight = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT)
                + time::Duration::days(1);
            let left = (midnight - OffsetDateTime::now_utc()).unsigned_abs();
            return Err(Limited {
                retry_after: left,
                limit: "daily_quota",
                description: format!("{quota} calls per day (UTC) for {organisation}"),
            });
        }
        let elapsed = (now - self.at).max(0.0);
        self.tokens = (self.tokens + elapsed * allowance.rate).min(allowance.burst);
        self.at = now;
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / allowance.rate.max(f64::MIN_POSITIVE);
            return Err(Limited {
                retry_after: Duration::from_secs_f64(wait.min(3600.0)),
                limit: "rate",
                description: format!(
                    "{} calls per second (bursts of {}) for {organisation}",
                    allowance.rate, allowance.burst
                ),
            });
        }
        self.tokens -= 1.0;
        self.today += 1;
        Ok(())
    }
}

/// Takes one call from `organisation`'s bucket in the shared database: the
/// row is locked for the transaction, refilled on the database's clock
/// (replicas' clocks may differ) and written back.
async fn take_shared(
    pool: &sqlx::AnyPool,
    organisation: &str,
    allowance: Allowance,
) -> Result<Result<(), Limited>, sqlx::Error> {
    use sqlx::Row;
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "INSERT INTO trama_allowance (organisation, tokens, at, day, today) \
         VALUES ($1, $2, extract(epoch from clock_timestamp())::float8, $3, 0) \
         ON CONFLICT (organisation) DO UPDATE SET organisation = EXCLUDED.organisation \
         RETURNING tokens, at, day, today, extract(epoch from clock_timestamp())::float8, \
         ((clock_timestamp() AT TIME ZONE 'UTC')::date)::text",
    )
    .bind(organisation)
    .bind(allowance.burst)
    .bind(OffsetDateTime::now_utc().date().to_string())
    .fetch_one(&mut *tx)
    .await?;
    let now: f64 = row.try_get(4)?;
    let day: String = row.try_get(2)?;
    let mut bucket = Bucket {
        tokens: row.try_get(0)?,
        at: row.try_get(1)?,
        // A day that does not parse starts the count again.
        day: time::Date::parse(&day, &time::format_description::well_known::Iso8601::DATE)
            .unwrap_or(time::Date::MIN),
        today: u64::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0),
    };
    // The day on the database's clock too, so replicas agree on midnight.
    let db_day: String = row.try_get(5)?;
    let today = time::Date::parse(
        &db_day,
        &time::format_description::well_known::Iso8601::DATE,
    )
    .unwrap_or_else(|_| OffsetDateTime::now_utc().date());
    let taken = bucket.spend(allowance, organisation, now, today);
    sqlx::query(
        "UPDATE trama_allowance SET tokens = $2, at = $3, day = $4, today = $5 \
         WHERE organisation = $1",
    )
    .bind(organisation)
    .bind(bucket.tokens)
    .bind(bucket.at)
    .bind(bucket.day.to_string())
    .bind(i64::try_from(bucket.today).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(b: &Arc<Breaker>) {
        if let Ok(a) = b.admit() {
            a.record(false);
        }
    }

    fn succeed(b: &Arc<Breaker>) {
        if let Ok(a) = b.admit() {
            a.record(true);
        }
    }

    #[test]
    fn the_breaker_opens_probes_and_closes() {
        let b = Arc::new(Breaker::new(3, Duration::from_millis(50)));
        for _ in 0..2 {
            fail(&b);
        }
        assert_eq!(b.state(), Circuit::Closed);
        fail(&b);
        assert_eq!(b.state(), Circuit::Open);
        let refused = b.admit().err();
        assert!(refused.is_some_and(|r| r.reason.contains("circuit open")));
        std::thread::sleep(Duration::from_millis(60));
        let probe = b.admit();
        assert!(probe.is_ok(), "one probe after the cool-down");
        assert!(b.admit().is_err(), "only one probe at a time");
        if let Ok(p) = probe {
            p.record(false);
        }
        assert_eq!(b.state(), Circuit::Open, "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(60));
        succeed(&b);
        assert_eq!(b.state(), Circuit::Closed);
        // A success resets the count of failures.
        fail(&b);
        fail(&b);
        succeed(&b);
        fail(&b);
        assert_eq!(b.state(), Circuit::Closed);
    }

    #[test]
    fn a_probe_dropped_without_a_verdict_is_given_back() {
        let b = Arc::new(Breaker::new(1, Duration::from_millis(20)));
        fail(&b);
        std::thread::sleep(Duration::from_millis(30));
        let probe = b.admit();
        assert!(probe.is_ok());
        assert!(b.admit().is_err(), "the probe is in flight");
        // The call holding the probe is cancelled.
        drop(probe);
        assert_eq!(b.state(), Circuit::HalfOpen);
        let next = b.admit();
        assert!(
            next.is_ok(),
            "the next call probes: the circuit is not stuck"
        );
        if let Ok(p) = next {
            p.record(true);
        }
        assert_eq!(b.state(), Circuit::Closed);
    }

    #[test]
    fn a_call_without_a_verdict_counts_for_nothing() {
        let b = Arc::new(Breaker::new(2, Duration::from_secs(60)));
        fail(&b);
        for _ in 0..10 {
            drop(b.admit());
        }
        assert_eq!(b.state(), Circuit::Closed);
        fail(&b);
        assert_eq!(b.state(), Circuit::Open);
    }

    #[tokio::test]
    async fn rates_and_quotas_are_per_organisation() {
        let limiter = RateLimiter::new(
            Allowance {
                rate: 10.0,
                burst: 3.0,
                daily_quota: None,
            },
            HashMap::from([(
                "caritas".to_string(),
                Allowance {
                    rate: 1000.0,
                    burst: 1000.0,
                    daily_quota: Some(2),
                },
            )]),
        );
        for _ in 0..3 {
            assert!(limiter.take("comune").await.is_ok());
        }
        let limited = limiter.take("comune").await.err();
        let Some(l) = limited else {
            panic!("the burst is spent")
        };
        assert_eq!(l.limit, "rate");
        assert!(l.retry_after <= Duration::from_millis(100) && !l.retry_after.is_zero());
        assert!(
            limiter.take("asl").await.is_ok(),
            "another organisation is not affected"
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(limiter.take("comune").await.is_ok(), "tokens come back");
        assert!(limiter.take("caritas").await.is_ok());
        assert!(limiter.take("caritas").await.is_ok());
        let q = limiter.take("caritas").await.err();
        assert_eq!(q.map(|l| l.limit), Some("daily_quota"));
    }

    #[tokio::test]
    async fn in_flight_is_bounded() {
        let f = InFlight::new(2);
        let a = f.acquire(Duration::from_millis(10)).await;
        let b = f.acquire(Duration::from_millis(10)).await;
        assert!(a.is_some() && b.is_some());
        assert_eq!(f.current(), 2);
        assert!(f.acquire(Duration::from_millis(10)).await.is_none());
        drop(a);
        assert!(f.acquire(Duration::from_millis(10)).await.is_some());
    }
}
