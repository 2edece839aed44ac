//! What the policy lets one role do, as the console learns it from the
//! gateway (`ListSources` with the purposes it knows): which purposes, which
//! of them need a case id, and so which screens the menu shows.

use std::time::Duration;

use trama_proto::v1;

use crate::words::PURPOSES;

/// How long what a role may do is kept before the gateway is asked again.
pub(crate) const PERMISSIONS_FOR: Duration = Duration::from_secs(300);

/// What the policy lets one role do, learnt from the gateway.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    /// Whether the gateway answered (when it did not, every screen is
    /// shown: the gateway still decides each call).
    pub known: bool,
    /// Each purpose the role may use, with what it permits.
    pub purposes: Vec<v1::PurposeAccess>,
}

impl Permissions {
    fn can(&self, action: &str) -> bool {
        !self.known
            || self
                .purposes
                .iter()
                .any(|p| p.actions.iter().any(|a| a == action))
    }

    /// The purposes the role may find and read a person for, in the
    /// console's order (every purpose the console knows when unknown).
    pub fn person_purposes(&self) -> Vec<&'static str> {
        PURPOSES
            .iter()
            .map(|(code, _, _)| *code)
            .filter(|code| {
                if !self.known {
                    return matches!(
                        *code,
                        "presa_in_carico"
                            | "verifica_presa_in_carico"
                            | "valutazione_multidimensionale"
                    );
                }
                self.purposes
                    .iter()
                    .any(|p| p.purpose == *code && p.actions.iter().any(|a| a == "find"))
            })
            .collect()
    }

    /// Whether `purpose` needs a case id for this role.
    pub fn needs_case(&self, purpose: &str) -> bool {
        self.purposes
            .iter()
            .any(|p| p.purpose == purpose && p.needs_case)
    }

    /// The screens to show.
    pub fn screens(&self) -> Screens {
        Screens {
            find: self.can("find"),
            stats: self.can("aggregate"),
            access: self.can("access_log"),
            refer: self.can("refer"),
        }
    }
}

/// The screens a role can use (the menu shows only these).
#[derive(Debug, Clone, Copy, Default)]
pub struct Screens {
    /// Finding people and reading records.
    pub find: bool,
    /// Statistics.
    pub stats: bool,
    /// The access log.
    pub access: bool,
    /// Sending referrals.
    pub refer: bool,
}
