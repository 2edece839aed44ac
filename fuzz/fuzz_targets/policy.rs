//! The policy loader on any text, and a decision by every policy it
//! accepts: a clear error or a decision, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use trama_gateway::policy::{Action, Asker, LogScope, Policy, Resource};
use trama_proto::v1::Section;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Policy::parse(Path::new("fuzz/policy.cedar"), text) {
        let asker = Asker {
            organisation: "caritas",
            operator_id: "op-1",
            role: "operatore_centro_ascolto",
            purpose: "verifica_presa_in_carico",
            case_id: "",
            legal_basis: "",
        };
        let _ = p.decide(&asker, Action::Read, Resource::Section("asl", Section::Health));
        let _ = p.decide(&asker, Action::Find, Resource::Source("comune"));
        let _ = p.decide(&asker, Action::AccessLog, Resource::AuditLog(LogScope::Person));
    }
});
