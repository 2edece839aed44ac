//! Disclosure control of published counts: the cell-key method (Thompson,
//! Broadfoot and Elazar, ABS 2013; the ABS TableBuilder and the EU census
//! tables). Each count gets bounded noise from a perturbation table,
//! chosen by a key that depends only on **which people are in the cell**
//! (a keyed hash of the cell's merged sketch), so the same people always get
//! the same published value however the question was worded, and a group
//! that differs by one person gets unrelated noise. Counts below the
//! threshold, before or after the noise, are suppressed. The method, its
//! parameters and its limits are explained in `docs/statistics.md`.

use datasketches::theta::CompactThetaSketch;
use ring::digest;
use ring::hmac;
use trama_proto::v1;

/// The parameters of disclosure control, from the gateway's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameters {
    /// Counts below this (before or after the noise) are suppressed.
    pub threshold: u32,
    /// Largest noise added or taken away.
    pub max_noise: u32,
    /// Variance of the noise.
    pub variance: f64,
    /// A filter must leave out no one or at least this many people of each
    /// group of the table.
    pub min_difference: u32,
    /// A question whose whole table counts fewer people than this is
    /// refused.
    pub min_population: u32,
    /// Most cells, margins included, a table may have.
    pub max_cells: u32,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            threshold: 3,
            max_noise: 2,
            variance: 1.0,
            min_difference: 5,
            min_population: 20,
            max_cells: 10_000,
        }
    }
}

impl Parameters {
    /// Checks the parameters; `Err` is `(key, problem)` under
    /// `[statistics]`.
    pub fn validated(self) -> Result<Parameters, (String, String)> {
        if self.threshold < 3 {
            return Err((
                "statistics.threshold".into(),
                "must be at least 3: counts of 1 and 2 are never published".into(),
            ));
        }
        if !(1..=10).contains(&self.max_noise) {
            return Err((
                "statistics.max_noise".into(),
                "must be between 1 and 10".into(),
            ));
        }
        let d = f64::from(self.max_noise);
        let widest = d * (d + 1.0) / 3.0;
        if !(self.variance > 0.0 && self.variance < widest) {
            return Err((
                "statistics.variance".into(),
                format!(
                    "must be above 0 and below {widest:.2} (the variance of noise spread evenly over ±{})",
                    self.max_noise
                ),
            ));
        }
        if self.min_difference < self.threshold {
            return Err((
                "statistics.min_difference".into(),
                format!("must be at least the threshold ({})", self.threshold),
            ));
        }
        if self.min_population < self.min_difference {
            return Err((
                "statistics.min_population".into(),
                format!("must be at least min_difference ({})", self.min_difference),
            ));
        }
        if !(1..=MAX_CELLS).contains(&self.max_cells) {
            return Err((
                "statistics.max_cells".into(),
                format!("must be between 1 and {MAX_CELLS}"),
            ));
        }
        Ok(self)
    }
}

/// The largest `max_cells` a gateway accepts: a table is built in memory
/// and sent in one message.
pub const MAX_CELLS: u32 = 200_000;

/// A published count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The count shown; 0 when suppressed.
    pub count: u64,
    /// Perturbed or suppressed.
    pub status: v1::CellStatus,
}

/// The perturbation table and the cell-key secret.
#[derive(Clone)]
pub struct Perturbation {
    params: Parameters,
    /// Probability of each noise value `-D..=D`.
    noise: Vec<f64>,
    secret: hmac::Key,
    digest: String,
}

impl std::fmt::Debug for Perturbation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Perturbation")
            .field("params", &self.params)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Perturbation {
    /// The table for `params` (validated), keyed by `secret`: the same
    /// secret at every gateway replica and across restarts, or the same
    /// people would get other values.
    pub fn new(params: Parameters, secret: &[u8]) -> Perturbation {
        let noise = noise_distribution(params.max_noise, params.variance);
        let described = format!("{}|{}|{:?}", params.threshold, params.max_noise, noise);
        let hash = digest::digest(&digest::SHA256, described.as_bytes());
        let digest = hex::encode(&hash.as_ref()[..6]);
        Perturbation {
            params,
            noise,
            secret: hmac::Key::new(hmac::HMAC_SHA256, secret),
            digest,
        }
    }

    /// The parameters applied.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// What the answer says was applied.
    pub fn describe(&self) -> v1::Protection {
        v1::Protection {
            method: "cell-key perturbation".into(),
            threshold: self.params.threshold,
            max_noise: self.params.max_noise,
            variance: self.params.variance,
            min_difference: self.params.min_difference,
            min_population: self.params.min_population,
            max_cells: self.params.max_cells,
            table_digest: self.digest.clone(),
            exact_up_to: 1 << trama_proto::stats::SKETCH_LG_K,
            relative_error: 1.0 / f64::from(1u32 << (trama_proto::stats::SKETCH_LG_K / 2)),
        }
    }

    /// The cell key of a group of people: a keyed hash of their merged
    /// sketch (its threshold and every pseudonym hash it retains, in
    /// order), as a number in [0, 1). The same people give the same key.
    pub fn cell_key(&self, people: &CompactThetaSketch) -> f64 {
        let mut ctx = hmac::Context::with_key(&self.secret);
        ctx.update(&people.theta64().to_be_bytes());
        for entry in people.iter() {
            ctx.update(&entry.hash().to_be_bytes());
        }
        to_unit(ctx.sign().as_ref())
    }

    /// The cell key of several groups taken together (an overlap), in
    /// order.
    pub fn joint_key(&self, parts: &[&CompactThetaSketch]) -> f64 {
        let mut ctx = hmac::Context::with_key(&self.secret);
        for people in parts {
            ctx.update(&people.theta64().to_be_bytes());
            ctx.update(&(people.num_retained() as u64).to_be_bytes());
            for entry in people.iter() {
                ctx.update(&entry.hash().to_be_bytes());
            }
        }
        to_unit(ctx.sign().as_ref())
    }

    /// The published value of a distinct count `count` whose cell key is
    /// `key`.
    pub fn publish(&self, count: u64, key: f64) -> Published {
        let threshold = u64::from(self.params.threshold);
        let suppressed = Published {
            count: 0,
            status: v1::CellStatus::Suppressed,
        };
        if count < threshold {
            return suppressed;
        }
        let shown = self.perturb(count, key);
        if shown < threshold {
            return suppressed;
        }
        Published {
            count: shown,
            status: v1::CellStatus::Perturbed,
        }
    }

    /// `count` plus the noise the table gives for `key`.
    fn perturb(&self, count: u64, key: f64) -> u64 {
        let d = i64::from(self.params.max_noise);
        let mut cumulative = 0.0;
        let mut chosen = d;
        for (i, p) in self.noise.iter().enumerate() {
            cumulative += p;
            if key < cumulative {
                chosen = i as i64 - d;
                break;
            }
        }
        count.saturating_add_signed(chosen)
    }
}

/// The first 53 bits of a hash as a number in [0, 1).
fn to_unit(hash: &[u8]) -> f64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// The noise distribution over `-d..=d`: a discrete Gaussian shape whose
/// width is set (by bisection) so that its variance is `variance`.
fn noise_distribution(d: u32, variance: f64) -> Vec<f64> {
    let shape = |s: f64| -> Vec<f64> {
        let d = i64::from(d);
        let w: Vec<f64> = (-d..=d)
            .map(|e| (-((e * e) as f64) / (2.0 * s * s)).exp())
            .collect();
        let total: f64 = w.iter().sum();
        w.into_iter().map(|x| x / total).collect()
    };
    let var = |p: &[f64]| -> f64 {
        let d = i64::from(d);
        p.iter()
            .enumerate()
            .map(|(i, p)| p * ((i as i64 - d) as f64).powi(2))
            .sum()
    };
    let (mut low, mut high) = (0.01_f64, 1000.0_f64);
    for _ in 0..200 {
        let mid = (low + high) / 2.0;
        if var(&shape(mid)) < variance {
            low = mid;
        } else {
            high = mid;
        }
    }
    shape((low + high) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Perturbation {
        Perturbation::new(Parameters::default(), b"test secret")
    }

    #[test]
    fn the_noise_has_the_configured_variance_and_no_bias() {
        let p = noise_distribution(2, 1.0);
        let mean: f64 = p
            .iter()
            .enumerate()
            .map(|(i, p)| p * (i as f64 - 2.0))
            .sum();
        let var: f64 = p
            .iter()
            .enumerate()
            .map(|(i, p)| p * (i as f64 - 2.0).powi(2))
            .sum();
        assert!(mean.abs() < 1e-9, "{mean}");
        assert!((var - 1.0).abs() < 1e-6, "{var}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn small_counts_are_never_published_and_noise_is_bounded() {
        let t = table();
        for n in 0..200u64 {
            for k in 0..100 {
                let key = f64::from(k) / 100.0;
                let p = t.publish(n, key);
                if n < 3 {
                    assert_eq!(p.status, v1::CellStatus::Suppressed, "{n}");
                }
                if p.status == v1::CellStatus::Perturbed {
                    assert!(p.count >= 3);
                    assert!(p.count.abs_diff(n) <= 2, "{n} -> {}", p.count);
                } else {
                    assert_eq!(p.count, 0);
                }
            }
        }
    }

    #[test]
    fn parameters_outside_their_range_name_the_key() {
        let bad = [
            (
                Parameters {
                    threshold: 2,
                    ..Parameters::default()
                },
                "statistics.threshold",
            ),
            (
                Parameters {
                    max_noise: 0,
                    ..Parameters::default()
                },
                "statistics.max_noise",
            ),
            (
                Parameters {
                    variance: 2.5,
                    ..Parameters::default()
                },
                "statistics.variance",
            ),
            (
                Parameters {
                    min_difference: 1,
                    ..Parameters::default()
                },
                "statistics.min_difference",
            ),
            (
                Parameters {
                    min_population: 4,
                    ..Parameters::default()
                },
                "statistics.min_population",
            ),
            (
                Parameters {
                    max_cells: 0,
                    ..Parameters::default()
                },
                "statistics.max_cells",
            ),
        ];
        for (params, key) in bad {
            let err = params.validated().map(|_| ()).unwrap_err();
            assert_eq!(err.0, key);
        }
        assert!(Parameters::default().validated().is_ok());
    }
}
