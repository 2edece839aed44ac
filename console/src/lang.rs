//! The console's words, in Italian (first) and English: every label,
//! heading and message a page shows, chosen per request from the
//! operator's choice (a cookie set by the language link) or, failing it,
//! the browser's `Accept-Language`. The partners' data and the policy's
//! reasons are shown as they come.

use axum::http::{HeaderMap, header};

/// Defines [`Texts`] and its two instances from `key: italian, english`.
macro_rules! texts {
    ($($key:ident: $it:expr, $en:expr;)*) => {
        /// The words of one language.
        #[derive(Debug)]
        pub struct Texts {
            /// The language's code, for `<html lang>`.
            pub code: &'static str,
            $(#[doc = $it] pub $key: &'static str,)*
        }

        /// Italian, the console's first language.
        pub static IT: Texts = Texts { code: "it", $($key: $it,)* };

        /// English.
        pub static EN: Texts = Texts { code: "en", $($key: $en,)* };
    };
}

texts! {
    nav_services: "Servizi", "Services";
    nav_referrals: "Segnalazioni", "Referrals";
    referrals_title: "Segnalazioni", "Referrals";
    referrals_inbox: "Ricevute", "Received";
    referrals_outbox: "Inviate", "Sent";
    referrals_overdue: "In ritardo:", "Overdue:";
    referrals_none: "Nessuna segnalazione.", "No referrals.";
    referrals_new: "Nuova segnalazione", "New referral";
    referral_sent: "Inviata", "Sent";
    referral_from: "Da", "From";
    referral_to: "A", "To";
    referral_urgency: "Urgenza", "Urgency";
    referral_status: "Stato", "Status";
    referral_delivery: "Consegna", "Delivery";
    referral_due: "Entro", "Due";
    referral_late: "IN RITARDO", "OVERDUE";
    referral_open: "Apri", "Open";
    referral_title: "Segnalazione", "Referral";
    referral_person: "Persona", "Person";
    referral_message: "Messaggio", "Message";
    referral_case: "Pratica dell'ente inviante", "The sender's case";
    referral_confirmed: "Segnalazione inviata: la riceve", "Referral sent: it goes to";
    denied_by_federation: "le regole della federazione non lo consentono", "the federation's rules do not allow it";
    denied_by_partner: "le regole dell'ente non lo consentono", "the partner's rules do not allow it";
    with_case: "con il numero di cartella", "with the case number";
    not_a_step: "Questo passaggio non esiste: ricaricate la pagina e scegliete uno dei pulsanti.", "There is no such step: reload the page and choose one of the buttons.";
    not_a_date: "non è una data: scrivetela come AAAA-MM-GG o scegliete dal calendario", "is not a date: write it as YYYY-MM-DD or pick it from the calendar";
    referral_history: "Che cosa è successo", "What happened";
    referral_when: "Quando", "When";
    referral_who: "Chi", "Who";
    referral_via: "Da dove", "Through";
    referral_why: "Motivo", "Reason";
    referral_reason: "Motivo (obbligatorio per rifiuto, chiusura non riuscita e annullamento)", "Reason (required to reject, fail or cancel)";
    refer_title: "Invia una segnalazione", "Send a referral";
    refer_to: "Ente a cui segnalare (per esempio comune)", "Partner referred to (for example comune)";
    refer_service: "Servizio (facoltativo)", "Service (optional)";
    refer_person: "La persona: codice fiscale, oppure cognome, nome e data di nascita", "The person: tax code, or family name, given name and birth date";
    refer_reason: "Motivo della segnalazione", "Reason for the referral";
    refer_message: "Messaggio per gli operatori (al massimo 4000 caratteri)", "Message to the partner's operators (at most 4,000 characters)";
    refer_case: "La vostra pratica (facoltativo)", "Your case id (optional)";
    refer_send: "Invia la segnalazione", "Send the referral";
    refer_from_service: "Segnala a questo servizio", "Refer to this service";
    public_brand: "Catalogo dei servizi sociali", "Catalogue of social services";
    public_intro: "Servizi pubblici, delle cooperative e del volontariato: cerca per bisogno, comune, costo e voucher accettati.", "Public, cooperative and volunteer services: search by need, municipality, cost and vouchers accepted.";
    public_api: "Per i portali: lo stesso catalogo in JSON su", "For portals: the same catalogue as JSON at";
    public_municipality: "Comune (per esempio Cremona)", "Municipality (for example Cremona)";
    public_voucher: "Voucher accettato (per esempio Voucher conciliazione)", "Voucher accepted (for example Voucher conciliazione)";
    public_back: "Torna alla ricerca", "Back to the search";
    public_how_to_apply: "Come accedere", "How to apply";
    public_age: "Età", "Age";
    public_age_any: "tutte le età", "any age";
    public_age_from: "da", "from";
    public_age_up_to: "fino a", "up to";
    public_age_to: "a", "to";
    public_years: "anni", "years";
    public_places: "Posti liberi", "Places free";
    public_places_none: "nessun posto libero ora", "no place free now";
    public_waiting: "persone in lista d'attesa", "people on the waiting list";
    public_needs: "Aiuta per", "Helps with";
    public_phone: "Telefono", "Phone";
    public_email: "Email", "E-mail";
    public_website: "Sito web", "Website";
    public_free: "gratuito", "free";
    public_languages: "Lingue parlate", "Languages spoken";
    public_none_filters: "Prova a togliere un filtro (bisogno, comune, costo massimo, voucher, solo aperti ora) o a scrivere meno parole.", "Try removing a filter (need, municipality, highest cost, voucher, open now) or writing fewer words.";
    public_none_words: "Prova con meno parole o con altre, per esempio «pasti» o «trasporto».", "Try fewer or other words, for example «pasti» (meals) or «trasporto» (transport).";
    public_too_many_title: "Troppe richieste", "Too many requests";
    public_too_many: "Da questo indirizzo sono arrivate troppe richieste in poco tempo. Il catalogo resta disponibile: riprova tra", "Too many requests came from this address in a short time. The catalogue stays available: try again in";
    public_seconds: "secondi.", "seconds.";
    public_not_found_title: "Servizio non trovato", "Service not found";
    public_not_found: "Questo servizio non è nel catalogo ora: l'ente potrebbe averlo chiuso o sospeso. Cerca tra i servizi offerti oggi.", "This service is not in the catalogue now: the partner may have closed or suspended it. Search the services on offer today.";
    public_unavailable_title: "Catalogo non raggiungibile", "Catalogue not reachable";
    public_unavailable: "Il catalogo non risponde in questo momento. Riprova tra qualche minuto.", "The catalogue does not answer right now. Try again in a few minutes.";
    public_bad_request_title: "Richiesta non valida", "Invalid request";
    public_search_again: "Nuova ricerca", "New search";
    need_housing: "Casa e abitazione", "Housing";
    need_food: "Cibo e pasti", "Food and meals";
    need_income: "Reddito", "Income";
    need_employment: "Lavoro", "Work";
    need_health: "Salute", "Health";
    need_addiction: "Dipendenze", "Addiction";
    need_mental_health: "Salute mentale", "Mental health";
    need_disability: "Disabilità", "Disability";
    need_family: "Famiglia e figli", "Family and children";
    need_loneliness: "Solitudine e compagnia", "Loneliness and company";
    need_legal: "Questioni legali", "Legal matters";
    need_debt: "Debiti", "Debt";
    need_utilities: "Bollette e utenze", "Bills and utilities";
    services_title: "Servizi del territorio", "Services on offer";
    services_text: "Che cosa cerchi (per esempio assistenza domiciliare)", "What you look for (for example home care)";
    services_need: "Bisogno", "Need";
    any: "qualsiasi", "any";
    services_municipality: "Comune (per esempio Cremona)", "Municipality (for example Cremona)";
    not_a_municipality: "non è un comune italiano: scrivi il nome, per esempio Cremona", "is not an Italian municipality: write its name, for example Cremona";
    not_an_amount: "non è un importo in euro: scrivi per esempio 12,50", "is not an amount in euro: write for example 12,50";
    services_max_price: "Costo massimo in euro", "Highest cost in euro";
    services_voucher: "Voucher accettato (per esempio voucher-conciliazione)", "Voucher accepted (for example voucher-conciliazione)";
    services_isee: "ISEE del nucleo in euro", "The household's ISEE in euro";
    services_open_now: "Solo aperti ora", "Open now only";
    services_found: "Servizi trovati:", "Services found:";
    services_none: "Nessun servizio corrisponde.", "No service matches.";
    services_by_need: "Per bisogno:", "By need:";
    services_parts: "Aggiornamento per ente", "How old each partner's part is";
    services_next: "Pagina successiva", "Next page";
    provider: "Chi lo offre", "Provided by";
    cost: "Costo", "Cost";
    vouchers: "Voucher", "Vouchers";
    hours: "Orari", "Hours";
    contact: "Contatti", "Contact";
    where_: "Dove", "Where";
    nav_label: "Sezioni", "Sections";
    not_for_role_title: "Pagina non disponibile per il vostro ruolo", "Page not available to your role";
    not_for_role: "Il vostro ruolo non usa questa pagina. Se vi serve, chiedete l'accesso al responsabile della protezione dei dati del vostro ente.", "Your role does not use this page. If you need it, ask your organisation's data-protection officer for access.";
    form_unreadable: "Il modulo inviato non si può leggere: ricaricate la pagina e riprovate.", "The form sent cannot be read: reload the page and try again.";
    nav_find: "Trova una persona", "Find a person";
    nav_stats: "Statistiche", "Statistics";
    nav_access: "Registro degli accessi", "Access log";
    access_review_intro: "Chi ha fatto che cosa, quando e perché: per operatore, ente, finalità e periodo, oppure per una persona (per il responsabile della protezione dei dati). Gli orari sono quelli italiani.", "Who did what, when and why: by operator, organisation, purpose and period, or for one person (for the data-protection officer). Times are Italian time.";
    access_tax_code: "Codice fiscale della persona (facoltativo)", "The person's tax code (optional)";
    access_operator: "Operatore (identificativo esatto, per esempio laura.ferrari)", "Operator (exact id, for example laura.ferrari)";
    access_organisation: "Ente che ha chiesto (per esempio caritas)", "Organisation that asked (for example caritas)";
    access_purpose: "Finalità dichiarata", "Purpose stated";
    access_from: "Dal giorno", "From (day)";
    access_to: "Al giorno (compreso)", "To (day, included)";
    access_any: "Tutte", "All";
    access_next: "Pagina successiva", "Next page";
    access_csv: "Scarica CSV", "Download CSV";
    access_outcomes: "Esito per ente", "Outcome per partner";
    access_as_candidate: "(la persona era solo tra i candidati)", "(the person was only among the candidates)";
    access_permit: "consentito", "allowed";
    access_invalid: "richiesta non valida", "invalid request";
    access_failed: "non riuscita", "failed";
    access_field: "campo", "field";
    access_not_a_day: "non è un giorno: scegli una data", "is not a day: choose a date";
    access_period_reversed: "il periodo finisce prima di cominciare: scegli un giorno finale uguale o successivo a quello iniziale", "the period ends before it starts: choose an end day on or after the start day";
    access_csv_file: "registro-accessi.csv", "access-log.csv";
    access_col_number: "numero", "number";
    access_col_when: "quando (ora italiana)", "when (Italian time)";
    access_col_operation: "operazione", "operation";
    access_col_organisation: "ente", "organisation";
    access_col_operator: "operatore", "operator";
    access_col_role: "ruolo", "role";
    access_col_purpose: "finalità", "purpose";
    access_col_case: "cartella", "case";
    access_col_sections: "sezioni lette", "sections read";
    access_col_outcomes: "esito per ente", "outcome per partner";
    access_col_decision: "decisione", "decision";
    call_services: "Ricerca dei servizi", "Searching services";
    call_send_referral: "Invio di una segnalazione", "Sending a referral";
    call_get_referral: "Lettura di una segnalazione", "Reading a referral";
    call_list_referrals: "Elenco delle segnalazioni", "Listing referrals";
    call_update_referral: "Aggiornamento di una segnalazione", "Updating a referral";
    nav_sources: "Federazione", "Federation";
    sign_out: "Esci", "Sign out";
    other_language: "English", "Italiano";
    other_language_code: "en", "it";
    sign_in: "Accedi", "Sign in";
    local_account: "Con un account locale", "With a local account";
    username: "Nome utente", "Username";
    password: "Password", "Password";
    purpose: "Finalità", "Purpose";
    case_id: "Numero della cartella (se la finalità lo richiede)", "Case number (where the purpose needs one)";
    tax_code_part: "Codice fiscale (o una sua parte)", "Tax code (or part of it)";
    family_name: "Cognome", "Family name";
    given_name: "Nome", "Given name";
    birth_date: "Data di nascita (AAAA-MM-GG)", "Date of birth (YYYY-MM-DD)";
    search: "Cerca", "Search";
    people_found: "Persone trovate", "People found";
    nobody: "Nessuna persona corrisponde.", "Nobody matches.";
    group: "Gruppo", "Group";
    tie: "(a pari merito con un'altra persona)", "(tied with another person)";
    source: "Ente", "Partner";
    full_name: "Cognome e nome", "Name";
    born: "Nato/a il", "Born";
    score: "Punteggio", "Score";
    matched: "Cosa corrisponde", "What matched";
    outcomes: "Esito per ente", "Outcome per partner";
    partial: "Risposta parziale: almeno un ente non ha risposto.", "Partial answer: at least one partner did not answer.";
    partial_record: "Risposta parziale: almeno un ente non ha risposto; quello che conserva manca.", "Partial answer: at least one partner did not answer; what it holds is missing.";
    record: "Cartella", "Record";
    record_of: "Cartella di", "Record of";
    refresh_sections: "Aggiorna le sezioni consentite", "Show the sections allowed";
    read: "Leggi", "Read";
    conflicts: "Dati in disaccordo tra gli enti", "Data the partners disagree on";
    origin: "Fonte", "Source";
    system: "Sistema", "System";
    record_id: "Scheda", "Record id";
    updated: "Aggiornata", "Updated";
    content: "Contenuto", "Content";
    sections_legend: "Sezioni da leggere (solo quelle che servono)", "Sections to read (only those you need)";
    sections_unknown: "La federazione non ha detto quali sezioni consente: il gateway deciderà alla lettura.", "The federation did not say which sections it allows: the gateway decides when the record is read.";
    not_allowed: "Non consentita per questa finalità:", "Not allowed for this purpose:";
    stats_title: "Statistiche: persone distinte tra gli enti", "Statistics: distinct people across partners";
    rows: "Righe", "Rows";
    columns: "Colonne", "Columns";
    period: "Periodo (facoltativo: 2025, 2025-Q2 o 2025-07)", "Period (optional: 2025, 2025-Q2 or 2025-07)";
    only_for: "Solo per (facoltativo)", "Only for (optional)";
    values: "Valori, separati da virgole (per esempio Casa, Lavoro)", "Values, comma-separated (for example Housing, Employment)";
    show: "Mostra", "Show";
    download_csv: "Scarica CSV", "Download CSV";
    chart_caption: "Totali per riga; i totali non pubblicati non hanno barra.", "Row totals; totals not published have no bar.";
    overlaps: "Persone note a più enti", "People known to more than one partner";
    access_intro: "Chi ha letto i dati di una persona, quando e perché (per il responsabile della protezione dei dati).", "Who read a person's data, when and why (for the data-protection officer).";
    tax_code: "Codice fiscale", "Tax code";
    operator_part: "Operatore (anche una parte)", "Operator (or part of the id)";
    operation: "Operazione", "Operation";
    since: "Dal giorno (AAAA-MM-GG)", "From (YYYY-MM-DD)";
    show_accesses: "Mostra gli accessi", "Show the accesses";
    accesses_caption: "Accessi registrati, dal più recente", "Recorded accesses, newest first";
    number: "N.", "No.";
    when: "Quando", "When";
    operator: "Operatore", "Operator";
    case: "Cartella", "Case";
    sections_read: "Sezioni lette", "Sections read";
    decision: "Decisione", "Decision";
    no_access: "Nessun accesso registrato.", "No access recorded.";
    federation_title: "La federazione", "The federation";
    refreshes: "La tabella si aggiorna da sola ogni 5 secondi.", "The table refreshes itself every 5 seconds.";
    federation_caption: "Gli enti della federazione come li vede il gateway ora", "The federation's partners as the gateway sees them now";
    health: "Stato", "Health";
    circuit: "Circuito", "Circuit";
    in_flight: "Chiamate in corso", "Calls in flight";
    sections: "Sezioni", "Sections";
    session_expired: "La sessione è scaduta: accedi di nuovo per continuare la ricerca.", "Your session expired: sign in again to go on with your search.";
    search_resumed: "La sessione era scaduta: la ricerca è come l'avevi lasciata. Premi «Cerca» per eseguirla.", "Your session had expired: the search is as you left it. Press Search to run it.";
    form_stale: "Il modulo di accesso è scaduto: riprova.", "The sign-in form expired: try again.";
    rule: "regola", "rule";
    form_expired: "Il modulo è scaduto o non viene da questa pagina: ricarica la pagina e riprova.", "The form expired or did not come from this page: reload the page and try again.";
    too_many: "Troppi tentativi: riprova tra un minuto.", "Too many attempts: try again in a minute.";
    bad_password: "Nome utente o password non validi.", "Wrong username or password.";
    unavailable: "Accesso non disponibile.", "Sign-in is not available.";
    provider_refused: "Il fornitore di identità non ha concesso l'accesso:", "The identity provider did not sign you in:";
    not_this_browser: "Questo accesso non è partito da questo browser: riprova.", "This sign-in did not start in this browser: try again.";
    provider_slow: "Il fornitore di identità non ha risposto in tempo: riprova.", "The identity provider did not answer in time: try again.";
    no_tax_code: "Senza codice fiscale", "Without a tax code";
    answered: "risposto", "answered";
    not_known: "non conosce la persona", "does not know the person";
    denied: "negato", "denied";
    timeout: "non ha risposto in tempo", "did not answer in time";
    down: "non disponibile", "unavailable";
    error: "errore", "error";
    serving: "in servizio", "serving";
    not_serving: "raggiungibile ma non in servizio (per esempio il suo database è fermo)", "reachable but not serving (for example its database is down)";
    unreachable: "non raggiungibile dal gateway", "the gateway cannot reach it";
    circuit_closed: "regolare: le richieste passano", "normal: calls go through";
    circuit_open: "sospeso: troppi errori di seguito, la federazione non lo interroga per qualche secondo", "paused: too many failures in a row, the federation leaves it alone for a few seconds";
    circuit_half_open: "in prova: la federazione prova di nuovo con poche richieste", "on trial: the federation tries again with a few calls";
    unknown: "sconosciuto", "unknown";
    federation_down: "La federazione non risponde ora:", "The federation does not answer now:";
    total: "Totale", "Total";
    not_recorded: "(non rilevato)", "(not recorded)";
    people_as_of: "Persone distinte al", "Distinct people as of";
    people_by: "Persone distinte per", "Distinct people by";
    two_or_more: "due o più enti", "two or more partners";
    and: "e", "and";
    not_published: "non pubblicato", "not published";
    chain_ok: "Registro integro: catena verificata", "Log intact: chain verified";
    chain_broken: "ATTENZIONE: il registro NON è integro; le voci qui sotto potrebbero essere state alterate.", "WARNING: the log is NOT intact; the entries below may have been altered.";
    entries: "voci", "entries";
    chains_of: "catene, una per replica del gateway", "chains, one per gateway replica";
    at_most_characters: "troppo lungo, al massimo caratteri:", "too long, at most characters:";
    skip_to_content: "Vai al contenuto", "Skip to content";
    case_verified: "verificato con l'ente", "confirmed by the organisation";
    case_unverified: "dichiarato, non verificabile", "as stated, not checkable";
    case_refused: "non riconosciuto", "not recognised";
    case_failed: "verifica non riuscita", "check failed";
    sealed_to: "sigillo firmato fino alla voce", "signed seal up to entry";
    no_seal: "nessun sigillo firmato ancora", "no signed seal yet";
    checked_at: "verificato il", "checked at";
    all_calls: "Tutte", "All";
    call_find: "Ricerca di una persona", "Finding a person";
    call_record: "Lettura della cartella", "Reading the record";
    call_access: "Lettura del registro", "Reading the access log";
    call_stats: "Statistiche", "Statistics";
}

/// The cookie that keeps the operator's choice of language.
pub const COOKIE: &str = "__Host-trama-lang";

/// The words for this request: the operator's choice, else the browser's
/// first language if it is English, else Italian.
pub fn of(headers: &HeaderMap) -> &'static Texts {
    match crate::session::cookie(headers, COOKIE).as_deref() {
        Some("en") => return &EN,
        Some("it") => return &IT,
        _ => {}
    }
    let first = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split([',', ';', '-']).next())
        .map(|l| l.trim().to_ascii_lowercase());
    if first.as_deref() == Some("en") {
        &EN
    } else {
        &IT
    }
}

/// `it` or `en`, as `t` speaks.
pub fn pick(t: &Texts, it: &'static str, en: &'static str) -> &'static str {
    if t.code == "en" { en } else { it }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_operators_choice_wins_then_the_browsers_then_italian() {
        assert_eq!(of(&headers(&[])).code, "it");
        assert_eq!(
            of(&headers(&[("accept-language", "en-GB,en;q=0.9")])).code,
            "en"
        );
        assert_eq!(
            of(&headers(&[("accept-language", "it-IT,en;q=0.5")])).code,
            "it"
        );
        assert_eq!(of(&headers(&[("accept-language", "de")])).code, "it");
        let chose = headers(&[
            ("accept-language", "en-US"),
            ("cookie", "__Host-trama-lang=it"),
        ]);
        assert_eq!(of(&chose).code, "it");
        let chose = headers(&[("cookie", "a=b; __Host-trama-lang=en")]);
        assert_eq!(of(&chose).code, "en");
        assert_eq!(pick(&EN, "Sì", "Yes"), "Yes");
        assert_ne!(IT.nav_find, EN.nav_find);
    }
}
