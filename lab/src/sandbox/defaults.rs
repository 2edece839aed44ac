//! What the demo federation is, and so what a sandbox is unless told
//! otherwise: its name, its access policy, each partner's export rules, and
//! the client profiles it writes.

use super::files::{ClientProfile, ExportRule};
use crate::seed::Partner;

/// The demo federation's name.
pub const FEDERATION: &str = "demo";

/// The demo federation's access policy (the example in `deploy/`).
pub const DEMO_POLICY: &str = include_str!("../../../deploy/policy.example.cedar");

/// The client profiles the sandbox writes (`client-<profile>.toml`).
pub const CLIENTS: [ClientProfile; 5] = [
    ClientProfile {
        profile: "comune",
        who: "the comune's social services app",
        organisation: "comune",
        operator: "op-comune-01",
        role: "assistente_sociale",
        purpose: "presa_in_carico",
        case_id: Some(crate::seed::population::FEATURED_CASE),
    },
    ClientProfile {
        profile: "caritas",
        who: "the Caritas listening centre's desk",
        organisation: "caritas",
        operator: "op-caritas-01",
        role: "operatore_centro_ascolto",
        purpose: "verifica_presa_in_carico",
        case_id: None,
    },
    ClientProfile {
        profile: "planning",
        who: "the comune's planning office (statistics)",
        organisation: "comune",
        operator: "op-piano-01",
        role: "ufficio_di_piano",
        purpose: "programmazione",
        case_id: None,
    },
    ClientProfile {
        profile: "cps",
        who: "the health authority's adult mental-health centre (CPS), sending referrals",
        organisation: "asl",
        operator: "op-cps-01",
        role: "operatore_cps",
        purpose: "segnalazione",
        case_id: Some("CPS-2026-0117"),
    },
    ClientProfile {
        profile: "dpo",
        who: "the data-protection officer",
        organisation: "comune",
        operator: "dpo-01",
        role: "audit",
        purpose: "controllo_accessi",
        case_id: None,
    },
];

/// Organisations whose connectors map no cases, so that the gateway takes
/// the case ids their operators state as stated (the health authority's
/// CPS numbers its own cases; its connector maps health data only).
pub const CASES_TAKEN_AS_STATED: [&str; 1] = ["asl"];

/// Client organisations that get a client certificate.
pub const CLIENT_ORGANISATIONS: [&str; 3] = ["comune", "caritas", "asl"];

/// Each demo partner's export rules (the `[[export]]` rules of its
/// `connector.toml`).
pub fn export_rules(partner: Partner) -> Vec<ExportRule> {
    let mut rules = release_rules(partner);
    rules.push(
        ExportRule::counts(&["comune"], &["programmazione"], &["ufficio_di_piano"])
            .note("Counts for the planning office: sketches of pseudonyms, never a person."),
    );
    rules
}

/// What each partner releases of its records.
fn release_rules(partner: Partner) -> Vec<ExportRule> {
    let case_work = ["presa_in_carico", "valutazione_multidimensionale"];
    match partner {
        Partner::Comune => vec![
            ExportRule::new(
                &["comune"],
                &[case_work[0], case_work[1], "tutela_minori"],
                &["*"],
            )
            .case_id_required(),
            ExportRule::new(
                &["comune"],
                &["orientamento"],
                &[
                    "housing",
                    "needs",
                    "support_network",
                    "interventions",
                    "case_membership",
                ],
            ),
            ExportRule::new(
                &["caritas"],
                &["verifica_presa_in_carico"],
                &["case_membership"],
            )
            .note("Other services may learn whether the person is followed, and by whom."),
            ExportRule::referrals_from(&["asl", "caritas"], &["segnalazione"])
                .note("Referrals from the health authority's services and the listening centre."),
        ],
        Partner::Asl => vec![
            ExportRule::new(&["comune"], &case_work, &["health", "referrals"])
                .roles(&["assistente_sociale"])
                .case_id_required()
                .note("Health data leave only for the comune's case work."),
        ],
        Partner::Caritas => vec![
            ExportRule::new(
                &["comune"],
                &["presa_in_carico"],
                &["needs", "support_network", "interventions"],
            )
            .case_id_required(),
            ExportRule::new(
                &["caritas"],
                &["verifica_presa_in_carico"],
                &["case_membership"],
            )
            .note("The centre's own desk finds its own people."),
        ],
        Partner::Caf => vec![
            ExportRule::new(&["comune"], &["presa_in_carico"], &["socio_economic"])
                .case_id_required()
                .note("ISEE declarations, for the comune's case work only."),
        ],
        Partner::Consorzio => vec![
            ExportRule::new(&["comune"], &["presa_in_carico"], &["interventions"])
                .case_id_required()
                .note("Services the cooperatives deliver, for the comune that pays for them."),
            ExportRule::referrals_from(&["comune", "caritas"], &["segnalazione"])
                .note("Requests for a service from the social services and the listening centre."),
        ],
    }
}
