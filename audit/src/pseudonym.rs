//! Keyed pseudonyms of subjects: HMAC-SHA256 under a secret key that only
//! the node holds, so that the audit log can be searched by subject while
//! nobody reading it can reverse a pseudonym by enumerating tax codes.

use std::path::Path;

use ring::hmac;

use crate::AuditError;

/// Length of a pseudonym key in bytes.
const KEY_BYTES: usize = 32;

/// Computes keyed pseudonyms.
#[derive(Clone)]
pub struct Pseudonymiser {
    key: hmac::Key,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser(..)")
    }
}

impl Pseudonymiser {
    /// A pseudonymiser over raw key bytes.
    pub fn new(key: &[u8]) -> Pseudonymiser {
        Pseudonymiser {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// Loads the key from `path` (64 hex digits).
    pub fn load(path: &Path) -> Result<Pseudonymiser, AuditError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let key = hex::decode(text.trim()).ok()
            .filter(|k| k.len() == KEY_BYTES)
            .ok_or_else(|| AuditError::Key {
                path: path.to_path_buf(),
                problem: format!(
                    "a pseudonym key is {} hexadecimal digits; restore it from backup (a new key makes earlier audit entries unsearchable by subject)",
                    KEY_BYTES * 2
                ),
            })?;
        Ok(Pseudonymiser::new(&key))
    }

    /// Writes a new random key to `path` (mode 0600); refuses to overwrite.
    pub fn generate(path: &Path) -> Result<(), AuditError> {
        trama_plumbing::sealed::create_key_file(path).map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The pseudonym of a tax code (upper-cased and trimmed first).
    pub fn tax_code(&self, tax_code: &str) -> String {
        self.of(&format!("cf:{}", tax_code.trim().to_ascii_uppercase()))
    }

    /// The pseudonym of a partner's local id.
    pub fn local_id(&self, organisation: &str, id: &str) -> String {
        self.of(&format!("local:{organisation}:{}", id.trim()))
    }

    /// The pseudonyms of one person's identifiers: the tax code, if not
    /// empty, and each partner's `(organisation, local id)`.
    pub fn subject<'a>(
        &self,
        tax_code: &str,
        local_ids: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<String> {
        let mut out: Vec<String> = local_ids
            .into_iter()
            .map(|(org, id)| self.local_id(org, id))
            .collect();
        if !tax_code.trim().is_empty() {
            out.insert(0, self.tax_code(tax_code));
        }
        out
    }

    fn of(&self, value: &str) -> String {
        let tag = hmac::sign(&self.key, value.as_bytes());
        // 128 bits are plenty to tell subjects apart.
        hex::encode(&tag.as_ref()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_depend_on_the_key_and_normalise_tax_codes() {
        let a = Pseudonymiser::new(b"key one");
        let b = Pseudonymiser::new(b"key two");
        let code = "DNGGPP58L14D150Z";
        assert_eq!(a.tax_code(code), a.tax_code(" dnggpp58l14d150z "));
        assert_ne!(a.tax_code(code), b.tax_code(code));
        assert_ne!(a.tax_code(code), a.local_id("comune", code));
        assert_eq!(a.tax_code(code).len(), 32);
        assert!(!a.tax_code(code).contains("DNG"));
    }

    #[test]
    fn keys_are_generated_once_and_loaded_back() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let path = dir.path().join("k");
        assert!(Pseudonymiser::generate(&path).is_ok());
        assert!(Pseudonymiser::generate(&path).is_err(), "never overwrites");
        let p = Pseudonymiser::load(&path);
        assert!(p.is_ok());
        std::fs::write(&path, "abc").ok();
        let err = Pseudonymiser::load(&path)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("hexadecimal"), "{err}");
    }
}
