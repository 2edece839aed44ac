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
//! ```

use serde::Deserialize;
use trama_proto::sections;
use trama_proto::v1::{RequestContext, Section};

/// One export rule as written in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    clients: Vec<String>,
    purposes: Vec<String>,
    #[serde(default = "any")]
    roles: Vec<String>,
    sections: Vec<String>,
    #[serde(default)]
    require_case_id: bool,
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
                if list.is_empty() || list.iter().any(|v| v.trim().is_empty()) {
                    return Err((
                        format!("export[{i}].{key}"),
                        "list at least one value, or \"*\" for any".into(),
                    ));
                }
            }
            if r.sections.is_empty() {
                return Err((
                    format!("export[{i}].sections"),
                    "list at least one section, or \"*\" for all".into(),
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
            });
        }
        Ok(ExportPolicy { rules })
    }

    fn fitting<'a>(
        &'a self,
        client: &'a str,
        ctx: &'a RequestContext,
    ) -> impl Iterator<Item = &'a ExportRule> + 'a {
        let role = ctx.operator.as_ref().map_or("", |o| o.role.as_str());
        self.rules.iter().filter(move |r| {
            listed(&r.clients, client)
                && listed(&r.purposes, &ctx.purpose)
                && listed(&r.roles, role)
                && (!r.require_case_id || !ctx.case_id.trim().is_empty())
        })
    }

    /// Whether the partner lets `client` look people up for this context;
    /// `Err` says why not.
    pub fn may_match(&self, client: &str, ctx: &RequestContext) -> Result<(), String> {
        if self.fitting(client, ctx).next().is_some() {
            Ok(())
        } else {
            Err(self.refusal(client, ctx))
        }
    }

    /// What the partner releases of `asked` to `client` for this context.
    pub fn release(&self, client: &str, ctx: &RequestContext, asked: &[Section]) -> Release {
        let allowed: Vec<Section> = self
            .fitting(client, ctx)
            .flat_map(|r| r.sections.iter().copied())
            .collect();
        let (released, withheld) = asked.iter().partition(|s| allowed.contains(s));
        Release { released, withheld }
    }

    /// The reason given when nothing is released.
    pub fn refusal(&self, client: &str, ctx: &RequestContext) -> String {
        let role = ctx.operator.as_ref().map_or("", |o| o.role.as_str());
        let needs_case = ctx.case_id.trim().is_empty()
            && self.rules.iter().any(|r| {
                r.require_case_id
                    && listed(&r.clients, client)
                    && listed(&r.purposes, &ctx.purpose)
                    && listed(&r.roles, role)
            });
        format!(
            "the partner's export policy releases nothing to {client} for purpose `{}`{}",
            ctx.purpose,
            if needs_case { " without a case id" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trama_proto::v1::Operator;

    fn rule(clients: &[&str], purposes: &[&str], sections: &[&str], case: bool) -> RawRule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        RawRule {
            clients: v(clients),
            purposes: v(purposes),
            roles: any(),
            sections: v(sections),
            require_case_id: case,
        }
    }

    fn ctx(purpose: &str, case: &str) -> RequestContext {
        RequestContext {
            purpose: purpose.into(),
            case_id: case.into(),
            operator: Some(Operator {
                id: "op".into(),
                role: "assistente_sociale".into(),
            }),
            legal_basis: String::new(),
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
        let r = p.release("comune", &ctx("presa_in_carico", "CS-1"), &asked);
        assert_eq!(r.released, asked.to_vec());
        assert!(r.withheld.is_empty());
        // Case id required.
        let r = p.release("comune", &ctx("presa_in_carico", ""), &asked);
        assert!(r.released.is_empty());
        assert!(p.may_match("comune", &ctx("presa_in_carico", "")).is_err());
        // Caritas: only case membership.
        let r = p.release("caritas", &ctx("verifica_presa_in_carico", ""), &asked);
        assert_eq!(r.released, vec![Section::CaseMembership]);
        assert_eq!(r.withheld, vec![Section::Health]);
        // Unknown client: nothing.
        assert!(p.may_match("caf", &ctx("presa_in_carico", "CS-1")).is_err());
        assert!(
            ExportPolicy::default()
                .may_match("comune", &ctx("x", "y"))
                .is_err()
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
