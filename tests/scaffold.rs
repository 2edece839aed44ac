//! `trama connector init` on a database the repository does not ship (a
//! union's members office, on PostgreSQL): the draft recognises the people,
//! their birth dates' format and a section, writes the indexes its queries
//! need, and, once they are applied, passes the start-up check and finds a
//! person with `trama connector try`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::Sandbox;

const SCHEMA: &str = "
CREATE TABLE iscritti (
    matricola    TEXT PRIMARY KEY,
    cod_fiscale  TEXT,
    cognome      TEXT NOT NULL,
    nome         TEXT NOT NULL,
    dt_nascita   TEXT,
    sesso        TEXT,
    aggiornato   TIMESTAMP NOT NULL
);
CREATE TABLE contributi (
    id_contributo INTEGER PRIMARY KEY,
    matricola     TEXT NOT NULL REFERENCES iscritti (matricola),
    causale       TEXT NOT NULL,
    importo_cent  INTEGER,
    aggiornato    TIMESTAMP NOT NULL
);
CREATE TABLE sedi (codice TEXT PRIMARY KEY, indirizzo TEXT);
INSERT INTO iscritti VALUES
 ('S-0001', 'RSSMRA80A01D150J', 'Rossi', 'Mario', '01/01/1980', 'M', '2026-03-01 10:00:00'),
 ('S-0002', 'BNCLRA75C41D150Y', 'Bianchi', 'Laura', '01/03/1975', 'F', '2026-04-02 11:00:00');
INSERT INTO contributi VALUES
 (1, 'S-0001', 'AFFITTO', 30000, '2026-05-01 09:00:00'),
 (2, 'S-0001', 'BOLLETTE', 12000, '2026-06-01 09:00:00');
";

fn trama(args: &[&str]) -> (bool, String) {
    support::run_trama(args)
}

#[tokio::test]
async fn a_draft_of_a_new_partner_database_passes_the_check_and_finds_a_person() {
    let Some(server) = support::postgres() else {
        return;
    };
    let name = support::unique_name("trama_t_soci");
    let url = trama_lab::sandbox::databases::fresh_database(&server, &name)
        .await
        .expect("a database of its own");
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(SCHEMA.to_string()))
        .execute(&db)
        .await
        .unwrap();

    let mut fed = Sandbox::start_with(|b| b.cases_taken_as_stated(&["comune"])).await;
    let out = fed.dir().join("soci");
    std::fs::create_dir_all(&out).unwrap();
    let out_arg = out.display().to_string();
    let (ok, said) = trama(&[
        "connector",
        "init",
        "--database",
        &url,
        "--system",
        "gestionale-soci",
        "--out",
        &out_arg,
    ]);
    assert!(ok, "{said}");
    assert!(said.contains("3 tables read"), "{said}");
    assert!(
        said.contains("the fields of contributi (interventions)"),
        "{said}"
    );
    let mapping = std::fs::read_to_string(out.join("mapping.toml")).unwrap();
    assert!(
        mapping.contains(r#"birth_date = { column = "dt_nascita", date_format = "dd/mm/yyyy" }"#),
        "the format read from the data: {mapping}"
    );
    let indexes = std::fs::read_to_string(out.join("indexes.sql")).unwrap();
    assert!(indexes.contains("ON iscritti (cod_fiscale)"), "{indexes}");
    assert!(indexes.contains("ON contributi (matricola)"), "{indexes}");
    // A draft never replaces a file.
    let (ok, said) = trama(&["connector", "init", "--database", &url, "--out", &out_arg]);
    assert!(!ok && said.contains("never replaces"), "{said}");

    // Before the indexes, the check refuses the whole-table scans; after,
    // the draft passes it and finds Mario Rossi by tax code.
    let config = fed.dir().join("soci/connector.toml");
    let base = std::fs::read_to_string(fed.dir().join("caritas/connector.toml")).unwrap();
    let config_text: String = base
        .lines()
        .map(|l| {
            if l.starts_with("database") {
                format!("database = \"{url}\"")
            } else if l.starts_with("mapping") {
                format!("mapping = \"{}\"", out.join("mapping.toml").display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, config_text).unwrap();
    let config_arg = config.display().to_string();
    let ask = [
        "connector",
        "try",
        "--config",
        &config_arg,
        "--tax-code",
        "RSSMRA80A01D150J",
    ];
    let (ok, said) = trama(&ask);
    assert!(!ok && said.contains("scans a whole table"), "{said}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(indexes))
        .execute(&db)
        .await
        .unwrap();
    let (ok, said) = trama(&ask);
    assert!(ok, "{said}");
    assert!(
        said.contains("Rossi") && said.contains("1980-01-01"),
        "{said}"
    );
    assert!(said.contains("every value read converted"), "{said}");

    // Completed as the guide says (the reason for a contribution is the
    // intervention's kind, coded; its amount in cents), the draft passes
    // conformance.
    let mapping = std::fs::read_to_string(out.join("mapping.toml")).unwrap();
    let completed: String = mapping
        .lines()
        .map(|l| {
            if l.starts_with("# columns.<field> = \"causale\"") {
                "columns.kind = { column = \"causale\", codes = \"causale\" }".to_string()
            } else if l.starts_with("# columns.<field> = \"importo_cent\"") {
                "columns.amount = { column = \"importo_cent\", unit = \"cents\" }".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n[codes.causale]\nsystem = \"urn:trama:cs:intervention\"\n\
           map = { AFFITTO = \"economic-contribution\", BOLLETTE = \"bill-payment\" }\n";
    std::fs::write(out.join("mapping.toml"), completed).unwrap();
    let (ok, said) = trama(&["conformance", "--config", &config_arg]);
    assert!(ok, "{said}");

    // The partner joins: its connector with a certificate of the
    // federation, and a gateway that asks it; the comune reads the member's
    // record through the gateway.
    let pki = fed.dir().join("pki");
    trama_lab::sandbox::issue(&pki, "soci", trama_tls::Role::Connector).unwrap();
    let connector = trama_lab::sandbox::ConnectorFile {
        federation: "demo".into(),
        organisation: "soci".into(),
        listen: "127.0.0.1:0".into(),
        database: url.clone(),
        mapping: "mapping.toml".into(),
        pki: "../pki".into(),
        limits: Default::default(),
        export: vec![support::ExportRule::new(
            &["comune"],
            &["presa_in_carico"],
            &["interventions"],
        )],
        tracing: Default::default(),
        linkage_key: None,
    };
    let address = fed
        .running
        .start_connector("soci", connector)
        .await
        .unwrap();
    let gateway = fed
        .running
        .start_gateway(
            "gateway-soci",
            vec![trama_lab::sandbox::Source {
                organisation: "soci".into(),
                address,
                timeout_ms: 2000,
            }],
        )
        .await
        .unwrap();
    let mut client = fed
        .running
        .client_at(&gateway, &fed.tls("comune", "client"))
        .unwrap();
    let record = client
        .get_record(trama_proto::v1::GetRecordRequest {
            context: support::ctx("assistente_sociale", "presa_in_carico", "CS-SOCI-1"),
            subject: Some(trama_proto::v1::SubjectKey {
                tax_code: "RSSMRA80A01D150J".into(),
                local_ids: vec![],
            }),
            sections: vec![trama_proto::v1::Section::Interventions as i32],
        })
        .await
        .expect("the record through the gateway")
        .into_inner();
    let sections = record.record.and_then(|r| r.sections).unwrap_or_default();
    let kinds: Vec<String> = sections
        .interventions
        .iter()
        .filter_map(|i| i.kind.as_ref().map(|k| k.code.clone()))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"bill-payment".to_string()), "{kinds:?}");
    db.close().await;
    fed.cleanup().await;
    let _ = trama_lab::sandbox::databases::drop_database(&server, &name).await;
}
