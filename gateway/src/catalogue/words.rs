//! The catalogue's free-text matching and ranking. The words of each
//! service's name, provider and description are folded (lower case, no
//! accents) and indexed; a searched word matches a word held **whole**
//! (the same word, or the same stem: `anziano` finds `anziani`), as a
//! **prefix** of it (`cas` of `casalasco`), or with a **typo** (one edit
//! in a word of 5 letters or more, two from 9: `asistenza` finds
//! `assistenza`; a swap of two letters is one edit). Every searched word
//! must match; services are ranked by how each word matched, then where
//! (name, provider, description), then by name.

use std::collections::HashMap;

/// Where in a service a word stands; the name counts most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The service's description.
    Description = 1,
    /// The provider's name.
    Provider = 2,
    /// The service's name.
    Name = 3,
}

/// How a searched word matched a word held, the weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Two edits away (words of 9 letters or more).
    TwoTypos = 1,
    /// One edit away.
    OneTypo = 2,
    /// The searched word's stem begins the word held.
    Prefix = 3,
    /// The same word, or the same stem.
    Whole = 4,
}

/// The points of one word's match: the class first, then the field, so a
/// whole word in a description outranks a prefix in a name, and one typo
/// outranks two.
pub fn points(class: Class, field: Field) -> u32 {
    class as u32 * 4 + field as u32
}

/// Typos allowed in a searched word of `letters` letters: none below 5
/// (short words would match too much), one up to 8, two from 9.
pub fn typos_allowed(letters: usize) -> usize {
    match letters {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// The words of `text`, folded: lower case, accents removed, split at
/// every character that is neither a letter nor a digit.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.chars()
                .flat_map(char::to_lowercase)
                .map(trama_subject::names::fold_char)
                .flat_map(char::to_lowercase)
                .collect()
        })
}

/// An Italian word without its inflected ending (the final vowels), kept
/// at three letters at least: `domiciliare`, `domiciliari` →
/// `domiciliar`; `anziani` → `anzian`.
pub fn stem(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut end = chars.len();
    while end > 3 && "aeiouàèéìòù".contains(chars[end - 1]) {
        end -= 1;
    }
    chars[..end].iter().collect()
}

/// A searched word, folded, with its stem and the typos it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    word: String,
    stem: String,
    typos: usize,
}

impl Wanted {
    /// `word` (already folded, see [`words`]) as searched.
    pub fn new(word: &str) -> Wanted {
        Wanted {
            word: word.to_string(),
            stem: stem(word),
            typos: typos_allowed(word.chars().count()),
        }
    }

    /// How this word matches `held`, whose stem is `held_stem`, if at all.
    pub fn class(&self, held: &str, held_stem: &str) -> Option<Class> {
        if held == self.word || held_stem == self.stem {
            return Some(Class::Whole);
        }
        if held.starts_with(&self.stem) {
            return Some(Class::Prefix);
        }
        if self.typos == 0 {
            return None;
        }
        let edits = |a: &str, b: &str| {
            if a.chars().count().abs_diff(b.chars().count()) > self.typos {
                usize::MAX
            } else {
                strsim::osa_distance(a, b)
            }
        };
        match edits(&self.stem, held_stem).min(edits(&self.word, held)) {
            1 => Some(Class::OneTypo),
            n if n <= self.typos => Some(Class::TwoTypos),
            _ => None,
        }
    }
}

/// The words of one service, each once, with the field it counts most in.
pub fn service_words(name: &str, provider: &str, description: &str) -> Vec<(String, Field)> {
    let mut best: HashMap<String, Field> = HashMap::new();
    for (text, field) in [
        (description, Field::Description),
        (provider, Field::Provider),
        (name, Field::Name),
    ] {
        for w in words(text) {
            let f = best.entry(w).or_insert(field);
            *f = (*f).max(field);
        }
    }
    best.into_iter().collect()
}

/// A word held: its stem, and the services holding it (by position) with
/// the field it counts most in there.
#[derive(Debug, Default)]
struct Held {
    stem: String,
    services: Vec<(usize, Field)>,
}

/// Every word held, for the services in one order (their positions).
#[derive(Debug, Default)]
pub struct Index {
    words: HashMap<String, Held>,
}

impl Index {
    /// The index of `services`' words, each service known by its position.
    pub fn build<'a>(services: impl Iterator<Item = &'a [(String, Field)]>) -> Index {
        let mut words: HashMap<String, Held> = HashMap::new();
        for (position, held) in services.enumerate() {
            for (word, field) in held {
                words
                    .entry(word.clone())
                    .or_insert_with(|| Held {
                        stem: stem(word),
                        services: Vec::new(),
                    })
                    .services
                    .push((position, *field));
            }
        }
        Index { words }
    }

    /// The positions of the services every word of `wanted` matches, the
    /// best first (most points, then position).
    pub fn search(&self, wanted: &[Wanted]) -> Vec<usize> {
        let mut total: Option<HashMap<usize, u32>> = None;
        for w in wanted {
            let best = self.best_matches(w);
            total = Some(match total {
                None => best,
                Some(so_far) => so_far
                    .into_iter()
                    .filter_map(|(p, s)| best.get(&p).map(|b| (p, s + b)))
                    .collect(),
            });
        }
        let mut ranked: Vec<(usize, u32)> = total.unwrap_or_default().into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().map(|(p, _)| p).collect()
    }

    /// Each service `wanted` matches, with the points of its best match.
    fn best_matches(&self, wanted: &Wanted) -> HashMap<usize, u32> {
        let mut best: HashMap<usize, u32> = HashMap::new();
        for (word, held) in &self.words {
            let Some(class) = wanted.class(word, &held.stem) else {
                continue;
            };
            for (position, field) in &held.services {
                let p = points(class, *field);
                let b = best.entry(*position).or_insert(p);
                *b = (*b).max(p);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(searched: &str, held: &str, want: Option<Class>) {
        let w = Wanted::new(searched);
        assert_eq!(w.class(held, &stem(held)), want, "{searched} ~ {held}");
    }

    #[test]
    fn typos_are_tolerated_by_the_length_of_the_word() {
        use Class::{OneTypo, Prefix, TwoTypos, Whole};
        for (searched, held, want) in [
            ("assistenza", "assistenza", Some(Whole)),
            ("anziano", "anziani", Some(Whole)),
            ("cas", "casalasco", Some(Prefix)),
            ("casa", "casalasco", Some(Prefix)),
            ("asistenza", "assistenza", Some(OneTypo)),
            ("domicilare", "domiciliare", Some(OneTypo)),
            ("pasit", "pasti", Some(OneTypo)),
            ("assitsenza", "assistenza", Some(OneTypo)),
            // Two typos only from 9 letters; none below 5.
            ("asistensa", "assistenza", Some(TwoTypos)),
            ("domicilare", "domicilio", Some(TwoTypos)),
            ("psati", "posti", None),
            ("csaa", "casa", None),
            ("asistnsa", "assistenza", None),
            ("idraulico", "domiciliare", None),
        ] {
            check(searched, held, want);
        }
        assert_eq!(
            words("Età: 0-12 ANNI, Caffè").collect::<Vec<_>>(),
            ["eta", "0", "12", "anni", "caffe"]
        );
    }

    #[test]
    fn stems_fold_italian_endings() {
        assert_eq!(stem("domiciliare"), "domiciliar");
        assert_eq!(stem("domiciliari"), "domiciliar");
        assert_eq!(stem("anziani"), "anzian");
        assert_eq!(stem("casa"), "cas");
        assert_eq!(stem("età"), "età");
    }

    /// The names of `services` (name, description) in the order `text`
    /// ranks them.
    fn ranked<'a>(services: &[(&'a str, &str)], text: &str) -> Vec<&'a str> {
        let held: Vec<Vec<(String, Field)>> = services
            .iter()
            .map(|(name, description)| service_words(name, "", description))
            .collect();
        let index = Index::build(held.iter().map(Vec::as_slice));
        let wanted: Vec<Wanted> = words(text).map(|w| Wanted::new(&w)).collect();
        index
            .search(&wanted)
            .into_iter()
            .map(|p| services[p].0)
            .collect()
    }

    #[test]
    fn whole_words_rank_before_prefixes_before_typos_and_names_before_descriptions() {
        let services = [
            (
                "Babysitting Casalasco",
                "Baby sitter per le famiglie del Casalasco.",
            ),
            (
                "Assistenza domiciliare per anziani",
                "Operatori a casa: igiene e compagnia.",
            ),
            ("Pasti a domicilio", "Pranzo caldo consegnato a casa."),
            ("Posti letto", "Accoglienza notturna."),
            ("Pastiglie per la tosse", "Farmacia."),
            ("Assistenza notturna a domicilio", "Presenza di notte."),
            ("Mensa", "Pasti caldi a mezzogiorno."),
        ];
        assert_eq!(
            ranked(&services, "casa"),
            [
                "Assistenza domiciliare per anziani",
                "Pasti a domicilio",
                "Babysitting Casalasco"
            ],
            "a whole word in the description before a prefix in the name"
        );
        assert_eq!(
            ranked(&services, "pasti"),
            [
                "Pasti a domicilio",
                "Mensa",
                "Pastiglie per la tosse",
                "Posti letto"
            ],
            "whole in the name, whole in the description, prefix, typo"
        );
        assert_eq!(
            ranked(&services, "asistenza domicilare"),
            [
                "Assistenza domiciliare per anziani",
                "Assistenza notturna a domicilio"
            ],
            "every word must match; one typo before two"
        );
        assert!(ranked(&services, "idraulico").is_empty());
    }
}
