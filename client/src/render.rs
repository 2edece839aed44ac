//! Output of `trama query` and the demo walkthrough: readable tables for
//! people, canonical protobuf JSON (`--json`) for machines.

use std::fmt::Write as _;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use trama_proto::v1::{self, OutcomeStatus};

/// The schema's descriptors, decoded once per process (the console renders
/// every record page through them).
fn pool() -> Result<&'static DescriptorPool, String> {
    static POOL: std::sync::OnceLock<Result<DescriptorPool, String>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(trama_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Renders a `trama.v1` message, whose full protobuf name is `name`, as
/// canonical protobuf JSON.
pub fn json<M: Message>(message: &M, name: &str) -> Result<String, String> {
    let descriptor = pool()?
        .get_message_by_name(name)
        .ok_or_else(|| format!("no descriptor for {name}"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::pretty(&mut out);
    dynamic
        .serialize_with_options(
            &mut serializer,
            &SerializeOptions::new().skip_default_fields(true),
        )
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// A plain text table with aligned columns (comfy-table underneath).
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header row.
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rows laid out without borders, `padding` (left, right) around
    /// each cell, the first row as the header.
    fn laid_out(&self, padding: (u16, u16)) -> comfy_table::Table {
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::NOTHING);
        let mut rows = self.rows.iter();
        if let Some(header) = rows.next() {
            table.set_header(header);
        }
        table.add_rows(rows);
        for column in table.column_iter_mut() {
            column.set_padding(padding);
        }
        table
    }

    /// Renders with two spaces between columns.
    pub fn render(&self) -> String {
        let table = self.laid_out((0, 2));
        let mut out = String::new();
        for line in table.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Renders as a Markdown table (the first row as its header), cells
    /// as they are, for a file that a Markdown renderer lays out.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for (i, row) in self.rows.iter().enumerate() {
            out.push_str("| ");
            out.push_str(&row.join(" | "));
            out.push_str(" |\n");
            if i == 0 {
                out.push_str(&"|---".repeat(row.len()));
                out.push_str("|\n");
            }
        }
        out
    }
}

fn date(d: Option<&v1::Date>) -> String {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_else(|| "-".into())
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// A stated case with whether it was checked: `CS-1 (verified)`.
pub fn case(case_id: &str, check: &str) -> String {
    match (case_id.is_empty(), check.is_empty()) {
        (true, _) => "-".into(),
        (false, true) => case_id.to_string(),
        (false, false) => format!("{case_id} ({check})"),
    }
}

fn sex(s: i32) -> &'static str {
    match v1::Sex::try_from(s) {
        Ok(v1::Sex::Female) => "F",
        Ok(v1::Sex::Male) => "M",
        _ => "-",
    }
}

/// A birthplace code with the name it had on the birth date.
fn place(code: &str, birth: Option<&v1::Date>) -> String {
    let on = birth.and_then(v1::Date::to_date).unwrap_or(time::Date::MAX);
    match trama_subject::belfiore::place_on(code, on) {
        Some(p) => format!("{code} {}", p.name),
        None => dash(code),
    }
}

fn coding(c: Option<&v1::Coding>) -> String {
    match c {
        Some(c) if c.system.starts_with("urn:trama:local:") => format!("{} (local)", c.code),
        Some(c) => c.code.clone(),
        None => "-".into(),
    }
}

/// An amount as `€ 12.50`, the sign kept for every negative amount
/// (`€ -0.50`: integer division alone would lose it below one euro).
fn money(m: Option<&v1::Money>) -> String {
    m.map(|m| format!("€ {}", crate::money::decimal(m.cents, '.', None)))
        .unwrap_or_default()
}

fn period(p: Option<&v1::Period>) -> String {
    match p {
        Some(p) if p.start == p.end => date(p.start.as_ref()),
        Some(p) => format!(
            "{} → {}",
            date(p.start.as_ref()),
            p.end.as_ref().map_or("open".into(), |d| date(Some(d)))
        ),
        None => "-".into(),
    }
}

fn provenance(p: Option<&v1::Provenance>) -> String {
    match p {
        Some(p) => {
            let updated = p
                .last_updated
                .as_ref()
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
                .map(|t| format!(", updated {}", t.date()))
                .unwrap_or_default();
            format!(
                "{}/{} #{}{updated}",
                p.source_organisation, p.source_system, p.record_id
            )
        }
        None => "-".into(),
    }
}

/// One line per outcome: `comune ok 3 entries 12 ms`.
pub fn outcomes(outcomes: &[v1::SourceOutcome], partial: bool) -> String {
    outcome_table(outcomes, partial, true)
}

/// The sources' outcomes of a statistics answer: status, time and detail
/// (a statistics answer counts no entries per source).
pub fn statuses(outcomes: &[v1::SourceOutcome], partial: bool) -> String {
    outcome_table(outcomes, partial, false)
}

fn outcome_table(outcomes: &[v1::SourceOutcome], partial: bool, entries: bool) -> String {
    let header: &[&str] = if entries {
        &["source", "outcome", "entries", "ms", "detail"]
    } else {
        &["source", "outcome", "ms", "detail"]
    };
    let mut t = Table::new(header);
    for o in outcomes {
        let status = match OutcomeStatus::try_from(o.status) {
            Ok(OutcomeStatus::Ok) => "ok",
            Ok(OutcomeStatus::NotFound) => "not found",
            Ok(OutcomeStatus::Denied) => "denied",
            Ok(OutcomeStatus::Timeout) => "TIMEOUT",
            Ok(OutcomeStatus::Unavailable) => "UNAVAILABLE",
            Ok(OutcomeStatus::Error) => "ERROR",
            _ => "?",
        };
        let mut row = vec![o.organisation.clone(), status.into()];
        if entries {
            row.push(o.entries.to_string());
        }
        row.extend([o.latency_ms.to_string(), o.message.clone()]);
        t.row(row);
    }
    let mut out = t.render();
    if partial {
        out.push_str(
            "PARTIAL ANSWER: at least one source did not answer; what it holds is missing.\n",
        );
    }
    out
}

/// A `FindSubject` answer as a table of candidate groups.
pub fn find(resp: &v1::FindSubjectResponse) -> String {
    let mut t = Table::new(&[
        "#",
        "score",
        "source",
        "local id",
        "tax code",
        "family name",
        "given name",
        "born",
        "sex",
        "birthplace",
        "matched",
    ]);
    for (i, g) in resp.groups.iter().enumerate() {
        for (j, c) in g.candidates.iter().enumerate() {
            let id = c.identity.clone().unwrap_or_default();
            t.row(vec![
                if j == 0 {
                    (i + 1).to_string()
                } else {
                    String::new()
                },
                format!("{:.2}", c.score),
                id.provenance
                    .as_ref()
                    .map(|p| p.source_organisation.clone())
                    .unwrap_or_default(),
                id.local_id
                    .as_ref()
                    .map(|l| l.id.clone())
                    .unwrap_or_default(),
                dash(&id.tax_code),
                id.family_name.clone(),
                id.given_name.clone(),
                date(id.birth_date.as_ref()),
                sex(id.sex).into(),
                place(&id.birthplace_code, id.birth_date.as_ref()),
                c.matched_fields.join(","),
            ]);
        }
    }
    let mut out = format!("{} candidate person(s)\n", resp.groups.len());
    out.push_str(&t.render());
    out.push('\n');
    out.push_str(&outcomes(&resp.outcomes, resp.partial));
    out
}

/// A `GetRecord` answer: identities per source, conflicts, then each
/// section's entries with their provenance.
pub fn record(resp: &v1::GetRecordResponse) -> String {
    let mut out = String::new();
    let Some(record) = &resp.record else {
        out.push_str("No source knows this person.\n\n");
        out.push_str(&outcomes(&resp.outcomes, resp.partial));
        return out;
    };
    out.push_str("IDENTITY, as each source holds it\n");
    out.push_str(&identities(&record.identities));
    for c in &record.conflicts {
        let values: Vec<String> = c
            .values
            .iter()
            .map(|v| format!("\"{}\" ({})", v.value, v.source_organisations.join(", ")))
            .collect();
        let _ = writeln!(
            out,
            "  conflict on {}: {}",
            c.field.trim_start_matches("identity."),
            values.join(" vs ")
        );
    }
    let s = record.sections.clone().unwrap_or_default();
    for (title, rows) in shown_sections(&s) {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        let mut t = Table::new(&["", "source"]);
        for (text, p) in rows {
            t.row(vec![text, provenance(p)]);
        }
        // Drop the empty header line.
        out.push_str(t.render().split_once('\n').map_or("", |(_, rest)| rest));
    }
    out.push('\n');
    out.push_str(&outcomes(&resp.outcomes, resp.partial));
    out
}

/// The person's identity at each source, as a table.
fn identities(identities: &[v1::SubjectIdentity]) -> String {
    let mut t = Table::new(&[
        "source",
        "local id",
        "tax code",
        "family name",
        "given name",
        "born",
        "sex",
        "birthplace",
    ]);
    for id in identities {
        t.row(vec![
            id.provenance
                .as_ref()
                .map(|p| p.source_organisation.clone())
                .unwrap_or_default(),
            id.local_id
                .as_ref()
                .map(|l| l.id.clone())
                .unwrap_or_default(),
            dash(&id.tax_code),
            id.family_name.clone(),
            id.given_name.clone(),
            date(id.birth_date.as_ref()),
            sex(id.sex).into(),
            place(&id.birthplace_code, id.birth_date.as_ref()),
        ]);
    }
    t.render()
}

/// A shown entry: its line and where it comes from.
type Shown<'a> = (String, Option<&'a v1::Provenance>);

/// The record's sections as the terminal shows them, in the schema's
/// order, each under its title: one line per entry ([`Text`]).
fn shown_sections(s: &v1::RecordSections) -> [(&'static str, Vec<Shown<'_>>); 10] {
    [
        ("HOUSING", shown(&s.housing)),
        ("SOCIO-ECONOMIC", shown(&s.socio_economic)),
        ("SUPPORT NETWORK", shown(&s.support_network)),
        ("NEEDS", shown(&s.needs)),
        ("JUDICIAL ACTS", shown(&s.judicial_acts)),
        ("COURT RELATIONS", shown(&s.court_relations)),
        ("REFERRALS", shown(&s.referrals)),
        ("INTERVENTIONS AND BENEFITS", shown(&s.interventions)),
        ("HEALTH (special category, art. 9 GDPR)", shown(&s.health)),
        (
            "CASE MEMBERSHIP (presa in carico)",
            shown(&s.case_memberships),
        ),
    ]
}

fn shown<E: Text + Sourced>(entries: &[E]) -> Vec<Shown<'_>> {
    entries.iter().map(|e| (e.text(), e.provenance())).collect()
}

/// Implements [`Sourced`] for entry types with a `provenance` field.
macro_rules! sourced {
    ($($t:ty),*) => {
        $(impl Sourced for $t {
            fn provenance(&self) -> Option<&v1::Provenance> {
                self.provenance.as_ref()
            }
        })*
    };
}

/// An entry that carries its provenance.
trait Sourced {
    fn provenance(&self) -> Option<&v1::Provenance>;
}

sourced!(
    v1::HousingEntry,
    v1::SocioEconomicEntry,
    v1::SupportResource,
    v1::NeedEntry,
    v1::JudicialAct,
    v1::CourtRelation,
    v1::ReferralEntry,
    v1::Intervention,
    v1::HealthEntry,
    v1::CaseMembership
);

/// One kind of section entry as one line of text.
trait Text {
    fn text(&self) -> String;
}

impl Text for v1::HousingEntry {
    fn text(&self) -> String {
        format!(
            "{} · {} · {} since {}",
            coding(self.tenure.as_ref()),
            coding(self.condition.as_ref()),
            dash(&self.district),
            date(self.since.as_ref())
        )
    }
}

impl Text for v1::SocioEconomicEntry {
    fn text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(i) = &self.isee {
            parts.push(format!(
                "ISEE {} {} signed {} valid to {}",
                coding(i.kind.as_ref()),
                money(i.value.as_ref()),
                date(i.issued.as_ref()),
                date(i.valid_until.as_ref())
            ));
        }
        if self.employment_status.is_some() {
            parts.push(coding(self.employment_status.as_ref()));
        }
        if self.income_band.is_some() {
            parts.push(format!("income {}", coding(self.income_band.as_ref())));
        }
        if let Some(h) = &self.household {
            let composition = if h.composition.is_some() {
                coding(h.composition.as_ref())
            } else {
                String::new()
            };
            parts.push(format!(
                "household of {} ({} minors) {composition}",
                h.members, h.minors
            ));
        }
        parts.join(" · ")
    }
}

impl Text for v1::SupportResource {
    fn text(&self) -> String {
        format!(
            "{} · {}{}",
            coding(self.kind.as_ref()),
            self.description,
            if self.active { "" } else { " (inactive)" }
        )
    }
}

impl Text for v1::NeedEntry {
    fn text(&self) -> String {
        format!(
            "{} · severity {} · identified {}{}",
            coding(self.need.as_ref()),
            coding(self.severity.as_ref()),
            date(self.identified.as_ref()),
            if self.open { "" } else { " (closed)" }
        )
    }
}

impl Text for v1::JudicialAct {
    fn text(&self) -> String {
        format!(
            "{} · {} · {} {}",
            coding(self.kind.as_ref()),
            self.authority,
            date(self.date.as_ref()),
            self.reference
        )
    }
}

impl Text for v1::CourtRelation {
    fn text(&self) -> String {
        format!(
            "{} · {} · {} · {}",
            coding(self.kind.as_ref()),
            self.court,
            period(self.period.as_ref()),
            dash(&self.guardian)
        )
    }
}

impl Text for v1::ReferralEntry {
    fn text(&self) -> String {
        format!(
            "from {} ({}) · {} · reason {} · {}",
            coding(self.from_service.as_ref()),
            dash(&self.from_organisation),
            date(self.date.as_ref()),
            coding(self.reason.as_ref()),
            coding(self.status.as_ref())
        )
    }
}

impl Text for v1::Intervention {
    fn text(&self) -> String {
        let voucher = self
            .voucher
            .as_ref()
            .map(|v| format!(" · voucher {} {}", v.code, money(v.value.as_ref())))
            .unwrap_or_default();
        format!(
            "{} · {} · {} {}{voucher}",
            coding(self.kind.as_ref()),
            self.provider,
            period(self.period.as_ref()),
            money(self.amount.as_ref())
        )
    }
}

impl Text for v1::HealthEntry {
    fn text(&self) -> String {
        match &self.kind {
            Some(v1::health_entry::Kind::Disability(d)) => format!(
                "disability {}{} · recognised {} · review {}",
                coding(d.kind.as_ref()),
                if d.percentage > 0 {
                    format!(" {}%", d.percentage)
                } else {
                    String::new()
                },
                date(d.recognised.as_ref()),
                date(d.review.as_ref())
            ),
            Some(v1::health_entry::Kind::CarePlan(c)) => format!(
                "care plan {} · {} · {}",
                coding(c.kind.as_ref()),
                c.team,
                period(c.period.as_ref())
            ),
            None => "-".into(),
        }
    }
}

impl Text for v1::CaseMembership {
    fn text(&self) -> String {
        format!(
            "{} · {} · case manager {} · case {} · opened {} · {}",
            self.organisation,
            self.office,
            self.case_manager,
            self.case_id,
            date(self.opened.as_ref()),
            coding(self.status.as_ref())
        )
    }
}

/// An `AccessLog` answer: the accesses listed, newest first, and how to
/// ask for the next page.
pub fn access_log(resp: &v1::AccessLogResponse) -> String {
    let mut out = if resp.entries.is_empty() {
        "no recorded access matches\n".to_string()
    } else {
        access_table(resp)
    };
    if !resp.next_page_token.is_empty() {
        out.push_str(&format!(
            "more entries: ask again with --page '{}'\n",
            resp.next_page_token
        ));
    }
    out
}

/// The accesses as a table.
fn access_table(resp: &v1::AccessLogResponse) -> String {
    let names = |list: &[i32]| -> String {
        let v: Vec<&str> = list
            .iter()
            .filter_map(|x| v1::Section::try_from(*x).ok())
            .map(trama_proto::sections::name)
            .collect();
        if v.is_empty() {
            "-".into()
        } else if v.len() == trama_proto::sections::ALL.len() {
            "all".into()
        } else {
            v.join(",")
        }
    };
    let mut t = Table::new(&[
        "#", "time", "call", "by", "operator", "purpose", "case", "asked", "returned", "decision",
    ]);
    for e in &resp.entries {
        let op = e.operator.clone().unwrap_or_default();
        let decision = if e.reason.is_empty() || e.decision == "permit" {
            e.decision.clone()
        } else {
            format!("{}: {}", e.decision, e.reason)
        };
        // Seconds are enough to read; the log keeps the full time.
        let time = e.time.get(..19).unwrap_or(&e.time).replace('T', " ");
        let call = if e.as_candidate {
            format!("{} (as a candidate)", e.call)
        } else {
            e.call.clone()
        };
        // The entry's place: its number in the chain of the replica that
        // recorded it (a gateway alone has one chain, shown by number).
        let place = match e.replica.as_str() {
            "" => e.seq.to_string(),
            replica => format!("{replica}:{}", e.seq),
        };
        t.row(vec![
            place,
            time,
            call,
            e.organisation.clone(),
            format!("{} ({})", op.id, op.role),
            e.purpose.clone(),
            case(&e.case_id, &e.case_check),
            names(&e.sections_asked),
            names(&e.sections_returned),
            decision,
        ]);
    }
    t.render()
}

/// A `ListSources` answer.
pub fn sources(resp: &v1::ListSourcesResponse) -> String {
    let mut t = Table::new(&[
        "source",
        "system",
        "schema",
        "health",
        "circuit",
        "in flight",
        "match by",
        "sections",
    ]);
    for s in &resp.sources {
        let health = match v1::SourceHealth::try_from(s.health) {
            Ok(v1::SourceHealth::Serving) => "serving",
            Ok(v1::SourceHealth::NotServing) => "not serving",
            Ok(v1::SourceHealth::Unreachable) => "UNREACHABLE",
            _ => "unknown",
        };
        let sections: Vec<&str> = s
            .sections
            .iter()
            .filter_map(|x| v1::Section::try_from(*x).ok())
            .map(trama_proto::sections::name)
            .collect();
        t.row(vec![
            s.organisation.clone(),
            dash(&s.system),
            dash(&s.schema_version),
            health.into(),
            dash(&s.circuit),
            format!("{}/{}", s.in_flight, s.max_in_flight),
            s.match_capabilities.join(","),
            sections.join(","),
        ]);
    }
    t.render()
}

/// The first municipalities a service serves, and how many more.
fn places(codes: &[String]) -> String {
    match codes.len() {
        0..=3 => codes.join(","),
        n => format!("{} +{}", codes[..3].join(","), n - 3),
    }
}

/// Services found: each with its provider, where, what it costs and the
/// vouchers it takes; then the facets, how old each partner's part is,
/// and the next page's token.
pub fn services(resp: &v1::SearchServicesResponse) -> String {
    let mut t = Table::new(&[
        "service", "provider", "needs", "where", "cost", "vouchers", "id",
    ]);
    for s in &resp.services {
        let cost = s
            .costs
            .first()
            .and_then(|c| c.amount.as_ref().map(|m| (m, &c.description)))
            .map_or_else(
                || "free".to_string(),
                |(m, d)| format!("{} {d}", money(Some(m))).trim().to_string(),
            );
        let vouchers: Vec<&str> = s.vouchers.iter().map(|v| v.scheme.as_str()).collect();
        t.row(vec![
            s.name.clone(),
            dash(if s.provider.is_empty() {
                &s.organisation
            } else {
                &s.provider
            }),
            s.needs.join(","),
            places(&s.municipalities),
            cost,
            dash(&vouchers.join(",")),
            s.id.clone(),
        ]);
    }
    let mut out = format!("{} service(s) found\n{}", resp.total, t.render());
    let facet = |f: &[v1::Facet]| {
        f.iter()
            .map(|x| format!("{} {}", x.value, x.count))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "by need: {}\nby provider: {}\n",
        facet(&resp.by_need),
        facet(&resp.by_provider)
    ));
    for s in &resp.sources {
        out.push_str(&format!(
            "{}: {} service(s) as of {}, refreshed {} s ago{}\n",
            s.organisation,
            s.services,
            dash(&s.as_of),
            s.age_seconds,
            if s.stale {
                format!(" (STALE: {})", s.problem)
            } else {
                String::new()
            }
        ));
    }
    if !resp.next_page_token.is_empty() {
        out.push_str(&format!(
            "next page: --page-token {}\n",
            resp.next_page_token
        ));
    }
    out
}

/// A status as people read it.
pub fn status_name(s: i32) -> String {
    trama_proto::referrals::name_of(s)
}

/// A delivery state as people read it.
pub fn delivery_name(d: i32) -> String {
    v1::Delivery::try_from(d)
        .map(|d| {
            d.as_str_name()
                .trim_start_matches("DELIVERY_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| d.to_string())
}

/// A time, UTC, to the minute; `-` when unset.
pub fn when(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(|t| {
            let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
            t.format(&f).unwrap_or_default()
        })
        .unwrap_or_else(|| "-".into())
}

/// A referral, its delivery and its history, as text.
pub fn referral(r: &v1::Referral) -> String {
    let mut out = format!(
        "referral {}\n  {} -> {}{}\n  status: {}{}{}\n  delivery: {}{}\n  sent {} by {}, due {}\n",
        r.id,
        r.sender,
        r.target,
        if r.target_service.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.target_service)
        },
        status_name(r.status),
        if r.status_reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.status_reason)
        },
        if r.overdue { "  OVERDUE" } else { "" },
        delivery_name(r.delivery),
        if r.delivery_problem.is_empty() {
            String::new()
        } else {
            format!(
                " after {} attempt(s): {}",
                r.delivery_attempts, r.delivery_problem
            )
        },
        when(r.created.as_ref()),
        dash(&r.sender_operator),
        when(r.due.as_ref()),
    );
    let mut t = Table::new(&["when", "status", "who", "via", "reason"]);
    for e in &r.history {
        t.row(vec![
            when(e.at.as_ref()),
            status_name(e.status),
            format!("{} {}", e.organisation, e.operator_id)
                .trim()
                .to_string(),
            e.via.clone(),
            dash(&e.reason),
        ]);
    }
    out.push_str(&t.render());
    out
}

/// An inbox or outbox, overdue ones flagged.
pub fn referrals(answer: &v1::ListReferralsResponse) -> String {
    let mut t = Table::new(&[
        "sent", "from", "to", "urgency", "status", "delivery", "due", "id",
    ]);
    for r in &answer.referrals {
        let urgency = v1::Urgency::try_from(r.urgency)
            .map(|u| {
                u.as_str_name()
                    .trim_start_matches("URGENCY_")
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        t.row(vec![
            when(r.created.as_ref()),
            r.sender.clone(),
            r.target.clone(),
            urgency,
            format!(
                "{}{}",
                status_name(r.status),
                if r.overdue { " OVERDUE" } else { "" }
            ),
            delivery_name(r.delivery),
            when(r.due.as_ref()),
            r.id.clone(),
        ]);
    }
    let more = if answer.next_page_token.is_empty() {
        String::new()
    } else {
        format!(
            "more: --page-token {} (or --all for every page)\n",
            answer.next_page_token
        )
    };
    format!(
        "{} referral(s), {} overdue\n{}{more}",
        answer.referrals.len(),
        answer.overdue,
        t.render()
    )
}

#[cfg(test)]
mod money_tests {
    use super::*;

    #[test]
    fn a_refund_under_one_euro_keeps_its_sign() {
        let shown = |cents| {
            money(Some(&v1::Money {
                cents,
                ..Default::default()
            }))
        };
        assert_eq!(shown(-50), "€ -0.50");
        assert_eq!(shown(-1_050), "€ -10.50");
        assert_eq!(shown(7), "€ 0.07");
        assert_eq!(shown(103_750), "€ 1037.50");
        assert_eq!(money(None), "");
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&["partner", "state", "ms"]);
        t.row(vec!["comune".into(), "answered".into(), "12".into()]);
        t.row(vec!["caritàs".into(), "timeout".into(), String::new()]);
        t
    }

    #[test]
    fn columns_align_two_spaces_apart_without_trailing_blanks() {
        assert_eq!(
            sample().render(),
            "partner  state     ms\n\
             comune   answered  12\n\
             caritàs  timeout\n"
        );
    }

    #[test]
    fn a_markdown_table_has_its_header_and_separator() {
        let md = sample().markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4, "{md}");
        assert!(lines[0].starts_with("| partner"), "{md}");
        assert!(
            lines[1].starts_with("|-") && lines[1].ends_with('|'),
            "{md}"
        );
        assert!(
            lines[2].contains("| comune ") && lines[2].contains("| 12 "),
            "{md}"
        );
    }
}
