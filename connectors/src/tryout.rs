//! `trama connector try`: a mapping run against its database with no
//! certificate, no gateway and no audit log, for an integrator's quick
//! loop. The mapping is checked against the database as at start, then a
//! person is looked for (by tax code, local id, or names and birth date),
//! the best candidate's record is read in every section the mapping
//! declares, the statistics facts and the offer of services are read
//! whole; each answer is what the gateway would receive. Every value that
//! does not convert is counted by its mapping key instead of being dropped
//! unseen (at run time it is skipped and logged), so a missing
//! `date_format` shows at once.

use time::Date;
use trama_proto::v1;
use trama_subject::TaxCode;
use trama_subject::matching::Traits;

use crate::ConnectorError;
use crate::config::ConnectorConfig;
use crate::error::CallError;
use crate::model::{Lookup, RecordKey};
use crate::runtime::{Connector, Skipped};
use crate::to_proto::{self, Origin};

/// Whom to look for.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// A tax code.
    pub tax_code: Option<String>,
    /// The partner's own id.
    pub local_id: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Birth date.
    pub birth_date: Option<Date>,
}

/// Why a try stopped.
#[derive(Debug, thiserror::Error)]
pub enum TryError {
    /// The connector could not be brought up (configuration, mapping,
    /// database, or the mapping does not fit the database).
    #[error(transparent)]
    Start(Box<ConnectorError>),
    /// A call failed against the database.
    #[error("{call}: {source}")]
    Call {
        /// The call (`MatchSubject`, `FetchRecord`, ...).
        call: &'static str,
        /// What failed.
        source: CallError,
    },
    /// Nobody to look for.
    #[error(
        "say whom to look for: --tax-code, --local-id, or --family-name with --given-name or --birth-date"
    )]
    NoOne,
    /// The tax code given is not one.
    #[error("--tax-code: {0}")]
    TaxCode(String),
}

impl From<ConnectorError> for TryError {
    fn from(e: ConnectorError) -> TryError {
        TryError::Start(Box::new(e))
    }
}

/// What a try found: each answer as the gateway would receive it.
#[derive(Debug, Default)]
pub struct Tried {
    /// The partner.
    pub organisation: String,
    /// The sections the mapping declares.
    pub sections: Vec<v1::Section>,
    /// `MatchSubject`'s answer.
    pub found: v1::MatchSubjectResponse,
    /// `FetchRecord`'s answer for the best candidate, if there is one.
    pub record: Option<v1::FetchRecordResponse>,
    /// Statistics facts read (every fact query's), if the mapping counts
    /// any.
    pub facts: Option<usize>,
    /// Services in the offer, and rows left out of it with why.
    pub services: (usize, Vec<v1::OfferProblem>),
    /// Values that did not convert, by mapping key and problem.
    pub skipped: Skipped,
}

impl Tried {
    /// Whether everything read converted and the offer left nothing out.
    pub fn clean(&self) -> bool {
        self.skipped.is_empty() && self.services.1.is_empty()
    }
}

/// Tries the mapping of `config` for `ask`.
pub async fn run(config: &ConnectorConfig, ask: &Ask) -> Result<Tried, TryError> {
    let lookup = lookup(ask)?;
    let connector = crate::startup::open(config).await?.counting_skipped();
    connector.check().await.map_err(ConnectorError::from)?;
    let origin = Origin {
        organisation: &connector.organisation,
        system: &connector.mapping.system,
    };
    let call = |call| move |source| TryError::Call { call, source };
    let candidates = connector
        .match_subject(&lookup, 5)
        .await
        .map_err(call("MatchSubject"))?;
    let sections = declared(&connector);
    let record = match candidates.first() {
        Some(best) => {
            let key = RecordKey::LocalId(best.person.local_id.clone());
            let read = connector
                .fetch_record(&key, &sections)
                .await
                .map_err(call("FetchRecord"))?;
            Some(to_proto::fetch_response(read.as_ref(), &[], origin))
        }
        None => None,
    };
    let facts = facts(&connector).await.map_err(call("CountPeople"))?;
    let offer = connector.offer().await.map_err(call("ListServices"))?;
    Ok(Tried {
        organisation: connector.organisation.clone(),
        sections,
        found: to_proto::match_response(&candidates, origin),
        record,
        facts,
        services: (offer.services.len(), offer.problems),
        skipped: connector.skipped(),
    })
}

/// The lookup `ask` describes.
fn lookup(ask: &Ask) -> Result<Lookup, TryError> {
    let tax_code = ask
        .tax_code
        .as_deref()
        .map(|c| TaxCode::parse(c).map_err(|e| TryError::TaxCode(e.to_string())))
        .transpose()?;
    let named = ask.family_name.is_some() && (ask.given_name.is_some() || ask.birth_date.is_some());
    if tax_code.is_none() && ask.local_id.is_none() && !named {
        return Err(TryError::NoOne);
    }
    Ok(Lookup {
        local_id: ask.local_id.clone(),
        traits: Traits {
            tax_code,
            family_name: ask.family_name.clone(),
            given_name: ask.given_name.clone(),
            birth_date: ask.birth_date,
            ..Traits::default()
        },
    })
}

/// The sections the mapping declares, in the schema's order.
fn declared(connector: &Connector) -> Vec<v1::Section> {
    let mut sections: Vec<v1::Section> = connector
        .mapping
        .sections
        .keys()
        .filter_map(|k| v1::Section::try_from(k.0).ok())
        .collect();
    sections.sort_by_key(|s| *s as i32);
    sections
}

/// The facts of every fact query, read whole as a count reads them (under
/// a key made for the try: nothing is compared with other partners).
async fn facts(connector: &Connector) -> Result<Option<usize>, CallError> {
    if connector.mapping.facts.is_empty() {
        return Ok(None);
    }
    let linkage = crate::linkage::Linkage::new(b"trama connector try: a key of no federation");
    Ok(Some(connector.read_facts(&linkage).await?.len()))
}
