//! `trama conformance` over real connectors' files and databases: every
//! demo partner conforms, and mappings broken the ways integrators break
//! them fail with the check and the mapping key named.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::path::{Path, PathBuf};
use support::Sandbox;

/// Runs `trama conformance` on `config` with `args`: whether it passed,
/// and what it printed.
fn conformance(config: &Path, args: &[&str]) -> (bool, String) {
    let head = ["conformance", "--config"].map(std::ffi::OsStr::new);
    support::run_trama(
        head.into_iter()
            .chain([config.as_os_str()])
            .chain(args.iter().map(std::ffi::OsStr::new)),
    )
}

/// The consortium's connector with its mapping changed by `change` and its
/// configuration by `configure`, under a name of its own.
fn broken(
    fed: &Sandbox,
    name: &str,
    change: impl Fn(&str) -> String,
    configure: impl Fn(&str) -> String,
) -> PathBuf {
    let dir = fed.dir().join("consorzio");
    let mapping = std::fs::read_to_string(dir.join("mapping.toml")).unwrap();
    let changed = change(&mapping);
    std::fs::write(dir.join(format!("{name}.toml")), &changed).unwrap();
    let original = std::fs::read_to_string(dir.join("connector.toml")).unwrap();
    let renamed = original.replace("\"mapping.toml\"", &format!("\"{name}.toml\""));
    let config = configure(&renamed);
    assert!(
        changed != mapping || config != renamed,
        "{name}: the change applies"
    );
    let path = dir.join(format!("connector-{name}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test]
async fn every_demo_partner_conforms_and_broken_mappings_fail_where_they_are_broken() {
    let fed = Sandbox::start_with(|b| b.without_gateway()).await;
    for partner in ["comune", "asl", "caritas", "caf", "consorzio"] {
        let config = fed.dir().join(partner).join("connector.toml");
        let (ok, said) = conformance(&config, &[]);
        assert!(ok, "{partner}: {said}");
        assert!(said.contains("every check passed"), "{said}");
        assert!(said.contains("20 people"), "{partner} sampled: {said}");
    }
    let json = conformance(&fed.dir().join("caf/connector.toml"), &["--json"]).1;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["organisation"], "caf");
    assert!(report["checks"].as_array().is_some_and(|c| c.len() >= 7));

    let keep = |c: &str| c.to_string();
    let cases: [(&str, PathBuf, &[&str]); 5] = [
        (
            // The birth date's format left out: the column holds 19580714.
            "no-date-format",
            broken(
                &fed,
                "no-date-format",
                |m| {
                    m.replace(
                        r#"birth_date = { column = "data_nascita", date_format = "yyyymmdd" }"#,
                        r#"birth_date = "data_nascita""#,
                    )
                },
                keep,
            ),
            &[
                "FAIL  values convert",
                "subject.columns.birth_date: not a date in the declared format",
            ],
        ),
        (
            // A code with no translation: meals left out of the code table.
            "untranslated",
            broken(
                &fed,
                "untranslated",
                |m| m.replace(r#", PASTI = "meals""#, ""),
                keep,
            ),
            &[
                "FAIL  codes belong to the common vocabularies",
                "sections.interventions field kind: code `PASTI`",
            ],
        ),
        (
            // A section declared but not mapped: its record id alone.
            "unmapped",
            broken(
                &fed,
                "unmapped",
                |m| {
                    m.replace(
                        "[[statistics.facts]]",
                        "[[sections.needs]]\nsql = \"\"\"\nSELECT id_erogazione FROM erogazioni WHERE cod_utente = :local_id\"\"\"\ncolumns.record_id = \"id_erogazione\"\n\n[[statistics.facts]]",
                    )
                },
                |c| {
                    c.replace(
                        r#"sections = ["interventions"]"#,
                        r#"sections = ["interventions", "needs"]"#,
                    )
                },
            ),
            &[
                "FAIL  every declared section is mapped",
                "sections.needs[0] binds no field",
            ],
        ),
        (
            // A join that repeats the person's row for each delivery.
            "repeated",
            broken(
                &fed,
                "repeated",
                |m| {
                    m.replace(
                        "SELECT cod_utente, cod_fiscale, cognome, nome, data_nascita, comune_nascita, sesso, modificato\nFROM anagrafica_utenti WHERE cod_utente = :local_id",
                        "SELECT u.cod_utente, u.cod_fiscale, u.cognome, u.nome, u.data_nascita, u.comune_nascita, u.sesso, u.modificato\nFROM anagrafica_utenti u JOIN erogazioni e ON e.cod_utente = u.cod_utente WHERE u.cod_utente = :local_id",
                    )
                },
                keep,
            ),
            &[
                "FAIL  sampled people are found first",
                "read twice: a query returns two rows where one is expected",
            ],
        ),
        (
            // A section mapped but exported to nobody.
            "unexported",
            broken(&fed, "unexported", keep, |c| {
                c.replace(r#"sections = ["interventions"]"#, r#"sections = ["needs"]"#)
            }),
            &[
                "FAIL  the export rules cover every section",
                "mapped but released to nobody: interventions",
            ],
        ),
    ];
    for (name, config, expected) in cases {
        let (ok, said) = conformance(&config, &[]);
        assert!(!ok, "{name} passed: {said}");
        for line in expected {
            assert!(said.contains(line), "{name}: `{line}` not in\n{said}");
        }
    }
    fed.cleanup().await;
}
