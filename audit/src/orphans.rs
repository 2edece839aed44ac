//! Chains whose replica is gone. A Kubernetes Deployment names each new
//! pod anew, so a replica that stopped (or was killed) never writes its
//! chain again: the entries after its last checkpoint would stay unsealed
//! and retention would never reach them. A replica that starts seals every
//! chain no process holds (its advisory lock is free) up to its last
//! entry, with its own key (replicas share the node's certificate), into
//! the database and its own checkpoint file; retention then cuts every
//! chain ([`crate::retention`]). Nothing runs at rest: once, at start.

use std::path::PathBuf;

use crate::chain::Signer;
use crate::{AuditError, Store};

/// Seals, up to its last entry, every chain of `store`'s database other
/// than its own that no process writes now; returns how many it sealed.
/// A SQLite file has one chain: nothing to do.
pub async fn seal_orphans(
    store: &Store,
    signer: &Signer,
    checkpoint_file: Option<PathBuf>,
) -> Result<usize, AuditError> {
    if store.shared_pool().is_none() {
        return Ok(0);
    }
    let mut sealed = 0;
    for chain in store.chains().await? {
        if chain == store.chain() {
            continue;
        }
        let other = store.on_chain(&chain);
        // Held while sealing: the replica cannot come back mid-way.
        let Some(_held) = other.try_lock_chain().await? else {
            continue;
        };
        let (seq, hash) = other.head().await?;
        if seq <= other.last_checkpoint_seq().await? {
            continue;
        }
        let cp = signer
            .seal(&chain, seq, &hash)
            .map_err(AuditError::Closed)?;
        other.add_checkpoint(&cp).await?;
        if let Some(path) = checkpoint_file.clone() {
            crate::log::ship(path, cp)
                .await
                .map_err(AuditError::Closed)?;
        }
        tracing::info!(chain = %chain, up_to = seq, "audit chain of a replica that is gone sealed");
        sealed += 1;
    }
    Ok(sealed)
}
