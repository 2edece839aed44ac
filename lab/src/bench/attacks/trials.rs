//! The attacks, each a function that runs its trials against the gateway
//! and scores the attacker's guesses against the ground truth. Every
//! attacker follows the best rule the published answer allows and, where
//! the answer carries no signal (refused, or everything listed), falls back
//! on the majority guess; the baseline is the majority guess on the same
//! trials.

use std::collections::HashMap;

use fastrand::Rng;
use tonic::Code;
use tonic::transport::Channel;
use trama_proto::stats::NEEDS;
use trama_proto::v1::{self, CellStatus, federation_client::FederationClient};

use super::truth::{Target, Truth};
use super::{Measured, Scored};

/// A filter as asked: a dimension and its values.
type Filters = Vec<(&'static str, Vec<String>)>;

/// What every attack shares: the planning office's client, the truth, the
/// targets and the trials' randomness.
pub struct Attacker<'a> {
    client: FederationClient<Channel>,
    memo: HashMap<String, Option<v1::AggregateResponse>>,
    /// The ground truth.
    pub truth: &'a Truth,
    /// People the attacker can place in a group.
    pub targets: Vec<Target>,
    /// Trials per attack.
    pub trials: usize,
    rng: Rng,
}

impl<'a> Attacker<'a> {
    /// An attacker with the planning office's access.
    pub fn new(
        client: FederationClient<Channel>,
        truth: &'a Truth,
        trials: usize,
        seed: u64,
    ) -> Attacker<'a> {
        Attacker {
            client,
            memo: HashMap::new(),
            targets: truth.targets(),
            truth,
            trials,
            rng: Rng::with_seed(seed),
        }
    }

    /// A table, or `None` when the gateway refuses it as a disclosure risk;
    /// the same question is asked once.
    async fn ask(
        &mut self,
        by: &[&str],
        filters: &Filters,
    ) -> anyhow::Result<Option<v1::AggregateResponse>> {
        let key = format!("{by:?}{filters:?}");
        if let Some(known) = self.memo.get(&key) {
            return Ok(known.clone());
        }
        let answer = self.ask_fresh(by, filters).await?;
        self.memo.insert(key, answer.clone());
        Ok(answer)
    }

    /// A question the gateway may refuse as invalid by design (a union of
    /// needs): `None` then, as for a disclosure risk.
    async fn ask_refusable(
        &mut self,
        by: &[&str],
        filters: &Filters,
    ) -> anyhow::Result<Option<v1::AggregateResponse>> {
        match self.ask(by, filters).await {
            Err(e) if e.to_string().contains("keeps one value") => Ok(None),
            other => other,
        }
    }

    /// A table asked again, not from memory.
    async fn ask_fresh(
        &mut self,
        by: &[&str],
        filters: &Filters,
    ) -> anyhow::Result<Option<v1::AggregateResponse>> {
        let req = v1::AggregateRequest {
            context: Some(crate::bench::stats::planning()),
            group_by: by.iter().map(|s| s.to_string()).collect(),
            filters: filters
                .iter()
                .map(|(d, v)| v1::Filter {
                    dimension: d.to_string(),
                    values: v.clone(),
                })
                .collect(),
        };
        match self.client.aggregate(req).await {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == Code::FailedPrecondition => Ok(None),
            Err(s) => anyhow::bail!("{by:?} {filters:?}: {s}"),
        }
    }

    fn pick(&mut self) -> Target {
        let i = self.rng.usize(..self.targets.len().max(1));
        self.targets[i].clone()
    }

    /// A need the target has or lacks, one or the other with even odds.
    fn need_for(&mut self, t: &Target) -> (String, bool) {
        let has = self.rng.bool() && !t.needs.is_empty();
        let pool: Vec<&str> = NEEDS
            .iter()
            .copied()
            .filter(|n| t.needs.contains(*n) == has)
            .collect();
        let n = pool[self.rng.usize(..pool.len().max(1))].to_string();
        (n, has)
    }
}

/// The filters that place a target in their group.
fn group(t: &Target) -> Filters {
    vec![
        ("district", vec![t.group[0].clone()]),
        ("sex", vec![t.group[1].clone()]),
        ("age_band", vec![t.group[2].clone()]),
    ]
}

/// The published value of the cell with `values`, if published.
fn shown(table: &v1::AggregateResponse, values: &[&str]) -> Option<u64> {
    table
        .cells
        .iter()
        .find(|c| c.values == values)
        .filter(|c| c.status == CellStatus::Perturbed as i32)
        .map(|c| c.count)
}

/// Whether a cell with `values` is listed at all.
fn listed(table: &v1::AggregateResponse, values: &[&str]) -> bool {
    table.cells.iter().any(|c| c.values == values)
}

/// Whether every need is listed (then listing says nothing).
fn all_listed(table: &v1::AggregateResponse) -> bool {
    NEEDS.iter().all(|n| listed(table, &[n]))
}

/// Listed or absent: in a table by need of the target's group, a need
/// listed means someone there has it.
pub async fn listed_or_absent(a: &mut Attacker<'_>) -> anyhow::Result<Measured> {
    let mut s = Scored::default();
    for _ in 0..a.trials {
        let t = a.pick();
        let (n, has) = a.need_for(&t);
        let guess = match a.ask(&["need"], &group(&t)).await? {
            None => s.refused(),
            Some(tab) if all_listed(&tab) => None,
            Some(tab) => Some(listed(&tab, &[&n])),
        };
        s.record(&n, guess, has);
    }
    Ok(s.measured("a need listed or absent, the target's group"))
}

/// Per-partner outcomes: in a table narrowed to the target's group and a
/// year of their needs, a partner that sent cells holds someone there.
pub async fn partner_outcomes(a: &mut Attacker<'_>) -> anyhow::Result<Measured> {
    let mut s = Scored::default();
    for _ in 0..a.trials {
        let t = a.pick();
        let holds = a.rng.bool();
        let pool: Vec<String> = a
            .truth
            .partners
            .iter()
            .filter(|p| t.partners.contains(*p) == holds)
            .cloned()
            .collect();
        let Some(p) = pool.get(a.rng.usize(..pool.len().max(1))).cloned() else {
            continue;
        };
        let mut filters = group(&t);
        filters.push((
            "year",
            vec![t.years.iter().next().cloned().unwrap_or_default()],
        ));
        let guess = match a.ask(&["need"], &filters).await? {
            None => s.refused(),
            Some(tab) if tab.outcomes.iter().all(|o| o.entries == 0) => None,
            Some(tab) => Some(
                tab.outcomes
                    .iter()
                    .any(|o| o.organisation == p && o.entries > 0),
            ),
        };
        s.record(&p, guess, holds);
    }
    Ok(s.measured("a partner holding the target, from the outcomes"))
}

/// Narrowed to the target: the narrowest table that is answered, of the
/// target's group and a year of their needs, their group, their district
/// and sex, their district; read cell by cell (a need published there
/// taken as the target's).
pub async fn narrowed(a: &mut Attacker<'_>) -> anyhow::Result<Measured> {
    let mut s = Scored::default();
    for _ in 0..a.trials {
        let t = a.pick();
        let (n, has) = a.need_for(&t);
        let mut answer = None;
        for filters in narrowing(&t) {
            if let Some(tab) = a.ask(&["need"], &filters).await? {
                answer = Some(tab);
                break;
            }
        }
        let guess = match answer {
            None => s.refused(),
            Some(tab) if !all_listed(&tab) => Some(listed(&tab, &[&n])),
            Some(tab) => Some(shown(&tab, &[&n]).is_some()),
        };
        s.record(&n, guess, has);
    }
    Ok(s.measured("the narrowest table answered about the target"))
}

/// The target's groups, narrowest first.
fn narrowing(t: &Target) -> Vec<Filters> {
    let mut with_year = group(t);
    with_year.push((
        "year",
        vec![t.years.iter().next().cloned().unwrap_or_default()],
    ));
    let district = ("district", vec![t.group[0].clone()]);
    let sex = ("sex", vec![t.group[1].clone()]);
    vec![
        with_year,
        group(t),
        vec![district.clone(), sex],
        vec![district],
    ]
}

/// The same table asked twice, at two moments: a table that moved would
/// say whose age band changed in between.
pub async fn two_moments(a: &mut Attacker<'_>) -> anyhow::Result<(Measured, usize)> {
    let mut s = Scored::default();
    let mut identical = 0;
    for _ in 0..a.trials {
        let t = a.pick();
        let (n, has) = a.need_for(&t);
        let filters = vec![("district", vec![t.group[0].clone()])];
        let first = a.ask_fresh(&["need", "age_band"], &filters).await?;
        let second = a.ask_fresh(&["need", "age_band"], &filters).await?;
        let guess = match (first, second) {
            (Some(x), Some(y)) if x.cells == y.cells => {
                identical += 1;
                None
            }
            (Some(x), Some(y)) => {
                Some(shown(&x, &[&n, &t.group[2]]) != shown(&y, &[&n, &t.group[2]]))
            }
            _ => s.refused(),
        };
        s.record(&n, guess, has);
    }
    Ok((s.measured("the same table asked at two moments"), identical))
}

/// A margin compared with a cell of its group: equal values would mean
/// everyone in the group has the need.
pub async fn margin_equals_cell(a: &mut Attacker<'_>) -> anyhow::Result<Measured> {
    let mut s = Scored::default();
    for _ in 0..a.trials {
        let t = a.pick();
        let (n, has) = a.need_for(&t);
        let guess = match a.ask(&["need"], &group(&t)).await? {
            None => s.refused(),
            Some(tab)
                if shown(&tab, &[&n]).is_some() && shown(&tab, &[&n]) == shown(&tab, &["*"]) =>
            {
                Some(true)
            }
            Some(_) => None,
        };
        s.record(&n, guess, has);
    }
    Ok(s.measured("a margin equal to a cell of the target's group"))
}

/// Filters on needs instead of who or when: the group's people with any
/// need, against those with any need but this one.
pub async fn need_filters(a: &mut Attacker<'_>) -> anyhow::Result<Measured> {
    let mut s = Scored::default();
    let all: Vec<String> = NEEDS.iter().map(|n| n.to_string()).collect();
    for _ in 0..a.trials {
        let t = a.pick();
        let (n, has) = a.need_for(&t);
        let mut with = group(&t);
        with.push(("need", all.clone()));
        let mut without = group(&t);
        without.push(("need", all.iter().filter(|x| **x != n).cloned().collect()));
        let q1 = a.ask_refusable(&[], &with).await?;
        let q2 = a.ask_refusable(&[], &without).await?;
        let guess = match (q1, q2) {
            (Some(x), Some(y)) => match (shown(&x, &[]), shown(&y, &[])) {
                (Some(v1), Some(v2)) => Some(v1 > v2),
                (Some(_), None) => Some(true),
                _ => None,
            },
            _ => s.refused(),
        };
        s.record(&n, guess, has);
    }
    Ok(s.measured("filters on need instead of who or when"))
}

/// Recovery from totals: the target's suppressed cell in a table by sex
/// (one need, district and age band) is the total less the other cells.
pub async fn recovery(a: &mut Attacker<'_>) -> anyhow::Result<Measured> {
    let mut guesses: Vec<(Option<u64>, u64)> = Vec::new();
    let mut refused = 0;
    for _ in 0..a.trials {
        let t = a.pick();
        let Some(n) = t.needs.iter().next().cloned() else {
            continue;
        };
        let filters = vec![
            ("district", vec![t.group[0].clone()]),
            ("age_band", vec![t.group[2].clone()]),
            ("need", vec![n.clone()]),
        ];
        let truth = a.truth.count(
            [Some(&t.group[0]), Some(&t.group[1]), Some(&t.group[2])],
            Some(&n),
        );
        match a.ask(&["sex"], &filters).await? {
            None => {
                refused += 1;
                guesses.push((None, truth));
            }
            Some(tab) if shown(&tab, &[&t.group[1]]).is_none() => {
                let others: u64 = ["female", "male", "-"]
                    .iter()
                    .filter(|x| **x != t.group[1])
                    .filter_map(|x| shown(&tab, &[x]))
                    .sum();
                let total = shown(&tab, &["*"]).unwrap_or(0);
                guesses.push((Some(total.saturating_sub(others).min(2)), truth));
            }
            Some(_) => {}
        }
    }
    Ok(Scored::of_values(&guesses, refused).measured("a suppressed cell recovered from its total"))
}

/// Differencing: the target's group with and without a filter on sex that
/// leaves out the target's sex; `alone` picks targets with at most three
/// others of their sex there (a known person left out with fewer than
/// `min_difference` people), else targets among five or more.
pub async fn differencing(a: &mut Attacker<'_>, alone: bool) -> anyhow::Result<Measured> {
    let mut s = Scored::default();
    let eligible: Vec<Target> = a
        .targets
        .iter()
        .filter(|t| {
            let k = a.truth.count(
                [Some(&t.group[0]), Some(&t.group[1]), Some(&t.group[2])],
                None,
            );
            if alone { (1..=4).contains(&k) } else { k >= 5 }
        })
        .cloned()
        .collect();
    if eligible.is_empty() {
        return Ok(s.measured(differencing_name(alone)));
    }
    for _ in 0..a.trials {
        let t = eligible[a.rng.usize(..eligible.len())].clone();
        let (n, has) = a.need_for(&t);
        let place = vec![
            ("district", vec![t.group[0].clone()]),
            ("age_band", vec![t.group[2].clone()]),
        ];
        let other = if t.group[1] == "female" {
            "male"
        } else {
            "female"
        };
        let mut kept = place.clone();
        kept.push(("sex", vec![other.to_string()]));
        let q1 = a.ask(&["need"], &place).await?;
        let q2 = a.ask(&["need"], &kept).await?;
        let guess = match (q1, q2) {
            (Some(x), Some(y)) => differenced(&x, &y, &n),
            _ => s.refused(),
        };
        s.record(&n, guess, has);
    }
    let mut m = s.measured(differencing_name(alone));
    m.residual = !alone;
    Ok(m)
}

fn differencing_name(alone: bool) -> &'static str {
    if alone {
        "differencing, the target left out with at most 3 others"
    } else {
        "differencing, the target left out with 4 or more"
    }
}

/// The attacker's reading of two tables whose populations differ by the
/// people left out: the target has the need when the difference is well
/// above their share, lacks it when well below; otherwise the answer says
/// too little to go against how common the need is.
fn differenced(
    with: &v1::AggregateResponse,
    without: &v1::AggregateResponse,
    n: &str,
) -> Option<bool> {
    let v = |t: &v1::AggregateResponse, c: &str| shown(t, &[c]).unwrap_or(0) as f64;
    let left = (v(with, "*") - v(without, "*")).max(1.0);
    let share = v(with, n) / v(with, "*").max(1.0);
    let surplus = v(with, n) - v(without, n) - (left - 1.0) * share;
    if surplus > 1.5 {
        Some(true)
    } else if surplus < -0.5 {
        Some(false)
    } else {
        None
    }
}

/// Averaging: the same people asked four ways, the published values
/// averaged, against one answer alone.
pub async fn averaging(a: &mut Attacker<'_>) -> anyhow::Result<Measured> {
    let mut guesses: Vec<(Option<u64>, u64)> = Vec::new();
    let mut single: Vec<(Option<u64>, u64)> = Vec::new();
    for _ in 0..a.trials {
        let t = a.pick();
        let Some(n) = t.needs.iter().next().cloned() else {
            continue;
        };
        let (d, sex) = (t.group[0].clone(), t.group[1].clone());
        let truth = a.truth.count([Some(&d), Some(&sex), None], Some(&n));
        let one = |k: &'static str, v: &str| (k, vec![v.to_string()]);
        let wordings: [(Vec<&str>, Filters, Vec<&str>); 4] = [
            (
                vec!["need"],
                vec![one("district", &d), one("sex", &sex)],
                vec![&n],
            ),
            (
                vec!["need", "sex"],
                vec![one("district", &d)],
                vec![&n, &sex],
            ),
            (
                vec!["sex"],
                vec![one("district", &d), one("need", &n)],
                vec![&sex],
            ),
            (
                vec!["district"],
                vec![one("sex", &sex), one("need", &n)],
                vec![&d],
            ),
        ];
        let mut values = Vec::new();
        for (by, filters, cell) in &wordings {
            if let Some(tab) = a.ask(by, filters).await? {
                values.extend(shown(&tab, cell));
            }
        }
        if values.len() < wordings.len() {
            continue;
        }
        let mean = values.iter().sum::<u64>() as f64 / values.len() as f64;
        guesses.push((Some(mean.round() as u64), truth));
        single.push((values.first().copied(), truth));
    }
    let mut m = Scored::of_values(&guesses, 0).measured("averaging the same cell asked four ways");
    m.baseline = single.iter().filter(|(g, t)| *g == Some(*t)).count();
    Ok(m)
}
