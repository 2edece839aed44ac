//! Merging what sources answered: records keep every entry with its
//! provenance side by side, and disagreements on identifying data are
//! reported as conflicts; candidates that are the same person at different
//! sources are grouped.

use trama_proto::v1::{
    Candidate, CandidateGroup, Conflict, ConflictingValue, Record, RecordSections, SubjectIdentity,
};
use trama_subject::matching::{self, Traits};
use trama_subject::{Sex, TaxCode, names, wire};

/// Merges the answers of the sources that know the person.
pub fn record(answers: Vec<(SubjectIdentity, RecordSections)>) -> Record {
    let mut merged = RecordSections::default();
    let mut identities = Vec::with_capacity(answers.len());
    for (identity, s) in answers {
        identities.push(identity);
        merged.housing.extend(s.housing);
        merged.socio_economic.extend(s.socio_economic);
        merged.support_network.extend(s.support_network);
        merged.needs.extend(s.needs);
        merged.judicial_acts.extend(s.judicial_acts);
        merged.court_relations.extend(s.court_relations);
        merged.referrals.extend(s.referrals);
        merged.interventions.extend(s.interventions);
        merged.health.extend(s.health);
        merged.case_memberships.extend(s.case_memberships);
    }
    let conflicts = conflicts(&identities);
    Record {
        identities,
        sections: Some(merged),
        conflicts,
    }
}

/// Empties every section of `s` not in `allowed` (section numbers); returns
/// whether anything was dropped. The gateway keeps only what its policy let
/// it ask for, whatever a connector sends back.
pub fn retain_sections(s: &mut RecordSections, allowed: &[i32]) -> bool {
    let mut dropped = false;
    for section in trama_proto::sections::ALL {
        if !allowed.contains(&(section as i32)) && s.count(section) > 0 {
            s.clear(section);
            dropped = true;
        }
    }
    dropped
}

/// How many entries a set of sections holds.
pub fn entry_count(s: &RecordSections) -> u32 {
    let n: usize = trama_proto::sections::ALL
        .into_iter()
        .map(|section| s.count(section))
        .sum();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The identifying fields on which sources disagree. Names are compared
/// without case, accents, spaces and apostrophes, so `D'Angelo` and
/// `DANGELO` agree, while a typo does not.
pub fn conflicts(identities: &[SubjectIdentity]) -> Vec<Conflict> {
    type Getter = fn(&SubjectIdentity) -> (String, String);
    let fields: [(&str, Getter); 6] = [
        ("identity.tax_code", |i| {
            (i.tax_code.clone(), i.tax_code.clone())
        }),
        ("identity.family_name", |i| {
            (names::compact(&i.family_name), i.family_name.clone())
        }),
        ("identity.given_name", |i| {
            (names::compact(&i.given_name), i.given_name.clone())
        }),
        ("identity.birth_date", |i| {
            let d = i
                .birth_date
                .as_ref()
                .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
                .unwrap_or_default();
            (d.clone(), d)
        }),
        ("identity.birthplace_code", |i| {
            (i.birthplace_code.clone(), i.birthplace_code.clone())
        }),
        ("identity.sex", |i| {
            let s = wire::sex_from_wire(i.sex).map_or("", Sex::letter);
            (s.to_string(), s.to_string())
        }),
    ];
    let mut out = Vec::new();
    for (field, get) in fields {
        let mut values: Vec<(String, ConflictingValue)> = Vec::new();
        for identity in identities {
            let (key, shown) = get(identity);
            if key.is_empty() {
                continue;
            }
            let org = identity
                .provenance
                .as_ref()
                .map(|p| p.source_organisation.clone())
                .unwrap_or_default();
            match values.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.source_organisations.push(org),
                None => values.push((
                    key,
                    ConflictingValue {
                        value: shown,
                        source_organisations: vec![org],
                    },
                )),
            }
        }
        if values.len() > 1 {
            out.push(Conflict {
                field: field.to_string(),
                values: values.into_iter().map(|(_, v)| v).collect(),
            });
        }
    }
    out
}

/// Two candidates without a shared tax code are grouped when their
/// identities score at least this much against each other.
const GROUP_THRESHOLD: f64 = 0.9;

/// Groups candidates from all sources: first by tax code (exactly: an
/// omocodic variant is another person's code), then candidates without a
/// valid tax code join the group whose identity they match closely. Groups
/// come best first.
pub fn group(candidates: Vec<Candidate>) -> Vec<CandidateGroup> {
    let mut groups: Vec<(Option<TaxCode>, Traits, CandidateGroup)> = Vec::new();
    let mut without_code = Vec::new();
    for c in candidates {
        let traits = traits(c.identity.as_ref());
        match traits.tax_code.clone() {
            Some(code) => match groups
                .iter_mut()
                .find(|(known, _, _)| known.as_ref() == Some(&code))
            {
                Some((_, _, g)) => g.candidates.push(c),
                None => {
                    let group = CandidateGroup {
                        tax_code: code.to_string(),
                        score: 0.0,
                        candidates: vec![c],
                    };
                    groups.push((Some(code), traits, group));
                }
            },
            None => without_code.push((traits, c)),
        }
    }
    for (traits, c) in without_code {
        let best = groups
            .iter_mut()
            .map(|g| {
                let s = matching::score(&g.1, &traits)
                    .value
                    .min(matching::score(&traits, &g.1).value);
                (s, g)
            })
            .filter(|(s, _)| *s >= GROUP_THRESHOLD)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((_, g)) => g.2.candidates.push(c),
            None => groups.push((
                None,
                traits,
                CandidateGroup {
                    tax_code: String::new(),
                    score: 0.0,
                    candidates: vec![c],
                },
            )),
        }
    }
    let mut out: Vec<CandidateGroup> = groups
        .into_iter()
        .map(|(_, _, mut g)| {
            g.candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
            g.score = g.candidates.first().map_or(0.0, |c| c.score);
            g
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// What a source's identity says, read as the connectors read it.
fn traits(identity: Option<&SubjectIdentity>) -> Traits {
    identity.map(wire::traits_of_identity).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trama_proto::v1;

    fn identity(
        org: &str,
        code: &str,
        family: &str,
        given: &str,
        birth: (i32, i32, i32),
    ) -> SubjectIdentity {
        SubjectIdentity {
            tax_code: code.into(),
            family_name: family.into(),
            given_name: given.into(),
            birth_date: Some(v1::Date {
                year: birth.0,
                month: birth.1,
                day: birth.2,
            }),
            provenance: Some(v1::Provenance {
                source_organisation: org.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn candidate(i: SubjectIdentity, score: f64) -> Candidate {
        Candidate {
            identity: Some(i),
            score,
            matched_fields: vec![],
        }
    }

    #[test]
    fn same_person_is_grouped_across_sources() {
        let groups = group(vec![
            candidate(
                identity(
                    "comune",
                    "CCCFBA85D03L219P",
                    "Caccamo",
                    "Fabio",
                    (1985, 4, 3),
                ),
                0.95,
            ),
            candidate(
                identity("caf", "CCCFBA85D03L219P", "CACCAMO", "FABIO", (1985, 4, 3)),
                0.9,
            ),
            // An omocodic variant is another person with the same letters.
            candidate(
                identity(
                    "asl",
                    "CCCFBA85DLPLNMVL",
                    "Cacciamo",
                    "Fabiola",
                    (1985, 4, 3),
                ),
                0.5,
            ),
            candidate(
                identity("caritas", "", "Cacamo", "Fabio", (1985, 4, 3)),
                0.8,
            ),
            candidate(
                identity("asl", "RSSMRA85T10A562S", "Rossi", "Mario", (1985, 12, 10)),
                0.6,
            ),
        ]);
        assert_eq!(groups.len(), 3, "{groups:?}");
        assert_eq!(groups[0].tax_code, "CCCFBA85D03L219P");
        assert_eq!(groups[0].candidates.len(), 3);
        assert_eq!(groups[0].score, 0.95);
        assert_eq!(groups[1].candidates.len(), 1);
        assert_eq!(groups[2].tax_code, "CCCFBA85DLPLNMVL");
    }

    #[test]
    fn conflicts_ignore_spelling_but_show_typos_and_dates() {
        let c = conflicts(&[
            identity(
                "comune",
                "CCCFBA85D03L219P",
                "D'Angelo",
                "Fabio",
                (1985, 4, 3),
            ),
            identity("caf", "CCCFBA85D03L219P", "DANGELO", "Fabio", (1985, 4, 3)),
            identity("caritas", "", "Dangleo", "Fabio", (1985, 3, 4)),
        ]);
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["identity.family_name", "identity.birth_date"]);
        assert_eq!(c[0].values[0].source_organisations, vec!["comune", "caf"]);
        assert_eq!(c[0].values[1].value, "Dangleo");
    }
}

#[cfg(test)]
mod retain_tests {
    use super::*;
    use trama_proto::v1::{HealthEntry, NeedEntry, Section};

    #[test]
    fn sections_not_asked_for_are_dropped() {
        let mut s = RecordSections {
            needs: vec![NeedEntry::default()],
            health: vec![HealthEntry::default()],
            ..RecordSections::default()
        };
        assert!(!retain_sections(
            &mut s,
            &[Section::Needs as i32, Section::Health as i32]
        ));
        assert_eq!(entry_count(&s), 2);
        assert!(retain_sections(&mut s, &[Section::Needs as i32]));
        assert!(s.health.is_empty());
        assert_eq!(s.needs.len(), 1);
    }
}
