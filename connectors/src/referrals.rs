//! The partner's inbox of referrals (`[referrals]` in the mapping file):
//! the partner's own SQL to find a referral by id (`exists`), to write one
//! (`insert`) and to read the status changes its own software made
//! (`changes`), with a table from its status codes to Trama's; optionally
//! to write back changes made through Trama (`update`) and to read what a
//! referral says for the partner's own operators (`read`).
//!
//! ```toml
//! [referrals]
//! exists = "SELECT 1 FROM segnalazioni_in WHERE id_trama = :id"
//! insert = """INSERT INTO segnalazioni_in (id_trama, mittente, codice_fiscale, motivi, messaggio, stato)
//! VALUES (:id, :sender, :tax_code, :reasons, :message, 'NUOVA')"""
//! changes = """SELECT id_trama AS id, stato AS status, nota AS reason, operatore AS operator_id,
//! aggiornata AS changed_at FROM segnalazioni_in WHERE aggiornata >= :since ORDER BY aggiornata"""
//! status = { NUOVA = "requested", PRESA = "accepted", RIFIUTATA = "rejected", CHIUSA = "completed" }
//! ```
//!
//! A delivery runs `exists` and `insert` in one transaction keyed by the
//! referral's id: a redelivery after a lost acknowledgement writes nothing.
//! Times (`:created`, `:due`, `:since`) are bound as UTC text,
//! `YYYY-MM-DD HH:MM:SS`; `changed_at` may be such text or a timestamp.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use trama_proto::v1;

use crate::columns::{DateFormat, NamedQuery};
use crate::params::ParamSql;
use crate::source::{Param, Rows, Value};

/// Parameters `insert` may use.
pub const INSERT_PARAMS: [&str; 16] = [
    "id",
    "sender",
    "sender_operator",
    "target_service",
    "urgency",
    "tax_code",
    "family_name",
    "given_name",
    "birth_date",
    "birthplace_code",
    "reasons",
    "message",
    "purpose",
    "case_id",
    "created",
    "due",
];

/// `[referrals]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReferrals {
    exists: String,
    insert: String,
    changes: String,
    #[serde(default)]
    update: Option<String>,
    #[serde(default)]
    read: Option<String>,
    status: BTreeMap<String, String>,
}

/// The inbox's queries, checked.
#[derive(Debug, Clone)]
pub struct InboxMapping {
    /// Finds a referral by `:id`.
    pub exists: NamedQuery,
    /// Writes one.
    pub insert: NamedQuery,
    /// Reads status changes at or after `:since`.
    pub changes: NamedQuery,
    /// Writes a status change made through Trama, if the partner wants
    /// its table to follow them.
    pub update: Option<NamedQuery>,
    /// Reads what one referral says, by `:id`, for the partner's own
    /// operators (columns `tax_code`, `family_name`, `given_name`,
    /// `birth_date`, `birthplace_code`, `reasons`, `message`, any of them).
    pub read: Option<NamedQuery>,
    /// The partner's status codes, with Trama's statuses.
    pub statuses: BTreeMap<String, v1::ReferralStatus>,
}

/// Whether a mapping key names a query that writes (never probed).
pub fn writes(key: &str) -> bool {
    key == "referrals.insert" || key == "referrals.update"
}

/// Parameters `update` may use.
pub const UPDATE_PARAMS: [&str; 5] = ["id", "status", "reason", "operator_id", "changed_at"];

fn query(key: &str, sql: &str, allowed: &[&str]) -> Result<NamedQuery, (String, String)> {
    let parsed = ParamSql::parse(sql).map_err(|p| (key.to_string(), p))?;
    if let Some(p) = parsed.param_names().find(|p| !allowed.contains(p)) {
        return Err((
            key.to_string(),
            format!(
                "unknown parameter `:{p}`; this query may use {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(NamedQuery {
        key: key.to_string(),
        sql: parsed,
    })
}

/// Checks `[referrals]`.
pub(crate) fn parse(raw: &RawReferrals) -> Result<InboxMapping, (String, String)> {
    let mut statuses = BTreeMap::new();
    for (code, status) in &raw.status {
        let s = trama_proto::referrals::parse(status).ok_or_else(|| {
            (
                format!("referrals.status.{code}"),
                format!("`{status}` is not a referral status: requested, accepted, rejected, in_progress, completed, failed, cancelled"),
            )
        })?;
        statuses.insert(code.clone(), s);
    }
    if !statuses
        .values()
        .any(|s| *s == v1::ReferralStatus::Requested)
    {
        return Err((
            "referrals.status".into(),
            "map the code your inbox gives a new referral to \"requested\"".into(),
        ));
    }
    Ok(InboxMapping {
        exists: query("referrals.exists", &raw.exists, &["id"])?,
        insert: query("referrals.insert", &raw.insert, &INSERT_PARAMS)?,
        changes: query("referrals.changes", &raw.changes, &["since"])?,
        update: raw
            .update
            .as_deref()
            .map(|sql| query("referrals.update", sql, &UPDATE_PARAMS))
            .transpose()?,
        read: raw
            .read
            .as_deref()
            .map(|sql| query("referrals.read", sql, &["id"]))
            .transpose()?,
        statuses,
    })
}

impl InboxMapping {
    /// The partner's code for `status` (the first its table maps to it).
    pub fn code_of(&self, status: v1::ReferralStatus) -> Option<&str> {
        self.statuses
            .iter()
            .find(|(_, s)| **s == status)
            .map(|(code, _)| code.as_str())
    }
}

/// The values `update` binds, from a status change made through Trama.
pub fn update_values(
    m: &InboxMapping,
    r: &v1::UpdateReferralStatusRequest,
) -> Option<HashMap<&'static str, Param>> {
    let status = v1::ReferralStatus::try_from(r.status).ok()?;
    let code = m.code_of(status)?.to_string();
    let text = |s: &str| Param::Text((!s.trim().is_empty()).then(|| s.trim().to_string()));
    Some(HashMap::from([
        ("id", text(&r.id)),
        ("status", Param::Text(Some(code))),
        ("reason", text(&r.reason)),
        ("operator_id", text(&r.operator_id)),
        (
            "changed_at",
            Param::Text(r.at.and_then(|t| time_text(t.seconds))),
        ),
    ]))
}

/// A time as the inbox queries bind it: UTC text, `YYYY-MM-DD HH:MM:SS`
/// (text compares in time order, on every engine).
pub fn time_text(seconds: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).ok()
}

/// The values `insert` binds, from a delivery.
pub fn insert_values(r: &v1::DeliverReferralRequest) -> HashMap<&'static str, Param> {
    let text = |s: &str| Param::Text((!s.trim().is_empty()).then(|| s.trim().to_string()));
    let content = r.content.clone().unwrap_or_default();
    let person = content.person.unwrap_or_default();
    let urgency = v1::Urgency::try_from(r.urgency)
        .unwrap_or(v1::Urgency::Routine)
        .as_str_name()
        .trim_start_matches("URGENCY_")
        .to_ascii_lowercase();
    let birth = person.birth_date.and_then(|d| d.to_date());
    HashMap::from([
        ("id", text(&r.id)),
        ("sender", text(&r.sender)),
        ("sender_operator", text(&r.sender_operator)),
        ("target_service", text(&r.target_service)),
        ("urgency", Param::Text(Some(urgency))),
        ("tax_code", text(&person.tax_code)),
        ("family_name", text(&person.family_name)),
        ("given_name", text(&person.given_name)),
        ("birth_date", Param::Date(birth)),
        ("birthplace_code", text(&person.birthplace_code)),
        ("reasons", Param::Text(Some(content.reasons.join(",")))),
        ("message", text(&content.message)),
        ("purpose", text(&r.purpose)),
        ("case_id", text(&r.case_id)),
        (
            "created",
            Param::Text(r.created.and_then(|t| time_text(t.seconds))),
        ),
        ("due", Param::Text(r.due.and_then(|t| time_text(t.seconds)))),
    ])
}

fn cell(rows: &Rows, row: &[Value], column: &str) -> String {
    match rows.index_of(column).and_then(|i| row.get(i)) {
        Some(Value::Text(t)) => t.trim().to_string(),
        Some(Value::Int(n)) => n.to_string(),
        Some(Value::Decimal(d)) => d.to_string(),
        Some(Value::Date(d)) => d.to_string(),
        Some(Value::Timestamp(s)) => s.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) | None => String::new(),
    }
}

fn changed_at(rows: &Rows, row: &[Value]) -> Option<i64> {
    match rows.index_of("changed_at").and_then(|i| row.get(i)) {
        Some(Value::Timestamp(s)) => Some(*s),
        Some(Value::Text(t)) => crate::values::parse_timestamp(t, DateFormat::Iso),
        Some(Value::Date(d)) => Some(d.midnight().assume_utc().unix_timestamp()),
        _ => None,
    }
}

/// What the first row of a `read` says: the person, the reasons (comma
/// separated need codes, as `insert` wrote them) and the message.
pub fn read_content(rows: &Rows) -> Option<v1::ReferralContent> {
    let row = rows.rows.first()?;
    let text = |column: &str| cell(rows, row, column);
    let birth_date = match rows.index_of("birth_date").and_then(|i| row.get(i)) {
        Some(Value::Date(d)) => Some(v1::Date::from_date(*d)),
        Some(Value::Text(t)) => {
            crate::values::parse_date(t, DateFormat::Iso).map(v1::Date::from_date)
        }
        _ => None,
    };
    Some(v1::ReferralContent {
        person: Some(v1::ReferredPerson {
            tax_code: text("tax_code"),
            given_name: text("given_name"),
            family_name: text("family_name"),
            birth_date,
            birthplace_code: text("birthplace_code"),
        }),
        reasons: text("reasons")
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
        message: text("message"),
    })
}

/// The changes read: translated, the rows that do not map named, and the
/// latest change time seen (the next `since`).
pub fn read_changes(
    m: &InboxMapping,
    rows: &Rows,
) -> (Vec<v1::ReferralChange>, Vec<String>, Option<i64>) {
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    let mut latest = None;
    for row in &rows.rows {
        let id = cell(rows, row, "id");
        let code = cell(rows, row, "status");
        let at = changed_at(rows, row);
        latest = latest.max(at);
        let Some(status) = m.statuses.get(&code) else {
            problems.push(format!(
                "referrals.status: row {id} has status `{code}`, which the table does not map"
            ));
            continue;
        };
        changes.push(v1::ReferralChange {
            id,
            status: *status as i32,
            reason: cell(rows, row, "reason"),
            operator_id: cell(rows, row, "operator_id"),
            at: at.map(|seconds| prost_types::Timestamp { seconds, nanos: 0 }),
        });
    }
    (changes, problems, latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawReferrals {
        RawReferrals {
            exists: "SELECT 1 FROM inbox WHERE id = :id".into(),
            insert: "INSERT INTO inbox (id, cf) VALUES (:id, :tax_code)".into(),
            changes: "SELECT id, stato AS status FROM inbox WHERE t >= :since".into(),
            update: Some("UPDATE inbox SET stato = :status WHERE id = :id".into()),
            read: None,
            status: BTreeMap::from([
                ("N".to_string(), "requested".to_string()),
                ("P".to_string(), "in-progress".to_string()),
            ]),
        }
    }

    #[test]
    fn the_inbox_mapping_is_checked_naming_the_key() {
        let m = parse(&raw()).unwrap_or_else(|(k, p)| panic!("{k}: {p}"));
        assert_eq!(m.statuses.get("P"), Some(&v1::ReferralStatus::InProgress));
        let mut bad = raw();
        bad.insert = "INSERT INTO inbox (id) VALUES (:referral)".into();
        assert_eq!(
            parse(&bad).err().map(|e| e.0),
            Some("referrals.insert".into())
        );
        let mut bad = raw();
        bad.status.insert("X".into(), "open".into());
        assert_eq!(
            parse(&bad).err().map(|e| e.0),
            Some("referrals.status.X".into())
        );
        let mut bad = raw();
        bad.status.remove("N");
        assert_eq!(
            parse(&bad).err().map(|e| e.0),
            Some("referrals.status".into())
        );
    }

    #[test]
    fn changes_translate_codes_and_name_the_rows_that_do_not_map() {
        let m = parse(&raw()).unwrap_or_else(|(k, p)| panic!("{k}: {p}"));
        let rows = Rows {
            columns: vec!["id".into(), "status".into(), "changed_at".into()],
            rows: vec![
                vec![
                    Value::Text("a".into()),
                    Value::Text("P".into()),
                    Value::Text("2026-12-01 10:00:00".into()),
                ],
                vec![
                    Value::Text("b".into()),
                    Value::Text("Z".into()),
                    Value::Text("2026-12-02 10:00:00".into()),
                ],
            ],
        };
        let (changes, problems, latest) = read_changes(&m, &rows);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].status, v1::ReferralStatus::InProgress as i32);
        assert!(problems[0].contains("row b") && problems[0].contains("`Z`"));
        assert_eq!(
            latest,
            crate::values::parse_timestamp("2026-12-02 10:00:00", DateFormat::Iso)
        );
    }
}
