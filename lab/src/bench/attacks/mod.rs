//! `trama bench attacks`: the attacks a planner with the statistics
//! purpose can run against published tables, over a real federation (the
//! demo's partners, connectors and gateway as processes), each scored over
//! many trials against the ground truth read from the partners' own
//! databases with their own mapping queries, beside the majority-guess
//! baseline on the same trials. The table it prints is the one in
//! `docs/statistics.md`; a short run is a test (`tests/attack_suite.rs`).

pub mod trials;
pub mod truth;

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::sandbox::{Federation, FederationBuilder};
use trials::Attacker;
use truth::Truth;

/// `trama bench attacks` arguments.
#[derive(Debug, Args)]
pub struct AttacksArgs {
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "bench-data/attacks")]
    pub dir: PathBuf,
    /// People in the synthetic population.
    #[arg(long, default_value_t = 3000)]
    pub subjects: usize,
    /// Trials of each attack.
    #[arg(long, default_value_t = 400)]
    pub trials: usize,
    /// Seed of the synthetic data and of the attacker's choices.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// A `[statistics]` setting of the gateway, `KEY=VALUE` (repeatable),
    /// to measure other parameters: `--setting min_population=20`.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

/// One attack's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// What the attacker tried.
    pub attack: &'static str,
    /// Trials scored.
    pub trials: usize,
    /// Trials the attacker guessed right.
    pub right: usize,
    /// Trials the baseline guessed right (the majority guess; for
    /// averaging, one answer alone).
    pub baseline: usize,
    /// Trials whose question the gateway refused.
    pub refused: usize,
    /// A risk the documentation states as not defended.
    pub residual: bool,
}

impl Measured {
    /// The attacker's accuracy, in percent.
    pub fn accuracy(&self) -> f64 {
        percent(self.right, self.trials)
    }

    /// The baseline's accuracy, in percent.
    pub fn baseline_accuracy(&self) -> f64 {
        percent(self.baseline, self.trials)
    }

    /// How many points the attacker beats the baseline by.
    pub fn advantage(&self) -> f64 {
        self.accuracy() - self.baseline_accuracy()
    }
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 * 100.0 / of as f64
    }
}

/// Guesses and truths of one attack, as they are made, each under the
/// thing asked about (the need, the partner).
#[derive(Debug, Default)]
pub struct Scored {
    /// Each trial's category, guess (`None`: the answer said nothing, the
    /// attacker takes the majority guess) and truth.
    guesses: Vec<(String, Option<bool>, bool)>,
    refused: usize,
}

impl Scored {
    /// Scores one yes-or-no guess about `category` (a need, a partner);
    /// `None` when the answer gave no signal.
    pub fn record(&mut self, category: &str, guess: Option<bool>, truth: bool) {
        self.guesses.push((category.to_string(), guess, truth));
    }

    /// Counts a refusal: no signal.
    pub fn refused(&mut self) -> Option<bool> {
        self.refused += 1;
        None
    }

    /// Scores guesses of a value (`None`: no answer, the attacker takes the
    /// most common true value, as the baseline always does).
    pub fn of_values(guesses: &[(Option<u64>, u64)], refused: usize) -> ScoredValues {
        let mut freq = std::collections::BTreeMap::new();
        for (_, t) in guesses {
            *freq.entry(*t).or_insert(0usize) += 1;
        }
        let mode = freq.iter().max_by_key(|(_, n)| **n).map_or(0, |(v, _)| *v);
        ScoredValues {
            trials: guesses.len(),
            right: guesses
                .iter()
                .filter(|(g, t)| g.unwrap_or(mode) == *t)
                .count(),
            baseline: guesses.iter().filter(|(_, t)| *t == mode).count(),
            refused,
        }
    }

    /// The figures. The baseline is the majority guess for each category
    /// on the same trials (it knows how common each need is, or how many
    /// people each partner holds, as the federation-wide tables say), which
    /// is also the attacker's guess where the answer said nothing.
    pub fn measured(&self, attack: &'static str) -> Measured {
        let mut by: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
        for (c, _, truth) in &self.guesses {
            let e = by.entry(c.as_str()).or_default();
            e.0 += 1;
            e.1 += usize::from(*truth);
        }
        let majority = |c: &str| by.get(c).is_some_and(|(n, pos)| pos * 2 >= *n);
        Measured {
            attack,
            trials: self.guesses.len(),
            right: self
                .guesses
                .iter()
                .filter(|(c, g, t)| g.unwrap_or_else(|| majority(c)) == *t)
                .count(),
            baseline: by.values().map(|(n, pos)| *pos.max(&(n - pos))).sum(),
            refused: self.refused,
            residual: false,
        }
    }
}

/// Scored guesses of a value.
#[derive(Debug)]
pub struct ScoredValues {
    trials: usize,
    right: usize,
    baseline: usize,
    refused: usize,
}

impl ScoredValues {
    /// The figures.
    pub fn measured(&self, attack: &'static str) -> Measured {
        Measured {
            attack,
            trials: self.trials,
            right: self.right,
            baseline: self.baseline,
            refused: self.refused,
            residual: false,
        }
    }
}

/// Every attack, `trials` times each, against `running`'s gateway as the
/// demo's planning office; the second value is how many of the tables asked
/// at two moments were identical.
pub async fn suite(
    running: &Federation,
    trials: usize,
    seed: u64,
) -> anyhow::Result<(Vec<Measured>, usize)> {
    let truth = Truth::read(running).await?;
    let mut a = Attacker::new(running.client("comune")?, &truth, trials, seed);
    anyhow::ensure!(!a.targets.is_empty(), "no person can be placed in a group");
    let mut out = vec![
        trials::listed_or_absent(&mut a).await?,
        trials::partner_outcomes(&mut a).await?,
        trials::narrowed(&mut a).await?,
    ];
    let (moments, identical) = trials::two_moments(&mut a).await?;
    out.push(moments);
    out.push(trials::margin_equals_cell(&mut a).await?);
    out.push(trials::need_filters(&mut a).await?);
    out.push(trials::recovery(&mut a).await?);
    out.push(trials::differencing(&mut a, true).await?);
    out.push(trials::differencing(&mut a, false).await?);
    out.push(trials::averaging(&mut a).await?);
    Ok((out, identical))
}

/// The table of attacks, trials, the attacker's accuracy and the
/// baseline's.
pub fn render(results: &[Measured]) -> String {
    let mut t = trama_client::render::Table::new(&[
        "attack",
        "trials",
        "refused",
        "attacker right",
        "baseline right",
        "advantage",
    ]);
    for m in results {
        t.row(vec![
            format!(
                "{}{}",
                m.attack,
                if m.residual { " (residual)" } else { "" }
            ),
            m.trials.to_string(),
            format!("{:.0}%", percent(m.refused, m.trials)),
            format!("{:.1}%", m.accuracy()),
            format!("{:.1}%", m.baseline_accuracy()),
            format!("{:+.1} pts", m.advantage()),
        ]);
    }
    t.render()
}

/// Runs the suite on a federation of its own and prints the table.
pub async fn run(args: AttacksArgs) -> anyhow::Result<()> {
    let settings: String = args
        .settings
        .iter()
        .map(|s| format!(" --setting {s}"))
        .collect();
    println!(
        "trama bench attacks --subjects {} --trials {} --seed {}{settings}",
        args.subjects, args.trials, args.seed
    );
    println!("machine: {}", super::machine());
    let started = Instant::now();
    let mut builder = FederationBuilder::new(&args.dir)
        .subjects(args.subjects)
        .seed(args.seed)
        .statistics_cache_seconds(0)
        .announce(true);
    for s in &args.settings {
        let Some((key, value)) = s.split_once('=') else {
            anyhow::bail!("--setting {s}: write KEY=VALUE, for example min_population=20");
        };
        builder = builder.statistics_setting(key.trim(), value.trim());
    }
    let running = builder.start().await?;
    let result = suite(&running, args.trials, args.seed).await;
    running.teardown().await;
    let (results, identical) = result?;
    println!("{}", render(&results));
    println!(
        "tables asked twice were identical in {identical} of {} trials; baseline: the majority guess on the same \
         trials (for averaging: one answer alone); {:.0} s in all",
        args.trials,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
