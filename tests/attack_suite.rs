//! The attack suite on published statistics, short: every attack of
//! `trama bench attacks` run a few dozen times against a real federation,
//! scored against the partners' own data. No attack may beat the
//! majority guess by more than 2 points plus twice the sampling error of
//! so few trials, except the group differencing the documentation states as
//! a residual risk; the full run is `trama bench attacks` (docs/statistics.md).
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use support::Sandbox;
use trama_lab::bench::attacks;

const TRIALS: usize = 40;

#[tokio::test]
async fn no_attack_on_published_statistics_beats_the_majority_guess() {
    let fed = Sandbox::start_with(|b| b.subjects(3000).statistics_cache_seconds(0)).await;
    let (results, identical) = attacks::suite(&fed.running, TRIALS, 7).await.unwrap();
    println!("{}", attacks::render(&results));
    let slack = 2.0 + 2.0 * 100.0 * (0.25 / TRIALS as f64).sqrt();
    for m in &results {
        assert!(m.trials > 0, "{m:?}");
        if !m.residual {
            assert!(
                m.advantage() <= slack,
                "{}: {:.1} points over the baseline",
                m.attack,
                m.advantage()
            );
        }
    }
    let by = |name: &str| results.iter().find(|m| m.attack.starts_with(name)).unwrap();
    let alone = by("differencing, the target left out with at most");
    assert!(alone.refused * 10 >= alone.trials * 9, "{alone:?}");
    let averaged = by("averaging");
    assert_eq!(averaged.right, averaged.baseline, "one value however asked");
    assert_eq!(identical, TRIALS, "the same table twice is the same table");
    fed.cleanup().await;
}
