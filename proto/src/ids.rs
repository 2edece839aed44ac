//! Stable UUIDs for what Trama names by text (a service's `org/id`, a
//! provider's name, a need code), for exchanges whose identifiers must be
//! UUIDs, such as the Human Services Data Specification: version 5, so
//! every node derives the same one from the same name, with no table.

use uuid::Uuid;

/// Trama's namespace for its derived UUIDs.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_4f2e_93a4_4d0b_9a55_2b6e_87d1_c3a0);

fn derived(kind: &str, name: &str) -> String {
    Uuid::new_v5(&NAMESPACE, format!("{kind}:{name}").as_bytes())
        .hyphenated()
        .to_string()
}

/// The UUID of the service `id` (`organisation/local id`).
pub fn service(id: &str) -> String {
    derived("service", id)
}

/// The UUID of the providing organisation named `name`.
pub fn organization(name: &str) -> String {
    derived("organization", name)
}

/// The UUID of the code `code` of code system `system`, for example a need
/// of `urn:trama:cs:need`.
pub fn term(system: &str, code: &str) -> String {
    derived(&format!("term:{system}"), code)
}

/// The UUID of the part `part` (a schedule, a phone, a cost option) of the
/// service `id`.
pub fn part(id: &str, part: &str) -> String {
    derived(&format!("service-part:{id}"), part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_gives_the_same_uuid_and_kinds_do_not_collide() {
        let a = service("comune/SAD");
        assert_eq!(a, service("comune/SAD"));
        assert_ne!(a, service("comune/AES"));
        assert_ne!(service("x"), organization("x"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'5', "version 5: {a}");
    }
}
