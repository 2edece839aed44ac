//! The values searches filter and count on (needs, municipalities,
//! providers, vouchers) as small numbers: each distinct text is given one
//! number when a service is indexed, so that a search compares and counts
//! numbers instead of hashing and comparing text for every service it
//! passes (at 100,000 services that was most of a search's time).

use std::collections::HashMap;

use trama_proto::v1;

/// Every distinct value seen, numbered in order of appearance. Values are
/// never forgotten: a catalogue holds a bounded vocabulary (the schema's
/// needs, Italy's municipalities, the partners' providers and vouchers).
#[derive(Debug, Default)]
pub(super) struct Vocab {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Vocab {
    /// The number of `value`, given now if it is new.
    pub(super) fn id(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(value.to_string(), id);
        self.names.push(value.to_string());
        id
    }

    /// The numbers of `values`.
    pub(super) fn ids<'a>(&mut self, values: impl Iterator<Item = &'a str>) -> Vec<u32> {
        values.map(|v| self.id(v)).collect()
    }

    /// A filter on `wanted` values: any service passes when none is
    /// wanted; one holding a value never seen passes nobody.
    pub(super) fn filter<'a>(&self, wanted: impl Iterator<Item = &'a str>) -> Filter {
        let mut any = true;
        let mut ids = Vec::new();
        for w in wanted {
            any = false;
            ids.extend(self.ids.get(w));
        }
        if any { Filter::Any } else { Filter::OneOf(ids) }
    }

    /// Counts of the values in `values`, as facets: most frequent first,
    /// ties in the order of the text.
    pub(super) fn facets(&self, values: impl Iterator<Item = u32>) -> Vec<v1::Facet> {
        let mut counts = vec![0u32; self.names.len()];
        for v in values {
            if let Some(c) = counts.get_mut(v as usize) {
                *c += 1;
            }
        }
        let mut out: Vec<v1::Facet> = counts
            .iter()
            .zip(&self.names)
            .filter(|(count, _)| **count > 0)
            .map(|(count, value)| v1::Facet {
                value: value.clone(),
                count: *count,
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        out
    }
}

/// A filter on one kind of value, resolved to numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Filter {
    /// Nothing wanted: every service passes.
    Any,
    /// A service passes when it holds one of these.
    OneOf(Vec<u32>),
}

impl Filter {
    /// Whether a service holding `held` passes.
    pub(super) fn admits(&self, held: &[u32]) -> bool {
        match self {
            Filter::Any => true,
            Filter::OneOf(ids) => ids.iter().any(|i| held.contains(i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_once_and_counted_as_facets() {
        let mut vocab = Vocab::default();
        let a = vocab.ids(["home_care", "meals", "home_care"].into_iter());
        assert_eq!(a, vec![0, 1, 0]);
        let facets = vocab.facets([0, 1, 0, 1, 1].into_iter());
        let seen: Vec<(&str, u32)> = facets.iter().map(|f| (f.value.as_str(), f.count)).collect();
        assert_eq!(seen, vec![("meals", 3), ("home_care", 2)]);
    }

    #[test]
    fn a_filter_on_an_unknown_value_passes_nobody() {
        let mut vocab = Vocab::default();
        vocab.id("crema");
        assert_eq!(vocab.filter(std::iter::empty()), Filter::Any);
        assert!(vocab.filter(std::iter::empty()).admits(&[]));
        let unknown = vocab.filter(["lodi"].into_iter());
        assert!(!unknown.admits(&[0]));
        assert!(vocab.filter(["crema"].into_iter()).admits(&[0]));
        assert!(!vocab.filter(["crema"].into_iter()).admits(&[]));
    }
}
