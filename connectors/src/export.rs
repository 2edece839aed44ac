//! The partner's export policy: what this connector releases, to which
//! client organisations, for which purposes, whatever the gateway allowed.
//! Sovereignty: the partner decides. Default deny: with no rule that fits,
//! nothing is released.
//!
//! In `connector.toml`:
//!
//! ```toml
//! [[export]]
//! clients = ["comune"]              # client organisations, or "*"
//! purposes = ["presa_in_carico"]    # or "*"
//! roles = ["assistente_sociale"]    # operator roles; "*" if omitted
//! sections = ["*"]                  # section names, or "*"
//! require_case_id = true            # refuse calls without a case id
//!
//! [[export]]                        # statistics: counts, never people
//! clients = ["comune"]
//! purposes = ["programmazione"]
//! roles = ["ufficio_di_piano"]
//! aggregates = true
//! ```

use serde::Deserialize;
use trama_proto::sections;
use trama_proto::v1::Section;
use trama_subject::text;

use crate::model::Context;

/// One export rule as written in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    clients: Vec<String>,
    purposes: Vec<String>,
    #[serde(default = "any")]
    roles: Vec<String>,
    #[serde(default)]
    sections: Vec<String>,
    #[serde(default)]
    require_case_id: bool,
    #[serde(default)]
    aggregates: bool,
    #[serde(default)]
    referrals: bool,
}

fn any() -> Vec<String> {
    vec!["*".into()]
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRule {
    /// Client organisations (`*` for any).
    pub clients: Vec<String>,
    /// Purposes (`*` for any).
    pub purposes: Vec<String>,
    /// Operator roles (`*` for any).
    pub roles: Vec<String>,
    /// Sections released.
    pub sections: Vec<Section>,
    /// Whether a case id is required.
    pub require_case_id: bool,
    /// Whether the partner's people may be counted (`CountPeople`).
    pub aggregates: bool,
    /// Whether the clients may send the partner referrals for the purposes
    /// (`DeliverReferral`).
    pub referrals: bool,
}

/// The connector's export policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportPolicy {
    /// The rules; a call is served by the union of the rules that fit it.
    pub rules: Vec<ExportRule>,
}

/// What the policy releases for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Sections released.
    pub released: Vec<Section>,
    /// Sections asked for and withheld.
    pub withheld: Vec<Section>,
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

impl ExportPolicy {
    /// Validates raw rules; an error names the key (`export[i].sections`)
    /// and the fix.
    pub fn from_raw(raw: Vec<RawRule>) -> Result<ExportPolicy, (String, String)> {
        let mut rules = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            for (key, list) in [
                ("clients", &r.clients),
                ("purposes", &r.purposes),
                ("roles", &r.roles),
            ] {
                if list.is_empty() || list.iter().any(|v| text::is_blank(v)) {
                    return Err((
                        format!("export[{i}].{key}"),
                        "list at least one value, or \"*\" for any".into(),
                    ));
                }
            }
            if r.sections.is_empty() && !r.aggregates && !r.referrals {
                return Err((
                    format!("export[{i}].sections"),
                    "list at least one section, or \"*\" for all (or set aggregates = true for a rule that releases counts only, or referrals = true for one that accepts referrals)".into(),
                ));
            }
            let mut sections_ = Vec::new();
            for name in &r.sections {
                if name == "*" {
                    sections_.extend(sections::ALL);
                } else {
                    let s = sections::parse(name).ok_or_else(|| {
                        (
                            format!("export[{i}].sections"),
                            format!(
                                "unknown section `{name}`; known: {}, or \"*\"",
                                sections::all_names()
                            ),
                        )
                    })?;
                    sections_.push(s);
                }
            }
            sections_.sort_by_key(|s| *s as i32);
            sections_.dedup();
            rules.push(ExportRule {
                clients: r.clients,
                purposes: r.purposes,
                roles: r.roles,
                sections: sections_,
                require_case_id: r.require_case_id,
                aggregates: r.aggregates,
                referrals: r.referrals,
            });
        }
        Ok(ExportPolicy { rules })
    }

    /// The rules that fit a call's context. A rule that requires a case id
    /// is not satisfied by one that shows nothing.
    fn fitting<'a>(&'a self, ctx: &'a Context) -> impl Iterator<Item = &'a ExportRule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.names(ctx) && (!r.require_case_id || has_case_id(ctx)))
    }

    /// Whether the partner lets the client look people up for this
    /// context; `Err` says why not. A rule that releases counts only does
    /// not let anyone look a person up.
    pub fn may_match(&self, ctx: &Context) -> Result<(), String> {
        if self.fitting(ctx).any(|r| !r.sections.is_empty()) {
            Ok(())
        } else {
            Err(self.refusal(ctx))
        }
    }

    /// Whether the partner lets the client count its people for this
    /// context; `Err` says why not.
    pub fn may_aggregate(&self, ctx: &Context) -> Result<(), String> {
        if self.fitting(ctx).any(|r| r.aggregates) {
            Ok(())
        } else {
            Err(format!(
                "the partner's export policy releases no counts to {} for purpose `{}` (role `{}`)",
                ctx.client, ctx.purpose, ctx.operator_role
            ))
        }
    }

    /// Whether the partner accepts a referral from `sender` for
    /// `purpose`; `Err` says why not. Roles are the sender's business.
    pub fn may_refer(&self, sender: &str, purpose: &str) -> Result<(), String> {
        let fits = self
            .rules
            .iter()
            .any(|r| r.referrals && listed(&r.clients, sender) && listed(&r.purposes, purpose));
        if fits {
            Ok(())
        } else {
            Err(format!(
                "the partner accepts no referrals from {sender} for purpose `{purpose}`"
            ))
        }
    }

    /// What the partner releases of `asked` for this context.
    pub fn release(&self, ctx: &Context, asked: &[Section]) -> Release {
        let allowed: Vec<Section> = self
            .fitting(ctx)
            .flat_map(|r| r.sections.iter().copied())
            .collect();
        let (released, withheld) = asked.iter().partition(|s| allowed.contains(s));
        Release { released, withheld }
    }

    /// The reason given when nothing is released.
    pub fn refusal(&self, ctx: &Context) -> String {
        let needs_case =
            !has_case_id(ctx) && self.rules.iter().any(|r| r.require_case_id && r.names(ctx));
        format!(
            "the partner's export policy releases nothing to {} for purpose `{}`{}",
            ctx.client,
            ctx.purpose,
            if needs_case { " without a case id" } else { "" }
        )
    }
}

impl ExportRule {
    /// Whether the rule names the call's client, purpose and role.
    fn names(&self, ctx: &Context) -> bool {
        listed(&self.clients, &ctx.client)
            && listed(&self.purposes, &ctx.purpose)
            && listed(&self.roles, &ctx.operator_role)
    }
}

/// Whether the call states a case id that shows something.
fn has_case_id(ctx: &Context) -> bool {
    ctx.case_id.as_deref().is_some_and(|c| !text::is_blank(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(clients: &[&str], purposes: &[&str], sections: &[&str], case: bool) -> RawRule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        RawRule {
            clients: v(clients),
            purposes: v(purposes),
            roles: any(),
            sections: v(sections),
            require_case_id: case,
            aggregates: false,
            referrals: false,
        }
    }

    fn ctx(client: &str, purpose: &str, case: &str) -> Context {
        Context {
            client: client.into(),
            purpose: purpose.into(),
            case_id: (!case.is_empty()).then(|| case.into()),
            operator_id: "op".into(),
            operator_role: "assistente_sociale".into(),
        }
    }

    #[test]
    fn rules_release_the_union_and_deny_by_default() {
        let Ok(p) = ExportPolicy::from_raw(vec![
            rule(&["comune"], &["presa_in_carico"], &["*"], true),
            rule(
                &["caritas"],
                &["verifica_presa_in_carico"],
                &["case_membership"],
                false,
            ),
        ]) else {
            panic!("valid rules")
        };
        let asked = [Section::Health, Section::CaseMembership];
        let r = p.release(&ctx("comune", "presa_in_carico", "CS-1"), &asked);
        assert_eq!(r.released, asked.to_vec());
        assert!(r.withheld.is_empty());
        // Case id required.
        let r = p.release(&ctx("comune", "presa_in_carico", ""), &asked);
        assert!(r.released.is_empty());
        assert!(p.may_match(&ctx("comune", "presa_in_carico", "")).is_err());
        // Caritas: only case membership.
        let r = p.release(&ctx("caritas", "verifica_presa_in_carico", ""), &asked);
        assert_eq!(r.released, vec![Section::CaseMembership]);
        assert_eq!(r.withheld, vec![Section::Health]);
        // Unknown client: nothing.
        assert!(p.may_match(&ctx("caf", "presa_in_carico", "CS-1")).is_err());
        assert!(
            ExportPolicy::default()
                .may_match(&ctx("comune", "x", "y"))
                .is_err()
        );
    }

    #[test]
    fn an_invisible_case_id_satisfies_no_rule() {
        let Ok(p) =
            ExportPolicy::from_raw(vec![rule(&["comune"], &["presa_in_carico"], &["*"], true)])
        else {
            panic!("valid rules")
        };
        for invisible in ["\u{200B}", " \u{FEFF}\u{2060} ", "\u{E0001}", "\t"] {
            let c = ctx("comune", "presa_in_carico", invisible);
            assert!(p.release(&c, &[Section::Health]).released.is_empty());
            let why = p.may_match(&c).err().unwrap_or_default();
            assert!(why.ends_with("without a case id"), "{invisible:?}: {why}");
        }
        // And the request edge refuses such a case id before any rule is
        // consulted.
        let wire = trama_proto::v1::RequestContext {
            purpose: "presa_in_carico".into(),
            case_id: "\u{200B}".into(),
            operator: Some(trama_proto::v1::Operator {
                id: "op".into(),
                role: "assistente_sociale".into(),
            }),
            legal_basis: String::new(),
        };
        let refused = crate::from_proto::context("comune", Some(&wire));
        assert!(
            matches!(&refused, Err(crate::error::CallError::Invalid { field, .. }) if field == "context.case_id"),
            "{refused:?}"
        );
    }

    #[test]
    fn bad_rules_name_the_key() {
        let e = ExportPolicy::from_raw(vec![rule(&["comune"], &["p"], &["healt"], false)]);
        assert_eq!(e.err().map(|(k, _)| k), Some("export[0].sections".into()));
        let e = ExportPolicy::from_raw(vec![rule(&[], &["p"], &["*"], false)]);
        assert_eq!(e.err().map(|(k, _)| k), Some("export[0].clients".into()));
    }
}
