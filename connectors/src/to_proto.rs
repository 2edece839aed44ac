//! The one edge where the connector's own types ([`crate::model`]) become
//! `trama.v1` messages: candidates, records, the entries of each section,
//! identities and provenance.

use trama_proto::v1::{self, Section};

use crate::mapping::Mapping;
use crate::model::{Candidate, CaseAnswer, Fields, Person, Record};
use crate::values::Typed;

/// Where what the connector sends comes from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The partner organisation.
    pub organisation: &'a str,
    /// The partner's system, as the mapping names it.
    pub system: &'a str,
}

/// A person's identity as sent: the identifying fields through the
/// mapping the gateway reads them back with, the tax code as recorded
/// (even when not valid), the partner's id and provenance.
pub fn identity(person: &Person, origin: Origin<'_>) -> v1::SubjectIdentity {
    v1::SubjectIdentity {
        tax_code: person.tax_code.clone(),
        local_id: Some(v1::LocalId {
            organisation: origin.organisation.to_string(),
            id: person.local_id.clone(),
        }),
        provenance: Some(provenance(
            origin.organisation,
            origin.system,
            person.local_id.clone(),
            person.last_updated,
        )),
        ..trama_subject::wire::identity_of(&person.traits)
    }
}

/// A candidate as sent.
fn candidate(c: &Candidate, origin: Origin<'_>) -> v1::Candidate {
    v1::Candidate {
        identity: Some(identity(&c.person, origin)),
        score: c.score,
        matched_fields: c.matched.iter().map(|s| s.to_string()).collect(),
    }
}

/// The answer to `MatchSubject`.
pub fn match_response(candidates: &[Candidate], origin: Origin<'_>) -> v1::MatchSubjectResponse {
    v1::MatchSubjectResponse {
        candidates: candidates.iter().map(|c| candidate(c, origin)).collect(),
    }
}

/// The answer to `FetchRecord`: the record if the partner holds the
/// person, and the sections its export rules withheld.
pub fn fetch_response(
    record: Option<&Record>,
    withheld: &[Section],
    origin: Origin<'_>,
) -> v1::FetchRecordResponse {
    let withheld = withheld.iter().map(|s| *s as i32).collect();
    let Some(record) = record else {
        return v1::FetchRecordResponse {
            withheld,
            ..v1::FetchRecordResponse::default()
        };
    };
    let mut sections = v1::RecordSections::default();
    for e in &record.entries {
        let p = provenance(
            origin.organisation,
            origin.system,
            e.record_id.clone(),
            e.last_updated,
        );
        push_entry(e.section, p, &e.fields, &mut sections);
    }
    v1::FetchRecordResponse {
        found: true,
        identity: Some(identity(&record.person, origin)),
        sections: Some(sections),
        withheld,
    }
}

/// The answer to `CheckCase`.
pub fn case_response(answer: CaseAnswer) -> v1::CheckCaseResponse {
    let check = match answer {
        CaseAnswer::OpenWithPerson => v1::CaseCheck::OpenWithPerson,
        CaseAnswer::NotOpenWithPerson => v1::CaseCheck::NotOpenWithPerson,
        CaseAnswer::NoCasesMapped => v1::CaseCheck::NoCasesMapped,
    };
    v1::CheckCaseResponse {
        check: check as i32,
    }
}

/// What the connector serves: its partner, system, sections and the ways
/// it can find people.
pub fn describe(mapping: &Mapping, organisation: &str) -> v1::DescribeResponse {
    v1::DescribeResponse {
        organisation: organisation.to_string(),
        system: mapping.system.clone(),
        schema_version: trama_proto::SCHEMA_VERSION.to_string(),
        sections: mapping
            .provided_sections()
            .into_iter()
            .map(|s| s as i32)
            .collect(),
        match_capabilities: mapping.match_capabilities(),
        software_version: trama_proto::SOFTWARE_VERSION.to_string(),
    }
}

/// Builds provenance for a row.
fn provenance(
    organisation: &str,
    system: &str,
    record_id: String,
    last_updated: Option<i64>,
) -> v1::Provenance {
    v1::Provenance {
        source_organisation: organisation.to_string(),
        source_system: system.to_string(),
        record_id,
        last_updated: last_updated.map(|seconds| prost_types::Timestamp { seconds, nanos: 0 }),
    }
}

fn text(f: &Fields, name: &str) -> String {
    match f.get(name) {
        Some(Typed::Text(t)) => t.clone(),
        Some(Typed::Coding { code, .. }) => code.clone(),
        _ => String::new(),
    }
}

fn coding(f: &Fields, name: &str) -> Option<v1::Coding> {
    match f.get(name) {
        Some(Typed::Coding {
            system,
            code,
            display,
        }) => Some(v1::Coding {
            system: system.clone(),
            code: code.clone(),
            display: display.clone(),
        }),
        _ => None,
    }
}

fn day(f: &Fields, name: &str) -> Option<v1::Date> {
    match f.get(name) {
        Some(Typed::Date(d)) => Some(v1::Date::from_date(*d)),
        _ => None,
    }
}

fn money(f: &Fields, name: &str) -> Option<v1::Money> {
    match f.get(name) {
        Some(Typed::Money(cents)) => Some(v1::Money {
            cents: *cents,
            currency: "EUR".into(),
        }),
        _ => None,
    }
}

fn int(f: &Fields, name: &str) -> i32 {
    match f.get(name) {
        Some(Typed::Int(i)) => i32::try_from(*i).unwrap_or(i32::MAX),
        _ => 0,
    }
}

fn flag(f: &Fields, name: &str, default: bool) -> bool {
    match f.get(name) {
        Some(Typed::Bool(b)) => *b,
        _ => default,
    }
}

fn period(f: &Fields, start: &str, end: &str) -> Option<v1::Period> {
    let (s, e) = (day(f, start), day(f, end));
    (s.is_some() || e.is_some()).then_some(v1::Period { start: s, end: e })
}

fn has_prefix(f: &Fields, prefix: &str) -> bool {
    f.keys().any(|k| k.starts_with(prefix))
}

/// Appends one entry built from `f` to the right section of `out`.
fn push_entry(
    section: Section,
    provenance: v1::Provenance,
    f: &Fields,
    out: &mut v1::RecordSections,
) {
    let p = Some(provenance);
    match section {
        Section::Unspecified => {}
        Section::Housing => out.housing.push(housing(p, f)),
        Section::SocioEconomic => out.socio_economic.push(socio_economic(p, f)),
        Section::SupportNetwork => out.support_network.push(support_resource(p, f)),
        Section::Needs => out.needs.push(need(p, f)),
        Section::JudicialActs => out.judicial_acts.push(judicial_act(p, f)),
        Section::CourtRelations => out.court_relations.push(court_relation(p, f)),
        Section::Referrals => out.referrals.push(referral_entry(p, f)),
        Section::Interventions => out.interventions.push(intervention(p, f)),
        Section::Health => out.health.push(health(p, f)),
        Section::CaseMembership => out.case_memberships.push(case_membership(p, f)),
    }
}

/// A housing situation, from its fields.
fn housing(p: Option<v1::Provenance>, f: &Fields) -> v1::HousingEntry {
    v1::HousingEntry {
        provenance: p,
        tenure: coding(f, "tenure"),
        condition: coding(f, "condition"),
        district: text(f, "district"),
        address: text(f, "address"),
        since: day(f, "since"),
    }
}

/// The socio-economic situation, from its fields.
fn socio_economic(p: Option<v1::Provenance>, f: &Fields) -> v1::SocioEconomicEntry {
    v1::SocioEconomicEntry {
        provenance: p,
        isee: has_prefix(f, "isee.").then(|| v1::Isee {
            value: money(f, "isee.value"),
            issued: day(f, "isee.issued"),
            valid_until: day(f, "isee.valid_until"),
            kind: coding(f, "isee.kind"),
        }),
        income_band: coding(f, "income_band"),
        employment_status: coding(f, "employment_status"),
        household: has_prefix(f, "household.").then(|| v1::Household {
            members: int(f, "household.members"),
            minors: int(f, "household.minors"),
            composition: coding(f, "household.composition"),
        }),
    }
}

/// A resource of the person's support network, from its fields.
fn support_resource(p: Option<v1::Provenance>, f: &Fields) -> v1::SupportResource {
    v1::SupportResource {
        provenance: p,
        kind: coding(f, "kind"),
        description: text(f, "description"),
        active: flag(f, "active", true),
    }
}

/// A need, from its fields.
fn need(p: Option<v1::Provenance>, f: &Fields) -> v1::NeedEntry {
    v1::NeedEntry {
        provenance: p,
        need: coding(f, "need"),
        severity: coding(f, "severity"),
        identified: day(f, "identified"),
        open: flag(f, "open", true),
    }
}

/// A judicial act, from its fields.
fn judicial_act(p: Option<v1::Provenance>, f: &Fields) -> v1::JudicialAct {
    v1::JudicialAct {
        provenance: p,
        kind: coding(f, "kind"),
        authority: text(f, "authority"),
        date: day(f, "date"),
        reference: text(f, "reference"),
    }
}

/// A relation with a court, from its fields.
fn court_relation(p: Option<v1::Provenance>, f: &Fields) -> v1::CourtRelation {
    v1::CourtRelation {
        provenance: p,
        kind: coding(f, "kind"),
        court: text(f, "court"),
        period: period(f, "period.start", "period.end"),
        guardian: text(f, "guardian"),
    }
}

/// A referral received, from its fields.
fn referral_entry(p: Option<v1::Provenance>, f: &Fields) -> v1::ReferralEntry {
    v1::ReferralEntry {
        provenance: p,
        from_service: coding(f, "from_service"),
        from_organisation: text(f, "from_organisation"),
        date: day(f, "date"),
        reason: coding(f, "reason"),
        status: coding(f, "status"),
    }
}

/// An intervention, from its fields.
fn intervention(p: Option<v1::Provenance>, f: &Fields) -> v1::Intervention {
    v1::Intervention {
        provenance: p,
        kind: coding(f, "kind"),
        provider: text(f, "provider"),
        period: period(f, "period.start", "period.end"),
        amount: money(f, "amount"),
        voucher: has_prefix(f, "voucher.").then(|| v1::Voucher {
            code: text(f, "voucher.code"),
            value: money(f, "voucher.value"),
        }),
    }
}

/// A case the person is part of, from its fields.
fn case_membership(p: Option<v1::Provenance>, f: &Fields) -> v1::CaseMembership {
    v1::CaseMembership {
        provenance: p,
        organisation: text(f, "organisation"),
        office: text(f, "office"),
        case_manager: text(f, "case_manager"),
        case_id: text(f, "case_id"),
        opened: day(f, "opened"),
        status: coding(f, "status"),
    }
}

/// A health entry from its fields: a disability recognition or a care
/// plan, by which of their fields the mapping fills.
fn health(p: Option<v1::Provenance>, f: &Fields) -> v1::HealthEntry {
    let kind = if has_prefix(f, "disability.") {
        Some(v1::health_entry::Kind::Disability(
            v1::DisabilityRecognition {
                kind: coding(f, "disability.kind"),
                percentage: int(f, "disability.percentage"),
                recognised: day(f, "disability.recognised"),
                review: day(f, "disability.review"),
            },
        ))
    } else if has_prefix(f, "care_plan.") {
        Some(v1::health_entry::Kind::CarePlan(v1::CarePlan {
            kind: coding(f, "care_plan.kind"),
            team: text(f, "care_plan.team"),
            period: period(f, "care_plan.period.start", "care_plan.period.end"),
        }))
    } else {
        None
    };
    v1::HealthEntry {
        provenance: p,
        kind,
    }
}

/// The dimensions a count asked for, as the local audit records them
/// (`group_by:district`, `filter:year`, ...): what was asked, never values
/// of a person.
pub fn asked_dimensions(ask: &crate::facts::CountAsk) -> Vec<String> {
    let filters = ask.filters.iter().map(|f| (f.dimension, &f.values[..]));
    trama_proto::stats::audit_terms(&ask.group_by, filters)
}

/// The answer of a partner that counts nothing (its mapping has no facts).
pub fn nothing_counted() -> v1::CountPeopleResponse {
    v1::CountPeopleResponse::default()
}

/// The answer of a count: sketches, compact and ordered, never people.
pub fn count_response(mut counted: crate::facts::Counted) -> v1::CountPeopleResponse {
    let groups = |groups: crate::facts::Groups| -> Vec<v1::GroupSketch> {
        groups
            .into_iter()
            .map(|(values, mut sketch)| v1::GroupSketch {
                values,
                sketch: compact(&mut sketch),
            })
            .collect()
    };
    v1::CountPeopleResponse {
        without_tax_code: compact(&mut counted.without_tax_code),
        cells: groups(counted.cells),
        base: groups(counted.base),
        rows_read: counted.rows_read,
        query_ms: counted.query_ms,
    }
}

/// A sketch trimmed to its nominal size (so that its content depends only
/// on the set of people, not on the order they were read in), compact,
/// ordered and compressed.
fn compact(sketch: &mut datasketches::theta::ThetaSketch) -> Vec<u8> {
    sketch.trim();
    sketch.compact(true).serialize_compressed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{FieldKind, section_fields};
    use trama_proto::sections;

    /// A value of `kind` that differs from what an absent field gives.
    fn sample(kind: FieldKind) -> Typed {
        match kind {
            FieldKind::Text => Typed::Text("x".into()),
            FieldKind::Date => Typed::Date(time::macros::date!(2020 - 01 - 01)),
            FieldKind::Timestamp => Typed::Timestamp(1),
            FieldKind::Coding => Typed::Coding {
                system: "urn:trama:cs:test".into(),
                code: "c".into(),
                display: "d".into(),
            },
            FieldKind::Money => Typed::Money(1),
            FieldKind::Int => Typed::Int(1),
            FieldKind::Bool => Typed::Bool(false),
        }
    }

    /// The section fields a mapping may bind are named twice: in the
    /// mapping's table of each section's fields and here, where entries
    /// are built. Each name the mapping accepts must change the entry.
    #[test]
    fn every_field_a_mapping_may_bind_reaches_the_wire_entry() {
        for section in sections::ALL {
            let mut empty = v1::RecordSections::default();
            push_entry(
                section,
                v1::Provenance::default(),
                &Fields::new(),
                &mut empty,
            );
            for (name, kind) in section_fields(section) {
                let fields = Fields::from([(*name, sample(*kind))]);
                let mut one = v1::RecordSections::default();
                push_entry(section, v1::Provenance::default(), &fields, &mut one);
                assert_ne!(
                    one,
                    empty,
                    "{}.{name} is accepted by the mapping but never read into the entry",
                    sections::name(section)
                );
            }
        }
    }
}
