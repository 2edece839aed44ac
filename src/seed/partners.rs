//! The four demo partners, each with its own legacy schema and naming, and
//! how a synthetic population is written into each: who the partner knows,
//! what it records about them, and the imperfections real data have (names
//! typed wrong or in capitals, missing tax codes at the listening centre).

use fastrand::Rng;
use sqlx::SqlitePool;
use time::{Date, Duration, Month};
use trama_subject::{Sex, names};

use super::population::{Person, Population, typo};

/// A demo partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partner {
    /// The municipality's social services (cartella sociale).
    Comune,
    /// The health authority.
    Asl,
    /// The Caritas listening centre.
    Caritas,
    /// The union's CAF (ISEE declarations).
    Caf,
}

impl Partner {
    /// Every demo partner.
    pub const ALL: [Partner; 4] = [
        Partner::Comune,
        Partner::Asl,
        Partner::Caritas,
        Partner::Caf,
    ];

    /// The organisation id.
    pub fn organisation(self) -> &'static str {
        match self {
            Partner::Comune => "comune",
            Partner::Asl => "asl",
            Partner::Caritas => "caritas",
            Partner::Caf => "caf",
        }
    }

    /// The partner with organisation id `name`.
    pub fn parse(name: &str) -> Option<Partner> {
        Partner::ALL.into_iter().find(|p| p.organisation() == name)
    }

    /// The partner's legacy schema (SQLite DDL).
    pub fn schema(self) -> &'static str {
        match self {
            Partner::Comune => include_str!("../../connectors/examples/comune/schema.sqlite.sql"),
            Partner::Asl => include_str!("../../connectors/examples/asl/schema.sqlite.sql"),
            Partner::Caritas => include_str!("../../connectors/examples/caritas/schema.sqlite.sql"),
            Partner::Caf => include_str!("../../connectors/examples/caf/schema.sqlite.sql"),
        }
    }

    /// The partner's mapping file.
    pub fn mapping(self) -> &'static str {
        match self {
            Partner::Comune => include_str!("../../connectors/examples/comune/mapping.toml"),
            Partner::Asl => include_str!("../../connectors/examples/asl/mapping.toml"),
            Partner::Caritas => include_str!("../../connectors/examples/caritas/mapping.toml"),
            Partner::Caf => include_str!("../../connectors/examples/caf/mapping.toml"),
        }
    }

    /// Share of the population the partner knows, in percent.
    fn reach(self) -> u8 {
        match self {
            Partner::Comune => 55,
            Partner::Asl => 35,
            Partner::Caritas => 25,
            Partner::Caf => 45,
        }
    }

    /// Whether the partner knows `person`. The featured person is known
    /// everywhere.
    pub fn knows(self, person: &Person, seed: u64) -> bool {
        if person.index == 0 {
            return true;
        }
        let mut rng = Rng::with_seed(
            seed ^ (person.index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.reach() as u64,
        );
        rng.u8(..100) < self.reach()
    }
}

/// Creates the partner's schema in `pool` and writes the part of
/// `population` it knows. Returns how many people were written.
pub async fn seed(
    partner: Partner,
    pool: &SqlitePool,
    population: &Population,
    seed: u64,
) -> Result<usize, sqlx::Error> {
    sqlx::raw_sql(partner.schema()).execute(pool).await?;
    let mut rng = Rng::with_seed(seed.wrapping_add(partner.reach() as u64));
    let mut tx = pool.begin().await?;
    let mut count = 0;
    for person in population.people.iter().filter(|p| partner.knows(p, seed)) {
        let id = person.index as i64 + 1;
        match partner {
            Partner::Comune => comune(&mut tx, &mut rng, id, person).await?,
            Partner::Asl => asl(&mut tx, &mut rng, id, person).await?,
            Partner::Caritas => caritas(&mut tx, &mut rng, id, person).await?,
            Partner::Caf => caf(&mut tx, &mut rng, id, person).await?,
        }
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

fn iso(d: Date) -> String {
    d.to_string()
}

fn compact(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

fn dmy(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), u8::from(d.month()), d.year())
}

/// A date in the last few years before the demo's reference day.
fn recent(rng: &mut Rng) -> Date {
    let reference = Date::from_calendar_date(2026, Month::October, 31).unwrap_or(Date::MIN);
    reference - Duration::days(rng.i64(0..5 * 365))
}

fn stamp(rng: &mut Rng) -> String {
    format!(
        "{} {:02}:{:02}:00",
        iso(recent(rng)),
        rng.u8(8..19),
        rng.u8(0..60)
    )
}

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

const SOCIAL_WORKERS: &[&str] = &[
    "Laura Ferrari",
    "Marco Bassi",
    "Chiara Ghidini",
    "Paolo Guarneri",
    "Elena Ruggeri",
];

async fn comune(tx: &mut Tx<'_>, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    sqlx::query("INSERT INTO assistiti VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(id)
        .bind(p.tax_code.as_str())
        .bind(&p.family_name)
        .bind(&p.given_name)
        .bind(iso(p.birth_date))
        .bind(p.birthplace_code)
        .bind(if p.sex == Sex::Female { "F" } else { "M" })
        .bind(p.district)
        .bind(&p.address)
        .bind(stamp(rng))
        .execute(&mut **tx)
        .await?;
    let tenure = if featured {
        "ERP"
    } else {
        pick(
            rng,
            &[
                "PROP", "AFF_PRIV", "AFF_PRIV", "ERP", "OSPITE", "DORM", "SFD",
            ],
        )
    };
    let condition = if featured {
        "SOVRAFF"
    } else {
        pick(rng, &["ADEG", "ADEG", "SOVRAFF", "INAG", "SFRATTO"])
    };
    sqlx::query("INSERT INTO abitazioni VALUES (?, ?, ?, ?, ?, ?)")
        .bind(id * 10)
        .bind(id)
        .bind(tenure)
        .bind(condition)
        .bind(iso(recent(rng) - Duration::days(2000)))
        .bind(stamp(rng))
        .execute(&mut **tx)
        .await?;
    let members = rng.i64(1..6);
    sqlx::query("INSERT INTO nuclei VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(id * 10)
        .bind(id)
        .bind(members)
        .bind(rng.i64(0..members.max(2) - 1))
        .bind(match members {
            1 => "UNIP",
            2 => pick(rng, &["COPPIA", "MONOGEN"]),
            _ => pick(rng, &["COPPIA_FIGLI", "MONOGEN", "ESTESO"]),
        })
        .bind(if featured {
            "DISOCC"
        } else {
            pick(
                rng,
                &["OCC", "DISOCC", "DISOCC", "PENS", "STUD", "INATT", "INAB"],
            )
        })
        .bind(pick(rng, &["F0", "F1", "F1", "F2", "F3", "F4"]))
        .bind(stamp(rng))
        .execute(&mut **tx)
        .await?;
    let needs = if featured { 3 } else { rng.i64(1..4) };
    for n in 0..needs {
        let area = if featured {
            ["ABIT", "REDD", "SOLIT"][n as usize]
        } else {
            pick(
                rng,
                &[
                    "ABIT", "ALIM", "REDD", "LAV", "SAL", "DIP", "PSI", "DIS", "FAM", "SOLIT",
                    "LEG", "DEB", "UTEN",
                ],
            )
        };
        sqlx::query("INSERT INTO bisogni VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(id * 10 + n)
            .bind(id)
            .bind(area)
            .bind(rng.i64(1..4))
            .bind(iso(recent(rng)))
            .bind(if rng.u8(..100) < 75 { "S" } else { "N" })
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    for n in 0..rng.i64(0..3) {
        sqlx::query("INSERT INTO rete_sostegno VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id * 10 + n)
            .bind(id)
            .bind(pick(rng, &["PAR", "VIC", "VOL", "PARR", "ASS", "AMI"]))
            .bind(pick(
                rng,
                &[
                    "Sorella, visite settimanali",
                    "Vicina di casa, spesa",
                    "Volontario AUSER, accompagnamenti",
                    "Parrocchia di quartiere",
                    "Amico, sostegno morale",
                ],
            ))
            .bind(i64::from(rng.u8(..100) < 80))
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    let interventions = if featured { 2 } else { rng.i64(0..5) };
    for n in 0..interventions {
        let kind = if featured {
            ["CONTR_ECO", "SAD"][n as usize]
        } else {
            pick(
                rng,
                &["CONTR_ECO", "SAD", "PASTI", "SOST_ABIT", "TRASP", "EDU"],
            )
        };
        let start = recent(rng);
        let voucher = kind == "SAD" && rng.u8(..100) < 50;
        sqlx::query("INSERT INTO interventi VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id * 10 + n)
            .bind(id)
            .bind(kind)
            .bind(if kind == "SAD" {
                "Cooperativa Sociale Il Cerchio"
            } else {
                "Comune - Servizi Sociali"
            })
            .bind(iso(start))
            .bind(iso(start + Duration::days(rng.i64(0..180))))
            .bind((rng.u32(50..1500) as f64) + 0.5 * f64::from(rng.u8(..2)))
            .bind(voucher.then(|| format!("VS-{}-{:05}", start.year(), rng.u32(..100_000))))
            .bind(voucher.then_some(250.0))
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    if featured || rng.u8(..100) < 70 {
        let case_id = format!("CS-{}-{:05}", recent(rng).year(), id);
        sqlx::query("INSERT INTO cartelle VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(case_id)
            .bind(id)
            .bind(pick(
                rng,
                &[
                    "Servizio sociale adulti",
                    "Servizio anziani",
                    "Servizio minori e famiglie",
                ],
            ))
            .bind(if featured {
                "Laura Ferrari"
            } else {
                pick(rng, SOCIAL_WORKERS)
            })
            .bind(iso(recent(rng)))
            .bind(if featured {
                "APERTA"
            } else {
                pick(rng, &["APERTA", "APERTA", "SOSPESA", "CHIUSA"])
            })
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    if rng.u8(..100) < 3 {
        let start = recent(rng);
        sqlx::query("INSERT INTO provvedimenti_ag VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id * 10)
            .bind(id)
            .bind(pick(rng, &["ADS", "TUT", "CUR", "TM"]))
            .bind(pick(
                rng,
                &[
                    "Tribunale di Cremona",
                    "Tribunale per i Minorenni di Brescia",
                ],
            ))
            .bind(iso(start))
            .bind(None::<String>)
            .bind(pick(rng, &["Avv. Sara Conti", "Dott. Luca Rinaldi"]))
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn asl(tx: &mut Tx<'_>, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    sqlx::query("INSERT INTO ANAG_PAZIENTI VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(id + 500_000)
        .bind(p.tax_code.as_str())
        .bind(names::fold(&p.family_name))
        .bind(names::fold(&p.given_name))
        .bind(compact(p.birth_date))
        .bind(p.birthplace_code)
        .bind(if p.sex == Sex::Female { "2" } else { "1" })
        .bind(stamp(rng))
        .execute(&mut **tx)
        .await?;
    let pid = id + 500_000;
    if featured || rng.u8(..100) < 40 {
        let kind = if featured {
            "IC"
        } else {
            pick(rng, &["IC", "IC", "H3C1", "H3C3", "CIEC", "SORD"])
        };
        let recognised = recent(rng);
        sqlx::query("INSERT INTO INVALIDITA VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(pid * 10)
            .bind(pid)
            .bind(kind)
            .bind(if kind == "IC" {
                Some(if featured { 67 } else { rng.i64(34..101) })
            } else {
                None
            })
            .bind(compact(recognised))
            .bind(compact(recognised + Duration::days(3 * 365)))
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    if rng.u8(..100) < 30 {
        let start = recent(rng);
        sqlx::query("INSERT INTO PIANI_CURA VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(pid * 10)
            .bind(pid)
            .bind(pick(rng, &["PAI", "ADI", "PSI", "DIP"]))
            .bind(pick(
                rng,
                &[
                    "UOS Cure domiciliari",
                    "CPS Cremona",
                    "SerD Cremona",
                    "Equipe valutazione multidimensionale",
                ],
            ))
            .bind(compact(start))
            .bind(compact(start + Duration::days(365)))
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    if featured || rng.u8(..100) < 30 {
        let service = if featured {
            "CPS"
        } else {
            pick(rng, &["SERD", "NOA", "CPS", "CONS"])
        };
        let reason = match service {
            "SERD" => "DIP",
            "NOA" => "ALC",
            "CPS" => "PSI",
            _ => "FAM",
        };
        sqlx::query("INSERT INTO SEGNALAZIONI VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(pid * 10)
            .bind(pid)
            .bind(service)
            .bind(compact(recent(rng)))
            .bind(reason)
            .bind(pick(rng, &["R", "A", "C"]))
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn caritas(tx: &mut Tx<'_>, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    // Volunteers often write what they hear: no tax code, names misspelt,
    // apostrophes dropped.
    let no_code = featured || rng.u8(..100) < 20;
    let (family, given) = if featured {
        ("Dangelo".to_string(), "Giusepe".to_string())
    } else if rng.u8(..100) < 12 {
        if rng.bool() {
            (typo(rng, &p.family_name), p.given_name.clone())
        } else {
            (p.family_name.clone(), typo(rng, &p.given_name))
        }
    } else {
        (p.family_name.clone(), p.given_name.clone())
    };
    let cid = id + 900_000;
    sqlx::query("INSERT INTO persone VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(cid)
        .bind((!no_code).then(|| p.tax_code.as_str().to_string()))
        .bind(family)
        .bind(given)
        .bind(dmy(p.birth_date))
        .bind((rng.u8(..100) < 60).then_some(p.birthplace_code))
        .bind(if p.sex == Sex::Female {
            "Donna"
        } else {
            "Uomo"
        })
        .bind(iso(recent(rng)))
        .execute(&mut **tx)
        .await?;
    let helps = if featured { 4 } else { rng.i64(1..7) };
    for n in 0..helps {
        let kind = if featured {
            ["PACCO", "PACCO", "BOLLETTA", "ASCOLTO"][n as usize]
        } else {
            pick(
                rng,
                &[
                    "PACCO",
                    "PACCO",
                    "BOLLETTA",
                    "AFFITTO",
                    "VESTIARIO",
                    "ASCOLTO",
                ],
            )
        };
        let value = match kind {
            "PACCO" => Some(format!("{},{:02}", rng.u8(25..60), rng.u8(..100))),
            "BOLLETTA" => Some(format!("{},{:02}", rng.u16(60..400), rng.u8(..100))),
            "AFFITTO" => Some(format!("{},00", rng.u16(200..600))),
            _ => None,
        };
        sqlx::query("INSERT INTO aiuti VALUES (?, ?, ?, ?, ?, ?)")
            .bind(cid * 10 + n)
            .bind(cid)
            .bind(kind)
            .bind(dmy(recent(rng)))
            .bind(value)
            .bind(None::<String>)
            .execute(&mut **tx)
            .await?;
    }
    for n in 0..rng.i64(1..3) {
        sqlx::query("INSERT INTO bisogni_rilevati VALUES (?, ?, ?, ?)")
            .bind(cid * 10 + n)
            .bind(cid)
            .bind(pick(
                rng,
                &[
                    "CASA",
                    "CIBO",
                    "LAVORO",
                    "SALUTE",
                    "SOLITUDINE",
                    "DEBITI",
                    "BOLLETTE",
                ],
            ))
            .bind(dmy(recent(rng)))
            .execute(&mut **tx)
            .await?;
    }
    if featured || rng.u8(..100) < 30 {
        sqlx::query("INSERT INTO volontari_referenti VALUES (?, ?, ?, ?)")
            .bind(cid * 10)
            .bind(cid)
            .bind(pick(
                rng,
                &[
                    "Suor Maria",
                    "Giorgio (volontario)",
                    "Anna (volontaria)",
                    "Don Paolo",
                ],
            ))
            .bind(pick(
                rng,
                &["S. Agostino", "S. Abbondio", "Cattedrale", "S. Ambrogio"],
            ))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn caf(tx: &mut Tx<'_>, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    let did = id + 300_000;
    sqlx::query("INSERT INTO dichiaranti VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(did)
        .bind(p.tax_code.as_str())
        .bind(p.family_name.to_uppercase())
        .bind(p.given_name.to_uppercase())
        .bind(iso(p.birth_date))
        .bind(p.birthplace_code)
        .bind(if p.sex == Sex::Female { "F" } else { "M" })
        .execute(&mut **tx)
        .await?;
    let declarations = if featured { 2 } else { rng.i64(1..3) };
    for n in 0..declarations {
        let year = 2026 - n;
        let signed = Date::from_calendar_date(
            year as i32,
            Month::try_from(rng.u8(1..=10)).unwrap_or(Month::March),
            rng.u8(1..=28),
        )
        .unwrap_or(Date::MIN);
        let valid_until =
            Date::from_calendar_date(year as i32, Month::December, 31).unwrap_or(Date::MIN);
        let members = rng.i64(1..6);
        sqlx::query("INSERT INTO dsu VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(format!("INPS-ISEE-{year}-{:08}", did * 10 + n))
            .bind(did)
            .bind(if featured {
                "ORD"
            } else {
                pick(rng, &["ORD", "ORD", "ORD", "CORR", "MIN", "SOCSAN", "UNIV"])
            })
            .bind(if featured {
                485_000 - n * 20_000
            } else {
                rng.i64(0..3_500_000)
            })
            .bind(iso(signed))
            .bind(iso(valid_until))
            .bind(members)
            .bind(rng.i64(0..members))
            .bind(stamp(rng))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
