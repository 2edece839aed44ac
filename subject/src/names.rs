//! Names as people write them: folding accents and apostrophes, and
//! comparing names with typos, transpositions and swapped order.

/// Sex as encoded in the tax code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

impl Sex {
    /// The letter of the tax code and of most registries: `F` or `M`.
    pub fn letter(self) -> &'static str {
        match self {
            Sex::Female => "F",
            Sex::Male => "M",
        }
    }

    /// The sex a recorded code names: the letter (`F`, `M`) or the common
    /// code (`female`, `male`), in any case.
    pub fn from_code(code: &str) -> Option<Sex> {
        let code = code.trim();
        if code.eq_ignore_ascii_case("F") || code.eq_ignore_ascii_case("female") {
            Some(Sex::Female)
        } else if code.eq_ignore_ascii_case("M") || code.eq_ignore_ascii_case("male") {
            Some(Sex::Male)
        } else {
            None
        }
    }
}

static GIVEN_NAMES_CSV: &str = include_str!("../data/given_names.csv");

/// Italian given names with their usual sex, from `data/given_names.csv`.
pub fn given_names() -> Vec<(&'static str, Sex)> {
    GIVEN_NAMES_CSV
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (name, sex) = line.trim_end_matches('\r').split_once(',')?;
            let sex = match sex {
                "F" => Sex::Female,
                "M" => Sex::Male,
                _ => return None,
            };
            Some((name, sex))
        })
        .collect()
}

/// Upper-cases a name, removes accents and turns every character that is
/// not a letter into a single space: `D'Angelo` → `D ANGELO`, `Nicolò` →
/// `NICOLO`.
pub fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut space = true;
    for c in name.chars() {
        let base = fold_char(c);
        if base.is_ascii_alphabetic() {
            out.push(base.to_ascii_uppercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// A name folded and without spaces: `D'Angelo`, `DANGELO` and `D Angelo`
/// all become `DANGELO`.
pub fn compact(name: &str) -> String {
    fold(name).replace(' ', "")
}

/// An accented Latin letter as its plain upper-case letter (`è` → `E`,
/// `ç` → `C`); any other character as it is.
pub fn fold_char(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'A',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'O',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'ç' | 'Ç' => 'C',
        'ñ' | 'Ñ' => 'N',
        'š' | 'Š' => 'S',
        'ž' | 'Ž' => 'Z',
        'ć' | 'č' | 'Ć' | 'Č' => 'C',
        _ => c,
    }
}

/// Similarity of two names between 0 and 1, tolerant of case, accents,
/// apostrophes, typos and transpositions (Jaro-Winkler on the compact
/// form), and of a double name matching one of its parts.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (ca, cb) = (compact(a), compact(b));
    if ca.is_empty() || cb.is_empty() {
        return 0.0;
    }
    if ca == cb {
        return 1.0;
    }
    let whole = strsim::jaro_winkler(&ca, &cb);
    // "Rossi Bianchi" against "Rossi": a double surname recorded in part.
    let (fa, fb) = (fold(a), fold(b));
    let part = |long: &str, short: &str| {
        long.split(' ')
            .filter(|p| p.len() >= 3)
            .map(|p| strsim::jaro_winkler(p, short))
            .fold(0.0_f64, f64::max)
            * 0.95
    };
    let parts = part(&fa, &cb).max(part(&fb, &ca));
    whole.max(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_table() {
        for (input, want) in [
            ("D'Angelo", "D ANGELO"),
            ("Nicolò", "NICOLO"),
            ("  de  la Cruz ", "DE LA CRUZ"),
            ("Rossi-Bianchi", "ROSSI BIANCHI"),
            ("ÀÉÎÕÜ", "AEIOU"),
        ] {
            assert_eq!(fold(input), want, "{input}");
        }
        assert_eq!(compact("D'Angelo"), "DANGELO");
    }

    #[test]
    fn similarity_table() {
        let high = [
            ("D'Angelo", "DANGELO"),
            ("Nicolò", "Nicolo"),
            ("Esposito", "Esposto"),
            ("Giuseppe", "Guiseppe"),
            ("Rossi Bianchi", "Rossi"),
        ];
        for (a, b) in high {
            assert!(similarity(a, b) >= 0.9, "{a} ~ {b}: {}", similarity(a, b));
        }
        let low = [("Rossi", "Bianchi"), ("Maria", "Giovanni"), ("", "Rossi")];
        for (a, b) in low {
            assert!(similarity(a, b) < 0.7, "{a} !~ {b}: {}", similarity(a, b));
        }
    }
}
