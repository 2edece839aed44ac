//! What a client system of a Trama federation needs, shared by `trama
//! query` and the lab: client profiles and the channel they open to the
//! gateway (`profile.rs`), and answers printed as readable tables or
//! canonical protobuf JSON (`render.rs`), statistics as tables and CSV
//! (`stats.rs`), and the one reader and writer of amounts (`money.rs`) and
//! of typed dates (`dates.rs`) that the command line and the console share,
//! and the pieces of a request as typed on a command line, with the one way
//! a request is sent under its deadline (`requests.rs`).

pub mod dates;
pub mod money;
pub mod profile;
pub mod render;
pub mod requests;
pub mod stats;

pub use profile::{Operator, Profile, ProfileError};

/// A section list that names a section Trama does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown section `{name}`; known: {known}")]
pub struct UnknownSection {
    /// The name given.
    pub name: String,
    /// Every section's name, comma-separated.
    pub known: String,
}

/// Parses a comma-separated section list (`all` for every section) into
/// the `trama.v1.Section` values a request carries.
pub fn parse_sections(list: &str) -> Result<Vec<i32>, UnknownSection> {
    if list.trim() == "all" {
        return Ok(trama_proto::sections::ALL
            .iter()
            .map(|s| *s as i32)
            .collect());
    }
    list.split(',')
        .map(|name| {
            trama_proto::sections::parse(name.trim())
                .map(|s| s as i32)
                .ok_or_else(|| UnknownSection {
                    name: name.to_string(),
                    known: trama_proto::sections::all_names(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_parse_by_name_and_all_names_every_section() {
        let two = parse_sections("housing, health").unwrap_or_default();
        assert_eq!(
            two,
            vec![
                trama_proto::v1::Section::Housing as i32,
                trama_proto::v1::Section::Health as i32
            ]
        );
        let all = parse_sections("all").unwrap_or_default();
        assert_eq!(all.len(), trama_proto::sections::ALL.len());
        let err = parse_sections("housing,wealth").err();
        assert!(err.is_some_and(|e| e.to_string().contains("unknown section `wealth`")));
    }
}
