//! A synthetic population: people with realistic Italian (and foreign) names,
//! birth dates, real Belfiore birthplaces and valid tax codes, including
//! omocodic ones where two people would share a code. Deterministic from a
//! seed.

use std::collections::HashMap;

use fastrand::Rng;
use time::{Date, Month};
use trama_subject::codice_fiscale::{self, Person as CfPerson};
use trama_subject::{Sex, TaxCode, belfiore, names};

/// Common Italian surnames, with apostrophes, particles and a few double
/// surnames, plus surnames of the main foreign communities.
const SURNAMES: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
    "Longo",
    "Gentile",
    "Martinelli",
    "Vitale",
    "Lombardo",
    "Serra",
    "Coppola",
    "De Santis",
    "D'Angelo",
    "Marchetti",
    "Parisi",
    "Villa",
    "Conte",
    "Ferraro",
    "Ferri",
    "Fabbri",
    "Bianco",
    "Marini",
    "Grasso",
    "Valentini",
    "Messina",
    "Sala",
    "De Angelis",
    "Gatti",
    "Pellegrini",
    "Palumbo",
    "Sanna",
    "Farina",
    "Rizzi",
    "Monti",
    "Cattaneo",
    "Morelli",
    "Amato",
    "Silvestri",
    "Mazza",
    "Testa",
    "Grassi",
    "Pellegrino",
    "Carbone",
    "Giuliani",
    "Benedetti",
    "Barone",
    "Rossetti",
    "Caputo",
    "Montanari",
    "Guerra",
    "Palmieri",
    "Bernardi",
    "Martino",
    "Fiore",
    "De Rosa",
    "Ferretti",
    "Bellini",
    "Basile",
    "Riva",
    "Donati",
    "Piras",
    "Vitali",
    "Battaglia",
    "Sartori",
    "Neri",
    "Costantini",
    "Milani",
    "Pagano",
    "Ruggiero",
    "Sorrentino",
    "D'Amico",
    "Orlando",
    "Damico",
    "Negri",
    "Dell'Acqua",
    "Lo Russo",
    "Di Stefano",
    "Dall'Olio",
    "Zanetti",
    "Bassi",
    "Ghidini",
    "Guarneri",
    "Ruggeri",
    "Bonetti",
    "Rossi Bianchi",
    "Ferrari Colombo",
    "Della Valle",
    "Lo Monaco",
    "Sant'Ambrogio",
];

/// Stems and endings of Italian surnames: with the common surnames above,
/// about five thousand surnames, so that namesakes are about as rare as in
/// a real municipality.
const STEMS: &[&str] = &[
    "Bert", "Mar", "Ross", "Bianc", "Ferr", "Gall", "Colomb", "Ricc", "Sant", "Bell", "Mor",
    "Cost", "Giord", "Lomb", "Pell", "Cap", "Cas", "Ser", "Tor", "Val", "Vit", "Zan", "Bon",
    "Brun", "Carl", "Fior", "Gran", "Lucch", "Manz", "Nard", "Orl", "Pag", "Rin", "Sal", "Tess",
    "Vig", "Barb", "Benedett", "Bors", "Cald", "Camp", "Cant", "Cerv", "Ciocc", "Cort", "Crem",
    "Dott", "Fabr", "Fass", "Ferrar", "Foss", "Franc", "Gatt", "Ghid", "Gius", "Grim", "Guarn",
    "Lanz", "Lor", "Mald", "Mang", "Marc", "Mart", "Mazz", "Melon", "Mont", "Negr", "Pasin",
    "Pedr", "Piccin", "Poll", "Quart", "Ragg", "Rovett", "Sacch", "Sald", "Scalv", "Sforz",
    "Signor", "Soncin", "Spin", "Stanz", "Tagl", "Tomasin", "Trev", "Uberti", "Vacch", "Vailat",
    "Verd", "Zacch", "Zucc", "Agost", "Albert", "Anton", "Ardigò", "Bald", "Bassan", "Bernard",
    "Boccal", "Bolz", "Brambill", "Bresc", "Calv", "Capell", "Carnev", "Castell", "Cavall",
    "Cominett", "Corb", "Dall", "Erb", "Fant", "Farin", "Fogl", "Frig", "Gallin", "Ghil", "Gorn",
    "Lav", "Locatell", "Madd", "Mainard", "Manfred", "Marchett", "Mass", "Merl", "Moll", "Mussin",
    "Ogn", "Oliv", "Pandin", "Pezz", "Piazz", "Pont", "Rav", "Riz", "Rob", "Rug", "Sart", "Savold",
    "Sbard", "Sped", "Tamb", "Tedold", "Tinell", "Vall", "Zamb", "Zanard",
];
const ENDINGS: &[&str] = &[
    "ini", "etti", "elli", "oni", "ato", "ari", "esi", "otti", "ucci", "azzi", "ieri", "one",
    "ale", "ese", "ino", "ello", "etto", "ardi", "ani", "oli", "iero", "aro", "acci", "ozzi",
    "uzzi", "ola", "ilio", "a", "i", "o",
];

/// A surname: a quarter of people carry one of the common surnames, the
/// rest one of the many less common ones.
fn surname(rng: &mut Rng) -> String {
    if rng.u8(..100) < 25 {
        return SURNAMES[rng.usize(..SURNAMES.len())].to_string();
    }
    let stem = STEMS[rng.usize(..STEMS.len())];
    let ending = ENDINGS[rng.usize(..ENDINGS.len())];
    let stem = stem.trim_end_matches(['a', 'e', 'i', 'o', 'u']);
    match rng.u8(..100) {
        0..4 => format!("De {stem}{ending}"),
        4..6 => format!("Di {stem}{ending}"),
        6..8 => format!("Lo {stem}{ending}"),
        _ => format!("{stem}{ending}"),
    }
}

const FOREIGN: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "Z129",
        "Romania",
        &["Popescu", "Ionescu", "Popa", "Dumitru", "Stan"],
        &["Andrei", "Ioana", "Mihai", "Elena"],
    ),
    (
        "Z330",
        "Marocco",
        &["El Amrani", "Benali", "Haddad", "Bouzid"],
        &["Mohamed", "Fatima", "Youssef", "Khadija"],
    ),
    (
        "Z100",
        "Albania",
        &["Hoxha", "Shehu", "Kola", "Dervishi"],
        &["Arben", "Elira", "Besnik", "Ardita"],
    ),
    (
        "Z222",
        "India",
        &["Singh", "Kaur", "Kumar", "Sharma"],
        &["Gurpreet", "Harpreet", "Rajesh", "Simran"],
    ),
    (
        "Z138",
        "Ucraina",
        &["Shevchenko", "Kovalenko", "Bondarenko"],
        &["Olena", "Oksana", "Taras", "Iryna"],
    ),
    (
        "Z343",
        "Senegal",
        &["Diop", "Ndiaye", "Fall", "Sow"],
        &["Mamadou", "Awa", "Cheikh", "Fatou"],
    ),
];

/// The quarters of the demo city, used as districts.
pub const DISTRICTS: &[&str] = &[
    "Centro",
    "Cambonino",
    "Zaist",
    "Po",
    "San Bernardo",
    "Boschetto",
    "Maristella",
    "Borgo Loreto",
];

const STREETS: &[&str] = &[
    "Via Mazzini",
    "Via Garibaldi",
    "Corso Vittorio Emanuele",
    "Via Dante",
    "Via Verdi",
    "Via Bergamo",
    "Via Brescia",
    "Via Giordano",
    "Via Milano",
    "Viale Po",
];

/// Given names with their sex.
type Names = Vec<(&'static str, Sex)>;

/// One synthetic person.
#[derive(Debug, Clone)]
pub struct Person {
    /// Index in the population.
    pub index: usize,
    /// Family name(s), as on the identity card.
    pub family_name: String,
    /// Given name(s).
    pub given_name: String,
    /// Sex.
    pub sex: Sex,
    /// Birth date.
    pub birth_date: Date,
    /// Belfiore code of the birthplace.
    pub birthplace_code: &'static str,
    /// The person's tax code (omocodic where it had to be).
    pub tax_code: TaxCode,
    /// District of residence.
    pub district: &'static str,
    /// Street address.
    pub address: String,
}

/// A generated population; person 0 is the walkthrough's featured person.
#[derive(Debug, Clone)]
pub struct Population {
    /// The seed it was generated from.
    pub seed: u64,
    /// Everyone.
    pub people: Vec<Person>,
}

/// The person the demo walkthrough follows across partners.
pub const FEATURED: (&str, &str, (i32, u8, u8), Sex, &str) =
    ("D'Angelo", "Giuseppe", (1958, 7, 14), Sex::Male, "D150");

/// The featured person's open case at the comune: the case the demo's
/// social worker states when taking the person in charge.
pub const FEATURED_CASE: &str = "CS-DEMO-0001";

/// Generates `n` people (at least 1) from `seed`.
pub fn generate(seed: u64, n: usize) -> Population {
    let mut rng = Rng::with_seed(seed);
    let given = names::given_names();
    let (female, male): (Names, Names) = given.iter().partition(|(_, s)| *s == Sex::Female);
    let local: Vec<&'static str> = belfiore::active_municipalities()
        .into_iter()
        .filter(|p| p.province == "CR")
        .map(|p| p.code)
        .collect();
    let italy: Vec<&'static str> = belfiore::active_municipalities()
        .into_iter()
        .map(|p| p.code)
        .collect();
    let mut people = Vec::with_capacity(n.max(1));
    let mut codes: HashMap<String, usize> = HashMap::new();
    for index in 0..n.max(1) {
        let (family_name, given_name, birth_date, sex, birthplace_code): (
            String,
            String,
            Date,
            Sex,
            &'static str,
        ) = if index == 0 {
            let (f, g, (y, m, d), s, p) = FEATURED;
            let birth =
                Date::from_calendar_date(y, Month::try_from(m).unwrap_or(Month::January), d)
                    .unwrap_or(Date::MIN);
            (f.to_string(), g.to_string(), birth, s, p)
        } else {
            let sex = if rng.bool() { Sex::Female } else { Sex::Male };
            let birth = random_birth(&mut rng);
            if rng.u8(..100) < 10 {
                let (place, _, surnames, givens) = FOREIGN[rng.usize(..FOREIGN.len())];
                let family = surnames[rng.usize(..surnames.len())];
                let given = givens[rng.usize(..givens.len())];
                (family.to_string(), given.to_string(), birth, sex, place)
            } else {
                let pool = if sex == Sex::Female { &female } else { &male };
                let mut given = pool[rng.usize(..pool.len())].0.to_string();
                if rng.u8(..100) < 5 {
                    given = format!("{given} {}", pool[rng.usize(..pool.len())].0);
                }
                let family = surname(&mut rng);
                let place = if rng.u8(..100) < 70 || italy.is_empty() {
                    local
                        .get(rng.usize(..local.len().max(1)))
                        .copied()
                        .unwrap_or("D150")
                } else {
                    italy[rng.usize(..italy.len())]
                };
                (family, given, birth, sex, place)
            }
        };
        let cf = CfPerson {
            family_name: &family_name,
            given_name: &given_name,
            birth_date,
            sex,
            birthplace_code,
        };
        let Ok(base) = codice_fiscale::compute(&cf) else {
            continue;
        };
        // Omocodia: the revenue agency gives the second holder of a code a
        // variant; a few more variants exist from past collisions.
        let seen = codes.entry(base.as_str().to_string()).or_insert(0);
        let level = if *seen > 0 {
            *seen
        } else if index > 0 && rng.u8(..100) < 2 {
            1
        } else {
            0
        };
        // The next holder of this base code gets the next variant, also
        // after a first holder given a variant.
        *seen = level + 1;
        let tax_code = if level > 0 {
            codice_fiscale::omocode(&base, level)
        } else {
            base
        };
        people.push(Person {
            index: people.len(),
            family_name,
            given_name,
            sex,
            birth_date,
            birthplace_code,
            tax_code,
            district: DISTRICTS[rng.usize(..DISTRICTS.len())],
            address: format!(
                "{} {}",
                STREETS[rng.usize(..STREETS.len())],
                rng.u16(1..180)
            ),
        });
    }
    Population { seed, people }
}

fn random_birth(rng: &mut Rng) -> Date {
    let year = rng.i32(1935..2006);
    let month = Month::try_from(rng.u8(1..=12)).unwrap_or(Month::January);
    let day = rng.u8(1..=time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN)
}

/// A plausible typing mistake in a name: two letters swapped, one dropped,
/// one doubled, or the apostrophe and accents lost.
pub fn typo(rng: &mut Rng, name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() < 4 {
        return name.to_string();
    }
    let i = rng.usize(1..chars.len() - 2);
    let mut out = chars.clone();
    match rng.u8(..4) {
        0 => out.swap(i, i + 1),
        1 => {
            out.remove(i);
        }
        2 => out.insert(i, chars[i]),
        _ => return names::fold(name).replace(' ', ""),
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_codes_stay_unique_in_a_large_population() {
        // Large enough for base codes to collide after a first holder was
        // given a variant (what partners with a unique index refuse).
        let people = generate(2026, 100_000).people;
        let distinct: std::collections::HashSet<_> =
            people.iter().map(|p| p.tax_code.as_str()).collect();
        assert_eq!(distinct.len(), people.len());
    }

    #[test]
    fn deterministic_valid_and_with_omocodia() {
        let a = generate(7, 3000);
        let b = generate(7, 3000);
        assert_eq!(a.people.len(), 3000);
        assert!(
            a.people
                .iter()
                .zip(&b.people)
                .all(|(x, y)| x.tax_code == y.tax_code && x.given_name == y.given_name)
        );
        for p in &a.people {
            assert_eq!(
                TaxCode::parse(p.tax_code.as_str()).as_ref(),
                Ok(&p.tax_code)
            );
        }
        let omocodic = a.people.iter().filter(|p| p.tax_code.is_omocodic()).count();
        assert!(omocodic >= 20, "omocodic codes: {omocodic}");
        let distinct: std::collections::HashSet<_> =
            a.people.iter().map(|p| p.tax_code.as_str()).collect();
        assert_eq!(distinct.len(), a.people.len(), "tax codes are unique");
        assert_eq!(a.people[0].family_name, "D'Angelo");
        assert_ne!(generate(8, 10).people[1].tax_code, a.people[1].tax_code);
    }
}
