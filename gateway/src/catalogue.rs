//! The federated catalogue of services: every partner's offer held in
//! memory (public data), each service with what searches filter on read
//! out once, kept in name order for searches without text; the words of
//! names, providers and descriptions in an index of their own ([`words`]:
//! accents and case folded, Italian endings, prefixes and typos matched,
//! whole words ranked first), so every client of `SearchServices` gets the
//! same tolerant search. Searches go on from what the gateway holds while
//! a partner is down; each partner's part says how old it is.

mod vocab;
mod words;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;
use trama_proto::v1;

use crate::error::CallError;
use vocab::{Filter, Vocab};
use words::{Field, Index, Wanted};

/// Longest free text a search takes.
pub const MAX_TEXT: usize = 200;
/// Most words of free text.
pub const MAX_WORDS: usize = 12;
/// Most services per page.
pub const MAX_PAGE: u32 = 100;
/// Services per page when the request does not say.
pub const DEFAULT_PAGE: u32 = 20;
/// Most ids or providers a search names.
pub const MAX_NAMED: usize = 100;

/// One partner's part of the catalogue.
#[derive(Debug, Clone, Default)]
struct Part {
    ids: HashSet<String>,
    as_of: String,
    refreshed: Option<Instant>,
    problem: String,
}

/// The catalogue: the parts and their index.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    state: Arc<RwLock<State>>,
}

#[derive(Debug, Default)]
struct State {
    parts: BTreeMap<String, Part>,
    by_id: HashMap<String, Arc<Entry>>,
    /// Every service, by name then id: the order of a search without text.
    ordered: Vec<Arc<Entry>>,
    /// The words of `ordered`, by position.
    words: Index,
    /// The values searches filter and count on, numbered.
    vocab: Vocab,
}

/// A service held, with what searches filter on read out once.
#[derive(Debug)]
struct Entry {
    service: v1::Service,
    name_key: String,
    /// Needs, municipalities, provider and vouchers, numbered in the
    /// catalogue's [`Vocab`].
    needs: Vec<u32>,
    municipalities: Vec<u32>,
    provider: [u32; 1],
    vouchers: Vec<u32>,
    /// The vouchers as searches compare them ([`voucher_key`]).
    voucher_keys: Vec<u32>,
    price_cents: Option<i64>,
    age_min: u32,
    age_max: u32,
    isee_max: i64,
    active: bool,
    modified: i64,
    /// Its words, each with the field it counts most in.
    words: Vec<(String, Field)>,
}

impl Entry {
    fn of(service: v1::Service, vocab: &mut Vocab) -> Entry {
        let eligibility = service.eligibility.clone().unwrap_or_default();
        let keys: Vec<String> = service
            .vouchers
            .iter()
            .map(|v| voucher_key(&v.scheme))
            .collect();
        Entry {
            name_key: service.name.to_lowercase(),
            needs: vocab.ids(service.needs.iter().map(String::as_str)),
            municipalities: vocab.ids(service.municipalities.iter().map(String::as_str)),
            provider: [vocab.id(provider_name(&service))],
            vouchers: vocab.ids(service.vouchers.iter().map(|v| v.scheme.as_str())),
            voucher_keys: vocab.ids(keys.iter().map(String::as_str)),
            price_cents: service
                .costs
                .iter()
                .filter_map(|c| c.amount.as_ref())
                .map(|m| m.cents)
                .min(),
            age_min: eligibility.minimum_age,
            age_max: eligibility.maximum_age,
            isee_max: eligibility.isee_max_cents,
            active: service.status == v1::ServiceStatus::Active as i32 || service.status == 0,
            modified: unix(&service.last_modified).unwrap_or(0),
            words: words::service_words(
                &service.name,
                provider_name(&service),
                &service.description,
            ),
            service,
        }
    }

    /// Whether the service passes every filter of `s`, its values
    /// resolved in `f` (open now is checked at `now`, Italian time).
    fn passes(&self, s: &Search, f: &Filters, now: (u32, u32)) -> bool {
        let svc = &self.service;
        self.active
            && f.needs.admits(&self.needs)
            && f.municipality.admits(&self.municipalities)
            && (s.age == 0
                || (self.age_min <= s.age && (self.age_max == 0 || self.age_max >= s.age)))
            && (s.max_price_cents <= 0 || self.price_cents.is_none_or(|p| p <= s.max_price_cents))
            && f.voucher.admits(&self.voucher_keys)
            && (s.isee_cents <= 0 || self.isee_max == 0 || self.isee_max >= s.isee_cents)
            && (s.ids.is_empty() || s.ids.iter().any(|i| *i == svc.id || *i == svc.uuid))
            && f.providers.admits(&self.provider)
            && s.modified_after.is_none_or(|after| self.modified >= after)
            && (!s.open_now || open_at(svc, now))
    }
}

/// A search's filters on numbered values, resolved in the catalogue's
/// [`Vocab`].
struct Filters {
    needs: Filter,
    municipality: Filter,
    voucher: Filter,
    providers: Filter,
}

impl Filters {
    fn of<'s>(s: &'s Search, vocab: &Vocab) -> Filters {
        let one = |v: &'s str| std::iter::once(v).filter(|v| !v.is_empty());
        Filters {
            needs: vocab.filter(s.needs.iter().map(String::as_str)),
            municipality: vocab.filter(one(&s.municipality)),
            voucher: vocab.filter(one(&s.voucher)),
            providers: vocab.filter(s.providers.iter().map(String::as_str)),
        }
    }
}

/// A search, checked.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// The words of the free text; none for a search without text.
    words: Vec<Wanted>,
    needs: Vec<String>,
    municipality: String,
    age: u32,
    max_price_cents: i64,
    voucher: String,
    isee_cents: i64,
    open_now: bool,
    ids: Vec<String>,
    providers: Vec<String>,
    modified_after: Option<i64>,
    page_size: u32,
    offset: usize,
    fingerprint: u64,
}

impl Catalogue {
    /// An empty catalogue.
    pub fn new() -> Catalogue {
        Catalogue::default()
    }

    /// Replaces `organisation`'s part: `changed` services (all of them, or
    /// those changed), keeping only the ids in `current`. Only a refresh
    /// that changes something rebuilds the order and the word index, so one
    /// that finds nothing new holds searches back for no time.
    pub async fn update(
        &self,
        organisation: &str,
        changed: Vec<v1::Service>,
        current: &[String],
        as_of: String,
    ) {
        let current: HashSet<&str> = current.iter().map(String::as_str).collect();
        let mut state = self.state.write().await;
        let held: HashSet<String> = state
            .parts
            .get(organisation)
            .map(|p| p.ids.clone())
            .unwrap_or_default();
        let removed: Vec<String> = held
            .iter()
            .filter(|id| !current.contains(id.as_str()))
            .cloned()
            .collect();
        let fresh: Vec<v1::Service> = changed
            .into_iter()
            // A partner publishes under its own name only.
            .filter(|s| s.organisation == organisation && current.contains(s.id.as_str()))
            .map(|mut s| {
                s.uuid = trama_proto::ids::service(&s.id);
                s
            })
            .filter(|s| state.by_id.get(&s.id).is_none_or(|e| e.service != *s))
            .collect();
        let changed = !removed.is_empty() || !fresh.is_empty();
        for id in &removed {
            state.by_id.remove(id);
        }
        let mut ids: HashSet<String> = held;
        ids.retain(|id| current.contains(id.as_str()));
        for s in fresh {
            ids.insert(s.id.clone());
            let entry = Entry::of(s, &mut state.vocab);
            state
                .by_id
                .insert(entry.service.id.clone(), Arc::new(entry));
        }
        if changed {
            state.reorder();
        }
        state.parts.insert(
            organisation.to_string(),
            Part {
                ids,
                as_of,
                refreshed: Some(Instant::now()),
                problem: String::new(),
            },
        );
    }

    /// Notes that `organisation`'s part could not be refreshed: searches
    /// go on with what is held, saying so.
    pub async fn failed(&self, organisation: &str, problem: String) {
        let mut state = self.state.write().await;
        state
            .parts
            .entry(organisation.to_string())
            .or_default()
            .problem = problem;
    }

    /// The service `id`, if held.
    pub async fn get(&self, id: &str) -> Option<v1::Service> {
        self.state
            .read()
            .await
            .by_id
            .get(id)
            .map(|e| e.service.clone())
    }

    /// The `as_of` of `organisation`'s part (the next `changed_since`).
    pub async fn as_of(&self, organisation: &str) -> String {
        let state = self.state.read().await;
        state
            .parts
            .get(organisation)
            .map(|p| p.as_of.clone())
            .unwrap_or_default()
    }

    /// How old each part is.
    pub async fn sources(&self) -> Vec<v1::CatalogueSource> {
        self.state.read().await.sources()
    }

    /// Runs a checked search; the answer names the parts it searched, as
    /// they were while it ran.
    pub async fn search(&self, search: &Search) -> Result<v1::SearchServicesResponse, CallError> {
        let state = self.state.read().await;
        let now = italy_now();
        let filters = Filters::of(search, &state.vocab);
        let found: Vec<&Entry> = if search.words.is_empty() {
            state
                .ordered
                .iter()
                .map(|e| &**e)
                .filter(|e| e.passes(search, &filters, now))
                .collect()
        } else {
            state
                .words
                .search(&search.words)
                .into_iter()
                .filter_map(|p| state.ordered.get(p))
                .map(|e| &**e)
                .filter(|e| e.passes(search, &filters, now))
                .collect()
        };
        let total = found.len();
        let vocab = &state.vocab;
        let page: Vec<v1::Service> = found
            .iter()
            .skip(search.offset)
            .take(search.page_size as usize)
            .map(|e| e.service.clone())
            .collect();
        let next = search.offset + page.len();
        let next_page_token = if next < total {
            token(next, search.fingerprint)
        } else {
            String::new()
        };
        Ok(v1::SearchServicesResponse {
            services: page,
            next_page_token,
            total: u32::try_from(total).unwrap_or(u32::MAX),
            by_need: vocab.facets(found.iter().flat_map(|e| e.needs.iter().copied())),
            by_provider: vocab.facets(found.iter().flat_map(|e| e.provider.iter().copied())),
            by_municipality: vocab
                .facets(found.iter().flat_map(|e| e.municipalities.iter().copied())),
            by_voucher: vocab.facets(found.iter().flat_map(|e| e.vouchers.iter().copied())),
            // Under the same lock as the index: never a part the search
            // did not see.
            sources: state.sources(),
        })
    }

    /// Checks a request into a search.
    pub fn check(&self, req: &v1::SearchServicesRequest) -> Result<Search, CallError> {
        check(req)
    }

    /// Refreshes every source's part now, then every `interval`, asking
    /// the connectors in parallel for what changed since each part was
    /// read.
    pub async fn keep_fresh(self, registry: crate::registry::Registry, interval: Duration) {
        loop {
            // All at once: a slow partner does not hold the others back.
            futures_util::future::join_all(registry.all().iter().map(|s| self.refresh(s))).await;
            tokio::time::sleep(interval).await;
        }
    }

    /// Refreshes one source's part; a failure keeps what is held.
    pub async fn refresh(&self, source: &crate::registry::Source) {
        let mut request = tonic::Request::new(v1::ListServicesRequest {
            changed_since: self.as_of(&source.organisation).await,
        });
        request.set_timeout(source.timeout.max(Duration::from_secs(10)));
        let mut client = source.client.clone();
        match client.list_services(request).await {
            Ok(answer) => {
                let a = answer.into_inner();
                if !a.problems.is_empty() {
                    tracing::warn!(
                        source = %source.organisation,
                        rows = a.problems.len(),
                        "rows of a partner's offer do not map (trama check names them)"
                    );
                }
                self.update(&source.organisation, a.services, &a.current_ids, a.as_of)
                    .await;
            }
            Err(status) => {
                tracing::info!(source = %source.organisation, code = ?status.code(), "offer not refreshed");
                self.failed(
                    &source.organisation,
                    format!("not refreshed: {}", status.message()),
                )
                .await;
            }
        }
    }
}

impl State {
    /// Sorts every service by name, then id, and indexes their words in
    /// that order (a tie in rank keeps name order).
    fn reorder(&mut self) {
        let mut all: Vec<Arc<Entry>> = self.by_id.values().cloned().collect();
        all.sort_by(|a, b| {
            a.name_key
                .cmp(&b.name_key)
                .then_with(|| a.service.id.cmp(&b.service.id))
        });
        self.words = Index::build(all.iter().map(|e| e.words.as_slice()));
        self.ordered = all;
    }

    fn sources(&self) -> Vec<v1::CatalogueSource> {
        self.parts
            .iter()
            .map(|(org, p)| v1::CatalogueSource {
                organisation: org.clone(),
                as_of: p.as_of.clone(),
                age_seconds: p.refreshed.map_or(0, |t| {
                    u32::try_from(t.elapsed().as_secs()).unwrap_or(u32::MAX)
                }),
                stale: !p.problem.is_empty(),
                problem: p.problem.clone(),
                services: u32::try_from(p.ids.len()).unwrap_or(u32::MAX),
            })
            .collect()
    }
}

/// An RFC 3339 time as Unix seconds.
fn unix(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

fn provider_name(s: &v1::Service) -> &str {
    if s.provider.is_empty() {
        &s.organisation
    } else {
        &s.provider
    }
}

/// Checks a request: every refusal names the field and the fix.
pub fn check(req: &v1::SearchServicesRequest) -> Result<Search, CallError> {
    let text = req.text.trim();
    if text.chars().count() > MAX_TEXT {
        return Err(CallError::invalid(
            "text",
            format!("at most {MAX_TEXT} characters"),
        ));
    }
    let words = wanted_words(text)?;
    check_needs(&req.needs)?;
    let municipality = checked_municipality(&req.municipality)?;
    check_bounds(req)?;
    let modified_after = checked_time(&req.modified_after)?;
    check_paging(req)?;
    let mut search = Search {
        words,
        needs: req.needs.clone(),
        municipality,
        age: req.age,
        max_price_cents: req.max_price_cents,
        voucher: voucher_key(&req.voucher),
        isee_cents: req.isee_cents,
        open_now: req.open_now,
        ids: req.ids.clone(),
        providers: req.providers.clone(),
        modified_after,
        page_size: if req.page_size == 0 {
            DEFAULT_PAGE
        } else {
            req.page_size
        },
        offset: 0,
        fingerprint: fingerprint(req),
    };
    if !req.page_token.is_empty() {
        search.offset = read_token(&req.page_token, search.fingerprint)?;
    }
    if req.page > 1 {
        search.offset = (req.page as usize - 1).saturating_mul(search.page_size as usize);
    }
    Ok(search)
}

/// Every need named is one of the schema's categories.
fn check_needs(needs: &[String]) -> Result<(), CallError> {
    let known = trama_proto::stats::NEEDS;
    match needs.iter().find(|n| !known.contains(&n.as_str())) {
        Some(bad) => Err(CallError::invalid(
            "needs",
            format!(
                "`{bad}` is not a need category; known: {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// The municipality as a Belfiore code, upper case; empty for none.
fn checked_municipality(text: &str) -> Result<String, CallError> {
    let municipality = text.trim().to_ascii_uppercase();
    if !municipality.is_empty() && !trama_subject::belfiore::is_known(&municipality) {
        return Err(CallError::invalid(
            "municipality",
            format!(
                "`{municipality}` is not a municipality: give its Belfiore code, for example D150"
            ),
        ));
    }
    Ok(municipality)
}

/// The page size, the amounts and the named lists within their bounds.
fn check_bounds(req: &v1::SearchServicesRequest) -> Result<(), CallError> {
    if req.page_size > MAX_PAGE {
        return Err(CallError::invalid(
            "page_size",
            format!("at most {MAX_PAGE}"),
        ));
    }
    if req.max_price_cents < 0 || req.isee_cents < 0 {
        return Err(CallError::invalid(
            "max_price_cents",
            "amounts are not negative",
        ));
    }
    for (field, list) in [("ids", &req.ids), ("providers", &req.providers)] {
        if list.len() > MAX_NAMED {
            return Err(CallError::invalid(field, format!("at most {MAX_NAMED}")));
        }
    }
    Ok(())
}

/// A page number or a page token, not both.
fn check_paging(req: &v1::SearchServicesRequest) -> Result<(), CallError> {
    if req.page > 0 && !req.page_token.is_empty() {
        return Err(CallError::invalid(
            "page",
            "give a page number or a page token, not both",
        ));
    }
    Ok(())
}

/// `modified_after` as Unix seconds; `None` when not given.
fn checked_time(text: &str) -> Result<Option<i64>, CallError> {
    match text.trim() {
        "" => Ok(None),
        text => unix(text).map(Some).ok_or_else(|| {
            CallError::invalid(
                "modified_after",
                format!("`{text}` is not a time: write RFC 3339, for example 2026-12-01T09:00:00Z"),
            )
        }),
    }
}

/// A voucher scheme as searches compare it: its folded words joined by
/// dashes, so `Voucher conciliazione`, as a page shows it, finds
/// `voucher-conciliazione`.
fn voucher_key(scheme: &str) -> String {
    words::words(scheme).collect::<Vec<_>>().join("-")
}

/// The words of the free text as searched (one letter is no word).
fn wanted_words(text: &str) -> Result<Vec<Wanted>, CallError> {
    let wanted: Vec<Wanted> = words::words(text)
        .filter(|w| w.chars().count() > 1)
        .map(|w| Wanted::new(&w))
        .collect();
    if wanted.len() > MAX_WORDS {
        return Err(CallError::invalid(
            "text",
            format!("at most {MAX_WORDS} words"),
        ));
    }
    Ok(wanted)
}

/// A hash of everything that selects and orders the results (not the
/// page), so that a token is used with its own search.
fn fingerprint(req: &v1::SearchServicesRequest) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        req.text.trim(),
        &req.needs,
        req.municipality.trim().to_ascii_uppercase(),
        req.age,
        req.max_price_cents,
        req.voucher.trim(),
        req.isee_cents,
        req.open_now,
        req.page_size,
        (&req.ids, &req.providers, req.modified_after.trim()),
    )
        .hash(&mut h);
    h.finish()
}

/// A page token: the offset of the next page and the search it belongs
/// to (a catalogue updated in between may move items across pages).
fn token(offset: usize, fingerprint: u64) -> String {
    format!("p1.{offset:x}.{fingerprint:016x}")
}

fn read_token(token: &str, fingerprint: u64) -> Result<usize, CallError> {
    let malformed = || {
        CallError::invalid(
            "page_token",
            "not a token this gateway gave: send the next_page_token of the previous page, or none for the first",
        )
    };
    let parts: Vec<&str> = token.split('.').collect();
    let [version, offset, print] = parts[..] else {
        return Err(malformed());
    };
    if version != "p1" {
        return Err(malformed());
    }
    let offset = usize::from_str_radix(offset, 16).map_err(|_| malformed())?;
    let print = u64::from_str_radix(print, 16).map_err(|_| malformed())?;
    if print != fingerprint {
        return Err(CallError::invalid(
            "page_token",
            "the token belongs to another search: ask the same filters and text, or start without a token",
        ));
    }
    Ok(offset)
}

/// The time in Italy now: (ISO weekday, minutes after midnight). Central
/// European Time, summer time from the last Sunday of March to the last
/// Sunday of October (01:00 UTC both), as the EU sets it.
pub fn italy_now() -> (u32, u32) {
    let now = time::OffsetDateTime::now_utc();
    local(now)
}

fn local(utc: time::OffsetDateTime) -> (u32, u32) {
    let year = utc.year();
    let last_sunday = |month: time::Month| {
        let mut d = time::Date::from_calendar_date(year, month, 31).unwrap_or(time::Date::MIN);
        while d.weekday() != time::Weekday::Sunday {
            d = d.previous_day().unwrap_or(d);
        }
        d.with_hms(1, 0, 0).map(|t| t.assume_utc()).unwrap_or(utc)
    };
    let summer = utc >= last_sunday(time::Month::March) && utc < last_sunday(time::Month::October);
    let here = utc + Duration::from_secs(if summer { 7200 } else { 3600 });
    (
        u32::from(here.weekday().number_from_monday()),
        u32::from(here.hour()) * 60 + u32::from(here.minute()),
    )
}

/// Whether `s` is open at (weekday, minute); a service that publishes no
/// hours is not "open now".
fn open_at(s: &v1::Service, (weekday, minute): (u32, u32)) -> bool {
    s.openings
        .iter()
        .any(|o| o.weekday == weekday && o.opens_at <= minute && minute < o.closes_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(org: &str, id: &str, name: &str, description: &str) -> v1::Service {
        v1::Service {
            id: format!("{org}/{id}"),
            organisation: org.into(),
            name: name.into(),
            description: description.into(),
            status: v1::ServiceStatus::Active as i32,
            needs: vec!["loneliness".into()],
            municipalities: vec!["D150".into()],
            ..v1::Service::default()
        }
    }

    async fn catalogue() -> Catalogue {
        let c = Catalogue::new();
        let mut sad = service(
            "coop",
            "1",
            "Assistenza domiciliare agli anziani",
            "Aiuto in casa",
        );
        sad.vouchers = vec![v1::AcceptedVoucher {
            scheme: "voucher-conciliazione".into(),
            ..Default::default()
        }];
        sad.costs = vec![v1::CostOption {
            amount: Some(v1::Money {
                cents: 1850,
                currency: "EUR".into(),
            }),
            description: "all'ora".into(),
        }];
        let mut disabili = service(
            "comune",
            "7",
            "Trasporto per persone con disabilità",
            "Servizi di assistenza domiciliari e trasporto",
        );
        disabili.needs = vec!["disability".into()];
        disabili.municipalities = vec!["D142".into()];
        let pasti = service("coop", "2", "Pasti a domicilio", "Pranzo caldo a casa");
        let ids = |s: &[&v1::Service]| s.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        c.update(
            "coop",
            vec![sad.clone(), pasti.clone()],
            &ids(&[&sad, &pasti]),
            "t1".into(),
        )
        .await;
        c.update(
            "comune",
            vec![disabili.clone()],
            &ids(&[&disabili]),
            "t1".into(),
        )
        .await;
        c
    }

    async fn search(c: &Catalogue, req: v1::SearchServicesRequest) -> v1::SearchServicesResponse {
        let s = c.check(&req).unwrap_or_else(|e| panic!("{e}"));
        c.search(&s).await.unwrap_or_else(|e| panic!("{e}"))
    }

    fn text(t: &str) -> v1::SearchServicesRequest {
        v1::SearchServicesRequest {
            text: t.into(),
            ..Default::default()
        }
    }

    fn ids(r: &v1::SearchServicesResponse) -> Vec<&str> {
        r.services.iter().map(|s| s.id.as_str()).collect()
    }

    #[tokio::test]
    async fn free_text_folds_accents_and_endings_and_ranks_names_first() {
        let c = catalogue().await;
        let found = search(&c, text("assistenza domiciliare")).await;
        assert_eq!(
            ids(&found),
            vec!["coop/1", "comune/7"],
            "the name match first"
        );
        assert_eq!(ids(&search(&c, text("DISABILITA")).await), vec!["comune/7"]);
        assert_eq!(
            ids(&search(&c, text("asistenza domicilare")).await),
            vec!["coop/1", "comune/7"],
            "a typo in each word, the name match first"
        );
        assert_eq!(ids(&search(&c, text("anziano")).await), vec!["coop/1"]);
        assert!(search(&c, text("idraulico")).await.services.is_empty());
        // Words that look like FTS syntax are words.
        assert!(
            search(&c, text("NEAR(\"x\" OR y*)"))
                .await
                .services
                .is_empty()
        );
        let by_voucher = search(
            &c,
            v1::SearchServicesRequest {
                text: "assistenza domiciliare".into(),
                municipality: "d150".into(),
                voucher: "voucher-conciliazione".into(),
                max_price_cents: 2000,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(ids(&by_voucher), vec!["coop/1"]);
        let as_shown = search(
            &c,
            v1::SearchServicesRequest {
                voucher: " Voucher  Conciliazione ".into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            ids(&as_shown),
            vec!["coop/1"],
            "the voucher as a page shows it"
        );
        let too_dear = v1::SearchServicesRequest {
            max_price_cents: 1000,
            needs: vec!["loneliness".into()],
            ..Default::default()
        };
        assert_eq!(
            ids(&search(&c, too_dear).await),
            vec!["coop/2"],
            "free passes"
        );
        let all = search(&c, v1::SearchServicesRequest::default()).await;
        assert_eq!(all.total, 3);
        assert_eq!(
            all.by_need[0],
            v1::Facet {
                value: "loneliness".into(),
                count: 2
            }
        );
        assert_eq!(
            all.by_provider[0],
            v1::Facet {
                value: "coop".into(),
                count: 2
            }
        );
    }

    #[tokio::test]
    async fn pages_follow_tokens_and_bad_input_names_the_field() {
        let c = catalogue().await;
        let first = v1::SearchServicesRequest {
            page_size: 2,
            ..Default::default()
        };
        let page1 = search(&c, first.clone()).await;
        assert_eq!(page1.services.len(), 2);
        let page2 = search(
            &c,
            v1::SearchServicesRequest {
                page_token: page1.next_page_token.clone(),
                ..first.clone()
            },
        )
        .await;
        assert_eq!(page2.services.len(), 1);
        assert!(page2.next_page_token.is_empty());
        let mut seen: Vec<&str> = ids(&page1);
        seen.extend(ids(&page2));
        seen.sort_unstable();
        assert_eq!(seen, vec!["comune/7", "coop/1", "coop/2"]);
        let held = &c;
        let refused = |req: v1::SearchServicesRequest| async move {
            match held.check(&req) {
                Err(CallError::Invalid { field, description }) => format!("{field}: {description}"),
                other => panic!("accepted: {other:?}"),
            }
        };
        let other = refused(v1::SearchServicesRequest {
            page_token: page1.next_page_token.clone(),
            text: "pasti".into(),
            ..first.clone()
        })
        .await;
        assert!(
            other.starts_with("page_token: the token belongs to another search"),
            "{other}"
        );
        let garbled = refused(v1::SearchServicesRequest {
            page_token: "xyz".into(),
            ..first
        })
        .await;
        assert!(garbled.starts_with("page_token: not a token"), "{garbled}");
        let need = refused(v1::SearchServicesRequest {
            needs: vec!["unicorns".into()],
            ..Default::default()
        })
        .await;
        assert!(need.starts_with("needs: `unicorns`"), "{need}");
        let place = refused(v1::SearchServicesRequest {
            municipality: "Q999".into(),
            ..Default::default()
        })
        .await;
        assert!(place.starts_with("municipality: `Q999`"), "{place}");
        let long = refused(v1::SearchServicesRequest {
            text: "a".repeat(MAX_TEXT + 1),
            ..Default::default()
        })
        .await;
        assert_eq!(long, format!("text: at most {MAX_TEXT} characters"));
        let size = refused(v1::SearchServicesRequest {
            page_size: MAX_PAGE + 1,
            ..Default::default()
        })
        .await;
        assert_eq!(size, format!("page_size: at most {MAX_PAGE}"));
    }

    #[tokio::test]
    async fn a_refresh_keeps_only_what_the_partner_publishes_under_its_own_name() {
        let c = catalogue().await;
        let impostor = service("comune", "99", "Pasti gratis", "");
        let renamed = service("coop", "2", "Pasti a domicilio caldi", "");
        c.update(
            "coop",
            vec![impostor, renamed],
            &["coop/2".to_string(), "comune/99".to_string()],
            "t2".into(),
        )
        .await;
        let all = search(&c, v1::SearchServicesRequest::default()).await;
        assert_eq!(ids(&all), vec!["coop/2", "comune/7"]);
        assert_eq!(all.services[0].name, "Pasti a domicilio caldi");
        assert_eq!(c.as_of("coop").await, "t2");
        c.failed("comune", "the connector is down".into()).await;
        let sources = c.sources().await;
        let comune = sources.iter().find(|s| s.organisation == "comune");
        assert!(comune.is_some_and(|s| s.stale && s.services == 1));
        assert!(
            search(&c, v1::SearchServicesRequest::default()).await.total == 2,
            "served while down"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn searches_abandoned_midway_leave_the_index_whole() {
        let c = catalogue().await;
        let many: Vec<v1::Service> = (0..2000)
            .map(|n| {
                service(
                    "coop",
                    &n.to_string(),
                    "Assistenza domiciliare",
                    "Aiuto in casa",
                )
            })
            .collect();
        let ids: Vec<String> = many.iter().map(|s| s.id.clone()).collect();
        c.update("coop", many, &ids, "t2".into()).await;
        for round in 0..200u64 {
            // A caller that goes away while its search runs.
            let searching = {
                let c = c.clone();
                tokio::spawn(async move { search(&c, text("assistenza")).await })
            };
            tokio::time::sleep(Duration::from_micros(round * 37 % 900)).await;
            searching.abort();
        }
        let all = search(&c, v1::SearchServicesRequest::default()).await;
        assert_eq!(all.total, 2001, "the index still holds every service");
    }

    #[tokio::test]
    async fn a_renamed_service_is_found_by_its_new_name_only_once() {
        let c = catalogue().await;
        let before = search(&c, v1::SearchServicesRequest::default()).await.total;
        let ids_now: Vec<String> = c.state.read().await.by_id.keys().cloned().collect();
        let coop: Vec<String> = ids_now
            .into_iter()
            .filter(|i| i.starts_with("coop/"))
            .collect();
        let renamed = service("coop", "2", "Lavanderia solidale", "");
        for round in ["t2", "t3"] {
            // The second round repeats the first: nothing new to index.
            c.update("coop", vec![renamed.clone()], &coop, round.into())
                .await;
        }
        let all = search(&c, v1::SearchServicesRequest::default()).await;
        assert_eq!(all.total, before, "replaced, not added");
        assert_eq!(ids(&search(&c, text("lavanderia")).await), vec!["coop/2"]);
        let old = search(&c, text("pranzo")).await;
        assert!(!ids(&old).contains(&"coop/2"), "the old name is gone");
    }

    #[tokio::test]
    async fn searches_by_id_or_uuid_provider_change_time_and_page_number() {
        let c = catalogue().await;
        let uuid = trama_proto::ids::service("coop/2");
        for id in ["coop/2".to_string(), uuid.clone()] {
            let one = search(
                &c,
                v1::SearchServicesRequest {
                    ids: vec![id],
                    ..Default::default()
                },
            )
            .await;
            assert_eq!(ids(&one), vec!["coop/2"]);
            assert_eq!(one.services[0].uuid, uuid);
        }
        let by_provider = search(
            &c,
            v1::SearchServicesRequest {
                providers: vec!["comune".into()],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(ids(&by_provider), vec!["comune/7"]);
        assert_eq!(by_provider.by_municipality[0].value, "D142");
        let mut newer = service("coop", "3", "Stireria", "");
        newer.last_modified = "2026-11-20T10:00:00Z".into();
        c.update("coop", vec![newer], &["coop/3".into()], "t2".into())
            .await;
        let after = |t: &str| v1::SearchServicesRequest {
            modified_after: t.into(),
            ..Default::default()
        };
        assert_eq!(
            ids(&search(&c, after("2026-11-20T10:00:00Z")).await),
            vec!["coop/3"]
        );
        assert!(
            search(&c, after("2026-11-20T10:00:01Z"))
                .await
                .services
                .is_empty()
        );
        let page = |n| v1::SearchServicesRequest {
            page: n,
            page_size: 1,
            ..Default::default()
        };
        // By name: Stireria, then Trasporto.
        assert_eq!(ids(&search(&c, page(1)).await), vec!["coop/3"]);
        assert_eq!(ids(&search(&c, page(2)).await), vec!["comune/7"]);
        for (req, field) in [
            (after("yesterday"), "modified_after"),
            (
                v1::SearchServicesRequest {
                    page: 2,
                    page_token: "p1.0.0".into(),
                    ..Default::default()
                },
                "page",
            ),
            (
                v1::SearchServicesRequest {
                    ids: vec!["x".into(); 101],
                    ..Default::default()
                },
                "ids",
            ),
        ] {
            let Err(e) = c.check(&req) else {
                panic!("{field} accepted")
            };
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    #[tokio::test]
    async fn an_answer_names_the_parts_it_searched_while_they_change() {
        let c = catalogue().await;
        let writer = c.clone();
        let growing = tokio::spawn(async move {
            let mut held = Vec::new();
            for n in 0..60 {
                held.push(service("coop", &n.to_string(), "Pasti", ""));
                let ids: Vec<String> = held.iter().map(|s| s.id.clone()).collect();
                writer
                    .update("coop", held.clone(), &ids, format!("t{n}"))
                    .await;
                tokio::task::yield_now().await;
            }
        });
        while !growing.is_finished() {
            let all = search(&c, v1::SearchServicesRequest::default()).await;
            let parts: u32 = all.sources.iter().map(|s| s.services).sum();
            assert_eq!(all.total, parts, "the sources describe what was searched");
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn opening_hours_are_read_in_italian_time() {
        let at = |s: &str| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(
            local(at("2026-07-01T10:00:00Z")),
            (3, 12 * 60),
            "summer: UTC+2"
        );
        assert_eq!(
            local(at("2026-01-05T10:00:00Z")),
            (1, 11 * 60),
            "winter: UTC+1"
        );
        assert_eq!(
            local(at("2026-03-29T00:59:00Z")),
            (7, 60 + 59),
            "before the change"
        );
        assert_eq!(
            local(at("2026-03-29T01:00:00Z")),
            (7, 3 * 60),
            "after the change"
        );
        let mut s = service("coop", "1", "x", "");
        s.openings = vec![v1::Opening {
            weekday: 1,
            opens_at: 9 * 60,
            closes_at: 13 * 60,
        }];
        assert!(open_at(&s, (1, 9 * 60)));
        assert!(!open_at(&s, (1, 13 * 60)));
        assert!(!open_at(&s, (2, 10 * 60)));
    }
}
