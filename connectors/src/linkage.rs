//! The federation linkage key: shared by the connectors, never held by the
//! gateway. A person's pseudonym for statistics is a keyed hash (HMAC-SHA256)
//! of their tax code under it, so every partner derives the same pseudonym
//! for the same person and the gateway can merge counts without a list of
//! people, while the gateway (without the key) cannot test whether a given
//! tax code is among them.

use std::path::{Path, PathBuf};

use ring::hmac;

/// Bytes of a linkage key.
pub const KEY_BYTES: usize = 32;

/// Why a linkage key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LinkageError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error(
        "{}: a linkage key is {} hexadecimal digits, the same file at every connector of the federation",
        path.display(),
        KEY_BYTES * 2
    )]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

/// The linkage key, ready to derive pseudonyms.
#[derive(Clone)]
pub struct Linkage {
    key: hmac::Key,
}

impl std::fmt::Debug for Linkage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Linkage(..)")
    }
}

impl Linkage {
    /// A linkage from raw key bytes.
    pub fn new(key: &[u8]) -> Linkage {
        Linkage {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// Reads the key file (hexadecimal, as `trama linkage-key` writes it).
    pub fn load(path: &Path) -> Result<Linkage, LinkageError> {
        let text = std::fs::read_to_string(path).map_err(|source| LinkageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let key = hex::decode(text.trim())
            .ok()
            .filter(|k| k.len() == KEY_BYTES)
            .ok_or_else(|| LinkageError::Malformed {
                path: path.to_path_buf(),
            })?;
        Ok(Linkage::new(&key))
    }

    /// The pseudonym of the person with this (valid, upper-case) tax code.
    pub fn person(&self, tax_code: &str) -> u64 {
        self.derive(b"cf\0", tax_code.as_bytes())
    }

    /// The pseudonym of a person known only by `organisation`'s own id:
    /// distinct from every other partner's, since without a tax code the
    /// same person cannot be recognised across partners.
    pub fn local(&self, organisation: &str, local_id: &str) -> u64 {
        let mut id = Vec::with_capacity(organisation.len() + local_id.len() + 1);
        id.extend_from_slice(organisation.as_bytes());
        id.push(0);
        id.extend_from_slice(local_id.as_bytes());
        self.derive(b"local\0", &id)
    }

    fn derive(&self, domain: &[u8], value: &[u8]) -> u64 {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(domain);
        ctx.update(value);
        let tag = ctx.sign();
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        u64::from_be_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_depend_on_the_key_and_the_partner_for_local_ids() {
        let a = Linkage::new(&[1; KEY_BYTES]);
        let b = Linkage::new(&[2; KEY_BYTES]);
        let cf = "RSSMRA80A01D150X";
        assert_eq!(a.person(cf), a.person(cf));
        assert_ne!(a.person(cf), b.person(cf));
        assert_ne!(a.local("caritas", "7"), a.local("comune", "7"));
        assert_ne!(a.local("caritas", "17"), a.local("caritas1", "7"));
    }

    #[test]
    fn a_malformed_key_file_is_named() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let path = dir.path().join("linkage.key");
        assert!(std::fs::write(&path, "abc").is_ok());
        let err = Linkage::load(&path).map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("linkage.key") && err.contains("64 hexadecimal"),
            "{err}"
        );
    }
}
