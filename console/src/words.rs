//! The federation's codes in the operator's words: purposes, the common
//! vocabularies of the schema (`urn:trama:cs:*`: needs, interventions,
//! housing, case statuses…), the record's field names, partners'
//! outcomes and the audit log's decisions. A page never shows a code
//! where a person reads it; a code the console does not know (a partner's
//! own) is shown with the label the partner gave, else as it is.

use crate::lang::{self, Texts};

/// The purposes the console knows: (code, Italian, English), in the order
/// the forms offer them.
pub const PURPOSES: [(&str, &str, &str); 9] = [
    (
        "presa_in_carico",
        "Presa in carico",
        "Taking the case in charge",
    ),
    (
        "verifica_presa_in_carico",
        "Verifica della presa in carico",
        "Checking who follows the person",
    ),
    (
        "valutazione_multidimensionale",
        "Valutazione multidimensionale",
        "Multidimensional assessment",
    ),
    ("tutela_minori", "Tutela dei minori", "Child protection"),
    (
        "orientamento",
        "Orientamento ai servizi",
        "Guidance to services",
    ),
    ("segnalazione", "Segnalazione", "Referral"),
    (
        "programmazione",
        "Programmazione sociale",
        "Social planning",
    ),
    (
        "controllo_accessi",
        "Controllo degli accessi",
        "Access review",
    ),
    (
        "richiesta_interessato",
        "Richiesta dell'interessato",
        "Data subject's request",
    ),
];

/// A purpose in words (the code itself if unknown).
pub fn purpose(code: &str, t: &Texts) -> String {
    PURPOSES.iter().find(|(c, _, _)| *c == code).map_or_else(
        || code.to_string(),
        |(_, it, en)| lang::pick(t, it, en).to_string(),
    )
}

/// Codes of the common vocabularies: (code, Italian, English).
const CODES: &[(&str, &str, &str)] = &[
    // needs
    ("housing", "Casa", "Housing"),
    ("food", "Alimentazione", "Food"),
    ("income", "Reddito", "Income"),
    ("employment", "Lavoro", "Employment"),
    ("health", "Salute", "Health"),
    ("addiction", "Dipendenze", "Addiction"),
    ("mental-health", "Salute mentale", "Mental health"),
    ("disability", "Disabilità", "Disability"),
    ("family", "Famiglia", "Family"),
    ("loneliness", "Solitudine", "Loneliness"),
    ("legal", "Questioni legali", "Legal matters"),
    ("debt", "Debiti", "Debt"),
    ("utilities", "Utenze", "Utilities"),
    // interventions
    (
        "economic-contribution",
        "Contributo economico",
        "Economic contribution",
    ),
    ("home-care", "Assistenza domiciliare", "Home care"),
    ("meals", "Pasti", "Meals"),
    ("housing-support", "Sostegno abitativo", "Housing support"),
    ("transport", "Trasporto", "Transport"),
    (
        "educational-support",
        "Sostegno educativo",
        "Educational support",
    ),
    ("food-parcel", "Pacco alimentare", "Food parcel"),
    ("bill-payment", "Pagamento bollette", "Bill payment"),
    ("clothing", "Vestiario", "Clothing"),
    ("counselling", "Colloqui di sostegno", "Counselling"),
    ("job-placement", "Inserimento lavorativo", "Job placement"),
    ("care-plan", "Piano di assistenza", "Care plan"),
    // case and referral statuses
    ("open", "Aperta", "Open"),
    ("suspended", "Sospesa", "Suspended"),
    ("closed", "Chiusa", "Closed"),
    ("received", "Ricevuta", "Received"),
    ("accepted", "Accettata", "Accepted"),
    // housing
    ("owner", "Proprietà", "Owner"),
    ("rent-private", "Affitto privato", "Private rent"),
    (
        "rent-social",
        "Edilizia residenziale pubblica",
        "Social housing",
    ),
    ("hosted", "Ospite", "Hosted"),
    ("shelter", "Struttura di accoglienza", "Shelter"),
    ("homeless", "Senza dimora", "Homeless"),
    ("other", "Altro", "Other"),
    ("adequate", "Adeguata", "Adequate"),
    ("overcrowded", "Sovraffollata", "Overcrowded"),
    ("unfit", "Inadeguata", "Unfit"),
    ("eviction-pending", "Sfratto in corso", "Eviction pending"),
    // ISEE, household, income, employment
    ("ordinario", "Ordinario", "Ordinary"),
    ("corrente", "Corrente", "Current"),
    ("minorenni", "Minorenni", "Minors"),
    ("sociosanitario", "Sociosanitario", "Social and health"),
    ("universitario", "Universitario", "University"),
    ("single", "Persona sola", "Single"),
    ("couple", "Coppia", "Couple"),
    (
        "couple-with-children",
        "Coppia con figli",
        "Couple with children",
    ),
    ("single-parent", "Genitore solo", "Single parent"),
    ("extended", "Famiglia allargata", "Extended family"),
    ("none", "Nessun reddito", "No income"),
    ("under-6k", "Meno di 6.000 €", "Under €6,000"),
    ("6k-12k", "6.000–12.000 €", "€6,000–12,000"),
    ("12k-20k", "12.000–20.000 €", "€12,000–20,000"),
    ("over-20k", "Oltre 20.000 €", "Over €20,000"),
    ("employed", "Occupato/a", "Employed"),
    ("unemployed", "Disoccupato/a", "Unemployed"),
    ("retired", "Pensionato/a", "Retired"),
    ("student", "Studente/ssa", "Student"),
    ("inactive", "Inattivo/a", "Inactive"),
    ("unable-to-work", "Inabile al lavoro", "Unable to work"),
    // support network
    ("relative", "Familiare", "Relative"),
    ("neighbour", "Vicino/a di casa", "Neighbour"),
    ("volunteer", "Volontario/a", "Volunteer"),
    ("parish", "Parrocchia", "Parish"),
    ("association", "Associazione", "Association"),
    ("friend", "Amico/a", "Friend"),
    // severity
    ("low", "Bassa", "Low"),
    ("medium", "Media", "Medium"),
    ("high", "Alta", "High"),
    // judicial
    ("sentence", "Sentenza", "Sentence"),
    (
        "alternative-measure",
        "Misura alternativa",
        "Alternative measure",
    ),
    ("probation", "Messa alla prova", "Probation"),
    (
        "protection-order",
        "Ordine di protezione",
        "Protection order",
    ),
    ("eviction", "Sfratto", "Eviction"),
    (
        "amministrazione-di-sostegno",
        "Amministrazione di sostegno",
        "Support administration",
    ),
    ("tutela", "Tutela", "Guardianship"),
    ("curatela", "Curatela", "Curatorship"),
    (
        "juvenile-court-measure",
        "Provvedimento del tribunale per i minorenni",
        "Juvenile court measure",
    ),
    ("custody", "Affidamento", "Custody"),
    // referring services
    ("serd", "SerD (dipendenze)", "SerD (addictions)"),
    ("noa", "NOA (alcol)", "NOA (alcohol)"),
    ("cps", "CPS (salute mentale)", "CPS (mental health)"),
    ("consultorio", "Consultorio", "Family clinic"),
    ("school", "Scuola", "School"),
    ("hospital", "Ospedale", "Hospital"),
    // health
    ("invalidita-civile", "Invalidità civile", "Civil invalidity"),
    (
        "l104-art3c1",
        "Legge 104, art. 3 c. 1",
        "Law 104, art. 3(1)",
    ),
    (
        "l104-art3c3",
        "Legge 104, art. 3 c. 3 (grave)",
        "Law 104, art. 3(3) (severe)",
    ),
    ("cecita", "Cecità", "Blindness"),
    ("sordita", "Sordità", "Deafness"),
    (
        "pai",
        "Piano assistenziale individuale",
        "Individual care plan",
    ),
    (
        "adi",
        "Assistenza domiciliare integrata",
        "Integrated home care",
    ),
    ("psichiatrico", "Piano psichiatrico", "Psychiatric plan"),
    ("dipendenze", "Piano per le dipendenze", "Addiction plan"),
    // sexes
    ("female", "Donne", "Women"),
    ("male", "Uomini", "Men"),
];

/// A code of the common vocabularies in words; `display` (the partner's
/// own label) for a code the console does not know, else the code.
pub fn code(code: &str, display: &str, t: &Texts) -> String {
    match CODES.iter().find(|(c, _, _)| *c == code) {
        Some((_, it, en)) => lang::pick(t, it, en).to_string(),
        None if !display.is_empty() => display.to_string(),
        None => code.to_string(),
    }
}

/// The code whose words are `text` (in either language, any case), or
/// `text` itself when it names no code (a district, a code typed as such).
pub fn code_named(text: &str) -> String {
    let wanted = text.trim().to_lowercase();
    CODES
        .iter()
        .find(|(_, it, en)| it.to_lowercase() == wanted || en.to_lowercase() == wanted)
        .map_or_else(
            || text.trim().to_string(),
            |(code, _, _)| (*code).to_string(),
        )
}

/// The record's field names (as the canonical JSON spells them): (name,
/// Italian, English).
const FIELDS: &[(&str, &str, &str)] = &[
    ("tenure", "Titolo di godimento", "Tenure"),
    ("condition", "Condizione dell'alloggio", "Condition"),
    ("district", "Quartiere", "District"),
    ("address", "Indirizzo", "Address"),
    ("since", "Dal", "Since"),
    ("isee", "ISEE", "ISEE"),
    ("value", "Valore", "Value"),
    ("issued", "Rilasciato il", "Issued"),
    ("validUntil", "Valido fino al", "Valid until"),
    ("kind", "Tipo", "Kind"),
    ("household", "Nucleo familiare", "Household"),
    ("members", "Componenti", "Members"),
    ("minors", "Minori", "Minors"),
    ("composition", "Composizione", "Composition"),
    ("incomeBand", "Fascia di reddito", "Income band"),
    (
        "employmentStatus",
        "Condizione lavorativa",
        "Employment status",
    ),
    ("description", "Descrizione", "Description"),
    ("active", "Attiva", "Active"),
    ("need", "Bisogno", "Need"),
    ("severity", "Gravità", "Severity"),
    ("identified", "Rilevato il", "Identified"),
    ("open", "Aperto", "Open"),
    ("authority", "Autorità", "Authority"),
    ("date", "Data", "Date"),
    ("reference", "Riferimento", "Reference"),
    ("court", "Tribunale", "Court"),
    ("period", "Periodo", "Period"),
    ("start", "inizio", "start"),
    ("end", "fine", "end"),
    ("guardian", "Tutore o amministratore", "Guardian"),
    ("fromService", "Servizio inviante", "Referring service"),
    (
        "fromOrganisation",
        "Ente inviante",
        "Referring organisation",
    ),
    ("reason", "Motivo", "Reason"),
    ("status", "Stato", "Status"),
    ("code", "Codice", "Code"),
    ("provider", "Erogato da", "Provider"),
    ("amount", "Importo", "Amount"),
    ("voucher", "Voucher", "Voucher"),
    (
        "disability",
        "Riconoscimento di disabilità",
        "Disability recognition",
    ),
    ("percentage", "Percentuale", "Percentage"),
    ("recognised", "Riconosciuta il", "Recognised"),
    ("review", "Revisione", "Review"),
    ("carePlan", "Piano di cura", "Care plan"),
    ("team", "Équipe", "Team"),
    ("organisation", "Ente", "Organisation"),
    ("office", "Ufficio", "Office"),
    ("caseManager", "Referente", "Case manager"),
    ("caseId", "Numero di cartella", "Case number"),
    ("opened", "Aperta il", "Opened"),
];

/// A field name of the record in words (the name itself if unknown).
pub fn field(name: &str, t: &Texts) -> String {
    FIELDS.iter().find(|(n, _, _)| *n == name).map_or_else(
        || name.to_string(),
        |(_, it, en)| lang::pick(t, it, en).to_string(),
    )
}

/// A query field that matched a candidate (`family_name`, `birth_date`…)
/// in words; `ambiguous` (a tie) is said elsewhere and left out.
pub fn matched(field: &str, t: &Texts) -> Option<&'static str> {
    let (it, en) = match field {
        "tax_code" => ("codice fiscale", "tax code"),
        "tax_code_fragment" => ("parte del codice fiscale", "part of the tax code"),
        "family_name" => ("cognome", "family name"),
        "given_name" => ("nome", "given name"),
        "birth_date" => ("data di nascita", "birth date"),
        "birthplace_code" => ("luogo di nascita", "birthplace"),
        "sex" => ("sesso", "sex"),
        "local_id" => ("identificativo dell'ente", "partner's id"),
        _ => return None,
    };
    Some(lang::pick(t, it, en))
}

/// A role of the federation's policy in words (the code if unknown).
pub fn role(code: &str, t: &Texts) -> String {
    let (it, en) = match code {
        "assistente_sociale" => ("assistente sociale", "social worker"),
        "educatore" => ("educatore", "educator"),
        "sportello" => ("sportello", "front desk"),
        "ufficio_di_piano" => ("ufficio di piano", "planning office"),
        "audit" => ("controllo degli accessi", "access review"),
        "operatore_centro_ascolto" => (
            "operatore del centro di ascolto",
            "listening-centre volunteer",
        ),
        "responsabile_centro" => ("responsabile del centro", "centre manager"),
        "operatore_cps" => ("operatore CPS", "CPS worker"),
        "operatore_serd" => ("operatore SerD", "SerD worker"),
        other => return other.to_string(),
    };
    lang::pick(t, it, en).to_string()
}

/// Yes or no.
pub fn yes_no(value: bool, t: &Texts) -> &'static str {
    if value {
        lang::pick(t, "sì", "yes")
    } else {
        lang::pick(t, "no", "no")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{EN, IT};

    #[test]
    fn every_vocabulary_code_of_the_schema_has_words() {
        for vocabulary in [
            trama_proto::stats::NEEDS,
            trama_proto::stats::INTERVENTIONS,
            trama_proto::stats::CASE_STATUSES,
        ] {
            for c in vocabulary {
                assert_ne!(code(c, "", &IT), *c, "{c} has Italian words");
                assert_ne!(code(c, "", &EN), "", "{c} has English words");
            }
        }
        assert_eq!(code("mental-health", "", &IT), "Salute mentale");
        assert_eq!(code("X-LOCAL", "Voce del partner", &IT), "Voce del partner");
        assert_eq!(purpose("presa_in_carico", &IT), "Presa in carico");
        assert_eq!(field("caseManager", &IT), "Referente");
        assert_eq!(code_named("salute mentale"), "mental-health");
        assert_eq!(code_named("Mental health"), "mental-health");
        assert_eq!(code_named("Cremona Centro"), "Cremona Centro");
    }
}
