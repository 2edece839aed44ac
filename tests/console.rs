//! The console over real processes: a member organisation's console (HTTPS,
//! local accounts) in front of the sandbox federation. An operator signs
//! in, finds the demo person by a misspelt name on the organisation's
//! behalf (the audit log names the operator), and every rule of a browser
//! session holds: security headers on every page, cookies `Secure`,
//! `HttpOnly` and `SameSite=Strict`, CSRF tokens, rate-limited sign-in,
//! values escaped, sign-out.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use support::web::Browser;
use support::{ConsoleAccount, Sandbox, gateway_audit};

fn laura() -> ConsoleAccount {
    ConsoleAccount {
        username: "laura.ferrari".into(),
        name: "Laura Ferrari".into(),
        role: "assistente_sociale".into(),
        password: "una password lunga per la demo".into(),
    }
}

fn dpo() -> ConsoleAccount {
    ConsoleAccount {
        username: "dpo".into(),
        name: "Responsabile protezione dati".into(),
        role: "audit".into(),
        password: "la password del responsabile".into(),
    }
}

fn planner() -> ConsoleAccount {
    ConsoleAccount {
        username: "piano.zona".into(),
        name: "Ufficio di Piano".into(),
        role: "ufficio_di_piano".into(),
        password: "un'altra password per la demo".into(),
    }
}

#[tokio::test]
async fn an_operator_signs_in_and_finds_a_person_on_the_organisations_behalf() {
    let mut fed = Sandbox::start().await;
    let address = fed
        .running
        .start_console("console-comune", "comune", vec![laura(), planner(), dpo()])
        .await
        .unwrap();
    let ca = fed.dir().join("pki/ca.pem");
    let mut browser = Browser::new(&address, &ca);

    let login = browser.get("/login").await;
    assert_eq!(login.status, 200);
    let csp = login.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert!(login.body.contains("<label for=\"username\">"));

    // The design system and its fonts come from the console itself.
    let css = browser.get("/assets/bootstrap-italia.min.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(login.body.contains("/assets/bootstrap-italia.min.css"));
    let font = browser
        .get("/assets/fonts/titillium-web-regular.woff2")
        .await;
    assert_eq!(font.header("content-type"), Some("font/woff2"));
    assert_eq!(browser.get("/assets/../Cargo.toml").await.status, 404);

    // Signed out, the pages send the operator to sign in.
    let find = browser.get("/find").await;
    assert_eq!(
        (find.status, find.header("location")),
        (303, Some("/login"))
    );

    // The sign-in form carries a token bound to the browser: a form
    // posted from elsewhere (no token, or another browser's) is refused.
    let forged = browser
        .post(
            "/login",
            "username=laura.ferrari&password=una+password+lunga+per+la+demo",
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(browser.cookie.is_none());
    let token = browser.get("/login").await.csrf();
    let mut other = Browser::new(&address, &ca);
    let crossed = other
        .post(
            "/login",
            &format!("csrf={token}&username=laura.ferrari&password=una+password+lunga+per+la+demo"),
        )
        .await;
    assert_eq!(crossed.status, 403, "another browser's token");

    // A wrong password is refused; repeated attempts are limited.
    let wrong = browser.sign_in("laura.ferrari", "sbagliata").await;
    assert_eq!(wrong.status, 401);
    assert!(browser.cookie.is_none());
    let mut last = 0;
    for _ in 0..6 {
        last = browser.sign_in("mario", "x").await.status;
    }
    assert_eq!(last, 429, "the sixth attempt in a minute is refused");

    // Signed in: a session cookie the page's scripts cannot read.
    let signed = browser
        .sign_in("laura.ferrari", "una password lunga per la demo")
        .await;
    assert_eq!(signed.status, 303);
    let cookie = signed.header("set-cookie").unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "__Host-"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let form = browser.get("/find").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Laura Ferrari"));
    let csrf = form.csrf();
    assert_eq!(csrf.len(), 64);
    // Only the purposes the policy lets a social worker find people for,
    // in words, and only the screens her role can use.
    let offered: Vec<&str> = form
        .body
        .split("<option value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(
        offered,
        [
            "presa_in_carico",
            "valutazione_multidimensionale",
            "tutela_minori",
            "orientamento"
        ],
        "{}",
        form.body
    );
    assert!(
        form.body
            .contains(">Presa in carico (con il numero di cartella)</option>")
    );
    for hidden in ["href=\"/stats\"", "href=\"/access\""] {
        assert!(
            !form.body.contains(hidden),
            "{hidden} shown to a social worker"
        );
    }

    // A form without its token is refused.
    let forged = browser
        .post("/find", "purpose=presa_in_carico&family_name=Rossi")
        .await;
    assert_eq!(forged.status, 403);

    // A form without any token is answered in the operator's language,
    // never with a parser's message.
    for path in ["/logout", "/referrals/0ce0e6d5-722f-4fca-9f97-9b4fc918807c"] {
        let bare = browser.post(path, "status=accepted").await;
        assert_eq!(bare.status, 403, "{path}: {}", bare.body);
        assert!(
            bare.body.contains("Il modulo è scaduto"),
            "{path}: {}",
            bare.body
        );
        assert!(!bare.body.contains("deserialize"), "{}", bare.body);
    }

    // A name longer than any person's is refused in the operator's
    // language, before the federation is asked.
    let long = browser
        .post(
            "/find",
            &format!(
                "csrf={csrf}&purpose=presa_in_carico&family_name={}&given_name=Maria",
                "Rossi".repeat(1000)
            ),
        )
        .await;
    assert_eq!(long.status, 400, "{}", long.body);
    assert!(
        long.body
            .contains("Cognome: troppo lungo, al massimo caratteri: 100"),
        "{}",
        long.body
    );

    // The demo person, by a misspelt surname, at every partner.
    let found = browser
        .post(
            "/find",
            &format!(
                "csrf={csrf}&purpose=presa_in_carico&case_id=CS-DEMO-0001&family_name=Dangleo&given_name=Giuseppe&birth_date=1958-07-14"
            ),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.body.contains("DNGGPP58L14D150Z"), "{}", found.body);
    assert!(
        found.body.contains("D&#39;Angelo"),
        "the apostrophe is escaped"
    );
    for source in ["comune", "asl", "caritas", "caf"] {
        assert!(
            found.body.contains(&format!("<li>{source}: risposto")),
            "{source}"
        );
    }
    assert_eq!(found.header("cache-control"), Some("no-store"));

    // The record, from the group found: the purpose and case id stated,
    // the sections chosen; each entry with its source and record id.
    // The group's link carries every identity it holds (the tax code and
    // each partner's local id: Caritas holds the person without a tax
    // code) and the find's purpose and case.
    let href = found
        .body
        .split("href=\"/record?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|q| format!("/record?{}", q.replace("&#38;", "&").replace("&amp;", "&")))
        .expect("a link to the group's record");
    assert!(href.contains("tax_code=DNGGPP58L14D150Z"), "{href}");
    assert!(href.contains("local=caritas%3A"), "{href}");
    assert!(href.contains("case_id=CS-DEMO-0001"), "{href}");
    let form = browser.get(&href).await;
    assert_eq!(form.status, 200);
    let locals: Vec<String> = form
        .body
        .split("name=\"local\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|l| format!("&local={}", l.replace(':', "%3A")))
        .collect();
    assert!(locals.len() >= 4, "{href}: {}", form.body);
    assert!(form.body.contains("value=\"CS-DEMO-0001\""), "case carried");
    let record = browser
        .post(
            "/record",
            &format!(
                "csrf={csrf}&tax_code=DNGGPP58L14D150Z{}&purpose=presa_in_carico&case_id=CS-DEMO-0001&sections=housing&sections=needs",
                locals.concat()
            ),
        )
        .await;
    assert_eq!(record.status, 200, "{}", record.body);
    for shown in [
        "Abitazione",
        "Bisogni",
        "cartella-sociale",
        "comune: risposto",
        "caritas: risposto",
    ] {
        assert!(record.body.contains(shown), "{shown} in {}", record.body);
    }
    assert_eq!(record.header("cache-control"), Some("no-store"));
    // A section the purpose does not allow is refused with the policy's
    // reason.
    let refused = browser
        .post(
            "/record",
            &format!(
                "csrf={csrf}&tax_code=DNGGPP58L14D150Z&purpose=verifica_presa_in_carico&sections=health"
            ),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // In the operator's language, from the rule that decided, not the
    // policy's English; the rule's name is for the DPO's access log, not
    // for the operator's page.
    assert!(
        refused
            .body
            .contains("i dati sanitari (GDPR art. 9) si leggono solo per la presa in carico"),
        "{}",
        refused.body
    );
    assert!(
        !refused.body.contains("health-needs-a-health-purpose"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("are read only"), "{}", refused.body);

    // The gateway's audit names the operator the console vouched for.
    let entries = gateway_audit(&fed).await;
    let find = entries.iter().rfind(|e| e.call == "GetRecord").unwrap();
    assert_eq!(
        (
            find.operator_id.as_str(),
            find.operator_role.as_str(),
            find.organisation.as_str()
        ),
        ("laura.ferrari", "assistente_sociale", "comune")
    );

    // Statistics are for the planning office: refused to a social worker
    // with the policy's rule, answered to the planner, also as CSV.
    let stats = browser
        .post(
            "/stats",
            &format!("csrf={csrf}&rows=need&columns=district&as=table"),
        )
        .await;
    assert_eq!(stats.status, 403, "{}", stats.body);
    let mut planner_browser = Browser::new(&address, &ca);
    let signed = planner_browser
        .sign_in("piano.zona", "un'altra password per la demo")
        .await;
    assert_eq!(signed.status, 303);
    // The planner lands on the statistics; finding people is not a
    // screen of the role, and the page says how to get access.
    let home = planner_browser.get("/").await;
    assert_eq!(home.header("location"), Some("/stats"));
    let not_hers = planner_browser.get("/find").await;
    assert_eq!(not_hers.status, 403, "{}", not_hers.body);
    assert!(
        not_hers
            .body
            .contains("Pagina non disponibile per il vostro ruolo")
            && not_hers.body.contains("chiedete l&#39;accesso"),
        "{}",
        not_hers.body
    );
    assert!(!not_hers.body.contains("href=\"/find\""));
    let token = planner_browser.get("/stats").await.csrf();
    assert_ne!(token, csrf, "each session has its own token");
    let table = planner_browser
        .post(
            "/stats",
            &format!("csrf={token}&rows=need&columns=district&as=table"),
        )
        .await;
    assert_eq!(table.status, 200, "{}", table.body);
    for shown in [
        "<th scope=\"row\">Casa</th>",
        "Totale",
        "rumore di al massimo",
        "due o più enti",
    ] {
        assert!(table.body.contains(shown), "{shown} in {}", table.body);
    }
    // A filter written in words, as the label suggests, not as a code.
    let filtered = planner_browser
        .post(
            "/stats",
            &format!("csrf={token}&rows=need&columns=district&filter=need&values=Casa&as=table"),
        )
        .await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert!(
        filtered.body.contains("<th scope=\"row\">Casa</th>"),
        "{}",
        filtered.body
    );
    assert!(
        !filtered.body.contains("<th scope=\"row\">Lavoro</th>"),
        "only the need asked"
    );
    let csv = planner_browser
        .post(
            "/stats",
            &format!("csrf={token}&rows=need&columns=district&as=csv"),
        )
        .await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.body
            .starts_with("need,district,people,status,estimated"),
        "{}",
        csv.body
    );
    // Laura's token does not work in the planner's session.
    let crossed = planner_browser
        .post(
            "/stats",
            &format!("csrf={csrf}&rows=need&columns=district&as=table"),
        )
        .await;
    assert_eq!(crossed.status, 403);

    // The DPO reads who accessed the person: the social worker's reads,
    // named; the federation screen lists the partners' health.
    let mut dpo_browser = Browser::new(&address, &ca);
    let signed = dpo_browser
        .sign_in("dpo", "la password del responsabile")
        .await;
    assert_eq!(signed.status, 303);
    let token = dpo_browser.get("/access").await.csrf();
    let log = dpo_browser
        .post(
            "/access",
            &format!("csrf={token}&tax_code=DNGGPP58L14D150Z"),
        )
        .await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert!(
        log.body.contains("laura.ferrari (assistente sociale)"),
        "{}",
        log.body
    );
    assert!(log.body.contains("GetRecord"), "{}", log.body);
    // The case Laura stated, confirmed by the comune's own connector.
    assert!(
        log.body
            .contains("CS-DEMO-0001 (verificato con l&#39;ente)"),
        "{}",
        log.body
    );
    let sources = dpo_browser.get("/sources").await;
    assert_eq!(sources.status, 200);
    for org in ["comune", "asl", "caritas", "caf"] {
        assert!(sources.body.contains(&format!("<td>{org}</td>")), "{org}");
    }
    assert!(sources.body.contains("in servizio"));
    // A social worker is not the DPO: the policy refuses, with its rule.
    let not_dpo = browser
        .post("/access", &format!("csrf={csrf}&tax_code=DNGGPP58L14D150Z"))
        .await;
    assert_eq!(not_dpo.status, 403, "{}", not_dpo.body);
    // The referral forms take the session's token too: a forged one
    // sends nothing and changes nothing.
    for path in ["/refer", "/referrals/0ce0e6d5-722f-4fca-9f97-9b4fc918807c"] {
        let forged = browser
            .post(
                path,
                "csrf=forged&to=comune&tax_code=DNGGPP58L14D150Z&reason=housing&key=k&status=accepted",
            )
            .await;
        assert_eq!(forged.status, 403, "{path}: {}", forged.body);
    }
    let inbox = browser.get("/referrals").await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert!(
        inbox.body.contains("Nessuna segnalazione."),
        "{}",
        inbox.body
    );
    assert_eq!(
        inbox.header("cache-control"),
        Some("no-store"),
        "referrals are about people"
    );

    // A session that expired while searching: sign in again and the
    // search comes back as it was, not yet run.
    let mut expired = Browser::new(&address, &ca);
    expired.cookie = Some(format!("__Host-trama-comune-session={}", "0".repeat(64)));
    let lost = expired
        .post(
            "/find",
            "csrf=x&purpose=presa_in_carico&case_id=CS-9&family_name=Rossi&given_name=Maria",
        )
        .await;
    assert_eq!(lost.status, 401, "{}", lost.body);
    assert!(lost.body.contains("La sessione è scaduta"), "{}", lost.body);
    let resume = lost
        .body
        .split("name=\"resume\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(resume.contains("family_name=Rossi"), "{resume}");
    let token = lost.csrf();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let back = expired
        .post(
            "/login",
            &format!(
                "csrf={token}&username=laura.ferrari&password={}&resume={}",
                enc("una password lunga per la demo"),
                enc(&resume)
            ),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    for kept in ["value=\"Rossi\"", "value=\"Maria\"", "value=\"CS-9\""] {
        assert!(back.body.contains(kept), "{kept} in {}", back.body);
    }
    assert!(!back.body.contains("Persone trovate"), "not run yet");
    assert!(expired.cookie.is_some(), "signed in again");

    // Another browser has no session; signing out ends this one.
    assert_eq!(Browser::new(&address, &ca).get("/find").await.status, 303);
    let out = browser.post("/logout", &format!("csrf={csrf}")).await;
    assert_eq!(out.status, 303);
    assert!(browser.cookie.is_none());
    assert_eq!(browser.get("/find").await.status, 303);

    // The federation down: clear pages saying so, never a stack trace.
    let mut again = Browser::new(&address, &ca);
    assert_eq!(
        again
            .sign_in("laura.ferrari", "una password lunga per la demo")
            .await
            .status,
        303
    );
    let token = again.get("/find").await.csrf();
    assert!(fed.running.kill("gateway").await);
    let down = again
        .post(
            "/find",
            &format!(
                "csrf={token}&purpose=presa_in_carico&case_id=CS-DEMO-0001&tax_code={}",
                "DNGGPP58L14D150Z"
            ),
        )
        .await;
    assert_eq!(down.status, 502, "{}", down.body);
    assert!(down.body.contains("role=\"alert\""), "{}", down.body);
    assert!(!down.body.contains("panicked") && !down.body.contains("backtrace"));
    let sources = again.get("/sources").await;
    assert_eq!(sources.status, 502);
    assert!(
        sources.body.contains("La federazione non risponde ora"),
        "{}",
        sources.body
    );
    fed.cleanup().await;
}

/// The certificate the console at `address` presents now (DER).
async fn served_certificate(address: &str, ca: &std::path::Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn a_renewed_https_certificate_is_served_without_a_restart() {
    let mut fed = Sandbox::start().await;
    let address = fed
        .running
        .start_console("console-comune", "comune", vec![laura()])
        .await
        .unwrap();
    let ca = fed.dir().join("pki/ca.pem");
    let before = served_certificate(&address, &ca).await;
    let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
    trama_tls::pki::issue_web(&fed.dir().join("pki"), "console-comune", &hosts, 30).unwrap();
    let started = std::time::Instant::now();
    loop {
        let now = served_certificate(&address, &ca).await;
        if now != before {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the console still serves the old certificate"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        fed.log("console-comune")
            .contains("HTTPS certificate reloaded"),
        "the reload is logged"
    );
    fed.cleanup().await;
}
