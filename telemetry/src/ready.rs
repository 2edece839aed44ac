//! What a node reports as ready, check by check: each node names its checks
//! when it starts (the gateway its audit store and its sources, a connector
//! its database, the console its gateway), a watch keeps each one true, and
//! `/readyz` and the gRPC health status read the same answer. A check says
//! how the node stands, never whom it serves: no names, no addresses of
//! people, no record contents.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// One check: whether it passes and, in a few words, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Whether the check passes.
    pub ok: bool,
    /// What was seen, for the operator (`2 of 4 sources serving`).
    pub detail: String,
}

/// The node's checks, shared by the watches that keep them and the
/// endpoints that report them.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<BTreeMap<&'static str, Check>>>,
}

/// The answer of `/readyz`, as JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Whether every check passes.
    pub ready: bool,
    /// Each check by name.
    pub checks: BTreeMap<&'static str, Check>,
}

impl Readiness {
    /// Readiness made of the checks `names`, none passed yet.
    pub fn new(names: &[&'static str]) -> Readiness {
        let checks = names
            .iter()
            .map(|n| {
                let check = Check {
                    ok: false,
                    detail: "not checked yet".into(),
                };
                (*n, check)
            })
            .collect();
        Readiness {
            checks: Arc::new(RwLock::new(checks)),
        }
    }

    /// Records check `name`; logs when it turns. Returns whether the node
    /// as a whole is ready now.
    pub fn set(&self, name: &'static str, ok: bool, detail: impl Into<String>) -> bool {
        let detail = detail.into();
        let mut checks = self.checks.write().unwrap_or_else(|p| p.into_inner());
        let turned = checks.get(name).is_none_or(|c| c.ok != ok);
        if turned && ok {
            tracing::info!(check = name, detail, "ready check passes");
        } else if turned {
            tracing::warn!(check = name, detail, "ready check fails");
        }
        checks.insert(name, Check { ok, detail });
        checks.values().all(|c| c.ok)
    }

    /// Every check as it stands.
    pub fn report(&self) -> Report {
        let checks = self
            .checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Report {
            ready: checks.values().all(|c| c.ok),
            checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_named_check_has_passed() {
        let r = Readiness::new(&["audit", "sources"]);
        assert!(!r.report().ready, "nothing checked yet");
        assert!(!r.set("audit", true, "writable"));
        assert!(r.set("sources", true, "1 of 2 sources serving"));
        assert!(!r.set("audit", false, "cannot write"));
        let report = r.report();
        assert!(!report.ready);
        assert_eq!(report.checks["audit"].detail, "cannot write");
        assert!(report.checks["sources"].ok);
    }
}
