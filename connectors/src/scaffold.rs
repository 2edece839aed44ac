//! `trama connector init`: a first draft of a mapping from a partner's
//! database as it is. The tables, columns, primary keys and indexed columns
//! are read from the engine's catalogue (SQLite, PostgreSQL, MySQL/MariaDB);
//! the table of people is recognised by its columns (a tax code, family and
//! given names, a birth date), the format of its birth dates by a sample,
//! and the tables that point at it by its key are offered as sections when
//! their names say which (`bisogni` → needs). The draft maps what it can
//! be sure of, names each column of a section in a comment for a person to
//! bind, and lists the code-like columns (few distinct values) whose code
//! tables a person must write; with it comes the `CREATE INDEX` statements
//! its queries need. A draft loads and passes the start-up check once its
//! indexes exist; what it leaves to decide is marked `TODO`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::params::ParamSql;
use crate::source::{Database, Param, SourceError, Value};

/// A column as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its declared type.
    pub type_name: String,
}

/// A table as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// Its primary key's first column, if it has one.
    pub key: Option<String>,
    /// Columns that lead an index (or the primary key).
    pub indexed: BTreeSet<String>,
}

impl Table {
    /// The first column whose name is one of `names` (case-insensitive).
    fn find(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(n))
                .map(|c| c.name.as_str())
        })
    }
}

/// Column names recognised, by what they hold.
const TAX_CODE: &[&str] = &[
    "codice_fiscale",
    "cod_fiscale",
    "codfisc",
    "cf",
    "tax_code",
    "fiscal_code",
];
const FAMILY: &[&str] = &["cognome", "family_name", "surname", "last_name"];
const GIVEN: &[&str] = &["nome", "given_name", "first_name"];
const BIRTH: &[&str] = &[
    "data_nascita",
    "dt_nascita",
    "nascita",
    "birth_date",
    "date_of_birth",
    "data_di_nascita",
];
const BIRTHPLACE: &[&str] = &[
    "comune_nascita",
    "luogo_nascita",
    "birthplace",
    "birthplace_code",
];
const SEX: &[&str] = &["sesso", "sex", "genere", "gender"];
const UPDATED: &[&str] = &[
    "modificato",
    "aggiornato",
    "aggiornata",
    "dt_agg",
    "data_modifica",
    "ultima_modifica",
    "updated_at",
    "last_updated",
];

/// Table names that say which section their rows are, by fragment.
const SECTIONS: &[(&str, &str)] = &[
    ("bisogn", "needs"),
    ("need", "needs"),
    ("intervent", "interventions"),
    ("erogaz", "interventions"),
    ("prestaz", "interventions"),
    ("contribut", "interventions"),
    ("abitaz", "housing"),
    ("alloggi", "housing"),
    ("housing", "housing"),
    ("isee", "socio_economic"),
    ("dsu", "socio_economic"),
    ("reddit", "socio_economic"),
    ("nucle", "socio_economic"),
    ("rete", "support_network"),
    ("familiar", "support_network"),
    ("invalid", "health"),
    ("sanit", "health"),
    ("salute", "health"),
    ("provved", "judicial_acts"),
    ("tribunal", "court_relations"),
    ("segnalaz", "referrals"),
    ("invii", "referrals"),
    ("cartell", "case_membership"),
    ("pratic", "case_membership"),
];

/// Reads the tables of the database `db` is connected to.
pub async fn introspect(db: &Database) -> Result<Vec<Table>, SourceError> {
    let (tables_sql, columns_sql, indexed_sql) = match db.engine() {
        "sqlite" => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            "SELECT name, type, pk FROM pragma_table_info(:table) ORDER BY cid",
            "SELECT ii.name FROM pragma_index_list(:table) AS il, pragma_index_info(il.name) AS ii WHERE ii.seqno = 0",
        ),
        "postgresql" => (
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
            "SELECT c.column_name::text, c.data_type::text, \
             CASE WHEN EXISTS (SELECT 1 FROM information_schema.table_constraints t \
               JOIN information_schema.key_column_usage k ON k.constraint_name = t.constraint_name \
               AND k.table_schema = t.table_schema \
               WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema \
               AND t.table_name = c.table_name AND k.column_name = c.column_name AND k.ordinal_position = 1) \
             THEN 1 ELSE 0 END \
             FROM information_schema.columns c \
             WHERE c.table_schema = current_schema() AND c.table_name = :table ORDER BY c.ordinal_position",
            "SELECT a.attname::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] \
             WHERE n.nspname = current_schema() AND t.relname = :table",
        ),
        _ => (
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
            "SELECT column_name, data_type, CASE WHEN column_key = 'PRI' THEN 1 ELSE 0 END \
             FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = :table \
             ORDER BY ordinal_position",
            "SELECT column_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = :table AND seq_in_index = 1",
        ),
    };
    let mut tables = Vec::new();
    for name in texts(&run(db, tables_sql, None).await?, 0) {
        let columns = run(db, columns_sql, Some(&name)).await?;
        let indexed = texts(&run(db, indexed_sql, Some(&name)).await?, 0);
        tables.push(table(name, &columns.rows, indexed));
    }
    Ok(tables)
}

/// A table from its catalogue rows: name, type, whether in the key.
fn table(name: String, rows: &[Vec<Value>], indexed: Vec<String>) -> Table {
    let mut t = Table {
        name,
        columns: Vec::new(),
        key: None,
        indexed: indexed.into_iter().collect(),
    };
    for row in rows {
        let (Some(Value::Text(column)), Some(Value::Text(type_name))) = (row.first(), row.get(1))
        else {
            continue;
        };
        if matches!(row.get(2), Some(Value::Int(n)) if *n >= 1) && t.key.is_none() {
            t.key = Some(column.clone());
            t.indexed.insert(column.clone());
        }
        t.columns.push(Column {
            name: column.clone(),
            type_name: type_name.clone(),
        });
    }
    t
}

/// Runs a catalogue query, with `:table` bound to `table` when given.
async fn run(
    db: &Database,
    sql: &str,
    table: Option<&str>,
) -> Result<crate::source::Rows, SourceError> {
    let parsed = ParamSql::parse(sql).map_err(|e| SourceError::Sql(sqlx::Error::Protocol(e)))?;
    let prepared = db.prepare(&parsed).await?;
    let params: Vec<Param> = table
        .map(|t| vec![Param::Text(Some(t.to_string()))])
        .unwrap_or_default();
    db.fetch(&prepared, &params).await
}

/// The text values of column `at`.
fn texts(rows: &crate::source::Rows, at: usize) -> Vec<String> {
    rows.rows
        .iter()
        .filter_map(|r| match r.get(at) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The table of people: the one with a tax code column and the most of the
/// other identifying columns.
pub fn people_table(tables: &[Table]) -> Option<&Table> {
    tables
        .iter()
        .filter(|t| t.key.is_some() && t.find(FAMILY).is_some())
        .max_by_key(|t| {
            [TAX_CODE, FAMILY, GIVEN, BIRTH, BIRTHPLACE, SEX]
                .iter()
                .filter(|names| t.find(names).is_some())
                .count()
        })
}

/// The birth date column of the table of people, if any.
pub fn birth_column(people: &Table) -> Option<&str> {
    people.find(BIRTH)
}

/// The date format of a sample of a column's values, as a mapping writes
/// it (`None`: ISO dates or the engine's own date type).
pub fn date_format(sample: &[Value]) -> Option<&'static str> {
    let texts: Vec<&str> = sample
        .iter()
        .filter_map(|v| match v {
            Value::Text(t) => Some(t.trim()),
            _ => None,
        })
        .filter(|t| !t.is_empty())
        .collect();
    let all = |f: fn(&str) -> bool| !texts.is_empty() && texts.iter().all(|t| f(t));
    if all(|t| t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit())) {
        Some("yyyymmdd")
    } else if all(|t| t.len() == 10 && t.as_bytes().get(2) == Some(&b'/')) {
        Some("dd/mm/yyyy")
    } else {
        None
    }
}

/// Reads a sample of `column` of `table`, for its date format.
pub async fn sample(db: &Database, table: &str, column: &str) -> Result<Vec<Value>, SourceError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {} IS NOT NULL LIMIT 20",
        quoted(db, column),
        quoted(db, table),
        quoted(db, column)
    );
    Ok(run(db, &sql, None)
        .await?
        .rows
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect())
}

/// The values of a code-like column: at most 12 distinct among its first
/// 10,000 rows (empty when there are more, or none).
pub async fn code_values(
    db: &Database,
    table: &str,
    column: &str,
) -> Result<Vec<String>, SourceError> {
    let (t, c) = (quoted(db, table), quoted(db, column));
    let sql = format!(
        "SELECT DISTINCT v FROM (SELECT {c} AS v FROM {t} WHERE {c} IS NOT NULL LIMIT 10000) AS sample LIMIT 13"
    );
    let found = texts(&run(db, &sql, None).await?, 0);
    Ok(if found.len() > 12 { Vec::new() } else { found })
}

/// What the data say beside the catalogue: the people's birth date format
/// and the values of code-like text columns, by table and column.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    /// The birth dates' format (`None`: ISO or a date type).
    pub birth_format: Option<&'static str>,
    /// Distinct values of text columns that look like codes.
    pub codes: BTreeMap<(String, String), Vec<String>>,
    /// Whether the engine quotes identifiers with backticks (MySQL).
    pub backticks: bool,
}

/// Samples `db` for the draft of `tables`: the birth dates' format and the
/// values of every text column of the people and of the tables that point
/// at them.
pub async fn sampled(db: &Database, tables: &[Table]) -> Result<Sampled, SourceError> {
    let mut found = Sampled {
        backticks: db.engine() == "mysql",
        ..Sampled::default()
    };
    let Some(people) = people_table(tables) else {
        return Ok(found);
    };
    if let Some(column) = birth_column(people) {
        found.birth_format = date_format(&sample(db, &people.name, column).await?);
    }
    let key = people.key.clone().unwrap_or_default();
    for t in tables
        .iter()
        .filter(|t| t.name == people.name || t.find(&[&key]).is_some())
    {
        for c in t.columns.iter().filter(|c| is_text(&c.type_name)) {
            let values = code_values(db, &t.name, &c.name).await?;
            if !values.is_empty() {
                found.codes.insert((t.name.clone(), c.name.clone()), values);
            }
        }
    }
    Ok(found)
}

/// Whether a declared type holds text.
fn is_text(type_name: &str) -> bool {
    let t = type_name.to_ascii_lowercase();
    ["text", "char", "string"].iter().any(|k| t.contains(k))
}

/// An identifier as the engine quotes it (names from the catalogue only).
fn quoted(db: &Database, name: &str) -> String {
    match db.engine() {
        "mysql" => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The draft: the mapping file's text and the index statements.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// `mapping.toml`.
    pub mapping: String,
    /// `indexes.sql`: one `CREATE INDEX` per column a query looks up that
    /// no index leads.
    pub indexes: String,
    /// What a person must still decide, in words.
    pub todo: Vec<String>,
    /// Whether identifiers are quoted with backticks (MySQL).
    backticks: bool,
}

impl Draft {
    /// A name from the catalogue as the draft's SQL writes it: as it is when
    /// it is a plain lower-case identifier, else quoted (mixed case, spaces,
    /// reserved words).
    fn ident(&self, name: &str) -> String {
        let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        match (plain, self.backticks) {
            (true, _) => name.to_string(),
            (false, true) => format!("`{}`", name.replace('`', "``")),
            (false, false) => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }
}

/// The draft mapping for `tables`, the people's birth dates written in
/// The draft mapping for `tables`, with what `sampled` read of the data.
pub fn draft(system: &str, tables: &[Table], sampled: &Sampled) -> Result<Draft, String> {
    let people = people_table(tables).ok_or(
        "no table of people found: a mapping starts from the table with a family name and a primary key \
         (and, ideally, a tax code and a birth date); write [subject.columns] by hand (docs/connector-guide.md)",
    )?;
    let key = people.key.clone().unwrap_or_default();
    let mut d = Draft {
        backticks: sampled.backticks,
        ..Draft::default()
    };
    let _ = writeln!(
        d.mapping,
        "# Draft mapping of `{system}`, written by `trama connector init` from the database's\n\
         # catalogue. Read it through: every line marked TODO is for you to decide\n\
         # (docs/connector-guide.md). Apply indexes.sql before `trama connector try`.\n\n\
         [source]\nsystem = \"{system}\"\n"
    );
    subject(&mut d, people, sampled);
    matches(&mut d, people, &key);
    for t in tables.iter().filter(|t| t.name != people.name) {
        section(&mut d, t, &key, sampled);
    }
    Ok(d)
}

/// `[subject.columns]`: the identifying columns found.
fn subject(d: &mut Draft, people: &Table, sampled: &Sampled) {
    let birth_format = sampled.birth_format;
    let _ = writeln!(
        d.mapping,
        "# People: table `{}`.\n[subject.columns]",
        people.name
    );
    let key = people.key.as_deref().unwrap_or_default();
    let _ = writeln!(d.mapping, "local_id = \"{key}\"");
    for (field, names) in [
        ("tax_code", TAX_CODE),
        ("family_name", FAMILY),
        ("given_name", GIVEN),
        ("birthplace_code", BIRTHPLACE),
    ] {
        if let Some(c) = people.find(names) {
            let _ = writeln!(d.mapping, "{field} = \"{c}\"");
        }
    }
    if let Some(c) = people.find(BIRTH) {
        match birth_format {
            Some(f) => drop(writeln!(
                d.mapping,
                "birth_date = {{ column = \"{c}\", date_format = \"{f}\" }}"
            )),
            None => drop(writeln!(d.mapping, "birth_date = \"{c}\"")),
        }
    }
    if let Some(c) = people.find(SEX) {
        let found = sampled.codes.get(&(people.name.clone(), c.to_string()));
        let pairs: Vec<String> = found
            .into_iter()
            .flatten()
            .map(|v| format!("\"{}\" = \"TODO: male or female\"", v.escape_debug()))
            .collect();
        let _ = writeln!(
            d.mapping,
            "# TODO: say what each value of `{c}` is, then uncomment these lines:\n\
             # sex = {{ column = \"{c}\", codes = \"sex\" }}\n\
             # [codes.sex] (move it below every [[sections.*]] table)\n\
             # system = \"urn:trama:cs:sex\"\n\
             # map = {{ {} }}",
            pairs.join(", ")
        );
        d.todo
            .push(format!("the values of {}.{c} (sex)", people.name));
    }
    if let Some(c) = people.find(UPDATED) {
        let _ = writeln!(d.mapping, "last_updated = \"{c}\"");
    }
    d.mapping.push('\n');
}

/// The match queries: by tax code, by local id, by family name and birth
/// date; each with the index it needs.
fn matches(d: &mut Draft, people: &Table, key: &str) {
    let fields: Vec<String> = [TAX_CODE, FAMILY, GIVEN, BIRTH, BIRTHPLACE, SEX, UPDATED]
        .iter()
        .filter_map(|names| people.find(names))
        .map(|c| d.ident(c))
        .collect();
    let select = format!(
        "SELECT {}, {} FROM {}",
        d.ident(key),
        fields.join(", "),
        d.ident(&people.name)
    );
    let (cf, family, birth, id) = (
        people.find(TAX_CODE).map(|c| d.ident(c)),
        people.find(FAMILY).map(|c| d.ident(c)),
        people.find(BIRTH).map(|c| d.ident(c)),
        d.ident(key),
    );
    let mut query = |header: &str, filter: &str, looked_up: &[&str]| {
        let _ = writeln!(
            d.mapping,
            "{header}\nsql = \"\"\"\n{select}\nWHERE {filter}\"\"\"\n"
        );
        for column in looked_up {
            index(d, people, column);
        }
    };
    if let (Some(cf), Some(column)) = (cf, people.find(TAX_CODE)) {
        query("[match.tax_code]", &format!("{cf} = :tax_code"), &[column]);
    }
    query("[match.local_id]", &format!("{id} = :local_id"), &[key]);
    if let (Some(family), Some(birth), Some(column)) = (family, birth, people.find(FAMILY)) {
        query(
            "# Candidates by family name and birth date; add more blocking queries as the guide shows.\n[[match.demographics]]",
            &format!("{family} = :family_name AND {birth} = :birth_date"),
            &[column],
        );
    }
}

/// A section offered for a table that points at the people by their key
/// and whose name says which section; other tables are listed for a person
/// to place.
fn section(d: &mut Draft, t: &Table, key: &str, sampled: &Sampled) {
    // A table's own key is not a link to the people, even under their
    // key's name (two tables keyed `id`).
    let Some(link) = t.find(&[key]).filter(|l| t.key.as_deref() != Some(*l)) else {
        return;
    };
    let lower = t.name.to_ascii_lowercase();
    let guessed = SECTIONS
        .iter()
        .find(|(fragment, _)| lower.contains(fragment))
        .map(|(_, s)| *s);
    let Some((section, record_id)) = guessed.zip(t.key.as_deref()) else {
        let _ = writeln!(
            d.mapping,
            "# TODO: table `{}` refers to people by `{link}`: which section of the record is it? (see the schema reference)\n",
            t.name
        );
        d.todo.push(format!("where table {} belongs", t.name));
        return;
    };
    let columns: Vec<String> = t.columns.iter().map(|c| d.ident(&c.name)).collect();
    let _ = writeln!(
        d.mapping,
        "# Table `{}`: one entry of {section} per row.\n[[sections.{section}]]\nsql = \"\"\"\nSELECT {}\nFROM {} WHERE {} = :local_id\"\"\"\ncolumns.record_id = \"{record_id}\"",
        t.name,
        columns.join(", "),
        d.ident(&t.name),
        d.ident(link)
    );
    if let Some(c) = t.find(UPDATED) {
        let _ = writeln!(d.mapping, "columns.last_updated = \"{c}\"");
    }
    let _ = writeln!(
        d.mapping,
        "# TODO: bind the columns that hold the section's fields (docs/schema.md); a coded\n\
         # field takes {{ column = \"...\", codes = \"...\" }} and a code table of the values listed:"
    );
    let updated = t.find(UPDATED);
    let bound =
        |c: &&Column| ![Some(link), Some(record_id), updated].contains(&Some(c.name.as_str()));
    for c in t.columns.iter().filter(bound) {
        let values = sampled
            .codes
            .get(&(t.name.clone(), c.name.clone()))
            .map(|v| {
                let quoted: Vec<String> = v
                    .iter()
                    .map(|x| format!("\"{}\"", x.escape_debug()))
                    .collect();
                format!(", values {}", quoted.join(", "))
            })
            .unwrap_or_default();
        let _ = writeln!(
            d.mapping,
            "# columns.<field> = \"{}\"   # {}{values}",
            c.name, c.type_name
        );
    }
    d.mapping.push('\n');
    d.todo.push(format!("the fields of {} ({section})", t.name));
    index(d, t, link);
}

/// An index statement for `column` of `t` unless an index leads with it.
fn index(d: &mut Draft, t: &Table, column: &str) {
    if t.indexed.iter().any(|c| c.eq_ignore_ascii_case(column)) {
        return;
    }
    let plain = |n: &str| -> String {
        n.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    let statement = format!(
        "CREATE INDEX trama_{}_{} ON {} ({});\n",
        plain(&t.name),
        plain(column),
        d.ident(&t.name),
        d.ident(column)
    );
    if !d.indexes.contains(&statement) {
        d.indexes.push_str(&statement);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, columns: &[&str], key: &str) -> Table {
        Table {
            name: name.into(),
            columns: columns
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    type_name: "TEXT".into(),
                })
                .collect(),
            key: Some(key.into()),
            indexed: BTreeSet::from([key.to_string()]),
        }
    }

    #[test]
    fn the_people_and_their_sections_are_recognised_by_their_columns() {
        let tables = [
            table(
                "iscritti",
                &[
                    "matricola",
                    "cod_fiscale",
                    "cognome",
                    "nome",
                    "dt_nascita",
                    "sesso",
                    "aggiornato",
                ],
                "matricola",
            ),
            table(
                "pratiche_fiscali",
                &["id_pratica", "matricola", "tipo", "aggiornato"],
                "id_pratica",
            ),
            table(
                "tessere",
                &["id_tessera", "matricola", "anno"],
                "id_tessera",
            ),
            table("sedi", &["codice", "indirizzo"], "codice"),
        ];
        let sampled = Sampled {
            backticks: false,
            birth_format: Some("dd/mm/yyyy"),
            codes: BTreeMap::from([(
                ("iscritti".to_string(), "sesso".to_string()),
                vec!["M".to_string(), "F".to_string()],
            )]),
        };
        let Ok(d) = draft("gestionale-soci", &tables, &sampled) else {
            panic!("a draft")
        };
        for line in [
            "local_id = \"matricola\"",
            "tax_code = \"cod_fiscale\"",
            "birth_date = { column = \"dt_nascita\", date_format = \"dd/mm/yyyy\" }",
            "WHERE cod_fiscale = :tax_code",
            "WHERE cognome = :family_name AND dt_nascita = :birth_date",
            "[[sections.case_membership]]",
            "FROM pratiche_fiscali WHERE matricola = :local_id",
            "# TODO: table `tessere` refers to people by `matricola`",
            r#"# map = { "M" = "TODO: male or female", "F" = "TODO: male or female" }"#,
        ] {
            assert!(d.mapping.contains(line), "{line}\n{}", d.mapping);
        }
        assert!(!d.mapping.contains("sedi"), "a table that names nobody");
        assert_eq!(
            d.indexes,
            "CREATE INDEX trama_iscritti_cod_fiscale ON iscritti (cod_fiscale);\n\
             CREATE INDEX trama_iscritti_cognome ON iscritti (cognome);\n\
             CREATE INDEX trama_pratiche_fiscali_matricola ON pratiche_fiscali (matricola);\n"
        );
        assert_eq!(d.todo.len(), 3, "{:?}", d.todo);
    }

    #[test]
    fn names_that_need_it_are_quoted_for_the_engine() {
        let tables = [table("Soci", &["ID", "Cognome", "Nome", "cf"], "ID")];
        let Ok(d) = draft("gestionale", &tables, &Sampled::default()) else {
            panic!("a draft")
        };
        for line in [
            r#"SELECT "ID", cf, "Cognome", "Nome" FROM "Soci""#,
            r#"WHERE "ID" = :local_id"#,
            "WHERE cf = :tax_code",
            r#"local_id = "ID""#,
        ] {
            assert!(d.mapping.contains(line), "{line}\n{}", d.mapping);
        }
        assert_eq!(d.indexes, "CREATE INDEX trama_soci_cf ON \"Soci\" (cf);\n");
        let mysql = Sampled {
            backticks: true,
            ..Sampled::default()
        };
        let Ok(d) = draft("gestionale", &tables, &mysql) else {
            panic!("a draft")
        };
        assert!(d.mapping.contains("FROM `Soci`"), "{}", d.mapping);
    }

    #[test]
    fn birth_dates_formats_are_read_from_a_sample() {
        let text = |t: &str| Value::Text(t.into());
        assert_eq!(
            date_format(&[text("19580714"), text("20010203")]),
            Some("yyyymmdd")
        );
        assert_eq!(date_format(&[text("14/07/1958")]), Some("dd/mm/yyyy"));
        assert_eq!(date_format(&[text("1958-07-14")]), None);
        assert_eq!(date_format(&[]), None);
    }
}
