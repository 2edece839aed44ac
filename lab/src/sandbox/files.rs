//! The federation's configuration files, written from typed values: a
//! connector's `connector.toml` with its export rules, the gateway's
//! `gateway.toml` with its sources and client allowances, and client
//! profiles. Nothing here edits a file as text: a change is a new value
//! written again.

use std::fmt::Write as _;
use std::path::Path;

/// A TOML string literal (quoted and escaped).
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML array of strings.
fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", quoted.join(", "))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// One `[[export]]` rule of a connector: what it releases, to which client
/// organisations, for which purposes and operator roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRule {
    /// Client organisations (`*`: any).
    pub clients: Vec<String>,
    /// Purposes (`*`: any).
    pub purposes: Vec<String>,
    /// Operator roles; empty: any.
    pub roles: Vec<String>,
    /// Sections released (`*`: every one).
    pub sections: Vec<String>,
    /// Whether a case id must be stated.
    pub require_case_id: bool,
    /// Whether the partner's people may be counted (statistics).
    pub aggregates: bool,
    /// Whether the clients may send the partner referrals.
    pub referrals: bool,
    /// A comment written above the rule, for people reading the file.
    pub note: Option<String>,
}

impl ExportRule {
    /// Releases `sections` to `clients` for `purposes`, to any role, with
    /// or without a case id.
    pub fn new(clients: &[&str], purposes: &[&str], sections: &[&str]) -> ExportRule {
        ExportRule {
            clients: strings(clients),
            purposes: strings(purposes),
            roles: Vec::new(),
            sections: strings(sections),
            require_case_id: false,
            aggregates: false,
            referrals: false,
            note: None,
        }
    }

    /// Releases counts only (statistics), never a person, to `clients`
    /// for `purposes` and operators in `roles`.
    pub fn counts(clients: &[&str], purposes: &[&str], roles: &[&str]) -> ExportRule {
        ExportRule {
            aggregates: true,
            ..ExportRule::new(clients, purposes, &[]).roles(roles)
        }
    }

    /// Releases every section, and counts, to any client, for any purpose.
    pub fn everything() -> ExportRule {
        ExportRule {
            aggregates: true,
            ..ExportRule::new(&["*"], &["*"], &["*"])
        }
    }

    /// Accepts referrals from `clients` for `purposes`.
    pub fn referrals_from(clients: &[&str], purposes: &[&str]) -> ExportRule {
        ExportRule {
            referrals: true,
            ..ExportRule::new(clients, purposes, &[])
        }
    }

    /// Only to operators in `roles`.
    pub fn roles(mut self, roles: &[&str]) -> ExportRule {
        self.roles = strings(roles);
        self
    }

    /// Only when the call states a case id.
    pub fn case_id_required(mut self) -> ExportRule {
        self.require_case_id = true;
        self
    }

    /// With a comment above it.
    pub fn note(mut self, note: &str) -> ExportRule {
        self.note = Some(note.to_string());
        self
    }

    fn toml(&self) -> String {
        let mut out = String::new();
        if let Some(note) = &self.note {
            for line in note.lines() {
                let _ = writeln!(out, "# {line}");
            }
        }
        let _ = writeln!(out, "[[export]]");
        let _ = writeln!(out, "clients = {}", list(&self.clients));
        let _ = writeln!(out, "purposes = {}", list(&self.purposes));
        if !self.roles.is_empty() {
            let _ = writeln!(out, "roles = {}", list(&self.roles));
        }
        if !self.sections.is_empty() {
            let _ = writeln!(out, "sections = {}", list(&self.sections));
        }
        if self.aggregates {
            let _ = writeln!(out, "aggregates = true");
        }
        if self.referrals {
            let _ = writeln!(out, "referrals = true");
        }
        if self.require_case_id {
            let _ = writeln!(out, "require_case_id = true");
        }
        out
    }
}

/// A node's `[tracing]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracingTable {
    /// The OTLP collector its spans go to, if any.
    pub otlp_endpoint: Option<String>,
    /// Logs as JSON lines.
    pub json_logs: bool,
}

impl TracingTable {
    /// The table's text, empty when it says nothing.
    fn toml(&self) -> String {
        if *self == TracingTable::default() {
            return String::new();
        }
        let mut out = format!("\n[tracing]\njson_logs = {}\n", self.json_logs);
        if let Some(e) = &self.otlp_endpoint {
            let _ = writeln!(out, "otlp_endpoint = {}", quoted(e));
        }
        out
    }
}

/// A connector's configuration file.
#[derive(Debug, Clone)]
pub struct ConnectorFile {
    /// The federation's name.
    pub federation: String,
    /// The partner organisation.
    pub organisation: String,
    /// The address it listens on (`127.0.0.1:0`: any free port).
    pub listen: String,
    /// The database URL, as the connector opens it (relative SQLite paths
    /// are relative to the file).
    pub database: String,
    /// The mapping file, relative to this file.
    pub mapping: String,
    /// The federation's PKI directory, relative to this file.
    pub pki: String,
    /// Its `[limits]`, where not the defaults.
    pub limits: ConnectorLimits,
    /// What the partner releases, to whom.
    pub export: Vec<ExportRule>,
    /// Its logs and traces.
    pub tracing: TracingTable,
    /// The federation linkage key file, relative to this file, if the
    /// partner counts facts for statistics.
    pub linkage_key: Option<String>,
}

/// A connector's `[limits]` table; `None` keeps the connector's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectorLimits {
    /// How long one query may run.
    pub statement_timeout_ms: Option<u64>,
    /// Connections to the database at most.
    pub max_connections: Option<u32>,
}

impl ConnectorLimits {
    /// The table's text; empty when every limit is the default.
    fn toml(&self) -> String {
        let mut out = String::new();
        if let Some(ms) = self.statement_timeout_ms {
            let _ = writeln!(out, "statement_timeout_ms = {ms}");
        }
        if let Some(n) = self.max_connections {
            let _ = writeln!(out, "max_connections = {n}");
        }
        if out.is_empty() {
            out
        } else {
            format!("\n[limits]\n{out}")
        }
    }
}

impl ConnectorFile {
    /// The file's text.
    pub fn toml(&self) -> String {
        let org = &self.organisation;
        let pki = &self.pki;
        let mut out = format!(
            "# Connector of `{org}` in the {federation} federation.\n\
             federation = {}\n\
             organisation = {}\n\
             listen = {}\n\
             database = {}\n\
             mapping = {}\n\n\
             [tls]\n\
             ca = {}\n\
             cert = {}\n\
             key = {}\n\
             crl = {}\n\n\
             [metrics]\n\
             listen = \"127.0.0.1:0\"\n\n\
             [health]\n\
             listen = \"127.0.0.1:0\"\n",
            quoted(&self.federation),
            quoted(org),
            quoted(&self.listen),
            quoted(&self.database),
            quoted(&self.mapping),
            quoted(&format!("{pki}/ca.pem")),
            quoted(&format!("{pki}/{org}-connector.pem")),
            quoted(&format!("{pki}/{org}-connector-key.pem")),
            quoted(&format!("{pki}/crl.pem")),
            federation = self.federation,
        );
        out.push_str(&self.limits.toml());
        out.push_str(&self.tracing.toml());
        if let Some(key) = &self.linkage_key {
            let _ = write!(
                out,
                "\n# The federation linkage key: the same at every connector, never at the gateway.\n\
                 [statistics]\nlinkage_key = {}\n",
                quoted(key)
            );
        }
        let _ = write!(
            out,
            "\n# What {org} releases, to whom, for which purposes: the partner decides,\n\
             # whatever the gateway allowed. Nothing else is released.\n"
        );
        for (i, rule) in self.export.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&rule.toml());
        }
        out
    }

    /// Writes the file at `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.toml())
    }
}

/// A source in the gateway's registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The partner organisation.
    pub organisation: String,
    /// Where the gateway reaches its connector.
    pub address: String,
    /// The source's budget per call.
    pub timeout_ms: u64,
}

/// A client organisation's allowance at the gateway (`[[clients]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientLimit {
    /// The client organisation.
    pub organisation: String,
    /// Calls per second.
    pub rate: f64,
    /// Calls allowed at once above the rate.
    pub burst: f64,
}

/// The gateway's configuration file.
#[derive(Debug, Clone)]
pub struct GatewayFile {
    /// The federation's name.
    pub federation: String,
    /// The address it listens on (`127.0.0.1:0`: any free port).
    pub listen: String,
    /// The policy file, relative to this file.
    pub policy: String,
    /// The audit database, relative to this file.
    pub audit_database: String,
    /// The chain it writes in a shared PostgreSQL audit database (`None`:
    /// the host name; a SQLite file has one).
    pub audit_replica: Option<String>,
    /// The signed checkpoint file, relative to this file.
    pub checkpoint_file: String,
    /// The sources it asks.
    pub sources: Vec<Source>,
    /// Allowances of client organisations other than the default.
    pub clients: Vec<ClientLimit>,
    /// Its logs and traces.
    pub tracing: TracingTable,
    /// How long published statistics are cached, when not the default.
    pub statistics_cache_seconds: Option<u64>,
    /// Other keys of `[statistics]`, each with its value written in TOML
    /// (the declared districts and municipalities, disclosure settings).
    pub statistics: Vec<(String, String)>,
    /// How often the catalogue of services refreshes, when not the default.
    pub catalogue_refresh_seconds: Option<u64>,
    /// The `[referrals]` table and the sources that take referrals.
    pub referrals: ReferralTable,
    /// The `[cases]` table: how the cases callers state are checked.
    pub cases: CaseTable,
}

/// The gateway's `[cases]` table: whose stated cases are taken as stated,
/// and how long a confirmed case is remembered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseTable {
    /// Organisations that map no cases: the case ids their operators state
    /// are taken as stated (recorded `unverified`).
    pub taken_as_stated: Vec<String>,
    /// How long a case its organisation confirmed is remembered, when not
    /// the default.
    pub cache_seconds: Option<u64>,
}

impl CaseTable {
    fn toml(&self) -> String {
        if *self == CaseTable::default() {
            return String::new();
        }
        let mut out = String::from(
            "\n# Stated cases: each organisation's own connector confirms that a case it\n\
             # states is open and includes the person; those listed here map no cases,\n\
             # and their case ids are taken as stated (audited as unverified).\n\
             [cases]\n",
        );
        let _ = writeln!(out, "taken_as_stated = {}", list(&self.taken_as_stated));
        if let Some(s) = self.cache_seconds {
            let _ = writeln!(out, "cache_seconds = {s}");
        }
        out
    }
}

/// The gateway's `[referrals]` table, and which sources take referrals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralTable {
    /// Organisations whose connector maps an inbox (`referrals = true`).
    pub targets: Vec<String>,
    /// How often the partners' own status changes are read, when not the
    /// default.
    pub poll_seconds: Option<u64>,
    /// Business days to accept, the same for every urgency, when not the
    /// defaults.
    pub deadline_days: Option<u32>,
    /// The referral store, when not the default SQLite file.
    pub store: Option<String>,
}

impl ReferralTable {
    fn toml(&self) -> String {
        let mut out = String::new();
        if self.poll_seconds.is_none() && self.deadline_days.is_none() && self.store.is_none() {
            return out;
        }
        out.push_str("\n[referrals]\n");
        if let Some(store) = &self.store {
            let _ = writeln!(out, "store = {}", quoted(store));
        }
        if let Some(s) = self.poll_seconds {
            let _ = writeln!(out, "poll_seconds = {s}");
        }
        if let Some(d) = self.deadline_days {
            let _ = writeln!(
                out,
                "deadline_days = {{ routine = {d}, urgent = {d}, asap = {d}, stat = {d} }}"
            );
        }
        out
    }
}

impl GatewayFile {
    /// The file's text.
    pub fn toml(&self) -> String {
        let mut out = format!(
            "# The {federation} federation's gateway.\n\
             federation = {}\n\
             listen = {}\n\n\
             # Who may read what, for which purpose (Cedar; reloaded on change).\n\
             policy = {}\n\n\
             [tls]\n\
             ca = \"pki/ca.pem\"\n\
             cert = \"pki/gateway-gateway.pem\"\n\
             key = \"pki/gateway-gateway-key.pem\"\n\
             crl = \"pki/crl.pem\"\n\n\
             [audit]\n\
             database = {}\n\
             checkpoint_file = {}\n\
             checkpoint_interval_s = 10\n\
             {replica}\n\
             [metrics]\n\
             listen = \"127.0.0.1:0\"\n\n\
             [health]\n\
             listen = \"127.0.0.1:0\"\n",
            quoted(&self.federation),
            quoted(&self.listen),
            quoted(&self.policy),
            quoted(&self.audit_database),
            quoted(&self.checkpoint_file),
            federation = self.federation,
            replica = self
                .audit_replica
                .as_ref()
                .map(|r| format!("replica = {}\n", quoted(r)))
                .unwrap_or_default(),
        );
        for s in &self.sources {
            let _ = write!(
                out,
                "\n[[sources]]\norganisation = {}\naddress = {}\ntimeout_ms = {}\n",
                quoted(&s.organisation),
                quoted(&s.address),
                s.timeout_ms
            );
            if self.referrals.targets.contains(&s.organisation) {
                out.push_str("referrals = true\n");
            }
        }
        for c in &self.clients {
            let _ = write!(
                out,
                "\n[[clients]]\norganisation = {}\nrate = {:?}\nburst = {:?}\n",
                quoted(&c.organisation),
                c.rate,
                c.burst
            );
        }
        out.push_str(&self.tracing.toml());
        if self.statistics_cache_seconds.is_some() || !self.statistics.is_empty() {
            out.push_str("\n[statistics]\n");
        }
        if let Some(s) = self.statistics_cache_seconds {
            let _ = writeln!(out, "cache_seconds = {s}");
        }
        for (key, value) in &self.statistics {
            let _ = writeln!(out, "{key} = {value}");
        }
        if let Some(s) = self.catalogue_refresh_seconds {
            let _ = write!(out, "\n[catalogue]\nrefresh_seconds = {s}\n");
        }
        out.push_str(&self.referrals.toml());
        out.push_str(&self.cases.toml());
        out
    }

    /// Writes the file at `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.toml())
    }
}

/// A client profile (`client-<name>.toml`), as `trama query` reads it.
#[derive(Debug, Clone, Copy)]
pub struct ClientProfile {
    /// The profile's name.
    pub profile: &'static str,
    /// Who it stands for, in words.
    pub who: &'static str,
    /// The client organisation (its certificate).
    pub organisation: &'static str,
    /// The operator's id.
    pub operator: &'static str,
    /// The operator's role.
    pub role: &'static str,
    /// The default purpose.
    pub purpose: &'static str,
    /// The default case id.
    pub case_id: Option<&'static str>,
}

impl ClientProfile {
    /// The profile's text, for the gateway at `gateway` of `federation`.
    pub fn toml(&self, federation: &str, gateway: &str) -> String {
        let case = match self.case_id {
            Some(c) => format!("case_id = {}\n", quoted(c)),
            None => String::new(),
        };
        let org = self.organisation;
        format!(
            "# How `trama query` reaches the gateway as {}.\n\
             gateway = {}\n\
             federation = {}\n\
             purpose = {}\n{case}\n\
             [operator]\nid = {}\nrole = {}\n\n\
             [tls]\n\
             ca = \"pki/ca.pem\"\n\
             cert = {}\n\
             key = {}\n",
            self.who,
            quoted(gateway),
            quoted(federation),
            quoted(self.purpose),
            quoted(self.operator),
            quoted(self.role),
            quoted(&format!("pki/{org}-client.pem")),
            quoted(&format!("pki/{org}-client-key.pem")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_rules_read_back_as_the_connector_reads_them() {
        let file = ConnectorFile {
            federation: "demo".into(),
            organisation: "asl".into(),
            listen: "127.0.0.1:0".into(),
            database: "sqlite://asl.db?mode=ro".into(),
            mapping: "mapping.toml".into(),
            pki: "../pki".into(),
            limits: ConnectorLimits {
                statement_timeout_ms: Some(300),
                max_connections: Some(3),
            },
            tracing: TracingTable::default(),
            linkage_key: None,
            export: vec![
                ExportRule::new(&["comune"], &["presa_in_carico"], &["health"])
                    .roles(&["assistente_sociale"])
                    .case_id_required()
                    .note("Health data \"only\" for the comune."),
            ],
        };
        let value: toml::Table = toml::from_str(&file.toml()).unwrap_or_default();
        assert_eq!(value["listen"].as_str(), Some("127.0.0.1:0"));
        assert_eq!(
            value["limits"]["statement_timeout_ms"].as_integer(),
            Some(300)
        );
        assert_eq!(value["limits"]["max_connections"].as_integer(), Some(3));
        let rule = &value["export"][0];
        assert_eq!(rule["roles"][0].as_str(), Some("assistente_sociale"));
        assert_eq!(rule["require_case_id"].as_bool(), Some(true));
        assert_eq!(rule["sections"][0].as_str(), Some("health"));
    }

    #[test]
    fn the_gateway_file_lists_sources_and_allowances() {
        let file = GatewayFile {
            federation: "demo".into(),
            listen: "127.0.0.1:0".into(),
            policy: "policy.cedar".into(),
            audit_database: "audit.db".into(),
            audit_replica: None,
            checkpoint_file: "audit-checkpoints.jsonl".into(),
            sources: vec![Source {
                organisation: "caf".into(),
                address: "127.0.0.1:4000".into(),
                timeout_ms: 2000,
            }],
            clients: vec![ClientLimit {
                organisation: "caritas".into(),
                rate: 5.0,
                burst: 5.0,
            }],
            tracing: TracingTable::default(),
            statistics_cache_seconds: None,
            statistics: vec![("municipalities".into(), "[\"D150\"]".into())],
            catalogue_refresh_seconds: Some(5),
            referrals: ReferralTable {
                targets: vec!["caf".into()],
                poll_seconds: Some(2),
                deadline_days: Some(0),
                store: None,
            },
            cases: CaseTable {
                taken_as_stated: vec!["asl".into()],
                cache_seconds: Some(2),
            },
        };
        let value: toml::Table = toml::from_str(&file.toml()).unwrap_or_default();
        assert_eq!(
            value["sources"][0]["address"].as_str(),
            Some("127.0.0.1:4000")
        );
        assert_eq!(value["catalogue"]["refresh_seconds"].as_integer(), Some(5));
        assert_eq!(value["clients"][0]["rate"].as_float(), Some(5.0));
        assert_eq!(value["audit"]["database"].as_str(), Some("audit.db"));
        assert_eq!(value["sources"][0]["referrals"].as_bool(), Some(true));
        assert_eq!(value["referrals"]["poll_seconds"].as_integer(), Some(2));
        assert_eq!(
            value["referrals"]["deadline_days"]["urgent"].as_integer(),
            Some(0)
        );
        assert_eq!(value["cases"]["taken_as_stated"][0].as_str(), Some("asl"));
        assert_eq!(value["cases"]["cache_seconds"].as_integer(), Some(2));
    }
}

/// An operator of a console's local accounts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleAccount {
    /// What they sign in with (their operator id in calls).
    pub username: String,
    /// Their name.
    pub name: String,
    /// The Trama role the console states for them.
    pub role: String,
    /// Their password (hashed when the file is written).
    pub password: String,
}

/// A console's configuration file and its accounts file.
#[derive(Debug, Clone)]
pub struct ConsoleFile {
    /// The federation's name.
    pub federation: String,
    /// The organisation running it (its client certificate's).
    pub organisation: String,
    /// The gateway it calls.
    pub gateway: String,
    /// The console's own name (its HTTPS certificate's files).
    pub name: String,
    /// Its operators.
    pub accounts: Vec<ConsoleAccount>,
    /// Where it listens (`127.0.0.1:0`: any free port).
    pub listen: String,
    /// More of the file (an `[oidc]` table), appended as written.
    pub extra: String,
}

impl ConsoleFile {
    /// `console.toml`'s text; paths relative to the federation directory.
    pub fn toml(&self) -> String {
        let org = &self.organisation;
        let name = &self.name;
        format!(
            "# The console of `{org}` ({name}): the federation in a browser for its operators.\n\
             organisation = {}\n\
             listen = {}\n\
             accounts = {}\n\n\
             [https]\n\
             cert = {}\n\
             key = {}\n\n\
             [federation]\n\
             name = {}\n\
             gateway = {}\n\n\
             [federation.tls]\n\
             ca = \"pki/ca.pem\"\n\
             cert = {}\n\
             key = {}\n\n\
             [metrics]\n\
             listen = \"127.0.0.1:0\"\n\n\
             [health]\n\
             listen = \"127.0.0.1:0\"\n{}",
            quoted(org),
            quoted(&self.listen),
            quoted(&format!("{name}-accounts.toml")),
            quoted(&format!("pki/{name}-web.pem")),
            quoted(&format!("pki/{name}-web-key.pem")),
            quoted(&self.federation),
            quoted(&self.gateway),
            quoted(&format!("pki/{org}-client.pem")),
            quoted(&format!("pki/{org}-client-key.pem")),
            self.extra,
        )
    }

    /// The accounts file's text, every password hashed with Argon2.
    pub fn accounts_toml(&self) -> Result<String, String> {
        let mut out =
            String::from("# Local accounts (Argon2id hashes; `trama console --hash-password`).\n");
        for a in &self.accounts {
            let hash = trama_console::accounts::hash_password(&a.password)?;
            let _ = write!(
                out,
                "\n[[accounts]]\nusername = {}\nname = {}\nrole = {}\npassword = {}\n",
                quoted(&a.username),
                quoted(&a.name),
                quoted(&a.role),
                quoted(&hash)
            );
        }
        Ok(out)
    }
}
