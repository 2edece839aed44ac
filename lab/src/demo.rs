//! `trama demo`: a whole federation on this machine in one command. It
//! starts the demo federation (a development PKI, five partner databases
//! each in its own legacy schema filled with synthetic people, five
//! connectors and a gateway as separate processes on loopback) through the
//! [sandbox](crate::sandbox), and walks through the questions a social
//! worker asks. The federation keeps serving until the demo is stopped
//! (Ctrl-C or SIGTERM), and stops with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use trama_client::{Profile, render};
use trama_proto::v1;

use crate::sandbox::{Federation, FederationBuilder};
use crate::seed;

/// `trama demo` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Directory for the demo's PKI, databases, configurations and logs (recreated).
    #[arg(long, default_value = "demo-data")]
    pub dir: PathBuf,
    /// Gateway port (0: any free port).
    #[arg(long, default_value_t = 7400)]
    pub port: u16,
    /// People in the synthetic population.
    #[arg(long, default_value_t = 2000)]
    pub subjects: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Run the walkthrough and exit (for scripts).
    #[arg(long)]
    pub once: bool,
    /// Every partner knows every person (as `trama bench federation` runs it), instead of
    /// overlapping shares of the population.
    #[arg(long)]
    pub everyone: bool,
    /// Put the comune's database on this PostgreSQL server
    /// (for example postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Put the asl's database on this MySQL/MariaDB server
    /// (for example mysql://root@127.0.0.1:3306/test).
    #[arg(long, value_name = "URL")]
    pub mysql: Option<String>,
    /// Prefix of the databases created on those servers (recreated on each run).
    #[arg(long, default_value = "trama_demo")]
    pub database_prefix: String,
}

impl DemoArgs {
    /// The federation these arguments describe.
    pub fn builder(&self) -> FederationBuilder {
        FederationBuilder::new(&self.dir)
            .port(self.port)
            .subjects(self.subjects)
            .seed(self.seed)
            .everyone(self.everyone)
            .postgres(self.postgres.clone())
            .mysql(self.mysql.clone())
            .database_prefix(&self.database_prefix)
            .referral_poll_seconds(2)
    }
}

/// A gRPC error as the demo shows it: code and message.
fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "the gateway answered {:?}: {}",
        status.code(),
        status.message()
    )
}

/// Runs the demo. Ctrl-C or SIGTERM stop it at any point, and the
/// federation's processes with it.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    println!("Trama demo: a local federation of five partners.\n");
    let stopped = crate::signal::stop_requested();
    tokio::pin!(stopped);
    // Dropping the start half-way kills what it started.
    let started = tokio::select! {
        started = args.builder().announce(true).start() => started?,
        () = &mut stopped => return Ok(()),
    };
    let mut running = started;
    let walked = tokio::select! {
        walked = walkthrough(&running) => walked,
        () = &mut stopped => {
            running.stop().await;
            return Ok(());
        }
    };
    let tax_code = match walked {
        Ok(code) => code,
        Err(e) => {
            running.stop().await;
            return Err(e);
        }
    };
    print_try(&running.dir, &tax_code);
    if let Err(e) = start_consoles(&mut running).await {
        running.stop().await;
        return Err(e);
    }
    if args.once {
        running.stop().await;
        return Ok(());
    }
    println!("\nThe federation keeps serving; press Ctrl-C to stop it.");
    serve(&mut running, stopped).await;
    running.stop().await;
    println!("stopped.");
    Ok(())
}

/// A console the demo starts, with its demo operators.
struct DemoConsole {
    name: &'static str,
    organisation: &'static str,
    who: &'static str,
    operators: &'static [DemoOperator],
    /// Whether it also serves the citizens' public catalogue.
    public: bool,
}

/// A demo operator: username, name, role, password, and what they do.
struct DemoOperator {
    username: &'static str,
    name: &'static str,
    role: &'static str,
    password: &'static str,
    does: &'static str,
}

/// The demo's consoles: the comune's social services (a social worker, the
/// planning office and the data-protection officer; and the citizens'
/// catalogue) and the Caritas desk.
const CONSOLES: [DemoConsole; 2] = [
    DemoConsole {
        name: "console-comune",
        organisation: "comune",
        who: "the comune's social services",
        operators: &[
            DemoOperator {
                username: "laura.ferrari",
                name: "Laura Ferrari",
                role: "assistente_sociale",
                password: "demo-comune-2026",
                does: "social worker: find a person, read the record, refer",
            },
            DemoOperator {
                username: "piano.zona",
                name: "Ufficio di Piano",
                role: "ufficio_di_piano",
                password: "demo-piano-2026",
                does: "planning office: statistics",
            },
            DemoOperator {
                username: "dpo",
                name: "Responsabile protezione dati",
                role: "audit",
                password: "demo-dpo-2026",
                does: "data-protection officer: access log, federation",
            },
        ],
        public: true,
    },
    DemoConsole {
        name: "console-caritas",
        organisation: "caritas",
        who: "the Caritas listening centre's desk",
        operators: &[DemoOperator {
            username: "anna.volontaria",
            name: "Anna (volontaria)",
            role: "operatore_centro_ascolto",
            password: "demo-caritas-2026",
            does: "volunteer: who follows this person",
        }],
        public: false,
    },
];

/// Starts the demo's consoles and prints how to sign in.
async fn start_consoles(running: &mut Federation) -> anyhow::Result<()> {
    println!(
        "\n── Consoles for operators (HTTPS; the certificate is the demo CA's, {}) ──",
        running.dir.join("pki/ca.pem").display()
    );
    for c in CONSOLES {
        let accounts = c
            .operators
            .iter()
            .map(|o| crate::sandbox::ConsoleAccount {
                username: o.username.into(),
                name: o.name.into(),
                role: o.role.into(),
                password: o.password.into(),
            })
            .collect();
        let mut file = running.console_file(c.name, c.organisation, accounts);
        let public = c.public.then(free_port).transpose()?;
        if let Some(port) = public {
            file.extra = format!("\n[public]\nlisten = \"127.0.0.1:{port}\"\n");
        }
        let address = running.start_console_file(file).await?;
        println!("  {}: https://{address}", c.who);
        for o in c.operators {
            println!(
                "      sign in as {} / {}  ({})",
                o.username, o.password, o.does
            );
        }
        if let Some(port) = public {
            println!(
                "  the citizens' catalogue of services (no sign-in): https://127.0.0.1:{port}"
            );
        }
    }
    Ok(())
}

/// A port free on loopback now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until the demo is asked to stop or one of its processes exits.
async fn serve(running: &mut Federation, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Some(name) = running.exited() {
                    eprintln!(
                        "the {name} process stopped; see {}/logs/{name}.log",
                        running.dir.display()
                    );
                    return;
                }
            }
        }
    }
}

/// Runs the walkthrough as the comune's client; returns the tax code of the
/// person it followed.
async fn walkthrough(running: &Federation) -> anyhow::Result<String> {
    let profile = Profile::load(&running.dir.join("client-comune.toml"))?;
    let mut client = profile.connect()?;
    let context = v1::RequestContext {
        purpose: "presa_in_carico".into(),
        case_id: crate::seed::population::FEATURED_CASE.into(),
        operator: Some(v1::Operator {
            id: "op-comune-01".into(),
            role: "assistente_sociale".into(),
        }),
        legal_basis: String::new(),
    };

    let sources = client
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "\n── The federation (ListSources) ──\n{}",
        render::sources(&sources)
    );

    let (family, given, (y, m, d), _, _) = seed::population::FEATURED;
    let misspelt = "Dangleo";
    println!(
        "── A social worker of the comune looks for \"{misspelt} {given}\", born {y}-{m:02}-{d:02} (FindSubject; the surname is misspelt, the real one is {family}) ──"
    );
    let found = client
        .find_subject(v1::FindSubjectRequest {
            context: Some(context.clone()),
            query: Some(featured_query(misspelt)),
            max_candidates: 5,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::find(&found));
    let Some(best) = found.groups.first() else {
        bail!("the walkthrough's person was not found; the demo data are inconsistent");
    };
    let sources_found = best.candidates.len();
    if sources_found < 3 {
        bail!("the walkthrough's person was found at {sources_found} sources, expected at least 3");
    }

    // Name the person by tax code, and by local id where a partner has no
    // tax code for them (the listening centre).
    let local_ids: Vec<v1::LocalId> = best
        .candidates
        .iter()
        .filter_map(|c| c.identity.as_ref())
        .filter(|i| i.tax_code.is_empty())
        .filter_map(|i| i.local_id.clone())
        .collect();
    let shown: Vec<String> = local_ids
        .iter()
        .map(|l| format!("{}:{}", l.organisation, l.id))
        .collect();
    println!(
        "── The merged record of group 1 (GetRecord by tax code {}{}, all sections) ──",
        best.tax_code,
        if shown.is_empty() {
            String::new()
        } else {
            format!(" and local id {}", shown.join(", "))
        }
    );
    let record = client
        .get_record(v1::GetRecordRequest {
            context: Some(context.clone()),
            subject: Some(v1::SubjectKey {
                tax_code: best.tax_code.clone(),
                local_ids,
            }),
            sections: trama_proto::sections::ALL
                .iter()
                .map(|s| *s as i32)
                .collect(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::record(&record));
    let partners = record.record.as_ref().map_or(0, |r| r.identities.len());
    if partners < 3 {
        bail!("the merged record holds {partners} partners, expected at least 3");
    }
    wrong_case_view(&mut client, context, &best.tax_code).await?;
    caritas_view(running, &best.tax_code).await?;
    dpo_view(running, &best.tax_code).await?;
    planning_view(running).await?;
    services_view(running).await?;
    referral_view(running, &best.tax_code).await?;
    Ok(best.tax_code.clone())
}

/// The same read under a case the comune does not hold for the person: the
/// comune's own connector does not confirm it, and the gateway refuses.
async fn wrong_case_view(
    client: &mut trama_proto::v1::federation_client::FederationClient<tonic::transport::Channel>,
    context: v1::RequestContext,
    tax_code: &str,
) -> anyhow::Result<()> {
    let wrong = "CS-DEMO-9999";
    println!(
        "── The same read under case {wrong}, which the comune does not hold for this person (GetRecord) ──"
    );
    let refused = client
        .get_record(v1::GetRecordRequest {
            context: Some(v1::RequestContext {
                case_id: wrong.into(),
                ..context
            }),
            subject: Some(v1::SubjectKey {
                tax_code: tax_code.into(),
                local_ids: Vec::new(),
            }),
            sections: vec![v1::Section::Needs as i32],
        })
        .await;
    match refused {
        Err(status) if status.code() == tonic::Code::PermissionDenied => {
            println!("refused: {}\n", status.message());
            Ok(())
        }
        Err(status) => Err(status_error(status)),
        Ok(_) => bail!("a case the comune does not hold was taken for the person's"),
    }
}

/// A search for the featured person under `family_name`, with their given
/// name and birth date.
fn featured_query(family_name: &str) -> v1::SubjectQuery {
    let (_, given, (y, m, d), _, _) = seed::population::FEATURED;
    v1::SubjectQuery {
        family_name: family_name.into(),
        given_name: given.into(),
        birth_date: Some(v1::Date {
            year: y,
            month: i32::from(m),
            day: i32::from(d),
        }),
        ..Default::default()
    }
}

/// The same person seen from the Caritas listening centre: only whether
/// the person is followed, and by whom; health data refused.
async fn caritas_view(running: &Federation, tax_code: &str) -> anyhow::Result<()> {
    let profile = Profile::load(&running.dir.join("client-caritas.toml"))?;
    let mut client = profile.connect()?;
    let context = v1::RequestContext {
        purpose: "verifica_presa_in_carico".into(),
        case_id: String::new(),
        operator: Some(v1::Operator {
            id: "op-caritas-01".into(),
            role: "operatore_centro_ascolto".into(),
        }),
        legal_basis: String::new(),
    };
    let (_, given, (y, m, d), _, _) = seed::population::FEATURED;
    println!(
        "── The Caritas listening centre asks whether \"Dangelo {given}\", born {y}-{m:02}-{d:02}, is already followed (purpose verifica_presa_in_carico) ──"
    );
    let found = client
        .find_subject(v1::FindSubjectRequest {
            context: Some(context.clone()),
            query: Some(featured_query("Dangelo")),
            max_candidates: 3,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::outcomes(&found.outcomes, found.partial));
    let record = client
        .get_record(v1::GetRecordRequest {
            context: Some(context.clone()),
            subject: Some(v1::SubjectKey {
                tax_code: tax_code.into(),
                local_ids: Vec::new(),
            }),
            sections: vec![v1::Section::CaseMembership as i32],
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let followed: Vec<String> = record
        .record
        .as_ref()
        .and_then(|r| r.sections.as_ref())
        .map(|s| {
            s.case_memberships
                .iter()
                .map(|c| {
                    format!(
                        "{} · {} · case manager {}",
                        c.organisation, c.office, c.case_manager
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if followed.is_empty() {
        println!("Not followed by any service.");
    } else {
        for f in &followed {
            println!("Followed by: {f}");
        }
    }
    println!("{}", render::outcomes(&record.outcomes, record.partial));
    println!("── The same desk asks for the health section: refused by the policy ──");
    match client
        .get_record(v1::GetRecordRequest {
            context: Some(context),
            subject: Some(v1::SubjectKey {
                tax_code: tax_code.into(),
                local_ids: Vec::new(),
            }),
            sections: vec![v1::Section::Health as i32],
        })
        .await
    {
        Ok(_) => {
            bail!("the gateway released health data to the Caritas desk; the demo policy is broken")
        }
        Err(status) => println!("{:?}: {}\n", status.code(), status.message()),
    }
    Ok(())
}

/// The data-protection officer reads the person's access log.
async fn dpo_view(running: &Federation, tax_code: &str) -> anyhow::Result<()> {
    let profile = Profile::load(&running.dir.join("client-dpo.toml"))?;
    let mut client = profile.connect()?;
    println!("── The DPO reads who accessed this person's data (AccessLog, role audit) ──");
    let log = client
        .access_log(v1::AccessLogRequest {
            context: Some(v1::RequestContext {
                purpose: "controllo_accessi".into(),
                case_id: String::new(),
                operator: Some(v1::Operator {
                    id: "dpo-01".into(),
                    role: "audit".into(),
                }),
                legal_basis: String::new(),
            }),
            subject: Some(v1::SubjectKey {
                tax_code: tax_code.into(),
                local_ids: Vec::new(),
            }),
            limit: 20,
            ..Default::default()
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::access_log(&log));
    let by = |org: &str| log.entries.iter().any(|e| e.organisation == org);
    if !by("comune") || !by("caritas") {
        bail!("the access log does not list both the comune's and the Caritas desk's accesses");
    }
    Ok(())
}

/// The planning office reads distinct people by need and district across
/// the partners, protected, and who is known to several partners.
async fn planning_view(running: &Federation) -> anyhow::Result<()> {
    let profile = Profile::load(&running.dir.join("client-planning.toml"))?;
    let mut client = profile.connect()?;
    println!(
        "── The planning office counts people by need and district across the partners (Aggregate, purpose programmazione) ──"
    );
    let table = client
        .aggregate(v1::AggregateRequest {
            context: Some(crate::bench::stats::planning()),
            group_by: vec!["need".into(), "district".into()],
            filters: Vec::new(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", trama_client::stats::render(&table));
    if table.partial || table.overlaps.is_empty() {
        bail!("the planning office's table is partial or lacks the overlaps");
    }
    Ok(())
}

/// A welfare manager looks for home care in Cremona that takes the
/// comune's work-life voucher, across every partner's offer.
async fn services_view(running: &Federation) -> anyhow::Result<()> {
    let profile = Profile::load(&running.dir.join("client-comune.toml"))?;
    let mut client = profile.connect()?;
    println!(
        "── Home care in Cremona taking the work-life voucher, across the partners' offers (SearchServices) ──"
    );
    let request = v1::SearchServicesRequest {
        text: "assistenza domiciliare".into(),
        municipality: "D150".into(),
        voucher: "voucher-conciliazione".into(),
        ..Default::default()
    };
    // The gateway reads every partner's offer when it starts; wait for it.
    let started = std::time::Instant::now();
    let found = loop {
        let found = client
            .search_services(request.clone())
            .await
            .map_err(status_error)?
            .into_inner();
        let all_read = found.sources.len() == seed::Partner::ALL.len()
            && found.sources.iter().all(|s| !s.stale);
        if all_read || started.elapsed() > std::time::Duration::from_secs(30) {
            break found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    println!("{}", render::services(&found));
    if found.total < 2 {
        bail!(
            "the search found {} service(s), expected the comune's and a cooperative's",
            found.total
        );
    }
    Ok(())
}

/// The health authority's CPS refers the person to the comune's social
/// services; the referral arrives in the comune's own inbox table, the
/// comune's software accepts it there, and the CPS sees `accepted`.
async fn referral_view(running: &Federation, tax_code: &str) -> anyhow::Result<()> {
    let profile = Profile::load(&running.dir.join("client-cps.toml"))?;
    let mut cps = profile.connect()?;
    println!(
        "── The CPS of the health authority refers the person to the comune (SendReferral) ──"
    );
    let id = cps
        .send_referral(demo_referral(&profile, tax_code))
        .await
        .map_err(status_error)?
        .into_inner()
        .referral
        .map(|r| r.id)
        .unwrap_or_default();
    let read = |mut c: trama_proto::v1::federation_client::FederationClient<_>, id: String| {
        let context = context_of(&profile);
        async move {
            c.get_referral(v1::GetReferralRequest {
                context: Some(context),
                id,
            })
            .await
            .map_err(status_error)
            .map(|r| r.into_inner().referral.unwrap_or_default())
        }
    };
    let arrived = wait_for(
        || read(cps.clone(), id.clone()),
        |r| r.delivery == v1::Delivery::Delivered as i32,
    )
    .await?;
    println!("{}", render::referral(&arrived));
    let url = running
        .database_url("comune")
        .context("the comune's database")?;
    // A SQLite file is named relative to the connector's directory.
    let inbox = match url.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') => {
            let file = rest.split('?').next().unwrap_or(rest);
            let path = std::path::absolute(running.dir.join("comune").join(file))?;
            format!("sqlite://{}", path.display())
        }
        _ => url.to_string(),
    };
    let row = comune_inbox(&inbox, &id).await?;
    println!("In the comune's own table segnalazioni_in: {row}");
    println!("── The comune's social services accept it in their own software ──");
    comune_accepts(&inbox, &id).await?;
    let accepted = wait_for(
        || read(cps.clone(), id.clone()),
        |r| r.status == v1::ReferralStatus::Accepted as i32,
    )
    .await?;
    println!("{}", render::referral(&accepted));
    Ok(())
}

/// The CPS's referral of the person to the comune's social services. Its
/// idempotency key is the CPS's own reference, from its case: a key says
/// nothing about the person.
fn demo_referral(profile: &Profile, tax_code: &str) -> v1::SendReferralRequest {
    let case = profile.case_id.as_deref().unwrap_or("cps");
    v1::SendReferralRequest {
        context: Some(context_of(profile)),
        idempotency_key: format!("{case}-segnalazione-1"),
        target: "comune".into(),
        target_service: String::new(),
        content: Some(v1::ReferralContent {
            person: Some(v1::ReferredPerson {
                tax_code: tax_code.into(),
                ..Default::default()
            }),
            reasons: vec!["mental-health".into(), "housing".into()],
            message: "Dimessa dal reparto, chiede aiuto per la casa e il lavoro.".into(),
        }),
        urgency: v1::Urgency::Urgent as i32,
    }
}

/// The context a client profile states.
fn context_of(p: &Profile) -> v1::RequestContext {
    v1::RequestContext {
        purpose: p.purpose.clone().unwrap_or_default(),
        case_id: p.case_id.clone().unwrap_or_default(),
        operator: Some(v1::Operator {
            id: p.operator.id.clone(),
            role: p.operator.role.clone(),
        }),
        legal_basis: String::new(),
    }
}

/// Asks `read` until `done` holds (at most 30 s).
async fn wait_for<F, Fut>(
    read: F,
    done: impl Fn(&v1::Referral) -> bool,
) -> anyhow::Result<v1::Referral>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<v1::Referral>>,
{
    let started = std::time::Instant::now();
    loop {
        let r = read().await?;
        if done(&r) {
            return Ok(r);
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            bail!("referral {} still {:?} after 30 s", r.id, r.status);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The comune's inbox row of referral `id`, as its software would show it.
async fn comune_inbox(url: &str, id: &str) -> anyhow::Result<String> {
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(url).await.with_context(|| {
        format!(
            "opening the comune's database {}",
            crate::sandbox::redact_url(url)
        )
    })?;
    let sql = if url.starts_with("sqlite") {
        "SELECT ente_inviante, urgenza, motivi, stato FROM segnalazioni_in WHERE id_trama = ?"
    } else {
        "SELECT ente_inviante, urgenza, motivi, stato FROM segnalazioni_in WHERE id_trama = $1"
    };
    let row: (String, String, String, String) = sqlx::query_as(sql).bind(id).fetch_one(&db).await?;
    db.close().await;
    Ok(format!(
        "ente_inviante={} urgenza={} motivi={} stato={}",
        row.0, row.1, row.2, row.3
    ))
}

/// What the comune's software does when an operator takes the referral on.
async fn comune_accepts(url: &str, id: &str) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(url).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sql = if url.starts_with("sqlite") {
        "UPDATE segnalazioni_in SET stato = 'PRESA', operatore = 'laura.ferrari', aggiornata = ? WHERE id_trama = ?"
    } else {
        "UPDATE segnalazioni_in SET stato = 'PRESA', operatore = 'laura.ferrari', aggiornata = $1 WHERE id_trama = $2"
    };
    sqlx::query(sql)
        .bind(trama_connector::referrals::time_text(now))
        .bind(id)
        .execute(&db)
        .await?;
    db.close().await;
    Ok(())
}

fn print_try(dir: &Path, tax_code: &str) {
    let d = dir.display();
    let (_, given, (y, m, dd), _, _) = seed::population::FEATURED;
    println!("── Try it yourself ──");
    println!("  trama query --profile {d}/client-comune.toml sources");
    println!(
        "  trama query --profile {d}/client-comune.toml find --family-name dangelo --given-name {given} --birth-date {y}-{m:02}-{dd:02}"
    );
    println!(
        "  trama query --profile {d}/client-comune.toml record --tax-code {tax_code} --sections housing,needs,interventions"
    );
    println!(
        "  trama query --profile {d}/client-comune.toml --json record --tax-code {tax_code} --sections socio_economic"
    );
    println!(
        "  trama query --profile {d}/client-caritas.toml find --tax-code RSSMRA85T10A562X   (a malformed tax code is refused)"
    );
    println!("  trama query --profile {d}/client-dpo.toml access-log --tax-code {tax_code}");
    println!(
        "  trama query --profile {d}/client-caritas.toml record --tax-code {tax_code} --sections health   (refused: PERMISSION_DENIED)"
    );
    println!("  trama query --profile {d}/client-planning.toml stats --by need,district");
    println!(
        "  trama query --profile {d}/client-planning.toml stats --by age_band,sex --filter year=2025 --format csv"
    );
    println!(
        "  trama query --profile {d}/client-comune.toml services babysitting --municipality D150 --voucher voucher-conciliazione"
    );
    println!("  trama query --profile {d}/client-cps.toml referrals outbox");
    println!("  trama query --profile {d}/client-comune.toml referrals inbox");
    println!("  trama audit verify --gateway {d}/gateway.toml");
    println!("(with cargo: cargo run --release -- query ...)");
}
