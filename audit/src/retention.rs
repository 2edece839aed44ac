//! Retention (the GDPR's storage limitation): entries sealed by a signed
//! checkpoint longer ago than the configured period are removed, a few
//! times a day, up to that checkpoint, which then anchors the rest of the
//! chain ([`Store::prune`]); `trama audit verify` still verifies every
//! entry kept, and says where the log was cut and when.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Store;

/// How often old entries are looked for.
const EVERY: Duration = Duration::from_secs(6 * 3600);

/// Removes, now and every [`EVERY`], the entries sealed longer than
/// `keep` ago, for as long as the process runs.
pub fn keep(store: Store, keep: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            prune_once(&store, keep).await;
            tokio::time::sleep(EVERY).await;
        }
    })
}

/// One round over every chain of the database (those of replicas that are
/// gone too): what is old enough goes, and the log says how much.
pub async fn prune_once(store: &Store, keep: Duration) {
    match store.chains().await {
        Ok(chains) => {
            for chain in chains {
                prune_chain(&store.on_chain(&chain), keep).await;
            }
        }
        Err(e) => tracing::error!(error = %e, "audit retention failed; the entries stay"),
    }
}

/// One chain's round.
async fn prune_chain(store: &Store, keep: Duration) {
    let Some(before) = OffsetDateTime::now_utc()
        .checked_sub(time::Duration::seconds(
            i64::try_from(keep.as_secs()).unwrap_or(i64::MAX),
        ))
        .and_then(|t| t.format(&Rfc3339).ok())
    else {
        return;
    };
    match store.prune(&before).await {
        Ok(Some((horizon, removed))) => tracing::info!(
            chain = %store.chain(),
            removed,
            up_to = horizon.seq,
            sealed_before = %before,
            "audit entries removed for retention"
        ),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "audit retention failed; the entries stay"),
    }
}
