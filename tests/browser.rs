//! The console in a real browser: headless Chromium driven over WebDriver
//! against consoles in front of the sandbox federation (real processes on
//! loopback). An operator signs in, finds the demo person by a misspelt
//! name, opens the record with a purpose (the sections offered follow the
//! purpose; a refused one shows the policy's reason), sees provenance, and
//! a partial answer while a partner is stopped; the Caritas desk sees who
//! follows the person and nothing else; the DPO reads the access log with
//! the audit chain verified; the planning office sees the statistics table
//! and its chart; the federation screen refreshes by itself. A partner's
//! names and notes hold `<script>`, quotes and markup: nothing runs. Every
//! page passes axe-core's WCAG 2.1 AA checks at 1280×800 and at tablet
//! width; each screen is saved under `target/browser-screenshots/`.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use support::chrome::{self, Chrome, DESKTOP, TABLET};
use support::{ConsoleAccount, Sandbox};

const DEMO: &str = "DNGGPP58L14D150Z";
const HOSTILE_NAME: &str = "Giuseppe <script>document.title='xss'</script>\"'<b>x</b>";
const HOSTILE_NOTE: &str =
    "<img src=x onerror=\"document.title='xss'\"> vicina di casa & \"amica\"";

fn account(username: &str, name: &str, role: &str) -> ConsoleAccount {
    ConsoleAccount {
        username: username.into(),
        name: name.into(),
        role: role.into(),
        password: format!("password di {username} per la prova"),
    }
}

/// Puts markup and quotes into the caritas name and the comune's notes
/// about the demo person.
async fn seed_hostile_values(fed: &Sandbox) {
    let open = |org: &str| {
        let file = fed.dir().join(org).join(format!("{org}.db"));
        async move {
            sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
                .await
                .expect("the partner's database")
        }
    };
    let caritas = open("caritas").await;
    // Caritas wrote the demo person down without a tax code, as "Dangelo
    // Giusepe".
    let changed =
        sqlx::query("UPDATE persone SET nome = ? WHERE cognome = 'Dangelo' AND nome = 'Giusepe'")
            .bind(HOSTILE_NAME)
            .execute(&caritas)
            .await
            .unwrap();
    assert_eq!(changed.rows_affected(), 1, "caritas knows the demo person");
    let comune = open("comune").await;
    let changed = sqlx::query(
        "INSERT INTO rete_sostegno (id_risorsa, id_assistito, tipo, descrizione, attiva, dt_agg) \
         SELECT 99999999, id_assistito, 'VIC', ?, 1, dt_agg FROM assistiti WHERE codice_fiscale = ?",
    )
    .bind(HOSTILE_NOTE)
    .bind(DEMO)
    .execute(&comune)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1, "the comune knows them");
}

/// Signs in on the page shown.
async fn sign_in(b: &Chrome, who: &ConsoleAccount) {
    b.open("/login").await;
    b.fill("#username", &who.username).await;
    b.fill("#password", &who.password).await;
    b.click("form[action='/login'] button[type=submit]").await;
    let landed = b.path().await;
    assert_ne!(landed, "/login", "{} is signed in", who.username);
}

/// Checks the page shown with axe-core and, on an Italian page, that no
/// English or code meant for machines shows; saves it.
async fn check_and_save(b: &Chrome, name: &str) {
    let lang = b.el("html").await.attr("lang").await.unwrap();
    if lang.as_deref() == Some("it") {
        let text = b.text().await;
        italian_only(&text);
        no_codes(&text, name);
    }
    let violations = b.accessibility().await;
    assert!(
        violations.is_empty(),
        "{name}: accessibility violations: {violations:#?}"
    );
    let fits: bool = b
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap_or(false);
    assert!(fits, "{name}: the page scrolls sideways");
    b.shot(name).await;
}

/// Nothing from the partners' data ran or became markup.
async fn nothing_ran(b: &Chrome, what: &str) {
    let title = b.client.title().await.unwrap();
    assert_ne!(title, "xss", "{what}: a script from the data ran");
    let injected = b
        .client
        .execute(
            "return document.querySelectorAll('main script, main img, main b').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(injected.as_u64(), Some(0), "{what}: markup from the data");
}

#[tokio::test]
async fn operators_work_in_a_real_browser() {
    if !chrome::available() {
        return;
    }
    let mut fed = Sandbox::start().await;
    seed_hostile_values(&fed).await;
    let laura = account("laura.ferrari", "Laura Ferrari", "assistente_sociale");
    let dpo = account("dpo", "Responsabile protezione dati", "audit");
    let planner = account("piano.zona", "Ufficio di Piano", "ufficio_di_piano");
    let anna = account("anna.volontaria", "Anna", "operatore_centro_ascolto");
    let comune = fed
        .running
        .start_console(
            "console-comune",
            "comune",
            vec![laura.clone(), dpo.clone(), planner.clone()],
        )
        .await
        .unwrap();
    let caritas = fed
        .running
        .start_console("console-caritas", "caritas", vec![anna.clone()])
        .await
        .unwrap();
    let origin = format!("https://{comune}");

    let b = Chrome::start(&origin, DESKTOP).await;
    b.open("/login").await;
    // Keyboard: from the username field, Tab reaches the password.
    b.el("#username")
        .await
        .send_keys("laura.ferrari\u{E004}")
        .await
        .unwrap();
    let focused = b
        .client
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused.as_str(), Some("password"));
    for field in ["#username", "#password"] {
        visible_field(&b, field).await;
    }
    let kind = b.el("#password").await.attr("type").await.unwrap();
    assert_eq!(kind.as_deref(), Some("password"), "the password is masked");
    check_and_save(&b, "social-worker-01-sign-in").await;
    sign_in(&b, &laura).await;
    // The Caritas desk's console on the same host (cookies ignore the
    // port), signed in from the same browser: neither signs the other out.
    b.client
        .goto(&format!("https://{caritas}/login"))
        .await
        .unwrap();
    b.fill("#username", &anna.username).await;
    b.fill("#password", &anna.password).await;
    b.click("form[action='/login'] button[type=submit]").await;
    assert_eq!(b.path().await, "/find", "anna is signed in at Caritas");
    b.open("/find").await;
    assert_eq!(
        b.path().await,
        "/find",
        "laura is still signed in at the comune"
    );
    for field in [
        "#case_id",
        "#tax_code",
        "#family_name",
        "#given_name",
        "#birth_date",
    ] {
        visible_field(&b, field).await;
    }

    // The first Tab reaches the skip link; a refused search puts the
    // focus on what went wrong.
    let active = "return document.activeElement.className || document.activeElement.id";
    b.open("/find").await;
    let first = b.client.execute(active, vec![]).await.unwrap();
    assert_eq!(
        first.as_str(),
        Some("form-select"),
        "the first field has the focus"
    );
    let skip = b
        .client
        .execute(
            "const first = document.querySelector('a, button, input, select, textarea');
             first.focus();
             return [first.className, first.getBoundingClientRect().left >= 0];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        skip,
        serde_json::json!(["skip", true]),
        "the skip link comes first and shows when focused"
    );
    b.fill("#given_name", "Giuseppe").await;
    b.click("form[action='/find'] button[type=submit]").await;
    let on = b.client.execute(active, vec![]).await.unwrap();
    assert_eq!(on.as_str(), Some("error"), "the focus is on the problem");

    // Find the demo person by a misspelt surname.
    b.choose("#purpose", "presa_in_carico").await;
    b.fill("#case_id", "CS-DEMO-0001").await;
    b.fill("#family_name", "Dangleo").await;
    b.fill("#given_name", "Giuseppe").await;
    b.fill("#birth_date", "1958-07-14").await;
    b.click("form[action='/find'] button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains(DEMO), "{text}");
    assert!(text.contains("D'Angelo"), "{text}");
    check_and_save(&b, "social-worker-02-find-misspelt").await;

    // By the name caritas wrote down: its hostile given name is text.
    b.fill("#family_name", "Dangelo").await;
    b.fill("#given_name", "").await;
    b.click("form[action='/find'] button[type=submit]").await;
    let text = b.text().await;
    assert!(
        text.contains("<script>document.title='xss'</script>"),
        "{text}"
    );
    nothing_ran(&b, "find").await;

    // The record, for every identity of the group found: the sections
    // follow the purpose.
    b.click(&format!("a[href^='/record?tax_code={DEMO}&local=']"))
        .await;
    b.choose("#purpose", "orientamento").await;
    let health = "#sections input[value=health]";
    wait_until(&b, &format!("{health}[disabled]")).await;
    // The page held the sections of the first purpose; they change.
    wait_for_text(&b, "#why-health", "i dati sanitari (GDPR art. 9)").await;
    b.quiet().await;
    check_and_save(&b, "social-worker-03-record-refused-section").await;
    b.choose("#purpose", "presa_in_carico").await;
    b.fill("#case_id", "CS-DEMO-0001").await;
    wait_until(&b, &format!("{health}:not([disabled])")).await;
    b.quiet().await;
    for section in ["housing", "support_network", "needs", "interventions"] {
        b.press(&format!("#sections input[value={section}]")).await;
    }
    b.click("#read").await;
    let text = b.text().await;
    // Headed by the person as the partners name them; the partner that
    // holds them without a tax code (Caritas) is in the record.
    let heading = b.el("h1").await.text().await.unwrap();
    assert!(heading.contains("14/07/1958"), "{heading}");
    let holders = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('main section tbody tr td:first-child')).map(td => td.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        holders.as_array().unwrap().iter().any(|h| h == "caritas"),
        "Caritas's entries are in the record: {holders}"
    );
    for shown in [
        "Abitazione",
        "Rete di sostegno",
        "cartella-sociale",
        "comune: risposto",
        "asl: risposto",
        "caritas: risposto",
    ] {
        assert!(text.contains(shown), "{shown} in {text}");
    }
    assert!(text.contains("<img src=x onerror="), "{text}");
    nothing_ran(&b, "record").await;
    check_and_save(&b, "social-worker-04-record-whole").await;

    // A partner stopped: the answer says it is partial.
    assert!(fed.running.kill("asl").await);
    b.click("#read").await;
    let text = b.text().await;
    assert!(text.contains("Risposta parziale"), "{text}");
    assert!(text.contains("asl: non disponibile"), "{text}");
    assert!(text.contains("comune: risposto"), "{text}");
    check_and_save(&b, "social-worker-05-record-partial").await;
    fed.running.restart("asl").await.unwrap();

    // Tablet width: the same pages fit and pass.
    b.resize(TABLET).await;
    b.open("/find").await;
    check_and_save(&b, "social-worker-06-find-tablet").await;
    b.open(&format!("/record?tax_code={DEMO}")).await;
    check_and_save(&b, "social-worker-07-record-tablet").await;
    b.resize(DESKTOP).await;

    // The services on offer, from the partners' catalogue.
    b.open("/services").await;
    b.fill("#text", "centri di ascolto").await;
    b.fill("#municipality", "D142").await;
    b.click("#search").await;
    let text = b.text().await;
    assert!(text.contains("Centro di ascolto di Crema"), "{text}");
    assert!(text.contains("Crema"), "the place by name: {text}");
    assert!(text.contains("mar 09:30-12:00"), "{text}");
    assert!(text.contains("caritas: 4 servizi"), "{text}");
    check_and_save(&b, "social-worker-08-services").await;

    // English is a click away, and stays chosen.
    b.open("/find").await;
    b.click("a.language").await;
    let heading = b.el("h1").await.text().await.unwrap();
    assert_eq!(heading, "Find a person");
    let html_lang = b.el("html").await.attr("lang").await.unwrap();
    assert_eq!(html_lang.as_deref(), Some("en"));
    b.open(&format!("/record?tax_code={DEMO}")).await;
    assert!(b.text().await.contains("Sections to read"));
    check_and_save(&b, "social-worker-09-record-english").await;
    b.click("a.language").await;
    assert_eq!(b.el("h1").await.text().await.unwrap(), "Trova una persona");
    b.close().await;

    desk_view(&caritas, &anna).await;
    oversight(&origin, &dpo).await;
    statistics(&origin, &planner).await;
    fed.cleanup().await;
}

/// The Caritas desk: who follows the person, and nothing else.
async fn desk_view(console: &str, anna: &ConsoleAccount) {
    let b = Chrome::start(&format!("https://{console}"), DESKTOP).await;
    sign_in(&b, anna).await;
    b.open(&format!("/record?tax_code={DEMO}")).await;
    b.choose("#purpose", "verifica_presa_in_carico").await;
    wait_until(&b, "#sections input[value=case_membership]:not([disabled])").await;
    let offered = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#sections input:not([disabled])')).map(i => i.value)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(offered, serde_json::json!(["case_membership"]));
    b.press("#sections input[value=case_membership]").await;
    b.click("#read").await;
    let read = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('main section')).map(s => s.getAttribute('aria-label'))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        read,
        serde_json::json!(["Chi segue la persona (presa in carico)"]),
        "the desk reads case membership only"
    );
    let text = b.text().await;
    assert!(text.contains("Servizio anziani"), "{text}");
    check_and_save(&b, "volunteer-01-who-follows").await;
    b.close().await;
}

/// The DPO's access log, with the chain verified; the federation screen
/// refreshing by itself.
async fn oversight(origin: &str, dpo: &ConsoleAccount) {
    let b = Chrome::start(origin, DESKTOP).await;
    sign_in(&b, dpo).await;
    b.open("/access").await;
    // Laura's accesses today, without naming anyone: no tax code.
    let (today, shown_today) = today_in_rome();
    b.fill("#operator", "laura.ferrari").await;
    set_date(&b, "#from", &today).await;
    set_date(&b, "#to", &today).await;
    b.click("form[action='/access'] button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("Registro integro"), "{text}");
    assert!(
        text.contains("laura.ferrari (assistente sociale)"),
        "{text}"
    );
    assert!(text.contains("Lettura della cartella"), "{text}");
    assert!(
        text.contains(&format!("{shown_today} ")),
        "local day and time: {text}"
    );
    assert!(text.contains("Presa in carico"), "{text}");
    assert!(
        text.contains("consentito (regola comune-presa-in-carico)"),
        "{text}"
    );
    assert!(text.contains("comune: risposto"), "{text}");
    assert!(
        !text.contains("dpo (audit)"),
        "filtered by operator: {text}"
    );
    italian_only(&text);
    check_and_save(&b, "dpo-01-access-by-operator").await;
    let csv = download(&b, "#csv").await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    assert!(
        csv.disposition.starts_with("attachment;") && csv.disposition.contains(".csv"),
        "{}",
        csv.disposition
    );
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next(),
        Some(
            "numero,quando (ora italiana),operazione,ente,operatore,ruolo,finalità,cartella,\
             sezioni lette,esito per ente,decisione"
        )
    );
    assert!(
        lines.any(|l| l.contains(&shown_today)
            && l.contains("Lettura della cartella,comune,laura.ferrari,assistente sociale")
            && l.contains("consentito (regola comune-presa-in-carico)")),
        "{}",
        csv.body
    );
    // Later pages, while there are any, speak the same words.
    while b
        .client
        .find(fantoccini::Locator::Css("#next"))
        .await
        .is_ok()
    {
        b.click("#next").await;
        let text = b.text().await;
        assert!(
            text.contains("laura.ferrari (assistente sociale)"),
            "{text}"
        );
        italian_only(&text);
    }

    b.open("/sources").await;
    // Read in one step: htmx replaces the table while it is being read.
    let caption = || async {
        b.client
            .execute(
                "const c = document.querySelector('#sources caption'); return c ? c.textContent : '';",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = caption().await;
    assert!(!before.is_empty());
    let mut after = before.clone();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        after = caption().await;
        if after != before {
            break;
        }
    }
    assert_ne!(after, before, "the federation screen refreshes by itself");
    let text = b.text().await;
    assert!(text.contains("in servizio"), "{text}");
    check_and_save(&b, "dpo-02-federation").await;
    b.close().await;
}

/// Today in Europe/Rome: as a date field takes it (`YYYY-MM-DD`) and as
/// the console shows it (`dd/mm/yyyy`).
fn today_in_rome() -> (String, String) {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let shown = trama_console::when::local(&now);
    let day = shown.split(' ').next().unwrap().to_string();
    let parts: Vec<&str> = day.split('/').collect();
    (format!("{}-{}-{}", parts[2], parts[1], parts[0]), day)
}

/// Sets the date field `css` to `day` (`YYYY-MM-DD`): typing into a date
/// field depends on the browser's locale, its value does not.
async fn set_date(b: &Chrome, css: &str, day: &str) {
    b.client
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![serde_json::json!(css), serde_json::json!(day)],
        )
        .await
        .unwrap();
}

/// The page's text holds none of the English words the gateway's codes
/// would leak into an Italian page.
fn italian_only(text: &str) {
    let lower = text.to_lowercase();
    for word in [
        "permit",
        "rule",
        "candidate",
        "denied",
        "policy",
        "answered",
        "unavailable",
        "not found",
        "missing field",
        "deserialize",
        "the federation",
    ] {
        assert!(!lower.contains(word), "`{word}` on an Italian page: {text}");
    }
}

/// A download as the browser fetched it, with the session's cookie.
struct Download {
    status: u64,
    content_type: String,
    disposition: String,
    body: String,
}

/// Fetches the link `css` points to from the page (same origin, the
/// session's cookie sent), as the browser would download it.
async fn download(b: &Chrome, css: &str) -> Download {
    let got = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector(arguments[0]).href, {credentials: 'same-origin'})
               .then(r => r.text().then(t => done([r.status, r.headers.get('content-type') || '',
                   r.headers.get('content-disposition') || '', t])))
               .catch(e => done([0, '', '', String(e)]));",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap();
    let text = |i: usize| got[i].as_str().unwrap_or_default().to_string();
    Download {
        status: got[0].as_u64().unwrap_or(0),
        content_type: text(1),
        disposition: text(2),
        body: text(3),
    }
}

/// The planning office's table and chart.
async fn statistics(origin: &str, planner: &ConsoleAccount) {
    let b = Chrome::start(origin, DESKTOP).await;
    sign_in(&b, planner).await;
    b.open("/stats").await;
    b.choose("#rows", "need").await;
    b.choose("#columns", "district").await;
    b.click("form[action='/stats'] button[value=table]").await;
    let text = b.text().await;
    assert!(text.contains("Totale"), "{text}");
    let bars = b
        .client
        .execute(
            "return document.querySelectorAll('figure.chart svg rect').length",
            vec![],
        )
        .await
        .unwrap();
    assert!(bars.as_u64().unwrap_or(0) > 2, "the chart has bars: {bars}");
    let label = b
        .el("figure.chart svg")
        .await
        .attr("aria-label")
        .await
        .unwrap();
    assert!(label.is_some_and(|l| l.starts_with("Persone distinte per bisogno")));
    check_and_save(&b, "planner-01-statistics").await;
    // The same table for a spreadsheet, as the browser downloads it.
    let csv = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const form = new FormData(document.querySelector(\"form[action='/stats']\"));
             form.set('as', 'csv');
             fetch('/stats', {method: 'POST', body: new URLSearchParams(form)})
               .then(r => r.text().then(t => done([r.status, r.headers.get('content-type'), t])));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(csv[0], 200, "{csv}");
    assert_eq!(csv[1], "text/csv; charset=utf-8");
    let body = csv[2].as_str().unwrap();
    assert!(
        body.starts_with("need,district,people,status,estimated"),
        "{body}"
    );
    assert!(body.lines().count() > 3, "{body}");
    b.close().await;
}

/// Waits until `css` matches (the page updates in place).
/// A form field a person can see: a visible border, and a focus ring
/// when it has the focus (the design system draws neither on an input
/// without a type).
async fn visible_field(b: &Chrome, css: &str) {
    let seen = b
        .client
        .execute(
            "const e = document.querySelector(arguments[0]);
             const s = getComputedStyle(e);
             const border = parseFloat(s.borderBottomWidth) > 0 && s.borderBottomStyle !== 'none'
                 && s.borderBottomColor !== 'rgba(0, 0, 0, 0)';
             e.focus();
             const f = getComputedStyle(e);
             const ring = f.boxShadow !== 'none'
                 || (f.outlineStyle !== 'none' && parseFloat(f.outlineWidth) > 0);
             e.blur();
             return [border, ring];",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap();
    assert_eq!(
        seen,
        serde_json::json!([true, true]),
        "{css}: border, focus ring"
    );
}

async fn wait_until(b: &Chrome, css: &str) {
    for _ in 0..100 {
        if b.client.find(fantoccini::Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("`{css}` never matched");
}

/// The organisation's OpenID Connect provider (oidc-provider, run with
/// Node.js over HTTPS), stopped when dropped.
struct IdentityProvider {
    process: tokio::process::Child,
    issuer: String,
    port: u16,
}

impl IdentityProvider {
    async fn start(fed: &Sandbox, redirect: &str, secret: &str) -> IdentityProvider {
        Self::start_on(fed, redirect, secret, chrome::free_port()).await
    }

    /// Starts the provider on `port`. Without keys configured,
    /// oidc-provider signs with keys of its own made at each start: a
    /// restart is a key rollover.
    async fn start_on(fed: &Sandbox, redirect: &str, secret: &str, port: u16) -> IdentityProvider {
        let pki = fed.dir().join("pki");
        let hosts = ["127.0.0.1".to_string()];
        trama_tls::pki::issue_web(&pki, "idp", &hosts, 30).unwrap();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/idp.mjs");
        let mut process = tokio::process::Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .arg(pki.join("idp-web.pem"))
            .arg(pki.join("idp-web-key.pem"))
            .arg(redirect)
            .arg(secret)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts the identity provider");
        let stdout = process.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready =
            tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line()).await;
        assert!(
            matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"),
            "the identity provider did not start: {ready:?}"
        );
        // What it says later (its warnings) is passed on, not left to
        // fill a pipe nobody reads.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("identity provider: {line}");
            }
        });
        IdentityProvider {
            process,
            issuer: format!("https://127.0.0.1:{port}"),
            port,
        }
    }

    /// Stops the provider and waits until it has.
    async fn stop(mut self) -> u16 {
        let _ = self.process.kill().await;
        self.port
    }
}

use tokio::io::AsyncBufReadExt;

#[tokio::test]
async fn operators_sign_in_through_the_organisations_identity_provider() {
    if !chrome::available() {
        return;
    }
    let mut fed = Sandbox::start().await;
    let port = chrome::free_port();
    let redirect = format!("https://127.0.0.1:{port}/oidc/callback");
    let secret = "un segreto del client lungo abbastanza";
    let idp = IdentityProvider::start(&fed, &redirect, secret).await;
    let mut file = fed
        .running
        .console_file("console-oidc", "comune", Vec::new());
    file.listen = format!("127.0.0.1:{port}");
    file.extra = format!(
        "\n[oidc]\nissuer = \"{}\"\nclient_id = \"trama-console\"\nclient_secret = \"{secret}\"\n\
         redirect_url = \"{redirect}\"\nca = \"pki/ca.pem\"\nscopes = [\"profile\", \"groups\"]\n\
         role_claim = \"groups\"\nlabel = \"Accedi con l'identità del Comune\"\n\n\
         [[oidc.roles]]\nclaim = \"servizi-sociali\"\nrole = \"assistente_sociale\"\n",
        idp.issuer
    );
    let console = fed.running.start_console_file(file).await.unwrap();
    let origin = format!("https://{console}");

    // Marco signs in at the provider and comes back a social worker.
    let b = Chrome::start(&origin, DESKTOP).await;
    b.open("/login").await;
    assert!(
        b.client
            .find(fantoccini::Locator::Css("#password"))
            .await
            .is_err(),
        "no local accounts: no password form"
    );
    check_and_save(&b, "social-worker-00-sign-in-provider").await;
    b.click("#provider").await;
    assert!(
        b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&idp.issuer),
        "at the provider"
    );
    b.fill("input[name=login]", "marco.bianchi").await;
    b.fill("input[name=password]", "la sua password").await;
    b.click("button[type=submit]").await;
    b.click("button[type=submit]").await; // the provider asks to share the profile
    wait_for_path(&b, "/find").await;
    let header = b.el("header").await.text().await.unwrap();
    assert!(header.contains("Marco Bianchi"), "{header}");
    b.fill("#case_id", "CS-DEMO-0001").await;
    b.fill("#tax_code", DEMO).await;
    b.click("form[action='/find'] button[type=submit]").await;
    assert!(b.text().await.contains("comune: risposto"));
    let audit = support::gateway_audit(&fed).await;
    let last = audit.iter().rfind(|e| e.call == "FindSubject").unwrap();
    assert_eq!(
        (last.operator_id.as_str(), last.operator_role.as_str()),
        ("marco.bianchi", "assistente_sociale"),
        "the audit names the operator the provider signed in, in the mapped role"
    );
    b.close().await;

    // Someone the provider knows but whose groups give no role is refused.
    let b = Chrome::start(&origin, DESKTOP).await;
    b.open("/login").await;
    b.click("#provider").await;
    b.fill("input[name=login]", "ospite").await;
    b.fill("input[name=password]", "x").await;
    b.click("button[type=submit]").await;
    b.click("button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("no role in Trama"), "{text}");
    assert_eq!(b.path().await, "/oidc/callback");
    b.open("/find").await;
    assert_eq!(b.path().await, "/login", "not signed in");

    // A callback this browser did not start is refused.
    b.open("/oidc/callback?code=forged&state=forged").await;
    assert!(b.text().await.contains("non è partito da questo browser"));
    b.close().await;

    // The provider rolls its signing keys (restarted, it signs with new
    // ones): the console, which discovered the old ones, learns the new
    // ones by itself and Marco signs in without the console restarting.
    let port = idp.stop().await;
    let idp = IdentityProvider::start_on(&fed, &redirect, secret, port).await;
    let b = Chrome::start(&origin, DESKTOP).await;
    b.open("/login").await;
    b.click("#provider").await;
    b.fill("input[name=login]", "marco.bianchi").await;
    b.fill("input[name=password]", "la sua password").await;
    b.click("button[type=submit]").await;
    b.click("button[type=submit]").await;
    wait_for_path(&b, "/find").await;
    assert!(
        fed.log("console-oidc").contains("discovered again"),
        "the keys were fetched again"
    );
    b.close().await;
    drop(idp);
    fed.cleanup().await;
}

/// Waits until the element `css` holds `needle` (the page updates in
/// place).
async fn wait_for_text(b: &Chrome, css: &str, needle: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = b.client.find(fantoccini::Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(needle) {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("`{css}` never said `{needle}`: {last}");
}

/// Waits until the browser shows `path` (after redirects and refreshes).
async fn wait_for_path(b: &Chrome, path: &str) {
    for _ in 0..100 {
        if b.path().await == path {
            b.settle().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never reached {path}: at {}", b.path().await);
}

/// A citizen searches the public catalogue: no sign-in, no cookie. She
/// types "asistenza domicilare" (two typos) and her town by name, finds
/// home care first, opens its page (phone and e-mail clickable, the cost
/// as Italians write it), is told in Italian next to the field when the
/// town is misspelt and what to try when nothing is found, and sees a
/// page in Italian, not JSON, when she asks too often. Every page passes
/// the same accessibility checks and shows no code; a portal reads the
/// same services as HSDS JSON.
#[tokio::test]
async fn citizens_search_the_public_catalogue() {
    if !chrome::available() {
        return;
    }
    let mut fed = Sandbox::start().await;
    let port = chrome::free_port();
    let mut file = fed
        .running
        .console_file("console-public", "comune", Vec::new());
    file.extra = format!("\n[public]\nlisten = \"127.0.0.1:{port}\"\n");
    fed.running.start_console_file(file).await.unwrap();
    let b = Chrome::start(&format!("https://127.0.0.1:{port}"), DESKTOP).await;
    // The catalogue fills from the partners as the gateway reads them.
    let started = std::time::Instant::now();
    let text = loop {
        b.open("/").await;
        b.fill("#text", "asistenza domicilare").await;
        b.fill("#municipality", "Cremona").await;
        b.click("#search").await;
        let text = b.text().await;
        let full = text.contains("Assistenza domiciliare per anziani")
            && text.contains("Servizio di assistenza domiciliare");
        if full || started.elapsed().as_secs() > 30 {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert!(text.contains("Servizi trovati:"), "{text}");
    let first = b.el("section.service h3").await.text().await.unwrap();
    assert!(
        first.to_lowercase().contains("assistenza domiciliare"),
        "home care first, despite the typos: {first}\n{text}"
    );
    assert!(text.contains("Cooperativa sociale Il Gabbiano"), "{text}");
    assert!(text.contains("Cremona"), "places by name: {text}");
    assert!(
        text.contains("18,50 € all'ora"),
        "euro as Italians write it: {text}"
    );
    assert!(!text.contains("Esci"), "nobody is signed in: {text}");
    no_codes(&text, "the results");
    check_and_save(&b, "citizen-01-search").await;

    // The service's own page, from its card.
    b.click("section.service[aria-label='Assistenza domiciliare per anziani'] h3 a")
        .await;
    assert!(
        b.path().await.starts_with("/servizi/"),
        "{}",
        b.path().await
    );
    let text = b.text().await;
    for seen in [
        "Assistenza domiciliare per anziani",
        "Cooperativa sociale Il Gabbiano",
        "Cremona",
        "18,50 € all'ora",
        "Voucher conciliazione",
        "da 65 anni",
        "Posti liberi",
        "Come accedere",
        "Telefonata o visita allo sportello del consorzio",
        "Aiuta per",
        "Solitudine e compagnia",
    ] {
        assert!(
            text.to_lowercase().contains(&seen.to_lowercase()),
            "`{seen}` on the service's page: {text}"
        );
    }
    no_codes(&text, "the service's page");
    let tel = link_to(&b, "tel:").await;
    assert_eq!(
        tel.as_deref(),
        Some("tel:0372500101"),
        "the phone is a link"
    );
    let mail = link_to(&b, "mailto:").await;
    assert_eq!(
        mail.as_deref(),
        Some("mailto:servizi@gabbiano.example.it"),
        "the e-mail is a link"
    );
    check_and_save(&b, "citizen-02-service").await;
    b.resize(TABLET).await;
    check_and_save(&b, "citizen-03-service-tablet").await;
    b.resize(DESKTOP).await;

    // A place that is not a municipality is said so, in Italian, by the field.
    b.open("/").await;
    b.fill("#municipality", "Cremonaa").await;
    b.click("#search").await;
    let said = b.el("#municipality-problem").await.text().await.unwrap();
    assert!(
        said.contains("«Cremonaa» non è un comune italiano"),
        "{said}"
    );
    let described = b
        .el("#municipality")
        .await
        .attr("aria-describedby")
        .await
        .unwrap();
    assert_eq!(described.as_deref(), Some("municipality-problem"));
    // Nothing found: said in words, with what to try.
    b.fill("#municipality", "").await;
    b.fill("#text", "idraulico").await;
    b.click("#search").await;
    let none = b.el("#none").await.text().await.unwrap();
    assert!(
        none.contains("Nessun servizio corrisponde") && none.contains("Prova"),
        "{none}"
    );
    // The voucher as the pages write it, municipality in lower case.
    b.fill("#text", "assistenza domiciliare").await;
    b.fill("#municipality", "cremona").await;
    b.fill("#voucher", "Voucher conciliazione").await;
    b.click("#search").await;
    let text = b.text().await;
    assert!(text.contains("Servizi trovati: 2"), "{text}");
    let cookies = b.client.get_all_cookies().await.unwrap();
    assert!(cookies.is_empty(), "no cookie for citizens: {cookies:?}");

    // The same catalogue as HSDS JSON, for portals.
    b.open("/services?search=stireria&per_page=5").await;
    let json = b
        .client
        .execute("return document.body.innerText", vec![])
        .await
        .unwrap();
    let json = json.as_str().unwrap_or_default().to_string();
    assert!(json.contains("\"total_items\":2"), "{json}");
    assert!(
        json.contains("Stireria sociale con ritiro e consegna"),
        "{json}"
    );
    b.close().await;
    too_many_requests_read_as_a_page(&mut fed).await;
    fed.cleanup().await;
}

/// A public catalogue allowing two requests a minute: the third search
/// shows an Italian page saying when to retry, never JSON.
async fn too_many_requests_read_as_a_page(fed: &mut Sandbox) {
    let port = chrome::free_port();
    let mut file = fed
        .running
        .console_file("console-public-limited", "comune", Vec::new());
    file.extra = format!("\n[public]\nlisten = \"127.0.0.1:{port}\"\nrequests_per_minute = 2\n");
    fed.running.start_console_file(file).await.unwrap();
    let b = Chrome::start(&format!("https://127.0.0.1:{port}"), DESKTOP).await;
    for _ in 0..3 {
        b.open("/?searched=1&text=pasti").await;
    }
    let text = b.text().await;
    assert!(text.contains("Troppe richieste"), "{text}");
    assert!(text.contains("riprova tra 60 secondi"), "{text}");
    assert!(!text.contains('{'), "a page, not JSON: {text}");
    no_codes(&text, "the refusal");
    check_and_save(&b, "citizen-04-too-many").await;
    b.close().await;
}

/// The `href` of the first link on the page starting with `scheme`.
async fn link_to(b: &Chrome, scheme: &str) -> Option<String> {
    let css = format!("main a[href^='{scheme}']");
    let link = b.client.find(fantoccini::Locator::Css(&css)).await.ok()?;
    link.attr("href").await.unwrap()
}

/// No code meant for machines in what a citizen reads: no snake_case
/// word, no Belfiore code.
fn no_codes(text: &str, what: &str) {
    for word in text.split(|c: char| c.is_whitespace() || ",;:()«»".contains(c)) {
        let snake = word.contains('_') && word.chars().any(char::is_alphabetic);
        let chars: Vec<char> = word.chars().collect();
        let belfiore = chars.len() == 4
            && chars[0].is_ascii_uppercase()
            && chars[1..].iter().all(char::is_ascii_digit);
        assert!(!snake && !belfiore, "{what}: a code `{word}` in {text}");
    }
}

/// The Caritas desk finds the comune's home care among the services and
/// refers a person to it from there; the comune's social worker finds the
/// referral in her inbox and takes it on; the desk sees it accepted.
#[tokio::test]
async fn a_desk_refers_a_person_from_a_service_and_the_comune_takes_it_on() {
    if !chrome::available() {
        return;
    }
    let mut fed = Sandbox::start_with(|b| b.referral_poll_seconds(1)).await;
    let anna = account("anna.volontaria", "Anna", "operatore_centro_ascolto");
    let laura = account("laura.ferrari", "Laura Ferrari", "assistente_sociale");
    let caritas = fed
        .running
        .start_console("console-caritas", "caritas", vec![anna.clone()])
        .await
        .unwrap();
    let comune = fed
        .running
        .start_console("console-comune", "comune", vec![laura.clone()])
        .await
        .unwrap();

    let desk = Chrome::start(&format!("https://{caritas}"), DESKTOP).await;
    sign_in(&desk, &anna).await;
    let started = std::time::Instant::now();
    let link = "a[href='/refer?to=comune&service=comune%2FSAD']";
    loop {
        desk.open("/services?searched=1&text=assistenza+domiciliare&municipality=D150")
            .await;
        let found: bool = desk
            .client
            .execute(
                &format!("return !!document.querySelector(\"{link}\")"),
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap_or(false);
        if found {
            break;
        }
        assert!(started.elapsed().as_secs() < 30, "{}", desk.text().await);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    desk.click(link).await;
    assert_eq!(desk.path().await, "/refer");
    let to = desk.el("#to").await.prop("value").await.unwrap();
    assert_eq!(to.as_deref(), Some("comune"), "filled in from the service");
    desk.fill("#tax_code", DEMO).await;
    desk.choose("#reason", "loneliness").await;
    desk.choose("#urgency", "urgent").await;
    desk.fill("#message", "Vive solo, non esce di casa da settimane.")
        .await;
    check_and_save(&desk, "volunteer-02-refer-from-a-service").await;
    desk.click("#send").await;
    let sent = desk.path().await;
    assert!(sent.starts_with("/referrals/"), "{sent}");
    let text = desk.text().await;
    // Confirmed, with the service by its name, not its code.
    assert!(
        text.contains("Segnalazione inviata: la riceve comune."),
        "{text}"
    );
    assert!(!text.contains("comune/SAD"), "{text}");
    assert!(text.contains("in attesa di risposta"), "{text}");
    // The sender's step to take it back says what it does.
    assert!(text.contains("Ritira la segnalazione"), "{text}");
    assert!(!text.contains("Annulla"), "{text}");
    check_and_save(&desk, "volunteer-03-referral-sent").await;

    let worker = Chrome::start(&format!("https://{comune}"), DESKTOP).await;
    sign_in(&worker, &laura).await;
    worker.open("/referrals").await;
    let inbox = worker.text().await;
    assert!(inbox.contains("caritas"), "{inbox}");
    assert!(inbox.contains("in attesa di risposta"), "{inbox}");
    check_and_save(&worker, "social-worker-10-referrals-inbox").await;
    worker.open(&sent).await;
    // Whom and why, read from the comune's own table.
    let person = worker.el("#person").await.text().await.unwrap();
    assert!(person.contains(DEMO), "{person}");
    assert!(worker.text().await.contains("Solitudine"));
    worker.click("#step-accepted").await;
    let text = worker.text().await;
    let status = worker.el("#status").await.text().await.unwrap();
    assert_eq!(status, "presa in carico");
    assert!(
        text.contains("comune laura.ferrari"),
        "who took it on: {text}"
    );
    check_and_save(&worker, "social-worker-11-referral-accepted").await;
    worker.close().await;

    desk.open(&sent).await;
    let status = desk.el("#status").await.text().await.unwrap();
    assert_eq!(status, "presa in carico", "the desk sees it taken on");
    nothing_ran(&desk, "the referral page").await;
    desk.close().await;
    fed.cleanup().await;
}
