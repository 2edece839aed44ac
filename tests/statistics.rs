//! Statistics across partners over real processes on loopback: the
//! planning office's table (each person counted once, exact before
//! perturbation against the truth read from the partner databases), the
//! same people giving the same value however the question is worded,
//! every refusal (unknown dimension, birth dates, a purpose or role that
//! does not allow statistics, a partner that releases no counts, a filter
//! that would single someone out), and what the audit logs keep.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use support::{
    ExportRule, Partner, Sandbox, aggregate, ctx, gateway_audit, planning_table as ask, scrape,
};
use tonic::Code;
use trama_lab::bench::stats as truth;
use trama_proto::v1::{self, CellStatus};

/// The published cell with these values.
fn cell<'a>(table: &'a v1::AggregateResponse, values: &[&str]) -> &'a v1::Cell {
    table
        .cells
        .iter()
        .find(|c| c.values == values)
        .unwrap_or_else(|| panic!("no cell {values:?}"))
}

#[tokio::test]
async fn the_planning_office_counts_each_person_once_and_nothing_small_is_published() {
    let fed = Sandbox::start().await;
    let table = aggregate(&fed, ask(&["need", "district"], &[]))
        .await
        .unwrap();
    assert!(!table.partial, "{:?}", table.outcomes);
    assert_eq!(table.outcomes.len(), 5);
    assert!(
        table
            .outcomes
            .iter()
            .all(|o| o.status == v1::OutcomeStatus::Ok as i32)
    );
    for c in &table.cells {
        match CellStatus::try_from(c.status).unwrap() {
            CellStatus::Perturbed => assert!(c.count >= 3, "{c:?}"),
            CellStatus::Suppressed => assert_eq!(c.count, 0, "{c:?}"),
            CellStatus::Unspecified => panic!("{c:?}"),
        }
    }
    // Margins and the grand total are cells of their own.
    let total = cell(&table, &["*", "*"]);
    assert_eq!(
        CellStatus::try_from(total.status),
        Ok(CellStatus::Perturbed)
    );
    assert!(
        table
            .cells
            .iter()
            .any(|c| c.values[0] == "housing" && c.values[1] == "*")
    );
    // Before perturbation, the merged sketches are the truth (every cell
    // is within the exact range here); the published value is within the
    // noise of it.
    let exact = truth::truth_by_need(&fed.running).await.unwrap();
    let sketched = truth::sketched_by_need(&fed.running).await.unwrap();
    for (need, n) in &exact {
        assert_eq!(sketched.get(need).map(|s| s.0), Some(*n), "{need}");
        let published = cell(&table, &[need, "*"]);
        if *n >= 3 && published.status == CellStatus::Perturbed as i32 {
            assert!(
                published.count.abs_diff(*n) <= 2,
                "{need}: {n} vs {}",
                published.count
            );
        }
    }
    // Each person once: the total is less than what the partners know
    // together, and the overlaps say how many are known to several.
    let several = table
        .overlaps
        .iter()
        .find(|o| o.first == "*")
        .expect("two or more");
    assert!(several.count > 0 && several.status == CellStatus::Perturbed as i32);
    assert_eq!(table.overlaps.len(), 11, "ten pairs and two-or-more");
    let p = table.protection.clone().expect("what was applied");
    assert_eq!((p.threshold, p.max_noise, p.min_difference), (3, 2, 5));
    assert_eq!(p.method, "cell-key perturbation");
    // The audit records what was asked, never a cell; the connectors
    // record that they counted.
    let entries = gateway_audit(&fed).await;
    let last = entries
        .iter()
        .rfind(|e| e.call == "Aggregate")
        .expect("audited");
    assert_eq!(
        last.sections_asked,
        vec!["group_by:need", "group_by:district"]
    );
    assert!(last.subjects.is_empty() && last.candidates.is_empty());
    assert!(fed.log("gateway").contains("aggregate answered"));
    fed.cleanup().await;
}

#[tokio::test]
async fn the_same_people_get_the_same_value_however_the_question_is_worded() {
    let fed = Sandbox::start_with(|b| b.subjects(2000)).await;
    let by_need_district = aggregate(&fed, ask(&["need", "district"], &[]))
        .await
        .unwrap();
    let reference = cell(&by_need_district, &["housing", "Centro"]).clone();
    assert_eq!(
        reference.status,
        CellStatus::Perturbed as i32,
        "{reference:?}"
    );
    let wordings = [
        (ask(&["district", "need"], &[]), vec!["Centro", "housing"]),
        (
            ask(&["district"], &[("need", &["housing"])]),
            vec!["Centro"],
        ),
        (
            ask(&["need"], &[("district", &["Centro"])]),
            vec!["housing"],
        ),
        (
            ask(&[], &[("need", &["housing"]), ("district", &["Centro"])]),
            vec![],
        ),
        (ask(&["need", "district"], &[]), vec!["housing", "Centro"]),
    ];
    for (req, values) in wordings {
        let what = format!("{:?} {:?}", req.group_by, req.filters);
        let table = aggregate(&fed, req).await.unwrap();
        let values: Vec<&str> = values.into_iter().collect();
        assert_eq!(cell(&table, &values).count, reference.count, "{what}");
    }
    // A margin and the same people asked alone: the same value.
    let housing = aggregate(&fed, ask(&["need"], &[])).await.unwrap();
    assert_eq!(
        cell(&housing, &["housing"]).count,
        cell(&by_need_district, &["housing", "*"]).count
    );
    // The repeated question was served from the cache of published
    // tables, and the metrics say so.
    let metrics = scrape(&fed).await;
    let hits = metrics
        .lines()
        .find(|l| l.starts_with("trama_aggregate_cache_total{result=\"hit\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    assert!(hits.is_some_and(|h| h >= 1.0), "{metrics}");
    assert!(
        metrics.contains("trama_aggregate_cache_hit_ratio"),
        "{metrics}"
    );
    fed.cleanup().await;
}

#[tokio::test]
async fn questions_that_are_not_allowed_or_would_single_someone_out_are_refused() {
    // Caritas records one person in a district nobody else lives in; the
    // CAF releases no counts.
    let caritas = Partner::Caritas.mapping().replace(
        "p.id, p.cf, p.nato_il, p.genere, p.zona,",
        "p.id, p.cf, p.nato_il, p.genere, CASE WHEN p.id = 900001 THEN 'Cavatigozzi' ELSE p.zona END AS zona,",
    );
    assert!(caritas.contains("Cavatigozzi"));
    let mut districts: Vec<String> = trama_lab::seed::population::DISTRICTS
        .iter()
        .map(|d| format!("{d:?}"))
        .collect();
    districts.push("\"Cavatigozzi\"".into());
    let districts = format!("[{}]", districts.join(", "));
    let fed = Sandbox::start_with(|b| {
        b.mapping(Partner::Caritas, caritas)
            .statistics_setting("districts", &districts)
            .export(
                Partner::Caf,
                vec![ExportRule::new(
                    &["comune"],
                    &["presa_in_carico"],
                    &["socio_economic"],
                )],
            )
    })
    .await;
    let invalid = |s: tonic::Status, field: &str| {
        use tonic_types::StatusExt;
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        let violations = s
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        assert!(
            violations.iter().any(|v| v.field == field),
            "{field}: {s:?}"
        );
    };
    invalid(
        aggregate(&fed, ask(&["colour"], &[])).await.unwrap_err(),
        "group_by[0]",
    );
    let by_birth = aggregate(&fed, ask(&["need"], &[("birth_date", &["1958-07-14"])])).await;
    let status = by_birth.unwrap_err();
    assert!(status.message().contains("age band"), "{status:?}");
    invalid(status, "filters[0]");
    let bad_need = aggregate(&fed, ask(&["district"], &[("need", &["casa"])]))
        .await
        .unwrap_err();
    assert!(
        bad_need.message().contains("unknown need `casa`"),
        "{bad_need:?}"
    );
    // A union of needs could be differenced against another union.
    let union = aggregate(&fed, ask(&["district"], &[("need", &["housing", "food"])]))
        .await
        .unwrap_err();
    assert!(union.message().contains("keeps one value"), "{union:?}");
    invalid(union, "filters[0]");
    // A table by a period lists every period asked: it needs a period;
    // and a table too large to publish is refused naming the limit.
    let no_period = aggregate(&fed, ask(&["year", "need"], &[]))
        .await
        .unwrap_err();
    assert!(no_period.message().contains("period=2025"), "{no_period:?}");
    invalid(no_period, "group_by[0]");
    let years = ["2020", "2021", "2022", "2023", "2024", "2025"];
    let huge = aggregate(
        &fed,
        ask(&["month", "need", "district", "sex"], &[("year", &years)]),
    )
    .await
    .unwrap_err();
    assert!(huge.message().contains("statistics.max_cells"), "{huge:?}");
    invalid(huge, "group_by");
    // Statistics need the purpose and the role that allow them.
    for context in [
        ctx("assistente_sociale", "programmazione", ""),
        ctx("ufficio_di_piano", "presa_in_carico", "CS-1"),
    ] {
        let mut req = ask(&["need"], &[]);
        req.context = context;
        let denied = aggregate(&fed, req).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
        assert!(denied.message().contains("rule"), "{denied:?}");
    }
    let mut no_purpose = ask(&["need"], &[]);
    no_purpose.context = ctx("ufficio_di_piano", "", "");
    invalid(
        aggregate(&fed, no_purpose).await.unwrap_err(),
        "context.purpose",
    );
    // The CAF's own rules release no counts: it says so, the others count.
    let table = aggregate(&fed, ask(&["district", "need"], &[]))
        .await
        .unwrap();
    let caf = table
        .outcomes
        .iter()
        .find(|o| o.organisation == "caf")
        .unwrap();
    assert_eq!(caf.status, v1::OutcomeStatus::Denied as i32, "{caf:?}");
    assert!(caf.message.contains("no counts"), "{caf:?}");
    // A table of the lone district is fine (every need is listed there,
    // each suppressed)...
    let lone = table
        .cells
        .iter()
        .filter(|c| c.values[0] == "Cavatigozzi")
        .collect::<Vec<_>>();
    assert_eq!(
        lone.len(),
        trama_proto::stats::NEEDS.len() + 2,
        "every need, `-` and the margin"
    );
    assert!(
        lone.iter()
            .all(|c| c.status == CellStatus::Suppressed as i32),
        "{lone:?}"
    );
    // ...but a filter that leaves out only that person is refused, whatever
    // their needs: the refusal depends on who and when, never on needs.
    let isolating = aggregate(&fed, ask(&["district", "need"], &[("sex", &["female"])])).await;
    let refused = isolating.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("filter on sex leaves out fewer than 5"),
        "{refused:?}"
    );
    // Without that district in the table's groups the same filter is fine.
    let allowed = aggregate(&fed, ask(&["need"], &[("sex", &["female"])])).await;
    assert!(allowed.is_ok(), "{allowed:?}");
    // Each refusal is audited, with what was asked.
    let entries = gateway_audit(&fed).await;
    let risky = entries
        .iter()
        .find(|e| e.call == "Aggregate" && e.reason.contains("disclosure risk"))
        .expect("the refusal is audited");
    assert_eq!(risky.decision, "deny");
    assert!(
        risky
            .sections_asked
            .contains(&"filter:sex=female".to_string())
    );
    fed.cleanup().await;
}
