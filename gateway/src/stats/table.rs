//! Merging the partners' sketches into one table: each cell is the union of
//! the partners' sketches for it (a person known to several partners
//! counts once), each margin and the grand total is the union of its cells
//! (a cell of its own, perturbed with its own key, never a sum of published
//! cells), and the overlaps between partners come from intersections.
//! Before anything is published, the difference check refuses filters that
//! would leave out a handful of people (docs/statistics.md).

use std::collections::{BTreeMap, HashMap};

use datasketches::theta::{CompactThetaSketch, ThetaANotB, ThetaIntersection, ThetaUnionBuilder};
use trama_proto::stats::{self, Dimension, SKETCH_LG_K};
use trama_proto::v1;

use super::disclosure::Perturbation;
use super::domain::Domain;
pub use super::question::CheckedFilter;
use crate::error::CallError;

/// DataSketches' default update seed, which the connectors' sketches use.
const SEED: u64 = 9001;

/// What one partner sent, decoded.
#[derive(Debug)]
pub struct SourceCounts {
    /// The partner.
    pub organisation: String,
    /// Its groups of the table, filters applied.
    pub cells: Vec<(Vec<String>, CompactThetaSketch)>,
    /// Its base groups, no filter applied.
    pub base: Vec<(Vec<String>, CompactThetaSketch)>,
    /// Its people without a tax code.
    pub without_tax_code: CompactThetaSketch,
}

impl SourceCounts {
    /// Decodes a partner's answer; `Err` says what is malformed (never
    /// content).
    pub fn decode(organisation: &str, r: &v1::CountPeopleResponse) -> Result<Self, String> {
        let read = |bytes: &[u8]| {
            CompactThetaSketch::deserialize(bytes).map_err(|e| format!("malformed sketch: {e}"))
        };
        let groups = |gs: &[v1::GroupSketch]| -> Result<Vec<_>, String> {
            gs.iter()
                .map(|g| Ok((g.values.clone(), read(&g.sketch)?)))
                .collect()
        };
        let without_tax_code = if r.without_tax_code.is_empty() {
            union(std::iter::empty())?
        } else {
            read(&r.without_tax_code)?
        };
        Ok(SourceCounts {
            organisation: organisation.to_string(),
            cells: groups(&r.cells)?,
            base: groups(&r.base)?,
            without_tax_code,
        })
    }

    /// Everyone the partner counted in the table.
    fn total(&self) -> Result<CompactThetaSketch, String> {
        union(self.cells.iter().map(|(_, s)| s))
    }
}

/// The union of sketches (people in any of them).
pub fn union<'a>(
    parts: impl IntoIterator<Item = &'a CompactThetaSketch>,
) -> Result<CompactThetaSketch, String> {
    let mut u = ThetaUnionBuilder::default()
        .lg_k(SKETCH_LG_K)
        .build()
        .map_err(|e| e.to_string())?;
    for p in parts {
        u.update(p).map_err(|e| e.to_string())?;
    }
    Ok(u.to_sketch(true))
}

/// The distinct count of a sketch, and whether it was estimated.
fn count(s: &CompactThetaSketch) -> (u64, bool) {
    (s.estimate().round().max(0.0) as u64, s.is_estimation_mode())
}

/// One published cell.
fn cell(values: Vec<String>, people: &CompactThetaSketch, p: &Perturbation) -> v1::Cell {
    let (n, estimated) = count(people);
    let published = p.publish(n, p.cell_key(people));
    v1::Cell {
        values,
        count: published.count,
        status: published.status as i32,
        estimated,
    }
}

/// The partners' people in each cell of `domain`: the union of their
/// sketches for it (a person known to several partners counts once),
/// keyed by the cell's place in the domain. Groups outside the domain
/// are read as [`Domain::place`] says.
pub fn merged(
    domain: &Domain,
    sources: &[SourceCounts],
) -> Result<HashMap<Vec<usize>, CompactThetaSketch>, String> {
    let mut parts: HashMap<Vec<usize>, Vec<&CompactThetaSketch>> = HashMap::new();
    for s in sources {
        for (values, sketch) in &s.cells {
            if let Some(at) = domain.place(values) {
                parts.entry(at).or_default().push(sketch);
            }
        }
    }
    parts
        .into_iter()
        .map(|(at, p)| Ok((at, union(p)?)))
        .collect()
}

/// How many people the whole table counts (its grand total before
/// perturbation).
pub fn population(inner: &HashMap<Vec<usize>, CompactThetaSketch>) -> Result<u64, String> {
    Ok(count(&union(inner.values())?).0)
}

/// Every cell of `domain`, then every margin and the grand total, each
/// the union of the people of its cells and published with its own key. A
/// combination nobody falls in is listed too, suppressed, so that being
/// listed says nothing.
pub fn cells(
    domain: &Domain,
    inner: &HashMap<Vec<usize>, CompactThetaSketch>,
    p: &Perturbation,
) -> Result<Vec<v1::Cell>, String> {
    let dims = domain.dims();
    let nobody = union(std::iter::empty())?;
    let mut out = Vec::new();
    for mask in 0..(1u32 << dims) {
        let mut margins: HashMap<Vec<Option<usize>>, Vec<&CompactThetaSketch>> = HashMap::new();
        for (at, sketch) in inner {
            margins.entry(collapsed(at, mask)).or_default().push(sketch);
        }
        for at in combinations(domain, mask) {
            let people = match margins.get(&at).map(Vec::as_slice) {
                None => nobody.clone(),
                Some([one]) => (*one).clone(),
                Some(parts) => union(parts.iter().copied())?,
            };
            out.push(cell(named(domain, &at), &people, p));
        }
    }
    Ok(out)
}

/// A cell's place with the dimensions whose bit is set in `mask` collapsed
/// to every value (`None`).
fn collapsed(at: &[usize], mask: u32) -> Vec<Option<usize>> {
    at.iter()
        .enumerate()
        .map(|(i, v)| (mask & (1 << i) == 0).then_some(*v))
        .collect()
}

/// Every place of the domain with the dimensions of `mask` collapsed, in
/// the domain's order.
fn combinations(domain: &Domain, mask: u32) -> Vec<Vec<Option<usize>>> {
    let mut out: Vec<Vec<Option<usize>>> = vec![Vec::new()];
    for i in 0..domain.dims() {
        let choices: Vec<Option<usize>> = if mask & (1 << i) != 0 {
            vec![None]
        } else {
            (0..domain.values(i).len()).map(Some).collect()
        };
        out = out
            .into_iter()
            .flat_map(|prefix| {
                choices.iter().map(move |c| {
                    let mut next = prefix.clone();
                    next.push(*c);
                    next
                })
            })
            .collect();
    }
    out
}

/// A place's values by name, `*` for a collapsed dimension.
fn named(domain: &Domain, at: &[Option<usize>]) -> Vec<String> {
    at.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(k) => domain.values(i)[*k].clone(),
            None => stats::ALL.to_string(),
        })
        .collect()
}

/// People known to each pair of partners, and to two or more, each
/// published like a cell.
pub fn overlaps(sources: &[SourceCounts], p: &Perturbation) -> Result<Vec<v1::Overlap>, String> {
    let totals: Vec<CompactThetaSketch> = sources
        .iter()
        .map(SourceCounts::total)
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    let named: Vec<(&str, &CompactThetaSketch)> = sources
        .iter()
        .map(|s| s.organisation.as_str())
        .zip(&totals)
        .collect();
    for (i, (first, a)) in named.iter().enumerate() {
        for (second, b) in &named[i + 1..] {
            out.push(overlap(first, second, &intersection(a, b)?, p));
        }
    }
    if sources.len() > 1 {
        out.push(two_or_more(&totals, p)?);
    }
    Ok(out)
}

fn overlap(first: &str, second: &str, both: &CompactThetaSketch, p: &Perturbation) -> v1::Overlap {
    let (n, _) = count(both);
    let published = p.publish(n, p.cell_key(both));
    v1::Overlap {
        first: first.into(),
        second: second.into(),
        count: published.count,
        status: published.status as i32,
    }
}

fn intersection(
    a: &CompactThetaSketch,
    b: &CompactThetaSketch,
) -> Result<CompactThetaSketch, String> {
    let mut i = ThetaIntersection::with_seed(SEED).map_err(|e| e.to_string())?;
    i.update(a).map_err(|e| e.to_string())?;
    i.update(b).map_err(|e| e.to_string())?;
    i.to_sketch(true)
        .ok_or_else(|| "empty intersection".to_string())
}

/// People known to two or more partners: everyone, less those known to
/// one partner only. Its key is that of the people known to one partner
/// only, partner by partner, with everyone.
fn two_or_more(totals: &[CompactThetaSketch], p: &Perturbation) -> Result<v1::Overlap, String> {
    let everyone = union(totals)?;
    let mut only = Vec::new();
    for (i, t) in totals.iter().enumerate() {
        let others = union(
            totals
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, s)| s),
        )?;
        let alone = ThetaANotB::with_seed(SEED)
            .and_then(|op| op.compute(t, &others, true))
            .map_err(|e| e.to_string())?;
        only.push(alone);
    }
    let single: u64 = only.iter().map(|s| count(s).0).sum();
    let n = count(&everyone).0.saturating_sub(single);
    let mut parts: Vec<&CompactThetaSketch> = vec![&everyone];
    parts.extend(only.iter());
    let published = p.publish(n, p.joint_key(&parts));
    Ok(v1::Overlap {
        first: stats::ALL.into(),
        second: stats::ALL.into(),
        count: published.count,
        status: published.status as i32,
    })
}

/// Each partner's people without a tax code, published like a cell.
pub fn contributions(sources: &[SourceCounts], p: &Perturbation) -> Vec<v1::Contribution> {
    sources
        .iter()
        .map(|s| {
            let (n, _) = count(&s.without_tax_code);
            let published = p.publish(n, p.cell_key(&s.without_tax_code));
            v1::Contribution {
                organisation: s.organisation.clone(),
                without_tax_code: published.count,
                status: published.status as i32,
            }
        })
        .collect()
}

/// The difference check. Two questions whose populations differ by one
/// person would tell, by their difference, whether that person has the
/// attribute shown; with consistent perturbation, identical populations
/// even give identical values. So a filter on who or when must leave out,
/// in every group of the table (by its who-or-when dimensions), either
/// nobody or at least `min_difference` people, counted over every fact of
/// every partner (not only those with the attribute shown, so that the
/// refusal itself says nothing about anyone's attribute).
///
/// `base_by` is the order of the base groups' values: the table's
/// who-or-when dimensions, then the filters' dimensions.
pub fn difference_check(
    base_by: &[Dimension],
    group_dims: usize,
    filters: &[CheckedFilter],
    sources: &[SourceCounts],
    min_difference: u32,
) -> Result<(), CallError> {
    let mut by_group: BTreeMap<Vec<String>, Vec<(&Vec<String>, &CompactThetaSketch)>> =
        BTreeMap::new();
    for s in sources {
        for (values, sketch) in &s.base {
            if values.len() == base_by.len() {
                by_group
                    .entry(values[..group_dims].to_vec())
                    .or_default()
                    .push((values, sketch));
            }
        }
    }
    for f in filters {
        for members in by_group.values() {
            let removed = left_out(base_by, filters, f, members).map_err(CallError::Internal)?;
            if removed > 0 && removed < u64::from(min_difference) {
                return Err(CallError::Disclosure {
                    field: format!("filters[{}]", f.index),
                    reason: format!(
                        "the filter on {} leaves out fewer than {min_difference} people in a group of the table; a filter that removes a handful of people could single someone out. Widen or drop the filter, or group by {} instead",
                        f.dimension.name(),
                        f.dimension.name()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// How many people of one group `f` leaves out: those kept by every other
/// filter but not by `f`.
fn left_out(
    base_by: &[Dimension],
    filters: &[CheckedFilter],
    f: &CheckedFilter,
    members: &[(&Vec<String>, &CompactThetaSketch)],
) -> Result<u64, String> {
    let kept_by = |skip: Option<usize>, values: &[String]| {
        filters
            .iter()
            .filter(|g| Some(g.index) != skip)
            .all(|g| keeps(base_by, g, values))
    };
    let without_f = union(
        members
            .iter()
            .filter(|(v, _)| kept_by(Some(f.index), v))
            .map(|(_, s)| *s),
    )?;
    let with_all = union(
        members
            .iter()
            .filter(|(v, _)| kept_by(None, v))
            .map(|(_, s)| *s),
    )?;
    let removed = ThetaANotB::with_seed(SEED)
        .and_then(|op| op.compute(&without_f, &with_all, true))
        .map_err(|e| e.to_string())?;
    Ok(count(&removed).0)
}

/// Whether a base group with `values` (in `base_by` order) passes `f`.
fn keeps(base_by: &[Dimension], f: &CheckedFilter, values: &[String]) -> bool {
    let Some(i) = base_by.iter().rposition(|d| *d == f.dimension) else {
        return true;
    };
    values.get(i).is_some_and(|v| f.values.contains(v))
}
