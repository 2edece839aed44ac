//! The queue in front of the partner's database: as many queries at once
//! as the pool has connections, the others waiting their turn for as long
//! as their caller's deadline allows ([`crate::deadline`]), less the time a
//! query usually holds a connection. Only a call that cannot be served in
//! time is refused, and the refusal says when a retry is likely to be
//! served: the usual hold time multiplied by the queue ahead, per
//! connection.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::SourceError;

/// The usual hold time before any query has run.
const FIRST_HOLD: Duration = Duration::from_millis(5);

/// The queue: connection slots, the callers waiting for one, and a moving
/// average of how long a slot is held.
#[derive(Debug)]
pub(super) struct Gate {
    slots: Semaphore,
    size: u32,
    waiting: AtomicUsize,
    hold_micros: AtomicU64,
}

/// A slot held: dropped when the query (or the request's SQLite session)
/// ends, which frees the slot and teaches the gate the hold time.
#[derive(Debug)]
pub(super) struct Pass<'a> {
    _slot: SemaphorePermit<'a>,
    gate: &'a Gate,
    since: Instant,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let elapsed = self.since.elapsed();
        metrics::histogram!("trama_database_hold_seconds").record(elapsed.as_secs_f64());
        // The slot is given back after this: one fewer in use.
        self.gate.report(1);
        let held = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        // An exponential moving average over about eight holds; a lost
        // race between two updates loses one sample, nothing more.
        let old = self.gate.hold_micros.load(Ordering::Relaxed);
        let new = old - old / 8 + held / 8;
        self.gate.hold_micros.store(new, Ordering::Relaxed);
    }
}

/// Counts a caller in the queue while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Gate {
    /// A gate with `size` slots (the pool's connections).
    pub(super) fn new(size: u32) -> Gate {
        let size = size.max(1);
        Gate {
            slots: Semaphore::new(size as usize),
            size,
            waiting: AtomicUsize::new(0),
            hold_micros: AtomicU64::new(u64::try_from(FIRST_HOLD.as_micros()).unwrap_or(0)),
        }
    }

    /// A slot, at once if one is free; otherwise after waiting until the
    /// caller's deadline less the usual hold, or `fallback` when the caller
    /// set no deadline. [`SourceError::Busy`] when none came in time.
    pub(super) async fn enter(&self, fallback: Duration) -> Result<Pass<'_>, SourceError> {
        if let Ok(slot) = self.slots.try_acquire() {
            return Ok(self.pass(slot));
        }
        let wait = match crate::deadline::remaining() {
            Some(left) => left.saturating_sub(self.hold()),
            None => fallback,
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(wait, self.slots.acquire()).await {
            Ok(Ok(slot)) => Ok(self.pass(slot)),
            _ => {
                metrics::counter!("trama_connector_busy_total").increment(1);
                Err(SourceError::Busy {
                    waited: wait,
                    retry_after: self.expected_wait(),
                })
            }
        }
    }

    /// Reports the pool's use: connections in use (less `leaving`, about to
    /// be given back), the pool's size, and calls waiting.
    fn report(&self, leaving: usize) {
        let in_use = (self.size as usize)
            .saturating_sub(self.slots.available_permits())
            .saturating_sub(leaving);
        metrics::gauge!("trama_database_connections_in_use").set(in_use as f64);
        metrics::gauge!("trama_database_connections_max").set(f64::from(self.size));
        metrics::gauge!("trama_database_waiting").set(self.waiting.load(Ordering::Relaxed) as f64);
    }

    fn pass<'a>(&'a self, slot: SemaphorePermit<'a>) -> Pass<'a> {
        self.report(0);
        Pass {
            _slot: slot,
            gate: self,
            since: Instant::now(),
        }
    }

    /// How long a slot is usually held.
    fn hold(&self) -> Duration {
        Duration::from_micros(self.hold_micros.load(Ordering::Relaxed))
    }

    /// How long a newcomer would wait now: the usual hold for each caller
    /// ahead of it, shared among the slots.
    fn expected_wait(&self) -> Duration {
        let ahead = u32::try_from(self.waiting.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        self.hold().saturating_mul(ahead.saturating_add(1)) / self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_waits_its_turn_within_its_deadline() {
        let gate = Gate::new(1);
        let first = gate.enter(Duration::ZERO).await;
        assert!(first.is_ok());
        let second = crate::deadline::within(Some(Duration::from_secs(2)), async {
            let waiting = gate.enter(Duration::ZERO);
            let freed = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(first);
            };
            tokio::join!(waiting, freed).0
        })
        .await;
        assert!(second.is_ok(), "{second:?}");
    }

    #[tokio::test]
    async fn a_caller_that_cannot_be_served_in_time_is_told_when_to_retry() {
        let gate = Gate::new(1);
        let _held = gate.enter(Duration::ZERO).await;
        let refused = crate::deadline::within(Some(Duration::from_millis(60)), async {
            gate.enter(Duration::from_secs(60)).await
        })
        .await;
        match refused {
            Err(SourceError::Busy {
                waited,
                retry_after,
            }) => {
                assert!(waited <= Duration::from_millis(60), "{waited:?}");
                assert!(retry_after >= FIRST_HOLD, "{retry_after:?}");
            }
            other => panic!("expected Busy, got {other:?}"),
        }
    }
}
