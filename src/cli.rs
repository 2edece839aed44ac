//! The `trama` command line: one binary, one subcommand per role.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use trama_proto::v1;

use trama_client::{Profile, parse_sections, render, requests};

use crate::args::{parse_date, status_error};

pub use trama_node::server::READY;

/// Trama: a federated data-exchange gateway for social services.
#[derive(Debug, Parser)]
#[command(name = "trama", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the federation gateway (serves trama.v1.Federation over mTLS).
    Gateway {
        /// The gateway's configuration file.
        #[arg(
            long,
            short,
            env = "TRAMA_GATEWAY_CONFIG",
            required_unless_present = "check_config"
        )]
        config: Option<PathBuf>,
        /// Run every start-up check on this configuration file (certificates, policy, audit
        /// files and database) without starting; list every problem and exit non-zero if any.
        #[arg(long, value_name = "FILE")]
        check_config: Option<PathBuf>,
    },
    /// Run a partner's connector (serves trama.v1.Connector over mTLS).
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Connector {
        /// Without serving: `try` a mapping against its database.
        #[command(subcommand)]
        action: Option<ConnectorAction>,
        /// The connector's configuration file.
        #[arg(
            long,
            short,
            env = "TRAMA_CONNECTOR_CONFIG",
            required_unless_present = "check_config"
        )]
        config: Option<PathBuf>,
        /// Run every start-up check on this configuration file (certificates, database and
        /// mapping, audit files and database) without starting; list every problem and exit
        /// non-zero if any.
        #[arg(long, value_name = "FILE")]
        check_config: Option<PathBuf>,
    },
    /// Check that a connector conforms before it joins: its mapping against its database (the
    /// start-up check, the sections exported, sampled people found and read, a stranger not
    /// found, facts and offer read, every value converting); exits non-zero if a check fails.
    Conformance(ConformanceArgs),
    /// Check a connector's configuration and mapping against its database, then exit.
    Check {
        /// The connector's configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the console: the federation in a browser for an organisation's operators (HTTPS).
    Console {
        /// The console's configuration file.
        #[arg(
            long,
            short,
            env = "TRAMA_CONSOLE_CONFIG",
            required_unless_present_any = ["hash_password", "check_config"]
        )]
        config: Option<PathBuf>,
        /// Run every start-up check on this configuration file (certificates, accounts,
        /// identity provider, the gateway's answer) without starting; list every problem and
        /// exit non-zero if any.
        #[arg(long, value_name = "FILE")]
        check_config: Option<PathBuf>,
        /// Read a password from standard input and print its Argon2 hash, for the `password`
        /// of an account in the console's accounts file.
        #[arg(long)]
        hash_password: bool,
    },
    /// Manage a development federation PKI.
    Pki {
        /// What to do.
        #[command(subcommand)]
        command: crate::pki::PkiCommand,
    },
    /// Ask the gateway, as a client system.
    Query(Box<QueryArgs>),
    /// Check an audit log: the hash chain, the subject index and the signed checkpoints.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The lab's commands (`demo`, `seed`, `soak`, `bench`), in a build with the `lab` feature;
    /// the installed package leaves them out.
    #[cfg(feature = "lab")]
    #[command(flatten)]
    Lab(crate::lab::LabCommand),
}

/// `trama connector` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectorAction {
    /// Try a mapping against its database, with no certificate and no gateway: the start-up
    /// check, a person found and their record read in every declared section, the statistics
    /// facts and the offer read whole, each as the gateway would receive it; every value that
    /// does not convert is counted by its mapping key. Exits non-zero if any does.
    Try(TryArgs),
    /// Draft a mapping from a partner database's catalogue: the table of people and its match
    /// queries, sections guessed from the tables that point at it, what is left to decide
    /// marked TODO; writes mapping.toml and indexes.sql (never over existing files).
    Init(InitArgs),
}

/// `trama conformance` arguments.
#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// The connector's configuration file (its certificates are not used).
    #[arg(long, short)]
    pub config: PathBuf,
    /// A tax code of a person the partner holds, to sample (repeatable; without it the first
    /// people of the partner's own table are sampled).
    #[arg(long = "tax-code")]
    pub tax_codes: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `trama conformance`: every check, as lines or JSON; fails if any
/// check does.
pub async fn conformance(args: ConformanceArgs) -> anyhow::Result<()> {
    let config = trama_connector::ConnectorConfig::load(&args.config)?;
    let report = trama_connector::conformance::run(&config, &args.tax_codes).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "conformance of the {} connector ({}):",
            report.organisation,
            args.config.display()
        );
        for c in &report.checks {
            let verdict = if c.passed { "pass" } else { "FAIL" };
            println!("  {verdict}  {}: {}", c.name, c.detail);
        }
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", report.checks.len());
    }
    if !args.json {
        println!("every check passed");
    }
    Ok(())
}

/// `trama connector init` arguments.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The partner database (postgres://, mysql:// or sqlite://); read only.
    #[arg(long)]
    pub database: String,
    /// The name of the partner's system, for provenance (`[source] system`).
    #[arg(long, default_value = "gestionale")]
    pub system: String,
    /// Where to write mapping.toml and indexes.sql.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

/// Runs `trama connector init`: reads the catalogue, writes the draft and
/// says what is left to decide.
pub async fn connector_init(args: InitArgs) -> anyhow::Result<()> {
    use trama_connector::scaffold;
    let limits = trama_connector::source::Limits {
        max_connections: 2,
        statement_timeout: std::time::Duration::from_secs(30),
    };
    let db = trama_connector::source::Database::connect(&args.database, limits).await?;
    let tables = scaffold::introspect(&db).await?;
    let sampled = scaffold::sampled(&db, &tables).await?;
    let draft = scaffold::draft(&args.system, &tables, &sampled).map_err(anyhow::Error::msg)?;
    let mapping = args.out.join("mapping.toml");
    let indexes = args.out.join("indexes.sql");
    for (path, text) in [(&mapping, &draft.mapping), (&indexes, &draft.indexes)] {
        write_new(path, text)?;
    }
    println!(
        "{} tables read from {}\nwrote {} and {} (index statements: {})",
        tables.len(),
        trama_plumbing::redact(&args.database),
        mapping.display(),
        indexes.display(),
        draft.indexes.lines().count()
    );
    println!("left for you to decide (marked TODO in the mapping):");
    for todo in &draft.todo {
        println!("  - {todo}");
    }
    println!(
        "then: apply indexes.sql, and `trama connector try --config <connector.toml> --tax-code ...`"
    );
    Ok(())
}

/// Writes `text` to a new file at `path`; refuses to replace one.
fn write_new(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (a draft never replaces a file)", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// `trama connector try` arguments.
#[derive(Debug, clap::Args)]
pub struct TryArgs {
    /// The connector's configuration file (its certificates are not used).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Look for this tax code.
    #[arg(long)]
    pub tax_code: Option<String>,
    /// Look for this id of the partner's own.
    #[arg(long)]
    pub local_id: Option<String>,
    /// Look for this family name (with --given-name or --birth-date).
    #[arg(long)]
    pub family_name: Option<String>,
    /// Given name.
    #[arg(long)]
    pub given_name: Option<String>,
    /// Birth date, YYYY-MM-DD.
    #[arg(long, value_parser = crate::cli::iso_date)]
    pub birth_date: Option<time::Date>,
}

/// A date written `YYYY-MM-DD`.
pub fn iso_date(text: &str) -> Result<time::Date, String> {
    time::Date::parse(text, &time::format_description::well_known::Iso8601::DATE)
        .map_err(|_| format!("`{text}` is not a date written YYYY-MM-DD"))
}

/// Runs `trama connector try`: prints what the gateway would receive and
/// every value that did not convert; fails if any did.
pub async fn connector_try(args: TryArgs) -> anyhow::Result<()> {
    let config = trama_connector::ConnectorConfig::load(&args.config)?;
    let ask = trama_connector::tryout::Ask {
        tax_code: args.tax_code,
        local_id: args.local_id,
        family_name: args.family_name,
        given_name: args.given_name,
        birth_date: args.birth_date,
    };
    let tried = trama_connector::tryout::run(&config, &ask).await?;
    println!(
        "{}: the mapping {} fits the database {} (the start-up check passed)\n",
        tried.organisation,
        config.mapping.display(),
        trama_plumbing::redact(&config.database)
    );
    print!("{}", render::find(&tried_find(&tried)));
    match &tried.record {
        Some(record) => {
            let names: Vec<&str> = tried
                .sections
                .iter()
                .map(|s| trama_proto::sections::name(*s))
                .collect();
            println!(
                "\nthe best candidate's record, sections {}:",
                names.join(", ")
            );
            print!("{}", render::record(&tried_record(&tried, record)));
        }
        None => println!("\nnobody found: no record read"),
    }
    if let Some(facts) = tried.facts {
        println!("\nstatistics: {facts} facts read");
    }
    println!("services: {} in the offer", tried.services.0);
    for p in &tried.services.1 {
        println!("  left out: {} row {}: {}", p.key, p.row_id, p.problem);
    }
    if tried.skipped.is_empty() {
        println!("every value read converted");
        return Ok(());
    }
    println!("\nvalues that did not convert (skipped when serving):");
    let mut table = render::Table::new(&["mapping key", "problem", "values"]);
    for ((key, problem), n) in &tried.skipped {
        table.row(vec![key.clone(), problem.clone(), n.to_string()]);
    }
    print!("{}", table.render());
    let keys = tried.skipped.len();
    bail!(
        "{keys} mapping key{} with values that do not convert: a date or time needs the date_format its column is written in (iso, dd/mm/yyyy or yyyymmdd); a code needs a line in its code table",
        if keys == 1 { "" } else { "s" }
    )
}

/// The candidates as a `FindSubject` answer, one group each.
fn tried_find(tried: &trama_connector::tryout::Tried) -> v1::FindSubjectResponse {
    v1::FindSubjectResponse {
        groups: tried
            .found
            .candidates
            .iter()
            .map(|c| v1::CandidateGroup {
                tax_code: c
                    .identity
                    .as_ref()
                    .map(|i| i.tax_code.clone())
                    .unwrap_or_default(),
                score: c.score,
                candidates: vec![c.clone()],
            })
            .collect(),
        outcomes: vec![answered(tried)],
        partial: false,
    }
}

/// A connector's record as a `GetRecord` answer of that one source.
fn tried_record(
    tried: &trama_connector::tryout::Tried,
    fetched: &v1::FetchRecordResponse,
) -> v1::GetRecordResponse {
    v1::GetRecordResponse {
        record: Some(v1::Record {
            identities: fetched.identity.iter().cloned().collect(),
            sections: fetched.sections.clone(),
            conflicts: Vec::new(),
        }),
        outcomes: vec![answered(tried)],
        partial: false,
    }
}

/// The one source of a try, answered.
fn answered(tried: &trama_connector::tryout::Tried) -> v1::SourceOutcome {
    v1::SourceOutcome {
        organisation: tried.organisation.clone(),
        status: v1::OutcomeStatus::Ok as i32,
        ..v1::SourceOutcome::default()
    }
}

/// `trama audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify a gateway's or a connector's audit log; exits non-zero if anything was altered,
    /// deleted, inserted, reordered or truncated.
    Verify {
        /// The gateway's configuration file (its audit log, checkpoint file and certificate).
        #[arg(
            long,
            conflicts_with = "connector",
            required_unless_present = "connector"
        )]
        gateway: Option<PathBuf>,
        /// A connector's configuration file (its local audit log).
        #[arg(long)]
        connector: Option<PathBuf>,
        /// Certificates the node had before its current one (repeatable): checkpoints signed
        /// before a renewal verify against them.
        #[arg(long = "cert")]
        certs: Vec<PathBuf>,
        /// The checkpoint files of the other replicas sharing the database (repeatable):
        /// each holds its replica's chain to what it signed, even if the database lost it.
        #[arg(long = "checkpoints")]
        checkpoints: Vec<PathBuf>,
    },
}

/// `trama query` arguments.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Client profile: gateway address, certificates, operator.
    #[arg(long, short, env = "TRAMA_PROFILE")]
    pub profile: PathBuf,
    /// Print canonical protobuf JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Purpose of the access (overrides the profile's).
    #[arg(long, global = true)]
    pub purpose: Option<String>,
    /// Case id (overrides the profile's).
    #[arg(long, global = true)]
    pub case_id: Option<String>,
    /// Deadline of the call in milliseconds.
    #[arg(long, global = true, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// The question.
    #[command(subcommand)]
    pub command: QueryCommand,
}

/// `trama query` questions.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Find a person by tax code, by name and birth data, or by a partner's local id.
    Find(FindArgs),
    /// Read sections of a person's record from every source that knows them.
    Record {
        /// Codice fiscale.
        #[arg(long)]
        tax_code: Option<String>,
        /// Partners' local ids, ORG:ID (repeatable).
        #[arg(long = "local-id")]
        local_ids: Vec<String>,
        /// Sections, comma-separated (housing, socio_economic, support_network, needs,
        /// judicial_acts, court_relations, referrals, interventions, health, case_membership),
        /// or `all`.
        #[arg(long, default_value = "all")]
        sections: String,
    },
    /// List the federation's sources and their health.
    Sources,
    /// Counts of distinct people across the partners, protected (purpose
    /// `programmazione`, role `ufficio_di_piano` in the demo).
    Stats {
        /// Dimensions of the table, comma-separated, at most four: district,
        /// municipality, need, intervention, case_status, age_band, sex, month,
        /// quarter, year.
        #[arg(long, default_value = "need,district")]
        by: String,
        /// A filter, DIMENSION=VALUE[,VALUE...] (repeatable), for example
        /// `year=2025`, `period=2025-Q2`, `municipality=D150,D142`, `need=housing`.
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// Output: table, csv or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Search the services on offer across the partners (public data: no purpose needed).
    Services(ServicesArgs),
    /// Send a referral (segnalazione) to a partner: stored, then delivered once to its inbox.
    Refer(crate::refer::ReferArgs),
    /// One referral: its status, delivery and history; with --set, change its status.
    Referral(crate::refer::ReferralArgs),
    /// Your organisation's inbox or outbox of referrals, overdue ones flagged.
    Referrals(crate::refer::ReferralsArgs),
    /// Who accessed a person's data, when, for which purpose (role `audit`, for the DPO);
    /// without a person, the log's entries by operator, organisation, purpose and period.
    AccessLog(AccessLogArgs),
}

/// The person `trama query find` looks for.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Codice fiscale (validated: a malformed code is refused).
    #[arg(long)]
    pub tax_code: Option<String>,
    /// A partial or possibly mistyped codice fiscale (at least 6 characters).
    #[arg(long)]
    pub tax_code_fragment: Option<String>,
    /// Family name(s).
    #[arg(long)]
    pub family_name: Option<String>,
    /// Given name(s).
    #[arg(long)]
    pub given_name: Option<String>,
    /// Birth date, YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// Belfiore code of the birthplace.
    #[arg(long)]
    pub birthplace: Option<String>,
    /// Sex, F or M.
    #[arg(long)]
    pub sex: Option<String>,
    /// A partner's local id, ORG:ID.
    #[arg(long)]
    pub local_id: Option<String>,
    /// Candidates per source.
    #[arg(long, default_value_t = 10)]
    pub max: u32,
}

/// What `trama query access-log` lists.
#[derive(Debug, Args)]
pub struct AccessLogArgs {
    /// Codice fiscale.
    #[arg(long)]
    pub tax_code: Option<String>,
    /// Partners' local ids, ORG:ID (repeatable).
    #[arg(long = "local-id")]
    pub local_ids: Vec<String>,
    /// Only accesses by this operator id, exactly.
    #[arg(long)]
    pub operator: Option<String>,
    /// Only accesses by this client organisation, for example caritas.
    #[arg(long)]
    pub organisation: Option<String>,
    /// Only accesses stated with this purpose, for example presa_in_carico (`--purpose`
    /// is the purpose of this look-up itself).
    #[arg(long = "stated-purpose")]
    pub stated_purpose: Option<String>,
    /// Only calls of this name, for example GetRecord.
    #[arg(long)]
    pub call: Option<String>,
    /// Only accesses at or after this instant, RFC 3339 (2026-07-14T00:00:00+02:00).
    #[arg(long)]
    pub from: Option<String>,
    /// Only accesses before this instant, RFC 3339.
    #[arg(long)]
    pub to: Option<String>,
    /// The page: the token the previous page printed (`--page 'gateway-a:41,gateway-b:38'`).
    #[arg(long)]
    pub page: Option<String>,
    /// Most entries, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

/// What `trama query services` searches for.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Free text over name, description and provider, for example "assistenza domiciliare".
    pub text: Option<String>,
    /// A need category (repeatable), for example `food`.
    #[arg(long = "need")]
    pub needs: Vec<String>,
    /// A municipality served, Belfiore code, for example D150.
    #[arg(long)]
    pub municipality: Option<String>,
    /// The person's age.
    #[arg(long)]
    pub age: Option<u32>,
    /// The most it may cost, in euro (`12.50`).
    #[arg(long)]
    pub max_price: Option<String>,
    /// A voucher scheme it must accept, for example `voucher-conciliazione`.
    #[arg(long)]
    pub voucher: Option<String>,
    /// The household's ISEE, in euro.
    #[arg(long)]
    pub isee: Option<String>,
    /// Only services open now (Italian time).
    #[arg(long)]
    pub open_now: bool,
    /// Services per page (at most 100).
    #[arg(long, default_value_t = 20)]
    pub page_size: u32,
    /// The token printed with the previous page.
    #[arg(long)]
    pub page_token: Option<String>,
}

/// Runs `trama query`.
pub async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let profile = Profile::load(&args.profile)?;
    let mut client = profile.connect()?;
    let context = query_context(&args, &profile);
    let asked = Asked {
        timeout: std::time::Duration::from_millis(args.timeout_ms),
        json: args.json,
    };
    let (timeout, json) = (asked.timeout, asked.json);
    let output = match args.command {
        QueryCommand::Find(f) => {
            let request = asked.request(find_request(context, f)?);
            let answer = client.find_subject(request).await;
            asked.show(answer, "trama.v1.FindSubjectResponse", render::find)?
        }
        QueryCommand::Record {
            tax_code,
            local_ids,
            sections,
        } => {
            let request = asked.request(v1::GetRecordRequest {
                context: Some(context),
                subject: Some(requests::subject_key(tax_code, &local_ids)?),
                sections: parse_sections(&sections)?,
            });
            let answer = client.get_record(request).await;
            asked.show(answer, "trama.v1.GetRecordResponse", render::record)?
        }
        QueryCommand::AccessLog(a) => {
            let request = asked.request(access_log_request(context, a)?);
            let answer = client.access_log(request).await;
            asked.show(answer, "trama.v1.AccessLogResponse", render::access_log)?
        }
        QueryCommand::Stats {
            by,
            filters,
            format,
        } => {
            let request = stats_request(context, &by, &filters)?;
            let format = if json { "json" } else { format.as_str() };
            stats(&mut client, request, timeout, format).await?
        }
        QueryCommand::Services(a) => {
            let request = asked.request(services_request(a)?);
            let answer = client.search_services(request).await;
            asked.show(answer, "trama.v1.SearchServicesResponse", render::services)?
        }
        QueryCommand::Refer(a) => {
            crate::refer::send(&mut client, context, a, timeout, json).await?
        }
        QueryCommand::Referral(a) => {
            crate::refer::referral(&mut client, context, a, timeout, json).await?
        }
        QueryCommand::Referrals(a) => {
            crate::refer::referrals(&mut client, context, a, timeout, json).await?
        }
        QueryCommand::Sources => {
            let request = asked.request(v1::ListSourcesRequest::default());
            let answer = client.list_sources(request).await;
            asked.show(answer, "trama.v1.ListSourcesResponse", render::sources)?
        }
    };
    print!("{output}");
    if !output.ends_with('\n') {
        println!();
    }
    Ok(())
}

/// How `trama query` sends a call and shows its answer: under the
/// command's deadline, as JSON or as text.
struct Asked {
    timeout: std::time::Duration,
    json: bool,
}

impl Asked {
    /// `message` as a request carrying the deadline.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        requests::with_deadline(message, self.timeout)
    }

    /// The answer as JSON of message `name`, or as `text` renders it; a
    /// refusal as the command line shows it.
    fn show<R: prost::Message>(
        &self,
        answer: Result<tonic::Response<R>, tonic::Status>,
        name: &str,
        text: impl Fn(&R) -> String,
    ) -> anyhow::Result<String> {
        let answer = answer.map_err(status_error)?.into_inner();
        if self.json {
            render::json(&answer, name).map_err(anyhow::Error::msg)
        } else {
            Ok(text(&answer))
        }
    }
}

/// The request context of `trama query`: the purpose and case given, else
/// the profile's, and the profile's operator.
fn query_context(args: &QueryArgs, profile: &Profile) -> v1::RequestContext {
    v1::RequestContext {
        purpose: args
            .purpose
            .clone()
            .or(profile.purpose.clone())
            .unwrap_or_default(),
        case_id: args
            .case_id
            .clone()
            .or(profile.case_id.clone())
            .unwrap_or_default(),
        operator: Some(v1::Operator {
            id: profile.operator.id.clone(),
            role: profile.operator.role.clone(),
        }),
        legal_basis: String::new(),
    }
}

/// The `FindSubject` request `trama query find` sends.
fn find_request(
    context: v1::RequestContext,
    f: FindArgs,
) -> anyhow::Result<v1::FindSubjectRequest> {
    let sex = requests::sex(f.sex.as_deref())?;
    let query = v1::SubjectQuery {
        tax_code: f.tax_code.unwrap_or_default(),
        tax_code_fragment: f.tax_code_fragment.unwrap_or_default(),
        local_id: f.local_id.as_deref().map(requests::local_id).transpose()?,
        given_name: f.given_name.unwrap_or_default(),
        family_name: f.family_name.unwrap_or_default(),
        birth_date: f.birth_date.as_deref().map(parse_date).transpose()?,
        birthplace_code: f.birthplace.unwrap_or_default(),
        sex,
    };
    Ok(v1::FindSubjectRequest {
        context: Some(context),
        query: Some(query),
        max_candidates: f.max,
    })
}

/// The `AccessLog` request `trama query access-log` sends.
fn access_log_request(
    context: v1::RequestContext,
    a: AccessLogArgs,
) -> anyhow::Result<v1::AccessLogRequest> {
    Ok(v1::AccessLogRequest {
        context: Some(context),
        subject: Some(requests::subject_key(a.tax_code, &a.local_ids)?),
        limit: a.limit,
        operator_id: a.operator.unwrap_or_default(),
        organisation: a.organisation.unwrap_or_default(),
        purpose: a.stated_purpose.unwrap_or_default(),
        call: a.call.unwrap_or_default(),
        from: a.from.unwrap_or_default(),
        to: a.to.unwrap_or_default(),
        page_token: a.page.clone().unwrap_or_default(),
    })
}

/// The `SearchServices` request `trama query services` sends.
fn services_request(a: ServicesArgs) -> anyhow::Result<v1::SearchServicesRequest> {
    Ok(v1::SearchServicesRequest {
        text: a.text.unwrap_or_default(),
        needs: a.needs,
        municipality: a.municipality.unwrap_or_default(),
        age: a.age.unwrap_or(0),
        max_price_cents: cents_arg("--max-price", a.max_price.as_deref())?,
        voucher: a.voucher.unwrap_or_default(),
        isee_cents: cents_arg("--isee", a.isee.as_deref())?,
        open_now: a.open_now,
        page_size: a.page_size,
        page_token: a.page_token.unwrap_or_default(),
        ..Default::default()
    })
}

/// Prints what `--check-config` found: the checks passed on standard
/// output, then every problem on standard error; fails if there is any.
pub fn config_report(passed: &[String], problems: &[String]) -> anyhow::Result<()> {
    if problems.is_empty() {
        println!("configuration ok");
        for line in passed {
            println!("  {line}");
        }
        return Ok(());
    }
    for problem in problems {
        eprintln!("{problem}");
    }
    bail!(
        "the configuration has {} problem(s); the node would not start",
        problems.len()
    )
}

/// Runs `trama audit verify`: verifies every chain of the log (one per
/// gateway replica sharing the database), prints what it checked and every
/// problem with the replica and the entry where it is; fails if there is
/// any.
pub async fn audit_verify(
    gateway: Option<PathBuf>,
    connector: Option<PathBuf>,
    earlier: Vec<PathBuf>,
    other_checkpoints: Vec<PathBuf>,
) -> anyhow::Result<()> {
    let (database, cert, checkpoints, what) = match (gateway, connector) {
        (Some(path), _) => {
            let c = trama_gateway::GatewayConfig::load(&path)?;
            (
                c.audit.database,
                c.tls.cert,
                c.audit.checkpoint_file,
                format!("gateway {}", path.display()),
            )
        }
        (None, Some(path)) => {
            let c = trama_connector::ConnectorConfig::load(&path)?;
            (
                c.audit.database,
                c.tls.cert,
                c.audit.checkpoint_file,
                format!("connector {}", path.display()),
            )
        }
        (None, None) => bail!("name the configuration: --gateway FILE or --connector FILE"),
    };
    let store = trama_audit::Store::open_current(&database).await?;
    let mut certs = vec![cert.clone()];
    certs.extend(earlier);
    let verifier = trama_audit::chain::SignatureVerifier::load_all(&certs)?;
    let mut shipped = Vec::new();
    for file in std::iter::once(&checkpoints).chain(&other_checkpoints) {
        shipped.extend(trama_audit::log::read_checkpoint_file(file)?);
    }
    let reports = trama_audit::verify::verify_all(&store, &verifier, &shipped).await;
    store.close().await;
    let reports = reports?;
    println!(
        "audit log of the {what}: {}",
        trama_plumbing::redact(&database)
    );
    let mut problems = 0;
    for (chain, report) in &reports {
        let name = match chain.as_str() {
            "" if reports.len() == 1 => String::new(),
            "" => "chain written before replicas".to_string(),
            chain => format!("replica {chain}"),
        };
        print_report(&name, report, &cert);
        problems += report.problems.len();
    }
    if problems == 0 {
        return Ok(());
    }
    bail!("the audit log has been tampered with: {problems} problem(s), listed above")
}

/// One chain's verification, as `trama audit verify` prints it (`name`:
/// the replica, empty for a log of one chain).
fn print_report(name: &str, report: &trama_audit::Report, cert: &std::path::Path) {
    let (head, indent) = if name.is_empty() {
        (String::new(), "  ")
    } else {
        (format!("{name}: "), "    ")
    };
    if !name.is_empty() {
        println!("  {name}");
    }
    println!(
        "{indent}{} entries, {} signed checkpoints checked against {}",
        report.entries,
        report.checkpoints,
        cert.display()
    );
    if let Some(h) = &report.horizon {
        println!(
            "{indent}entries 1..{} removed for retention on {}; the log starts after the checkpoint that sealed entry {}",
            h.seq, h.pruned_at, h.seq
        );
    }
    match &report.last_checkpoint {
        Some((seq, time)) => println!("{indent}last valid checkpoint: entry {seq}, signed {time}"),
        None => println!("{indent}no valid checkpoint yet"),
    }
    if !report.ok() {
        for p in &report.problems {
            println!("{indent}PROBLEM {head}{p}");
        }
        return;
    }
    let sealed = report.last_checkpoint.as_ref().map_or(0, |(s, _)| *s);
    println!(
        "{}ok: {head}the chain of {} entries is intact and every checkpoint matches",
        &indent[2..],
        report.entries
    );
    if sealed < report.last_seq {
        println!(
            "{indent}entries {}..{} are after the last checkpoint: held by the chain, not yet by a signature",
            sealed + 1,
            report.last_seq
        );
    }
}

/// The `Aggregate` request of `trama query stats`.
fn stats_request(
    context: v1::RequestContext,
    by: &str,
    filters: &[String],
) -> anyhow::Result<v1::AggregateRequest> {
    Ok(v1::AggregateRequest {
        context: Some(context),
        group_by: by
            .split(',')
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect(),
        filters: filters
            .iter()
            .map(|f| requests::filter(f))
            .collect::<Result<_, _>>()?,
    })
}

/// Asks for a statistics table and prints it as `format` (table, csv or
/// json).
async fn stats(
    client: &mut trama_proto::v1::federation_client::FederationClient<tonic::transport::Channel>,
    request: v1::AggregateRequest,
    timeout: std::time::Duration,
    format: &str,
) -> anyhow::Result<String> {
    if !["table", "csv", "json"].contains(&format) {
        bail!("--format `{format}`: write table, csv or json");
    }
    let response = client
        .aggregate(requests::with_deadline(request, timeout))
        .await
        .map_err(status_error)?
        .into_inner();
    Ok(match format {
        "json" => {
            render::json(&response, "trama.v1.AggregateResponse").map_err(anyhow::Error::msg)?
        }
        "csv" => trama_client::stats::csv(&response).map_err(anyhow::Error::msg)?,
        _ => trama_client::stats::render(&response),
    })
}

/// An amount in euro (`12`, `12.50`, `12,50`) as cents, exactly; 0 when
/// not given.
fn cents_arg(flag: &str, text: Option<&str>) -> anyhow::Result<i64> {
    Ok(requests::cents(flag, text)?)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn amounts_in_euro_become_exact_cents() {
        assert_eq!(super::cents_arg("--x", Some("12.5")).ok(), Some(1250));
        assert_eq!(super::cents_arg("--x", Some("12,05")).ok(), Some(1205));
        assert_eq!(super::cents_arg("--x", Some("7")).ok(), Some(700));
        assert_eq!(super::cents_arg("--x", None).ok(), Some(0));
        for bad in ["dodici", "1.234", "-3", "1.x"] {
            assert!(super::cents_arg("--x", Some(bad)).is_err(), "{bad}");
        }
    }
}
