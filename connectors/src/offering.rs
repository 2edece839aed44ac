//! Reading the partner's offer (`ListServices`): every `[[services]]`
//! query runs under the statement timeout and each row becomes a `Service`
//! ([`crate::offer`] says how a row maps); a row that does not map is left
//! out and reported with its key and id.

use std::collections::{BTreeMap, HashMap};

use trama_proto::v1;

use crate::columns::ColumnSpec;
use crate::error::CallError;
use crate::offer::{OfferQuery, build};
use crate::runtime::Connector;
use crate::source::Value;
use crate::values::{self, Typed};

/// The partner's offer as read now.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    /// The services that mapped.
    pub services: Vec<v1::Service>,
    /// Rows left out, and why.
    pub problems: Vec<v1::OfferProblem>,
}

impl Connector {
    /// Reads every `[[services]]` query under the statement timeout.
    pub async fn offer(&self) -> Result<Offer, CallError> {
        let mut offer = Offer::default();
        for q in &self.mapping.services {
            let rows = self.run_raw(&q.query, &HashMap::new()).await?;
            for row in &rows.rows {
                let cell = |name: &str| -> Option<&Value> {
                    let spec = q.fields.iter().find(|(f, _)| f.name == name)?;
                    match &spec.1 {
                        ColumnSpec::Column { column, .. } => row.get(rows.index_of(column)?),
                        ColumnSpec::Constant { .. } => None,
                    }
                };
                let row_id = cell("id").map(text_of).unwrap_or_default();
                match self.service(q, &cell) {
                    Ok(s) => offer.services.push(s),
                    Err((key, problem)) => offer.problems.push(v1::OfferProblem {
                        key,
                        row_id,
                        problem,
                    }),
                }
            }
        }
        Ok(offer)
    }

    /// One row as a service; an error names the field's key.
    fn service<'r>(
        &self,
        q: &OfferQuery,
        cell: &dyn Fn(&str) -> Option<&'r Value>,
    ) -> Result<v1::Service, (String, String)> {
        let mut values: BTreeMap<&'static str, Vec<Typed>> = BTreeMap::new();
        for (f, spec) in &q.fields {
            let key = || format!("{}.columns.{}", q.key, f.name);
            let raw = match spec {
                ColumnSpec::Column { .. } => cell(f.name).cloned().unwrap_or(Value::Null),
                ColumnSpec::Constant { value, .. } => Value::Text(value.clone()),
            };
            let items: Vec<Value> = match (&raw, f.list) {
                (Value::Text(t), true) => t
                    .split([',', ';'])
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::Text(s.to_string()))
                    .collect(),
                _ => vec![raw.clone()],
            };
            for item in items {
                let v =
                    values::convert(&item, f.kind, spec, &self.mapping.codes, &self.organisation)
                        .map_err(|p| (key(), p))?;
                if let Some(v) = v {
                    values.entry(f.name).or_default().push(v);
                }
            }
        }
        build(&self.organisation, &q.key, values)
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Text(t) => t.trim().to_string(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cooperative's offer table with one row of each kind: good, a price
    /// that is not a number, a need nobody mapped, hours nobody can read.
    async fn cooperative(dir: &std::path::Path) -> Connector {
        let db_path = dir.join("coop.db");
        let url = format!("sqlite://{}?mode=rwc", db_path.display());
        let pool = sqlx::SqlitePool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for sql in [
            "CREATE TABLE servizi (cod TEXT, titolo TEXT, testo TEXT, area TEXT, comuni TEXT, \
             tariffa TEXT, buoni TEXT, orari TEXT, agg TEXT)",
            "CREATE UNIQUE INDEX servizi_cod ON servizi (cod)",
            "INSERT INTO servizi VALUES ('SAD1', 'Assistenza domiciliare', 'Aiuto in casa', 'ANZ', \
             'D150, D142', '18,50', 'conciliazione', 'lun-ven 08:00-12:00', '2026-11-20 10:00:00')",
            "INSERT INTO servizi VALUES ('PAS2', 'Pasti a domicilio', 'Pranzo', 'ANZ', 'D150', \
             'dodici euro', '', '', '2026-11-20 10:00:00')",
            "INSERT INTO servizi VALUES ('BAB3', 'Babysitting', 'Bambini', 'XYZ', 'D150', '9', '', '', \
             '2026-11-20 10:00:00')",
            "INSERT INTO servizi VALUES ('STI4', 'Stiratura', 'Ferro', 'ANZ', 'D150', '7', '', \
             'sempre', '2026-11-20 10:00:00')",
        ] {
            sqlx::query(sql)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        pool.close().await;
        let mapping = r#"
[source]
system = "gestionale-coop"

[subject]
columns = { local_id = "cod", tax_code = "cod", family_name = "cod", given_name = "cod" }

[match]
local_id = { sql = "SELECT cod FROM servizi WHERE cod = :local_id" }

[[services]]
sql = "SELECT cod, titolo, testo, area, comuni, tariffa, buoni, orari, agg FROM servizi"
columns.id = "cod"
columns.name = "titolo"
columns.description = "testo"
columns.provider = { value = "Cooperativa Il Cerchio" }
columns.needs = { column = "area", codes = "area" }
columns.municipalities = "comuni"
columns.price = { column = "tariffa", unit = "euro" }
columns.price_description = { value = "all'ora" }
columns.vouchers = "buoni"
columns.voucher_issuer = { value = "Comune di Cremona" }
columns.hours = "orari"
columns.last_modified = "agg"

[codes.area]
system = "urn:trama:cs:need"
map = { ANZ = "loneliness", XYZ = "nothing-known" }
"#;
        let mapping = crate::mapping::Mapping::parse(&dir.join("mapping.toml"), mapping)
            .unwrap_or_else(|e| panic!("{e}"));
        let limits = crate::source::Limits {
            max_connections: 2,
            statement_timeout: std::time::Duration::from_secs(5),
        };
        let db = crate::source::Database::connect(&url, limits)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let coop = Connector::new("coop".into(), mapping, db);
        coop.check().await.unwrap_or_else(|e| panic!("{e}"));
        coop
    }

    #[tokio::test]
    async fn rows_that_map_publish_and_the_others_are_named_with_their_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let coop = cooperative(dir.path()).await;
        let offer = coop.offer().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(offer.services.len(), 1, "{:?}", offer.problems);
        let s = &offer.services[0];
        assert_eq!(s.id, "coop/SAD1");
        assert_eq!(s.provider, "Cooperativa Il Cerchio");
        assert_eq!(s.needs, vec!["loneliness"]);
        assert_eq!(s.municipalities, vec!["D150", "D142"]);
        assert_eq!(s.costs[0].amount.as_ref().map(|m| m.cents), Some(1850));
        assert_eq!(s.vouchers[0].scheme, "conciliazione");
        assert_eq!(s.vouchers[0].issuer, "Comune di Cremona");
        assert_eq!(s.openings.len(), 5);
        assert_eq!(s.last_modified, "2026-11-20T10:00:00Z");
        assert_eq!(s.status, v1::ServiceStatus::Active as i32);
        let problems: Vec<(&str, &str)> = offer
            .problems
            .iter()
            .map(|p| (p.key.as_str(), p.row_id.as_str()))
            .collect();
        assert_eq!(
            problems,
            vec![
                ("services[0].columns.price", "PAS2"),
                ("services[0].columns.needs", "BAB3"),
                ("services[0].columns.hours", "STI4"),
            ]
        );
        assert!(
            offer.problems.iter().all(|p| !p.problem.contains("dodici")),
            "a problem never quotes the row's text: {:?}",
            offer.problems
        );
    }
}
