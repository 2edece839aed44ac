//! The connector guide's example partner, ACLI, built from the guide's own
//! text: its schema and its complete mapping are read from
//! docs/connector-guide.md, members of a synthetic population are written
//! in its layout (dates DD/MM/YYYY, amounts in cents, some without a tax
//! code), and the mapping passes `trama conformance` and finds a member by
//! the misspelt surname the guide promises to find.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::Sandbox;

const GUIDE: &str = include_str!("../docs/connector-guide.md");

/// The first fenced block of `language` after the heading `heading`.
fn block<'a>(heading: &str, language: &str) -> &'a str {
    let after = &GUIDE[GUIDE.find(heading).expect("the heading")..];
    let fence = format!("```{language}\n");
    let start = after.find(&fence).expect("the block") + fence.len();
    let body = &after[start..];
    &body[..body.find("```").expect("the block's end")]
}

fn trama(args: &[&str]) -> (bool, String) {
    support::run_trama(args)
}

/// ACLI's database with `members` of the synthetic population, each with
/// two cases; every fifth without a tax code.
async fn acli_database(path: &std::path::Path, members: usize) -> Vec<String> {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(
        block("## The example partner: ACLI", "sql").to_string(),
    ))
    .execute(&db)
    .await
    .unwrap();
    let people = trama_lab::seed::generate(31, members).people;
    let dmy = |d: time::Date| format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year());
    let mut codes = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let code = (i % 5 != 4).then(|| p.tax_code.to_string());
        codes.extend(code.clone());
        sqlx::query("INSERT INTO soci VALUES (?, ?, ?, ?, ?, ?, ?, '2026-03-01 10:00:00')")
            .bind(i as i64 + 1)
            .bind(code)
            .bind(&p.family_name)
            .bind(&p.given_name)
            .bind(dmy(p.birth_date))
            .bind(p.birthplace_code)
            .bind(if i % 2 == 0 { "F" } else { "M" })
            .execute(&db)
            .await
            .unwrap();
        // Every third member's second case is a PATRONATO one, a code the
        // guide keeps local on purpose.
        let second = if i % 3 == 0 { "PATRONATO" } else { "SPESA" };
        for (n, (kind, area, closed)) in [
            ("BOLLETTE", "DEBITI", Some("20/02/2026")),
            (second, "REDDITO", None),
        ]
        .into_iter()
        .enumerate()
        {
            sqlx::query("INSERT INTO pratiche VALUES (?, ?, ?, ?, '12/01/2026', ?, 8550, '2026-01-12 09:00:00')")
                .bind((i * 10 + n) as i64 + 1)
                .bind(i as i64 + 1)
                .bind(kind)
                .bind(area)
                .bind(closed)
                .execute(&db)
                .await
                .unwrap();
        }
    }
    db.close().await;
    codes
}

#[tokio::test]
async fn the_guides_example_partner_conforms_and_finds_a_misspelt_surname() {
    let fed = Sandbox::start_with(|b| b.without_gateway()).await;
    let dir = fed.dir().join("acli");
    std::fs::create_dir_all(&dir).unwrap();
    let codes = acli_database(&dir.join("soci.db"), 40).await;
    std::fs::write(
        dir.join("mapping.toml"),
        block("### The complete ACLI mapping", "toml"),
    )
    .unwrap();
    // The caritas connector's configuration (its export rules release
    // needs and interventions) over ACLI's database and mapping.
    let base = std::fs::read_to_string(fed.dir().join("caritas/connector.toml")).unwrap();
    let config: String = base
        .lines()
        .map(|l| match l {
            l if l.starts_with("database") => "database = \"sqlite://soci.db?mode=ro\"".to_string(),
            l if l.starts_with("organisation") => "organisation = \"acli\"".to_string(),
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config_path = dir.join("connector.toml");
    std::fs::write(&config_path, config).unwrap();
    let config_arg = config_path.display().to_string();

    let (ok, said) = trama(&["conformance", "--config", &config_arg]);
    assert!(ok, "{said}");
    assert!(said.contains("sections: needs, interventions"), "{said}");
    // Without `local`, PATRONATO is taken for a forgotten translation.
    let mapping = std::fs::read_to_string(dir.join("mapping.toml")).unwrap();
    std::fs::write(
        dir.join("mapping.toml"),
        mapping.replace("local = [\"PATRONATO\"]\n", ""),
    )
    .unwrap();
    let (ok, said) = trama(&["conformance", "--config", &config_arg]);
    assert!(!ok && said.contains("code `PATRONATO`"), "{said}");
    std::fs::write(dir.join("mapping.toml"), mapping).unwrap();

    // The guide's promise: the same surname however it was typed.
    let members = trama_lab::seed::generate(31, 40).people;
    let first = &members[0];
    let misspelt = first.family_name.to_uppercase().replace('\'', " ");
    let birth = first.birth_date.to_string();
    let (ok, said) = trama(&[
        "connector",
        "try",
        "--config",
        &config_arg,
        "--family-name",
        &misspelt,
        "--birth-date",
        &birth,
    ]);
    assert!(ok, "{said}");
    assert!(
        said.contains(&codes[0]),
        "{misspelt} finds {}: {said}",
        codes[0]
    );
    fed.cleanup().await;
}
