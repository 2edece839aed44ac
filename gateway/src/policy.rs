//! Purpose-based access policy, as data: a Cedar policy set checked
//! against Trama's built-in schema when it is loaded, then asked for every
//! action a call would take. Default deny.
//!
//! The model: the **principal** is the operator, `Trama::Operator`, a
//! member of its client organisation (`Trama::Organisation`, from the
//! certificate) with attribute `role` (from the request, vouched for by the
//! organisation); the **action** is `find`, `read`, `aggregate`, `refer` or
//! `access_log`; the **resource** is a source (`Trama::Source`), a section
//! of a source (`Trama::Section`, with `section` and `category`:
//! `general`, `health` for GDPR art. 9 data, `judicial` for art. 10 data),
//! or the audit log (`Trama::AuditLog::"person"` for the accesses to one
//! person's data, `Trama::AuditLog::"review"` for a listing of the log
//! without a person); the **context** holds `purpose`,
//! `case_id` and `legal_basis`. Policies may carry `@id("...")` and
//! `@reason("...")` annotations: a denial names the rule and gives the
//! reason.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use trama_proto::sections;
use trama_proto::v1::Section;

/// The schema policies are checked against.
pub const SCHEMA: &str = r#"
namespace Trama {
  entity Organisation;
  entity Operator in [Organisation] = { "organisation": String, "role": String };
  entity Source = { "organisation": String };
  entity Section in [Source] = { "source": String, "section": String, "category": String };
  entity AuditLog;
  type RequestContext = { "purpose": String, "case_id": String, "legal_basis": String };
  action "find", "aggregate", "refer" appliesTo {
    principal: [Operator], resource: [Source], context: RequestContext
  };
  action "read" appliesTo {
    principal: [Operator], resource: [Section], context: RequestContext
  };
  action "access_log" appliesTo {
    principal: [Operator], resource: [AuditLog], context: RequestContext
  };
}
"#;

/// Why a policy file is refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid Cedar, or not valid against Trama's schema.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the policy.
        problem: String,
    },
}

/// What a call would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Find a person at a source.
    Find,
    /// Read a section of a source.
    Read,
    /// Count people at a source.
    Aggregate,
    /// Send a referral to a source.
    Refer,
    /// Read the audit log.
    AccessLog,
}

impl Action {
    /// The Cedar action name.
    pub fn name(self) -> &'static str {
        match self {
            Action::Find => "find",
            Action::Read => "read",
            Action::Aggregate => "aggregate",
            Action::Refer => "refer",
            Action::AccessLog => "access_log",
        }
    }
}

/// What is acted on.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// A source, by organisation.
    Source(&'a str),
    /// A section of a source.
    Section(&'a str, Section),
    /// The gateway's audit log, listed as `scope` says.
    AuditLog(LogScope),
}

/// How much of the audit log a listing covers: the policy's resource is
/// `Trama::AuditLog::"person"` or `Trama::AuditLog::"review"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogScope {
    /// The accesses to one person's data.
    Person,
    /// The log without a person, by operator, organisation, purpose or
    /// period: the data-protection officer's review.
    Review,
}

impl LogScope {
    /// The resource's id in the policy.
    pub fn id(self) -> &'static str {
        match self {
            LogScope::Person => "person",
            LogScope::Review => "review",
        }
    }
}

impl Resource<'_> {
    fn describe(&self) -> String {
        match self {
            Resource::Source(s) => format!("source {s}"),
            Resource::Section(s, section) => {
                format!("section {} of source {s}", sections::name(*section))
            }
            Resource::AuditLog(LogScope::Person) => "the audit log of a person".into(),
            Resource::AuditLog(LogScope::Review) => "the audit log without a person".into(),
        }
    }
}

/// Who asks, and why.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// The client organisation (from the certificate).
    pub organisation: &'a str,
    /// The operator's id.
    pub operator_id: &'a str,
    /// The operator's role.
    pub role: &'a str,
    /// The purpose.
    pub purpose: &'a str,
    /// The case id, possibly empty.
    pub case_id: &'a str,
    /// The legal basis, possibly empty.
    pub legal_basis: &'a str,
}

/// The answer of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// The rule that decided: the `@id` of the policy, or `default-deny`.
    pub rule: String,
    /// Why, for a denial: the rule's `@reason`, or what no rule permits.
    pub reason: String,
}

/// The GDPR category of a section: `health` (art. 9), `judicial` (art. 10)
/// or `general`.
pub fn category(section: Section) -> &'static str {
    match section {
        Section::Health => "health",
        Section::JudicialActs | Section::CourtRelations => "judicial",
        _ => "general",
    }
}

/// A loaded, validated policy set.
#[derive(Debug)]
pub struct Policy {
    path: PathBuf,
    policies: PolicySet,
    authorizer: Authorizer,
    types: Types,
    /// Each policy's `@id` (or Cedar id) and `@reason`, read once: looking
    /// an annotation up parses its key.
    labels: HashMap<cedar_policy::PolicyId, (String, Option<String>)>,
    /// Decisions already taken by this policy set, keyed by everything a
    /// decision depends on (so a hit is exactly what evaluating again would
    /// give); a reloaded policy starts with an empty cache.
    decisions: moka::sync::Cache<DecisionKey, Arc<Decision>>,
}

/// Everything a decision depends on: the asker, the action and the
/// resource.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DecisionKey {
    asker: Arc<[Box<str>; 6]>,
    action: Action,
    source: Box<str>,
    /// The section, `-1` for a source, `-2` for the audit log.
    section: i32,
}

impl DecisionKey {
    fn new(asker: &Arc<[Box<str>; 6]>, action: Action, resource: Resource<'_>) -> DecisionKey {
        let (source, section) = match resource {
            Resource::Source(s) => (s, -1),
            Resource::Section(s, section) => (s, section as i32),
            Resource::AuditLog(scope) => (scope.id(), -2),
        };
        DecisionKey {
            asker: asker.clone(),
            action,
            source: source.into(),
            section,
        }
    }
}

/// The decisions of one asker (one call): the asker's part of the cache
/// key is built once for all of them.
pub struct Decider<'p, 'a> {
    policy: &'p Policy,
    asker: &'p Asker<'a>,
    key: Arc<[Box<str>; 6]>,
}

impl Decider<'_, '_> {
    /// Decides whether the asker may do `action` on `resource` (see
    /// [`Policy::decide`]).
    pub fn decide(&self, action: Action, resource: Resource<'_>) -> Arc<Decision> {
        let key = DecisionKey::new(&self.key, action, resource);
        if let Some(d) = self.policy.decisions.get(&key) {
            return d;
        }
        let d = Arc::new(self.policy.evaluate_or_deny(self.asker, action, resource));
        self.policy.decisions.insert(key, d.clone());
        d
    }
}

/// Decisions kept per policy set.
const DECISION_CACHE: u64 = 100_000;

/// Trama's entity type names, parsed once (parsing a name runs Cedar's
/// parser, far too slow for every decision).
#[derive(Debug)]
struct Types {
    organisation: EntityTypeName,
    operator: EntityTypeName,
    source: EntityTypeName,
    section: EntityTypeName,
    audit_log: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Result<Types, String> {
        let t = |name: &str| EntityTypeName::from_str(name).map_err(|e| e.to_string());
        Ok(Types {
            organisation: t("Trama::Organisation")?,
            operator: t("Trama::Operator")?,
            source: t("Trama::Source")?,
            section: t("Trama::Section")?,
            audit_log: t("Trama::AuditLog")?,
            action: t("Trama::Action")?,
        })
    }
}

fn uid(kind: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
}

fn schema() -> Result<Schema, String> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(s, _)| s)
        .map_err(|e| e.to_string())
}

impl Policy {
    /// Reads and validates the policy file at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(path, &text)
    }

    /// Parses and validates policy text; `path` names it in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Policy, PolicyError> {
        let invalid = |problem: String| PolicyError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let policies = PolicySet::from_str(text).map_err(|e| {
            let detail: Vec<String> = e
                .iter()
                .map(
                    |err| match miette::Diagnostic::labels(err).and_then(|mut l| l.next()) {
                        Some(label) => {
                            let offset = label.offset().min(text.len());
                            let line = text[..offset].matches('\n').count() + 1;
                            format!("line {line}: {err}")
                        }
                        None => err.to_string(),
                    },
                )
                .collect();
            invalid(format!("not valid Cedar: {}", detail.join("; ")))
        })?;
        if policies.policies().next().is_none() {
            return Err(invalid(
                "no policies: with none, every call is denied; start from deploy/policy.example.cedar"
                    .into(),
            ));
        }
        let schema = schema().map_err(|e| invalid(format!("built-in schema: {e}")))?;
        let result = Validator::new(schema).validate(&policies, ValidationMode::Strict);
        let problems: Vec<String> = result
            .validation_errors()
            .map(|e| {
                let id = e.policy_id();
                let name = policies
                    .annotation(id, "id")
                    .map_or_else(|| id.to_string(), |a| format!("{a} ({id})"));
                format!("policy {name}: {e}")
            })
            .collect();
        if !problems.is_empty() {
            return Err(invalid(format!(
                "does not fit Trama's schema (see docs/policy.md): {}",
                problems.join("; ")
            )));
        }
        let labels = policies
            .policies()
            .map(|p| {
                let name = p
                    .annotation("id")
                    .map_or_else(|| p.id().to_string(), str::to_string);
                (
                    p.id().clone(),
                    (name, p.annotation("reason").map(str::to_string)),
                )
            })
            .collect();
        Ok(Policy {
            labels,
            path: path.to_path_buf(),
            policies,
            authorizer: Authorizer::new(),
            decisions: moka::sync::Cache::new(DECISION_CACHE),
            types: Types::new().map_err(|e| invalid(format!("built-in entity types: {e}")))?,
        })
    }

    /// The file the policy was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    /// Whether the set is empty (never true for a loaded policy).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A policy's name: its `@id`, or Cedar's id.
    fn name(&self, id: &cedar_policy::PolicyId) -> String {
        self.labels
            .get(id)
            .map_or_else(|| id.to_string(), |(name, _)| name.clone())
    }

    /// Decides whether `asker` may do `action` on `resource`.
    /// Decisions are cached: the same asker, action and resource get the
    /// same answer without evaluating the policies again.
    pub fn decide(&self, asker: &Asker<'_>, action: Action, resource: Resource<'_>) -> Decision {
        self.decider(asker)
            .decide(action, resource)
            .as_ref()
            .clone()
    }

    /// The decisions of `asker`, for a call that takes several.
    pub fn decider<'p, 'a>(&'p self, asker: &'p Asker<'a>) -> Decider<'p, 'a> {
        Decider {
            policy: self,
            asker,
            key: Arc::new([
                asker.organisation.into(),
                asker.operator_id.into(),
                asker.role.into(),
                asker.purpose.into(),
                asker.case_id.into(),
                asker.legal_basis.into(),
            ]),
        }
    }

    /// Evaluates, denying when the request cannot be built.
    fn evaluate_or_deny(
        &self,
        asker: &Asker<'_>,
        action: Action,
        resource: Resource<'_>,
    ) -> Decision {
        match self.evaluate(asker, action, resource) {
            Ok(d) => d,
            Err(problem) => {
                tracing::error!(%problem, "policy request could not be built; denied");
                Decision {
                    allowed: false,
                    rule: "default-deny".into(),
                    reason: "the request could not be evaluated".into(),
                }
            }
        }
    }

    fn evaluate(
        &self,
        asker: &Asker<'_>,
        action: Action,
        resource: Resource<'_>,
    ) -> Result<Decision, String> {
        let (principal, mut entities) = self.asker_entities(asker)?;
        let resource_uid = self.resource_entities(resource, &mut entities)?;
        let string = |s: &str| RestrictedExpression::new_string(s.to_string());
        let context = Context::from_pairs([
            ("purpose".to_string(), string(asker.purpose)),
            ("case_id".to_string(), string(asker.case_id)),
            ("legal_basis".to_string(), string(asker.legal_basis)),
        ])
        .map_err(|e| e.to_string())?;
        let action_uid = uid(&self.types.action, action.name());
        let request = Request::new(principal, action_uid, resource_uid, context, None)
            .map_err(|e| e.to_string())?;
        let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        Ok(self.decision_of(&response, asker, action, resource))
    }

    /// The operator (principal) and their organisation.
    fn asker_entities(&self, asker: &Asker<'_>) -> Result<(EntityUid, Vec<Entity>), String> {
        let t = &self.types;
        let org = uid(&t.organisation, asker.organisation);
        let principal = uid(
            &t.operator,
            &format!("{}/{}", asker.organisation, asker.operator_id),
        );
        let string = |s: &str| RestrictedExpression::new_string(s.to_string());
        let operator = Entity::new(
            principal.clone(),
            HashMap::from([
                ("organisation".to_string(), string(asker.organisation)),
                ("role".to_string(), string(asker.role)),
            ]),
            HashSet::from([org.clone()]),
        )
        .map_err(|e| e.to_string())?;
        Ok((
            principal,
            vec![Entity::new_no_attrs(org, HashSet::new()), operator],
        ))
    }

    /// The resource's entities (a section belongs to its source); returns
    /// the resource's id.
    fn resource_entities(
        &self,
        resource: Resource<'_>,
        entities: &mut Vec<Entity>,
    ) -> Result<EntityUid, String> {
        let t = &self.types;
        let string = |s: &str| RestrictedExpression::new_string(s.to_string());
        let source = match resource {
            Resource::Source(source) | Resource::Section(source, _) => source,
            Resource::AuditLog(scope) => {
                let u = uid(&t.audit_log, scope.id());
                entities.push(Entity::new_no_attrs(u.clone(), HashSet::new()));
                return Ok(u);
            }
        };
        let source_uid = uid(&t.source, source);
        entities.push(
            Entity::new(
                source_uid.clone(),
                HashMap::from([("organisation".to_string(), string(source))]),
                HashSet::new(),
            )
            .map_err(|e| e.to_string())?,
        );
        let Resource::Section(_, section) = resource else {
            return Ok(source_uid);
        };
        let name = sections::name(section);
        let section_uid = uid(&t.section, &format!("{source}/{name}"));
        entities.push(
            Entity::new(
                section_uid.clone(),
                HashMap::from([
                    ("source".to_string(), string(source)),
                    ("section".to_string(), string(name)),
                    ("category".to_string(), string(category(section))),
                ]),
                HashSet::from([source_uid]),
            )
            .map_err(|e| e.to_string())?,
        );
        Ok(section_uid)
    }

    /// Trama's decision from Cedar's answer: a policy that cannot be
    /// evaluated might have been a `forbid`, so it denies rather than
    /// guesses.
    fn decision_of(
        &self,
        response: &cedar_policy::Response,
        asker: &Asker<'_>,
        action: Action,
        resource: Resource<'_>,
    ) -> Decision {
        let failed: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
                self.name(e.policy_id())
            })
            .collect();
        if !failed.is_empty() {
            tracing::error!(policies = %failed.join(","), "policy evaluation failed; the request is denied");
            return Decision {
                allowed: false,
                rule: "evaluation-error".into(),
                reason: format!(
                    "policy {} could not be evaluated for this request; the gateway's log says more",
                    failed.join(", ")
                ),
            };
        }
        let deciding: Vec<&cedar_policy::PolicyId> = response.diagnostics().reason().collect();
        match (response.decision(), deciding.first()) {
            (CedarDecision::Allow, _) => Decision {
                allowed: true,
                rule: deciding
                    .iter()
                    .map(|id| self.name(id))
                    .collect::<Vec<_>>()
                    .join(","),
                reason: String::new(),
            },
            (CedarDecision::Deny, Some(id)) => Decision {
                allowed: false,
                rule: self.name(id),
                reason: self
                    .labels
                    .get(*id)
                    .and_then(|(_, reason)| reason.clone())
                    .unwrap_or_else(|| format!("forbidden by rule {}", self.name(id))),
            },
            (CedarDecision::Deny, None) => Decision {
                allowed: false,
                rule: "default-deny".into(),
                reason: format!(
                    "no rule permits organisation {} with role `{}` to {} {} for purpose `{}`",
                    asker.organisation,
                    asker.role,
                    action.name(),
                    resource.describe(),
                    asker.purpose
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../deploy/policy.example.cedar");

    fn demo() -> Policy {
        match Policy::parse(Path::new("policy.cedar"), DEMO) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn asker<'a>(org: &'a str, role: &'a str, purpose: &'a str, case: &'a str) -> Asker<'a> {
        Asker {
            organisation: org,
            operator_id: "op-1",
            role,
            purpose,
            case_id: case,
            legal_basis: "",
        }
    }

    #[test]
    fn cached_decisions_are_those_evaluation_gives() {
        let p = demo();
        let with_case = asker("comune", "assistente_sociale", "presa_in_carico", "CS-1");
        let without = asker("comune", "assistente_sociale", "presa_in_carico", "");
        let needs = Resource::Section("comune", Section::Needs);
        for _ in 0..2 {
            let d = p.decide(&with_case, Action::Read, needs);
            assert!(d.allowed, "{d:?}");
            // The same operator without a case id is not answered from the
            // decision cached for the call with one.
            let d = p.decide(&without, Action::Read, needs);
            assert_eq!((d.allowed, d.rule.as_str()), (false, "case-id-required"));
            let fresh = p.evaluate(&without, Action::Read, needs);
            assert_eq!(fresh.ok(), Some(d));
        }
        // Another source or section is another decision.
        let health = Resource::Section("asl", Section::Health);
        let caritas = asker(
            "caritas",
            "operatore_centro_ascolto",
            "verifica_presa_in_carico",
            "",
        );
        assert!(!p.decide(&caritas, Action::Read, health).allowed);
        assert!(p.decide(&with_case, Action::Read, health).allowed);
    }

    #[test]
    fn the_demo_policy_decides_as_documented() {
        let p = demo();
        let read = |a: &Asker<'_>, source: &str, s: Section| {
            p.decide(a, Action::Read, Resource::Section(source, s))
        };
        let social = asker("comune", "assistente_sociale", "presa_in_carico", "CS-1");
        for s in sections::ALL {
            assert!(read(&social, "asl", s).allowed, "{s:?}");
        }
        assert!(
            p.decide(&social, Action::Find, Resource::Source("asl"))
                .allowed
        );

        let no_case = asker("comune", "assistente_sociale", "presa_in_carico", "");
        let d = read(&no_case, "comune", Section::Needs);
        assert_eq!((d.allowed, d.rule.as_str()), (false, "case-id-required"));
        assert!(d.reason.contains("case_id"), "{}", d.reason);

        let caritas = asker(
            "caritas",
            "operatore_centro_ascolto",
            "verifica_presa_in_carico",
            "",
        );
        assert!(read(&caritas, "comune", Section::CaseMembership).allowed);
        let d = read(&caritas, "asl", Section::Health);
        assert!(!d.allowed);
        assert_eq!(d.rule, "health-needs-a-health-purpose");
        assert!(!read(&caritas, "comune", Section::Needs).allowed);
        assert_eq!(
            read(&caritas, "comune", Section::Needs).rule,
            "default-deny"
        );
        assert!(
            p.decide(&caritas, Action::Find, Resource::Source("comune"))
                .allowed
        );
        assert!(
            !p.decide(&caritas, Action::Find, Resource::Source("asl"))
                .allowed
        );

        // A role the organisation may not state.
        let forged = asker("caritas", "assistente_sociale", "presa_in_carico", "CS-1");
        let d = read(&forged, "comune", Section::Needs);
        assert_eq!((d.allowed, d.rule.as_str()), (false, "roles-caritas"));

        let orient = asker("comune", "sportello", "orientamento", "");
        assert!(read(&orient, "comune", Section::Housing).allowed);
        assert_eq!(
            read(&orient, "asl", Section::Health).rule,
            "health-needs-a-health-purpose"
        );
        assert_eq!(
            read(&orient, "comune", Section::CourtRelations).rule,
            "judicial-needs-a-judicial-purpose"
        );

        let planning = asker("comune", "ufficio_di_piano", "programmazione", "");
        assert!(
            p.decide(&planning, Action::Aggregate, Resource::Source("caf"))
                .allowed
        );
        assert_eq!(
            read(&planning, "comune", Section::Housing).rule,
            "programmazione-aggregates-only"
        );

        let dpo = asker("comune", "audit", "controllo_accessi", "");
        assert!(
            p.decide(
                &dpo,
                Action::AccessLog,
                Resource::AuditLog(LogScope::Person)
            )
            .allowed
        );
        assert!(
            !p.decide(
                &social,
                Action::AccessLog,
                Resource::AuditLog(LogScope::Person)
            )
            .allowed
        );
        assert!(!read(&dpo, "comune", Section::Needs).allowed);
        // The review of the whole log is the officer's own purpose; a
        // data subject's request names the person.
        let review = Resource::AuditLog(LogScope::Review);
        assert!(p.decide(&dpo, Action::AccessLog, review).allowed);
        let request = asker("comune", "audit", "richiesta_interessato", "");
        assert!(
            p.decide(
                &request,
                Action::AccessLog,
                Resource::AuditLog(LogScope::Person)
            )
            .allowed
        );
        assert_eq!(
            p.decide(&request, Action::AccessLog, review).rule,
            "log-review-is-the-dpos"
        );

        // An organisation the policy does not know.
        let stranger = asker("acli", "assistente_sociale", "presa_in_carico", "CS-1");
        assert_eq!(
            read(&stranger, "comune", Section::Needs).rule,
            "default-deny"
        );
    }

    #[test]
    fn bad_policies_are_refused_naming_the_problem() {
        let check = |text: &str| match Policy::parse(Path::new("/etc/trama/policy.cedar"), text) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert!(check("").contains("no policies"));
        let e = check("permit (principal, action, resource)\nwhen { context.purpse == \"x\" };");
        assert!(e.starts_with("/etc/trama/policy.cedar"), "{e}");
        assert!(e.contains("schema"), "{e}");
        let e =
            check("permit (principal, action, resource);\nforbid (principal action, resource);");
        assert!(e.contains("line 2"), "{e}");
        assert!(check("@id(\"x\") permit (principal, action, resource);").contains("ok"));
    }
}
