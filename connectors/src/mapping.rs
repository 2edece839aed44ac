//! The mapping file: how a partner's database, as it is, answers the
//! connector's questions. Each capability (find a person by tax code, by
//! local id, by demographics; read each section) is parameterised SQL; each
//! result column is bound to a field of the common schema; local codes are
//! translated to common codes.
//!
//! The format is documented for integrators in `docs/connector-guide.md`.
//! Parsing refuses unknown keys; [`Mapping::load`] validates everything that
//! can be checked without the database and names the key at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use trama_proto::sections;
use trama_proto::v1::Section;

use crate::columns::{RawColumn, RawSectionQuery, column_spec};
use crate::facts::FactQuery;
use crate::offer::OfferQuery;
use crate::params::ParamSql;
use crate::referrals::InboxMapping;

pub use crate::columns::{CodeTable, ColumnSpec, DateFormat, FieldKind, MoneyUnit, NamedQuery};

/// A mapping file, parsed and validated.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The partner system's name, shown in provenance.
    pub system: String,
    /// Column bindings of the subject.
    pub subject: SubjectColumns,
    /// Ways to find a person.
    pub matching: MatchQueries,
    /// Section queries, by section.
    pub sections: BTreeMap<SectionKey, Vec<SectionQuery>>,
    /// Code tables by name.
    pub codes: BTreeMap<String, CodeTable>,
    /// The facts the partner counts for statistics (`[[statistics.facts]]`).
    pub facts: Vec<FactQuery>,
    /// The services the partner offers (`[[services]]`).
    pub services: Vec<OfferQuery>,
    /// The partner's inbox of referrals (`[referrals]`), if it takes them.
    pub inbox: Option<InboxMapping>,
}

/// A section, ordered as in the schema (a map key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SectionKey(pub i32);

impl SectionKey {
    /// The section.
    pub fn section(self) -> Section {
        Section::try_from(self.0).unwrap_or(Section::Unspecified)
    }
}

/// The queries that find a person. Each returns the subject columns.
#[derive(Debug, Clone)]
pub struct MatchQueries {
    /// By tax code, parameter `:tax_code`.
    pub tax_code: Option<NamedQuery>,
    /// By the partner's own id, parameter `:local_id`.
    pub local_id: NamedQuery,
    /// By demographics: blocking queries, each index-backed, each run
    /// when every parameter it uses is known; the union of what they find
    /// is scored. Parameters: see [`DEMOGRAPHIC_PARAMS`].
    pub demographics: Vec<NamedQuery>,
}

/// How a subject row is read.
#[derive(Debug, Clone)]
pub struct SubjectColumns {
    /// The fields, by name (`local_id`, `tax_code`, ...).
    pub fields: Vec<(SubjectField, ColumnSpec)>,
}

/// The fields of a subject row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectField {
    /// The partner's id for the person (required).
    LocalId,
    /// Tax code.
    TaxCode,
    /// Given name(s).
    GivenName,
    /// Family name(s).
    FamilyName,
    /// Birth date.
    BirthDate,
    /// Belfiore code of the birthplace.
    BirthplaceCode,
    /// Sex (coded: `female` / `male`).
    Sex,
    /// When the row last changed.
    LastUpdated,
}

impl SubjectField {
    const ALL: [(SubjectField, &'static str, FieldKind); 8] = [
        (SubjectField::LocalId, "local_id", FieldKind::Text),
        (SubjectField::TaxCode, "tax_code", FieldKind::Text),
        (SubjectField::GivenName, "given_name", FieldKind::Text),
        (SubjectField::FamilyName, "family_name", FieldKind::Text),
        (SubjectField::BirthDate, "birth_date", FieldKind::Date),
        (
            SubjectField::BirthplaceCode,
            "birthplace_code",
            FieldKind::Text,
        ),
        (SubjectField::Sex, "sex", FieldKind::Coding),
        (
            SubjectField::LastUpdated,
            "last_updated",
            FieldKind::Timestamp,
        ),
    ];

    /// The field's name in `[subject.columns]`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("", |(_, n, _)| n)
    }

    /// The kind of value the field holds.
    pub fn kind(self) -> FieldKind {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or(FieldKind::Text, |(_, _, k)| *k)
    }
}

/// One query of a section, with its column bindings.
#[derive(Debug, Clone)]
pub struct SectionQuery {
    /// The key in the mapping file, for example `sections.housing[0]`.
    pub key: String,
    /// The query (key `sections.housing[0].sql`), parameters `:local_id`
    /// and `:tax_code`.
    pub query: NamedQuery,
    /// Column holding the row's id (required for provenance).
    pub record_id: ColumnSpec,
    /// Column holding when the row last changed, if any.
    pub last_updated: Option<ColumnSpec>,
    /// The schema fields and where their values come from.
    pub fields: Vec<(&'static str, FieldKind, ColumnSpec)>,
}

/// Why a mapping file is refused: the same errors as the connector's
/// configuration file, each naming the file and the key.
pub use crate::config::ConfigError as MappingError;

// ---- The file as written ------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    source: RawSource,
    subject: RawSubject,
    #[serde(rename = "match")]
    matching: RawMatch,
    #[serde(default)]
    sections: BTreeMap<String, Vec<RawSectionQuery>>,
    #[serde(default)]
    codes: BTreeMap<String, RawCodeTable>,
    #[serde(default)]
    statistics: Option<RawStatistics>,
    #[serde(default)]
    services: Vec<RawSectionQuery>,
    #[serde(default)]
    referrals: Option<crate::referrals::RawReferrals>,
}

/// `[statistics]`: the partner's countable facts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatistics {
    facts: Vec<RawSectionQuery>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    system: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    columns: BTreeMap<String, RawColumn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    tax_code: Option<RawQuery>,
    local_id: RawQuery,
    #[serde(default)]
    demographics: Option<OneOrMany>,
}

/// `[match.demographics]` (one query) or `[[match.demographics]]` (several).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(RawQuery),
    Many(Vec<RawQuery>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    sql: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeTable {
    system: String,
    map: BTreeMap<String, String>,
    #[serde(default)]
    local: Vec<String>,
}

/// A refused part of a mapping: the key and the problem.
type Refusal = (String, String);

/// The code tables, each under a URN.
fn code_tables(
    raw: BTreeMap<String, RawCodeTable>,
) -> Result<BTreeMap<String, CodeTable>, Refusal> {
    let mut codes = BTreeMap::new();
    for (name, table) in raw {
        if !table.system.starts_with("urn:") {
            return Err((
                format!("codes.{name}.system"),
                format!(
                    "`{}` is not a URN; common systems are urn:trama:cs:<name>",
                    table.system
                ),
            ));
        }
        codes.insert(
            name,
            CodeTable {
                system: table.system,
                map: table.map,
                local: table.local.into_iter().collect(),
            },
        );
    }
    Ok(codes)
}

/// The subject's fields, each a known one; the local id required.
fn subject_fields(
    raw: &RawSubject,
    codes: &BTreeMap<String, CodeTable>,
) -> Result<Vec<(SubjectField, ColumnSpec)>, Refusal> {
    let mut fields = Vec::new();
    for (name, raw_col) in &raw.columns {
        let key = format!("subject.columns.{name}");
        let Some((field, _, kind)) = SubjectField::ALL.iter().find(|(_, n, _)| n == name) else {
            let known: Vec<_> = SubjectField::ALL.iter().map(|(_, n, _)| *n).collect();
            return Err((
                key,
                format!("unknown subject field; known: {}", known.join(", ")),
            ));
        };
        let spec = column_spec(raw_col, *kind, codes).map_err(|p| (key, p))?;
        fields.push((*field, spec));
    }
    if !fields.iter().any(|(f, _)| *f == SubjectField::LocalId) {
        return Err((
            "subject.columns.local_id".into(),
            "is required: the column holding the partner's own id for the person".into(),
        ));
    }
    Ok(fields)
}

/// A query of the mapping under `key`, its SQL parsed.
fn named_query(key: &str, raw: &RawQuery) -> Result<NamedQuery, Refusal> {
    let key = format!("{key}.sql");
    let sql = ParamSql::parse(&raw.sql).map_err(|p| (key.clone(), p))?;
    Ok(NamedQuery { key, sql })
}

/// The blocking queries, each taking only the parameters it may.
fn match_queries(raw: &RawMatch) -> Result<MatchQueries, Refusal> {
    let matching = MatchQueries {
        tax_code: raw
            .tax_code
            .as_ref()
            .map(|q| named_query("match.tax_code", q))
            .transpose()?,
        local_id: named_query("match.local_id", &raw.local_id)?,
        demographics: match &raw.demographics {
            None => Vec::new(),
            Some(OneOrMany::One(q)) => vec![named_query("match.demographics", &limited(q))?],
            Some(OneOrMany::Many(qs)) => qs
                .iter()
                .enumerate()
                .map(|(i, q)| named_query(&format!("match.demographics[{i}]"), &limited(q)))
                .collect::<Result<_, _>>()?,
        },
    };
    let allowed = [(&matching.local_id, &["local_id"][..])]
        .into_iter()
        .chain(matching.tax_code.iter().map(|q| (q, &["tax_code"][..])))
        .chain(
            matching
                .demographics
                .iter()
                .map(|q| (q, DEMOGRAPHIC_PARAMS)),
        );
    for (q, params) in allowed {
        check_params(q, params).map_err(|p| (q.key.clone(), p))?;
    }
    Ok(matching)
}

/// The queries of section `name`, each with its record id and fields.
fn section_queries(
    name: &str,
    queries: &[RawSectionQuery],
    codes: &BTreeMap<String, CodeTable>,
) -> Result<(Section, Vec<SectionQuery>), Refusal> {
    let Some(section) = sections::parse(name) else {
        return Err((
            format!("sections.{name}"),
            format!("unknown section; known: {}", sections::all_names()),
        ));
    };
    let out = queries
        .iter()
        .enumerate()
        .map(|(i, raw)| section_query(section, &format!("sections.{name}[{i}]"), raw, codes))
        .collect::<Result<_, _>>()?;
    Ok((section, out))
}

/// One query of a section, under `key`.
fn section_query(
    section: Section,
    key: &str,
    raw: &RawSectionQuery,
    codes: &BTreeMap<String, CodeTable>,
) -> Result<SectionQuery, Refusal> {
    let sql = ParamSql::parse(&raw.sql).map_err(|p| (format!("{key}.sql"), p))?;
    let named = NamedQuery {
        key: format!("{key}.sql"),
        sql,
    };
    check_params(&named, &["local_id", "tax_code"]).map_err(|p| (named.key.clone(), p))?;
    let allowed = section_fields(section);
    let mut record_id = None;
    let mut last_updated = None;
    let mut bound = Vec::new();
    for (field, raw_col) in &raw.columns {
        let ckey = format!("{key}.columns.{field}");
        let spec = |kind| column_spec(raw_col, kind, codes).map_err(|p| (ckey.clone(), p));
        match field.as_str() {
            "record_id" => record_id = Some(spec(FieldKind::Text)?),
            "last_updated" => last_updated = Some(spec(FieldKind::Timestamp)?),
            _ => {
                let Some((fname, kind)) = allowed.iter().find(|(n, _)| n == field) else {
                    let known: Vec<_> = allowed.iter().map(|(n, _)| *n).collect();
                    return Err((
                        ckey,
                        format!(
                            "section {} has no field `{field}`; known: record_id, last_updated, {}",
                            sections::name(section),
                            known.join(", ")
                        ),
                    ));
                };
                bound.push((*fname, *kind, spec(*kind)?));
            }
        }
    }
    let Some(record_id) = record_id else {
        return Err((
            format!("{key}.columns.record_id"),
            "is required: the column holding the row's id, for provenance".into(),
        ));
    };
    Ok(SectionQuery {
        key: key.to_string(),
        query: named,
        record_id,
        last_updated,
        fields: bound,
    })
}

// ---- The fields of each section -----------------------------------------

/// The fields a section's columns may bind, besides `record_id` and
/// `last_updated`.
pub fn section_fields(section: Section) -> &'static [(&'static str, FieldKind)] {
    use FieldKind::*;
    match section {
        Section::Unspecified => &[],
        Section::Housing => &[
            ("tenure", Coding),
            ("condition", Coding),
            ("district", Text),
            ("address", Text),
            ("since", Date),
        ],
        Section::SocioEconomic => &[
            ("isee.value", Money),
            ("isee.issued", Date),
            ("isee.valid_until", Date),
            ("isee.kind", Coding),
            ("income_band", Coding),
            ("employment_status", Coding),
            ("household.members", Int),
            ("household.minors", Int),
            ("household.composition", Coding),
        ],
        Section::SupportNetwork => &[("kind", Coding), ("description", Text), ("active", Bool)],
        Section::Needs => &[
            ("need", Coding),
            ("severity", Coding),
            ("identified", Date),
            ("open", Bool),
        ],
        Section::JudicialActs => &[
            ("kind", Coding),
            ("authority", Text),
            ("date", Date),
            ("reference", Text),
        ],
        Section::CourtRelations => &[
            ("kind", Coding),
            ("court", Text),
            ("period.start", Date),
            ("period.end", Date),
            ("guardian", Text),
        ],
        Section::Referrals => &[
            ("from_service", Coding),
            ("from_organisation", Text),
            ("date", Date),
            ("reason", Coding),
            ("status", Coding),
        ],
        Section::Interventions => &[
            ("kind", Coding),
            ("provider", Text),
            ("period.start", Date),
            ("period.end", Date),
            ("amount", Money),
            ("voucher.code", Text),
            ("voucher.value", Money),
        ],
        Section::Health => &[
            ("disability.kind", Coding),
            ("disability.percentage", Int),
            ("disability.recognised", Date),
            ("disability.review", Date),
            ("care_plan.kind", Coding),
            ("care_plan.team", Text),
            ("care_plan.period.start", Date),
            ("care_plan.period.end", Date),
        ],
        Section::CaseMembership => &[
            ("organisation", Text),
            ("office", Text),
            ("case_manager", Text),
            ("case_id", Text),
            ("opened", Date),
            ("status", Coding),
        ],
    }
}

// ---- Loading and validation ---------------------------------------------

impl Mapping {
    /// Reads and validates a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Mapping::parse(path, &text)
    }

    /// Parses and validates mapping text; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Mapping, MappingError> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| MappingError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        Mapping::of_raw(path, raw).map_err(|(key, problem)| MappingError::Invalid {
            path: path.to_path_buf(),
            key,
            origin: String::new(),
            problem,
        })
    }

    /// The mapping a parsed file describes, each part checked; a refusal
    /// names the key and the problem.
    fn of_raw(path: &Path, raw: RawMapping) -> Result<Mapping, Refusal> {
        if raw.source.system.trim().is_empty() {
            return Err((
                "source.system".into(),
                "must name the partner's system".into(),
            ));
        }
        let codes = code_tables(raw.codes)?;
        let fields = subject_fields(&raw.subject, &codes)?;
        let matching = match_queries(&raw.matching)?;
        let mut sections = BTreeMap::new();
        for (name, queries) in &raw.sections {
            let (section, out) = section_queries(name, queries, &codes)?;
            sections.insert(SectionKey(section as i32), out);
        }
        let facts = match &raw.statistics {
            Some(stats) => crate::facts::parse(&stats.facts, &codes)?,
            None => Vec::new(),
        };
        let services = crate::offer::parse(&raw.services, &codes)?;
        let inbox = raw
            .referrals
            .as_ref()
            .map(crate::referrals::parse)
            .transpose()?;
        Ok(Mapping {
            inbox,
            facts,
            services,
            path: path.to_path_buf(),
            system: raw.source.system,
            subject: SubjectColumns { fields },
            matching,
            sections,
            codes,
        })
    }

    /// The sections this mapping provides.
    pub fn provided_sections(&self) -> Vec<Section> {
        self.sections.keys().map(|k| k.section()).collect()
    }

    /// The match capabilities this mapping provides.
    pub fn match_capabilities(&self) -> Vec<String> {
        let mut caps = vec!["local_id".to_string()];
        if self.matching.tax_code.is_some() {
            caps.push("tax_code".into());
        }
        if !self.matching.demographics.is_empty() {
            caps.push("demographics".into());
        }
        if !self.facts.is_empty() {
            caps.push("statistics".into());
        }
        caps
    }
}

/// Candidates considered from a blocking query before scoring; the
/// mapping's blocking queries are wrapped in a `LIMIT` of this many rows, so
/// a common name cannot flood the connector.
pub const MAX_BLOCK: usize = 200;

/// Parameters a demographics query may use.
pub const DEMOGRAPHIC_PARAMS: &[&str] = &[
    "family_name",
    "given_name",
    "family_prefix",
    "family_key",
    "given_key",
    "family_folded",
    "given_folded",
    "birth_year_start",
    "birth_year_end",
    "tax_code_from",
    "tax_code_to",
    "birth_date",
    "birth_year",
    "birthplace_code",
    "sex",
];

/// A blocking query wrapped to return at most [`MAX_BLOCK`] rows (`LIMIT`
/// reads the same on every engine).
fn limited(q: &RawQuery) -> RawQuery {
    RawQuery {
        sql: format!(
            "SELECT * FROM (\n{}\n) AS trama_block LIMIT {}",
            q.sql.trim().trim_end_matches(';'),
            MAX_BLOCK
        ),
    }
}

fn check_params(query: &NamedQuery, allowed: &[&str]) -> Result<(), String> {
    for p in query.sql.param_names() {
        if !allowed.contains(&p) {
            return Err(format!(
                "unknown parameter `:{p}`; this query may use {}",
                allowed
                    .iter()
                    .map(|a| format!(":{a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[source]
system = "test"
[subject.columns]
local_id = "id"
family_name = "cognome"
sex = { column = "sesso", codes = "sesso" }
[match.local_id]
sql = "SELECT id, cognome, sesso FROM p WHERE id = :local_id"
[[sections.needs]]
sql = "SELECT id, bisogno FROM b WHERE persona = :local_id"
columns = { record_id = "id", need = { column = "bisogno", codes = "bisogni" } }
[codes.sesso]
system = "urn:trama:cs:sex"
map = { M = "male", F = "female" }
[codes.bisogni]
system = "urn:trama:cs:need"
map = { CASA = "housing" }
"#;

    /// Parses `text` and returns the error message, or "ok".
    fn check(text: &str) -> String {
        match Mapping::parse(Path::new("m.toml"), text) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(check(GOOD), "ok");
        let cases = [
            (
                GOOD.replace("[[sections.needs]]", "[[sections.bisogni]]"),
                "key `sections.bisogni`: unknown section",
            ),
            (
                GOOD.replace("need = {", "bisogno = {"),
                "key `sections.needs[0].columns.bisogno`: section needs has no field",
            ),
            (
                GOOD.replace("codes = \"bisogni\"", "codes = \"altro\""),
                "code table `altro` is not defined",
            ),
            (
                GOOD.replace("WHERE id = :local_id", "WHERE id = :id"),
                "key `match.local_id.sql`: unknown parameter `:id`",
            ),
            (
                GOOD.replace("local_id = \"id\"\n", ""),
                "key `subject.columns.local_id`: is required",
            ),
            (
                GOOD.replace("system = \"test\"", "system = \"test\"\nextra = 1"),
                "unknown field `extra`",
            ),
            (
                GOOD.replace(
                    "need = { column = \"bisogno\", codes = \"bisogni\" }",
                    "need = \"bisogno\"",
                ),
                "coded field",
            ),
        ];
        for (text, want) in cases {
            let got = check(&text);
            assert!(got.contains(want), "want `{want}` in: {got}");
            assert!(got.starts_with("m.toml"), "names the file: {got}");
        }
    }

    /// Parses `GOOD` with one fact query, `facts`; the facts parsed, or
    /// the error message.
    fn check_facts(facts: &str) -> String {
        let text = format!("{GOOD}\n[[statistics.facts]]\n{facts}");
        match Mapping::parse(Path::new("m.toml"), &text) {
            Ok(m) => format!("ok {}", m.facts.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn fact_queries_are_checked_key_by_key() {
        let good = "sql = \"SELECT id, b FROM f\"\ncolumns = { local_id = \"id\", need = { column = \"b\", codes = \"bisogni\" } }";
        assert_eq!(check_facts(good), "ok 1");
        for (facts, want) in [
            (
                good.replace("local_id = \"id\", ", ""),
                "key `statistics.facts[0].columns.local_id`: is required",
            ),
            (
                good.replace("need =", "bisogno ="),
                "key `statistics.facts[0].columns.bisogno`: unknown fact field",
            ),
            (
                good.replace("FROM f", "FROM f WHERE a = :anno"),
                "key `statistics.facts[0].sql`: unknown parameter `:anno`",
            ),
            (
                good.replace("codes = \"bisogni\"", "codes = \"altro\""),
                "code table `altro` is not defined",
            ),
        ] {
            let got = check_facts(&facts);
            assert!(got.contains(want), "want `{want}` in: {got}");
        }
    }
}
