//! The five demo partners, each with its own legacy schema and naming, and
//! how a synthetic population is written into each: who the partner knows,
//! what it records about them, and the imperfections real data have (names
//! typed wrong or in capitals, missing tax codes at the listening centre).

use fastrand::Rng;
use time::{Date, Duration, Month, PrimitiveDateTime, Time};
use trama_subject::{Sex, names};

use super::population::{FEATURED_CASE, Person, Population, typo};
use super::sink::{Engine, SeedValue, Sink};

const ASSISTITI_COLUMNS: &[&str] = &[
    "id_assistito",
    "codice_fiscale",
    "cognome",
    "nome",
    "data_nascita",
    "comune_nascita",
    "sesso",
    "quartiere",
    "indirizzo",
    "dt_agg",
];
const ABITAZIONI_COLUMNS: &[&str] = &[
    "id_abitazione",
    "id_assistito",
    "titolo_godimento",
    "condizione",
    "dal",
    "dt_agg",
];
const NUCLEI_COLUMNS: &[&str] = &[
    "id_nucleo",
    "id_assistito",
    "n_componenti",
    "n_minori",
    "tipo_nucleo",
    "condizione_lav",
    "fascia_reddito",
    "dt_agg",
];
const BISOGNI_COLUMNS: &[&str] = &[
    "id_bisogno",
    "id_assistito",
    "area",
    "gravita",
    "data_rilevazione",
    "aperto",
    "dt_agg",
];
const RETE_SOSTEGNO_COLUMNS: &[&str] = &[
    "id_risorsa",
    "id_assistito",
    "tipo",
    "descrizione",
    "attiva",
    "dt_agg",
];
const INTERVENTI_COLUMNS: &[&str] = &[
    "id_intervento",
    "id_assistito",
    "tipo_intervento",
    "ente_erogatore",
    "data_inizio",
    "data_fine",
    "importo",
    "codice_voucher",
    "valore_voucher",
    "dt_agg",
];
const CARTELLE_COLUMNS: &[&str] = &[
    "id_cartella",
    "id_assistito",
    "servizio",
    "assistente_sociale",
    "data_apertura",
    "stato",
    "dt_agg",
];
const PROVVEDIMENTI_AG_COLUMNS: &[&str] = &[
    "id_provv",
    "id_assistito",
    "tipo",
    "tribunale",
    "dal",
    "al",
    "tutore",
    "dt_agg",
];
const ANAG_PAZIENTI_COLUMNS: &[&str] = &[
    "PAZ_ID",
    "PAZ_CF",
    "PAZ_COGNOME",
    "PAZ_NOME",
    "PAZ_DT_NASC",
    "PAZ_COD_CAT_NASC",
    "PAZ_SESSO",
    "PAZ_QUARTIERE",
    "DT_ULT_MOD",
];
const INVALIDITA_COLUMNS: &[&str] = &[
    "INV_ID",
    "PAZ_ID",
    "INV_TIPO",
    "INV_PERC",
    "INV_DT_RIC",
    "INV_DT_REV",
    "DT_ULT_MOD",
];
const PIANI_CURA_COLUMNS: &[&str] = &[
    "PC_ID",
    "PAZ_ID",
    "PC_TIPO",
    "PC_EQUIPE",
    "PC_DT_INIZIO",
    "PC_DT_FINE",
    "DT_ULT_MOD",
];
const SEGNALAZIONI_COLUMNS: &[&str] = &[
    "SEG_ID",
    "PAZ_ID",
    "SEG_SERVIZIO",
    "SEG_DATA",
    "SEG_MOTIVO",
    "SEG_STATO",
    "DT_ULT_MOD",
];
const PERSONE_COLUMNS: &[&str] = &[
    "id",
    "cf",
    "cognome",
    "nome",
    "nato_il",
    "luogo_nascita",
    "genere",
    "zona",
    "ultimo_colloquio",
];
const AIUTI_COLUMNS: &[&str] = &["id", "persona_id", "tipo", "data", "valore", "note"];
const BISOGNI_RILEVATI_COLUMNS: &[&str] = &["id", "persona_id", "bisogno", "data"];
const VOLONTARI_REFERENTI_COLUMNS: &[&str] = &["id", "persona_id", "referente", "parrocchia"];
const DICHIARANTI_COLUMNS: &[&str] = &[
    "id_dich",
    "codfis",
    "cognome",
    "nome",
    "dt_nascita",
    "cod_comune_nasc",
    "sesso",
    "quartiere",
];
const DSU_COLUMNS: &[&str] = &[
    "protocollo",
    "id_dich",
    "tipo_isee",
    "valore_isee_cent",
    "data_sottoscrizione",
    "scadenza",
    "n_componenti",
    "n_minori",
    "data_agg",
];
const ANAGRAFICA_UTENTI_COLUMNS: &[&str] = &[
    "cod_utente",
    "cod_fiscale",
    "cognome",
    "nome",
    "data_nascita",
    "comune_nascita",
    "sesso",
    "comune_residenza",
    "quartiere",
    "modificato",
];
const EROGAZIONI_COLUMNS: &[&str] = &[
    "id_erogazione",
    "cod_utente",
    "cod_servizio",
    "tipo",
    "cooperativa",
    "dal",
    "al",
    "quota_utente_cent",
    "codice_voucher",
    "valore_voucher_cent",
    "modificato",
];

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
    /// The consortium of social cooperatives (home care, meals, transport).
    Consorzio,
}

impl Partner {
    /// Every demo partner.
    pub const ALL: [Partner; 5] = [
        Partner::Comune,
        Partner::Asl,
        Partner::Caritas,
        Partner::Caf,
        Partner::Consorzio,
    ];

    /// The organisation id.
    pub fn organisation(self) -> &'static str {
        match self {
            Partner::Comune => "comune",
            Partner::Asl => "asl",
            Partner::Caritas => "caritas",
            Partner::Caf => "caf",
            Partner::Consorzio => "consorzio",
        }
    }

    /// Whether the partner's mapping has an inbox of referrals
    /// (`[referrals]`): the comune's social services and the consortium's
    /// cooperatives take them.
    pub fn takes_referrals(self) -> bool {
        matches!(self, Partner::Comune | Partner::Consorzio)
    }

    /// The partner with organisation id `name`.
    pub fn parse(name: &str) -> Option<Partner> {
        Partner::ALL.into_iter().find(|p| p.organisation() == name)
    }

    /// The partner's legacy schema for `engine`, if the partner runs on it.
    pub fn schema(self, engine: Engine) -> Option<&'static str> {
        match (self, engine) {
            (Partner::Comune, Engine::Sqlite) => Some(include_str!(
                "../../../connectors/examples/comune/schema.sqlite.sql"
            )),
            (Partner::Comune, Engine::Postgres) => Some(include_str!(
                "../../../connectors/examples/comune/schema.postgres.sql"
            )),
            (Partner::Asl, Engine::Sqlite) => Some(include_str!(
                "../../../connectors/examples/asl/schema.sqlite.sql"
            )),
            (Partner::Asl, Engine::MySql) => Some(include_str!(
                "../../../connectors/examples/asl/schema.mysql.sql"
            )),
            (Partner::Caritas, Engine::Sqlite) => Some(include_str!(
                "../../../connectors/examples/caritas/schema.sqlite.sql"
            )),
            (Partner::Caf, Engine::Sqlite) => Some(include_str!(
                "../../../connectors/examples/caf/schema.sqlite.sql"
            )),
            (Partner::Consorzio, Engine::Sqlite) => Some(include_str!(
                "../../../connectors/examples/consorzio/schema.sqlite.sql"
            )),
            _ => None,
        }
    }

    /// Indexes to create after loading, for engines whose schema file does
    /// not create them with the tables.
    pub fn indexes(self, engine: Engine) -> Option<&'static str> {
        match (self, engine) {
            (Partner::Comune, Engine::Postgres) => Some(include_str!(
                "../../../connectors/examples/comune/indexes.postgres.sql"
            )),
            (Partner::Asl, Engine::MySql) => Some(include_str!(
                "../../../connectors/examples/asl/indexes.mysql.sql"
            )),
            _ => None,
        }
    }

    /// The tables of the partner's schema, children first (the order to
    /// drop them in).
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Partner::Comune => &[
                "servizi",
                "provvedimenti_ag",
                "cartelle",
                "interventi",
                "rete_sostegno",
                "bisogni",
                "nuclei",
                "abitazioni",
                "assistiti",
            ],
            Partner::Asl => &["SEGNALAZIONI", "PIANI_CURA", "INVALIDITA", "ANAG_PAZIENTI"],
            Partner::Caritas => &[
                "servizi",
                "volontari_referenti",
                "bisogni_rilevati",
                "aiuti",
                "persone",
            ],
            Partner::Caf => &["sportelli", "dsu", "dichiaranti"],
            Partner::Consorzio => &["erogazioni", "catalogo", "anagrafica_utenti", "cooperative"],
        }
    }

    /// The partner's mapping file.
    pub fn mapping(self) -> &'static str {
        match self {
            Partner::Comune => include_str!("../../../connectors/examples/comune/mapping.toml"),
            Partner::Asl => include_str!("../../../connectors/examples/asl/mapping.toml"),
            Partner::Caritas => include_str!("../../../connectors/examples/caritas/mapping.toml"),
            Partner::Caf => include_str!("../../../connectors/examples/caf/mapping.toml"),
            Partner::Consorzio => {
                include_str!("../../../connectors/examples/consorzio/mapping.toml")
            }
        }
    }

    /// Share of the population the partner knows, in percent.
    fn reach(self) -> u8 {
        match self {
            Partner::Comune => 55,
            Partner::Asl => 35,
            Partner::Caritas => 25,
            Partner::Caf => 45,
            Partner::Consorzio => 15,
        }
    }

    /// The partner's local id for the person with population index
    /// `index` (each partner numbers people its own way).
    pub fn local_id(self, index: usize) -> String {
        let base: i64 = match self {
            Partner::Comune => 1,
            Partner::Asl => 500_001,
            Partner::Caritas => 900_001,
            Partner::Caf => 300_001,
            Partner::Consorzio => 700_001,
        };
        (base + index as i64).to_string()
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
    sink: &mut Sink,
    engine: Engine,
    population: &Population,
    selection: Selection,
    mut progress: impl FnMut(u64),
) -> Result<usize, SeedError> {
    let schema = partner.schema(engine).ok_or(SeedError::NoSchema {
        partner: partner.organisation(),
        engine: engine.name(),
    })?;
    sink.script(schema).await?;
    let seed = population.seed;
    let mut rng = Rng::with_seed(seed.wrapping_add(partner.reach() as u64));
    let mut count = 0;
    for person in &population.people {
        progress(1);
        if selection == Selection::Reach && !partner.knows(person, seed) {
            continue;
        }
        let id = person.index as i64 + 1;
        match partner {
            Partner::Comune => comune(sink, &mut rng, id, person).await?,
            Partner::Asl => asl(sink, &mut rng, id, person).await?,
            Partner::Caritas => caritas(sink, &mut rng, id, person).await?,
            Partner::Caf => caf(sink, &mut rng, id, person).await?,
            Partner::Consorzio => consorzio(sink, &mut rng, id, person).await?,
        }
        count += 1;
    }
    sink.finish().await?;
    if let Some(indexes) = partner.indexes(engine) {
        sink.script(indexes).await?;
    }
    Ok(count)
}

/// Which people of the population a partner gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The share the partner reaches (the demo's overlapping populations).
    Reach,
    /// Everyone (benchmarks and matching tests).
    Everyone,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The partner has no schema for that engine.
    #[error("partner {partner} has no {engine} schema (see connectors/examples/{partner}/)")]
    NoSchema {
        /// The partner.
        partner: &'static str,
        /// The engine.
        engine: &'static str,
    },
    /// The database refused.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
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

fn stamp(rng: &mut Rng) -> PrimitiveDateTime {
    let time = Time::from_hms(rng.u8(8..19), rng.u8(0..60), 0).unwrap_or(Time::MIDNIGHT);
    PrimitiveDateTime::new(recent(rng), time)
}

/// When a row was last updated, for a row about something that began on
/// `since`: between that day and the demo's reference day (a record is
/// never updated before what it records began). The same draws as
/// [`stamp`], so the rest of the data stays as it was.
fn stamp_since(rng: &mut Rng, since: Date) -> PrimitiveDateTime {
    let time = Time::from_hms(rng.u8(8..19), rng.u8(0..60), 0).unwrap_or(Time::MIDNIGHT);
    let reference = Date::from_calendar_date(2026, Month::October, 31).unwrap_or(Date::MIN);
    let back = rng.i64(0..5 * 365);
    let window = (reference - since).whole_days().max(0);
    PrimitiveDateTime::new(reference - Duration::days(back % (window + 1)), time)
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

async fn comune(sink: &mut Sink, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    sink.insert(
        "assistiti",
        ASSISTITI_COLUMNS,
        vec![
            SeedValue::from(id),
            SeedValue::from(p.tax_code.as_str()),
            SeedValue::from(&p.family_name),
            SeedValue::from(&p.given_name),
            SeedValue::from(p.birth_date),
            SeedValue::from(p.birthplace_code),
            SeedValue::from(if p.sex == Sex::Female { "F" } else { "M" }),
            SeedValue::from(p.district),
            SeedValue::from(&p.address),
            SeedValue::from(stamp(rng)),
        ],
    )
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
    let since = recent(rng) - Duration::days(2000);
    sink.insert(
        "abitazioni",
        ABITAZIONI_COLUMNS,
        vec![
            SeedValue::from(id * 10),
            SeedValue::from(id),
            SeedValue::from(tenure),
            SeedValue::from(condition),
            SeedValue::from(since),
            SeedValue::from(stamp_since(rng, since)),
        ],
    )
    .await?;
    let members = rng.i64(1..6);
    sink.insert(
        "nuclei",
        NUCLEI_COLUMNS,
        vec![
            SeedValue::from(id * 10),
            SeedValue::from(id),
            SeedValue::from(members),
            SeedValue::from(rng.i64(0..members.max(2) - 1)),
            SeedValue::from(match members {
                1 => "UNIP",
                2 => pick(rng, &["COPPIA", "MONOGEN"]),
                _ => pick(rng, &["COPPIA_FIGLI", "MONOGEN", "ESTESO"]),
            }),
            SeedValue::from(if featured {
                "DISOCC"
            } else {
                pick(
                    rng,
                    &["OCC", "DISOCC", "DISOCC", "PENS", "STUD", "INATT", "INAB"],
                )
            }),
            SeedValue::from(pick(rng, &["F0", "F1", "F1", "F2", "F3", "F4"])),
            SeedValue::from(stamp(rng)),
        ],
    )
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
        let severity = rng.i64(1..4);
        let identified = recent(rng);
        let active = if rng.u8(..100) < 75 { "S" } else { "N" };
        sink.insert(
            "bisogni",
            BISOGNI_COLUMNS,
            vec![
                SeedValue::from(id * 10 + n),
                SeedValue::from(id),
                SeedValue::from(area),
                SeedValue::from(severity),
                SeedValue::from(identified),
                SeedValue::from(active),
                SeedValue::from(stamp_since(rng, identified)),
            ],
        )
        .await?;
    }
    for n in 0..rng.i64(0..3) {
        sink.insert(
            "rete_sostegno",
            RETE_SOSTEGNO_COLUMNS,
            vec![
                SeedValue::from(id * 10 + n),
                SeedValue::from(id),
                SeedValue::from(pick(rng, &["PAR", "VIC", "VOL", "PARR", "ASS", "AMI"])),
                SeedValue::from(pick(
                    rng,
                    &[
                        "Sorella, visite settimanali",
                        "Vicina di casa, spesa",
                        "Volontario AUSER, accompagnamenti",
                        "Parrocchia di quartiere",
                        "Amico, sostegno morale",
                    ],
                )),
                SeedValue::from(i64::from(rng.u8(..100) < 80)),
                SeedValue::from(stamp(rng)),
            ],
        )
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
        sink.insert(
            "interventi",
            INTERVENTI_COLUMNS,
            vec![
                SeedValue::from(id * 10 + n),
                SeedValue::from(id),
                SeedValue::from(kind),
                SeedValue::from(if kind == "SAD" {
                    "Cooperativa Sociale Il Cerchio"
                } else {
                    "Comune - Servizi Sociali"
                }),
                SeedValue::from(start),
                SeedValue::from(start + Duration::days(rng.i64(0..180))),
                SeedValue::from((rng.u32(50..1500) as f64) + 0.5 * f64::from(rng.u8(..2))),
                SeedValue::from(
                    voucher.then(|| format!("VS-{}-{:05}", start.year(), rng.u32(..100_000))),
                ),
                SeedValue::from(voucher.then_some(250.0)),
                SeedValue::from(stamp_since(rng, start)),
            ],
        )
        .await?;
    }
    if featured || rng.u8(..100) < 70 {
        let year = recent(rng).year();
        let case_id = if featured {
            FEATURED_CASE.to_string()
        } else {
            format!("CS-{year}-{id:05}")
        };
        let service = pick(
            rng,
            &[
                "Servizio sociale adulti",
                "Servizio anziani",
                "Servizio minori e famiglie",
            ],
        );
        let manager = if featured {
            "Laura Ferrari"
        } else {
            pick(rng, SOCIAL_WORKERS)
        };
        let opened = recent(rng);
        let status = if featured {
            "APERTA"
        } else {
            pick(rng, &["APERTA", "APERTA", "SOSPESA", "CHIUSA"])
        };
        sink.insert(
            "cartelle",
            CARTELLE_COLUMNS,
            vec![
                SeedValue::from(case_id),
                SeedValue::from(id),
                SeedValue::from(service),
                SeedValue::from(manager),
                SeedValue::from(opened),
                SeedValue::from(status),
                SeedValue::from(stamp_since(rng, opened)),
            ],
        )
        .await?;
    }
    if rng.u8(..100) < 3 {
        let start = recent(rng);
        sink.insert(
            "provvedimenti_ag",
            PROVVEDIMENTI_AG_COLUMNS,
            vec![
                SeedValue::from(id * 10),
                SeedValue::from(id),
                SeedValue::from(pick(rng, &["ADS", "TUT", "CUR", "TM"])),
                SeedValue::from(pick(
                    rng,
                    &[
                        "Tribunale di Cremona",
                        "Tribunale per i Minorenni di Brescia",
                    ],
                )),
                SeedValue::from(start),
                SeedValue::from(None::<String>),
                SeedValue::from(pick(rng, &["Avv. Sara Conti", "Dott. Luca Rinaldi"])),
                SeedValue::from(stamp_since(rng, start)),
            ],
        )
        .await?;
    }
    Ok(())
}

async fn asl(sink: &mut Sink, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    sink.insert(
        "ANAG_PAZIENTI",
        ANAG_PAZIENTI_COLUMNS,
        vec![
            SeedValue::from(id + 500_000),
            SeedValue::from(p.tax_code.as_str()),
            SeedValue::from(names::fold(&p.family_name)),
            SeedValue::from(names::fold(&p.given_name)),
            SeedValue::from(compact(p.birth_date)),
            SeedValue::from(p.birthplace_code),
            SeedValue::from(if p.sex == Sex::Female { "2" } else { "1" }),
            SeedValue::from(p.district),
            SeedValue::from(stamp(rng)),
        ],
    )
    .await?;
    let pid = id + 500_000;
    if featured || rng.u8(..100) < 40 {
        let kind = if featured {
            "IC"
        } else {
            pick(rng, &["IC", "IC", "H3C1", "H3C3", "CIEC", "SORD"])
        };
        let recognised = recent(rng);
        sink.insert(
            "INVALIDITA",
            INVALIDITA_COLUMNS,
            vec![
                SeedValue::from(pid * 10),
                SeedValue::from(pid),
                SeedValue::from(kind),
                SeedValue::from(if kind == "IC" {
                    Some(if featured { 67 } else { rng.i64(34..101) })
                } else {
                    None
                }),
                SeedValue::from(compact(recognised)),
                SeedValue::from(compact(recognised + Duration::days(3 * 365))),
                SeedValue::from(stamp_since(rng, recognised)),
            ],
        )
        .await?;
    }
    if rng.u8(..100) < 30 {
        let start = recent(rng);
        sink.insert(
            "PIANI_CURA",
            PIANI_CURA_COLUMNS,
            vec![
                SeedValue::from(pid * 10),
                SeedValue::from(pid),
                SeedValue::from(pick(rng, &["PAI", "ADI", "PSI", "DIP"])),
                SeedValue::from(pick(
                    rng,
                    &[
                        "UOS Cure domiciliari",
                        "CPS Cremona",
                        "SerD Cremona",
                        "Equipe valutazione multidimensionale",
                    ],
                )),
                SeedValue::from(compact(start)),
                SeedValue::from(compact(start + Duration::days(365))),
                SeedValue::from(stamp_since(rng, start)),
            ],
        )
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
        let reported = recent(rng);
        let state = pick(rng, &["R", "A", "C"]);
        sink.insert(
            "SEGNALAZIONI",
            SEGNALAZIONI_COLUMNS,
            vec![
                SeedValue::from(pid * 10),
                SeedValue::from(pid),
                SeedValue::from(service),
                SeedValue::from(compact(reported)),
                SeedValue::from(reason),
                SeedValue::from(state),
                SeedValue::from(stamp_since(rng, reported)),
            ],
        )
        .await?;
    }
    Ok(())
}

async fn caritas(sink: &mut Sink, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
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
    sink.insert(
        "persone",
        PERSONE_COLUMNS,
        vec![
            SeedValue::from(cid),
            SeedValue::from((!no_code).then(|| p.tax_code.as_str().to_string())),
            SeedValue::from(family),
            SeedValue::from(given),
            SeedValue::from(dmy(p.birth_date)),
            SeedValue::from((rng.u8(..100) < 60).then_some(p.birthplace_code)),
            SeedValue::from(if p.sex == Sex::Female {
                "Donna"
            } else {
                "Uomo"
            }),
            // Seven people in ten tell the volunteer where they live.
            SeedValue::from((featured || p.index % 10 < 7).then_some(p.district)),
            SeedValue::from(recent(rng)),
        ],
    )
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
        sink.insert(
            "aiuti",
            AIUTI_COLUMNS,
            vec![
                SeedValue::from(cid * 10 + n),
                SeedValue::from(cid),
                SeedValue::from(kind),
                SeedValue::from(dmy(recent(rng))),
                SeedValue::from(value),
                SeedValue::from(None::<String>),
            ],
        )
        .await?;
    }
    for n in 0..rng.i64(1..3) {
        sink.insert(
            "bisogni_rilevati",
            BISOGNI_RILEVATI_COLUMNS,
            vec![
                SeedValue::from(cid * 10 + n),
                SeedValue::from(cid),
                SeedValue::from(pick(
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
                )),
                SeedValue::from(dmy(recent(rng))),
            ],
        )
        .await?;
    }
    if featured || rng.u8(..100) < 30 {
        sink.insert(
            "volontari_referenti",
            VOLONTARI_REFERENTI_COLUMNS,
            vec![
                SeedValue::from(cid * 10),
                SeedValue::from(cid),
                SeedValue::from(pick(
                    rng,
                    &[
                        "Suor Maria",
                        "Giorgio (volontario)",
                        "Anna (volontaria)",
                        "Don Paolo",
                    ],
                )),
                SeedValue::from(pick(
                    rng,
                    &["S. Agostino", "S. Abbondio", "Cattedrale", "S. Ambrogio"],
                )),
            ],
        )
        .await?;
    }
    Ok(())
}

async fn caf(sink: &mut Sink, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    let did = id + 300_000;
    sink.insert(
        "dichiaranti",
        DICHIARANTI_COLUMNS,
        vec![
            SeedValue::from(did),
            SeedValue::from(p.tax_code.as_str()),
            SeedValue::from(p.family_name.to_uppercase()),
            SeedValue::from(p.given_name.to_uppercase()),
            SeedValue::from(p.birth_date),
            SeedValue::from(p.birthplace_code),
            SeedValue::from(if p.sex == Sex::Female { "F" } else { "M" }),
            SeedValue::from(p.district),
        ],
    )
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
        sink.insert(
            "dsu",
            DSU_COLUMNS,
            vec![
                SeedValue::from(format!("INPS-ISEE-{year}-{:08}", did * 10 + n)),
                SeedValue::from(did),
                SeedValue::from(if featured {
                    "ORD"
                } else {
                    pick(rng, &["ORD", "ORD", "ORD", "CORR", "MIN", "SOCSAN", "UNIV"])
                }),
                SeedValue::from(if featured {
                    485_000 - n * 20_000
                } else {
                    rng.i64(0..3_500_000)
                }),
                SeedValue::from(signed),
                SeedValue::from(valid_until),
                SeedValue::from(members),
                SeedValue::from(rng.i64(0..members)),
                SeedValue::from(stamp_since(rng, signed)),
            ],
        )
        .await?;
    }
    Ok(())
}

/// A user of the cooperatives: home care, meals or transport, paid in part
/// by the family and sometimes by the comune's work-life voucher.
async fn consorzio(sink: &mut Sink, rng: &mut Rng, id: i64, p: &Person) -> Result<(), sqlx::Error> {
    let featured = p.index == 0;
    let uid = id + 700_000;
    sink.insert(
        "anagrafica_utenti",
        ANAGRAFICA_UTENTI_COLUMNS,
        vec![
            SeedValue::from(uid),
            SeedValue::from(p.tax_code.as_str()),
            SeedValue::from(&p.family_name),
            SeedValue::from(&p.given_name),
            SeedValue::from(compact(p.birth_date)),
            SeedValue::from(p.birthplace_code),
            SeedValue::from(if p.sex == Sex::Female { "F" } else { "M" }),
            SeedValue::from("D150"),
            SeedValue::from(p.district),
            SeedValue::from(stamp(rng)),
        ],
    )
    .await?;
    let deliveries = if featured { 2 } else { rng.i64(1..4) };
    for n in 0..deliveries {
        let (service, kind) = if featured {
            [("GAB-SAD", "DOM"), ("GAB-PASTI", "PASTI")][n as usize]
        } else {
            *[
                ("GAB-SAD", "DOM"),
                ("GAB-PASTI", "PASTI"),
                ("GAB-TRASP", "TRASP"),
            ]
            .get(rng.usize(..3))
            .unwrap_or(&("GAB-SAD", "DOM"))
        };
        let from = recent(rng);
        let voucher = kind == "DOM" && (featured || rng.u8(..100) < 30);
        sink.insert(
            "erogazioni",
            EROGAZIONI_COLUMNS,
            vec![
                SeedValue::from(uid * 10 + n),
                SeedValue::from(uid),
                SeedValue::from(service),
                SeedValue::from(kind),
                SeedValue::from("GAB"),
                SeedValue::from(compact(from)),
                SeedValue::from(compact(from + Duration::days(rng.i64(30..365)))),
                SeedValue::from(rng.i64(0..40) * 500),
                SeedValue::from(
                    voucher.then(|| format!("VCL-{}-{:05}", from.year(), uid % 100_000)),
                ),
                SeedValue::from(voucher.then_some(40_000_i64)),
                SeedValue::from(stamp_since(rng, from)),
            ],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each table whose rows record when something began (the column at
    /// that index) and when the row was last updated (its last column).
    const BEGUN: &[(&str, &[&str], usize)] = &[
        ("abitazioni", ABITAZIONI_COLUMNS, 4),
        ("bisogni", BISOGNI_COLUMNS, 4),
        ("interventi", INTERVENTI_COLUMNS, 4),
        ("cartelle", CARTELLE_COLUMNS, 4),
        ("provvedimenti_ag", PROVVEDIMENTI_AG_COLUMNS, 4),
        ("INVALIDITA", INVALIDITA_COLUMNS, 4),
        ("PIANI_CURA", PIANI_CURA_COLUMNS, 4),
        ("SEGNALAZIONI", SEGNALAZIONI_COLUMNS, 3),
        ("dsu", DSU_COLUMNS, 4),
        ("erogazioni", EROGAZIONI_COLUMNS, 5),
    ];

    /// The day a stored date or time stands for, as `YYYYMMDD`.
    fn day(text: &str) -> String {
        text.chars().filter(char::is_ascii_digit).take(8).collect()
    }

    #[tokio::test]
    async fn no_row_is_updated_before_what_it_records_began() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("a temporary directory")
        };
        let people = crate::seed::generate(7, 400);
        let mut checked = 0;
        for partner in Partner::ALL {
            let url = format!(
                "sqlite://{}",
                dir.path()
                    .join(format!("{}.db", partner.organisation()))
                    .display()
            );
            let Ok(mut sink) = Sink::connect(&url).await else {
                panic!("{url}")
            };
            let seeded = seed(
                partner,
                &mut sink,
                Engine::Sqlite,
                &people,
                Selection::Everyone,
                |_| {},
            )
            .await;
            assert!(seeded.is_ok(), "{seeded:?}");
            sink.close().await;
            let Ok(pool) = sqlx::SqlitePool::connect(&url).await else {
                panic!("{url}")
            };
            for (table, columns, began) in BEGUN
                .iter()
                .filter(|(t, _, _)| partner.tables().contains(t))
            {
                let (start, updated) = (columns[*began], columns[columns.len() - 1]);
                let sql =
                    format!("SELECT CAST({start} AS TEXT), CAST({updated} AS TEXT) FROM {table}");
                let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{table}: {e}"));
                for (began, last) in &rows {
                    assert!(
                        day(began) <= day(last),
                        "{table}: began {began}, updated {last}"
                    );
                }
                checked += rows.len();
            }
            pool.close().await;
        }
        assert!(checked > 1000, "rows checked: {checked}");
    }
}
