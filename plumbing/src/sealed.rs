//! Secrets sealed at rest under a key file: AES-256-GCM with a fresh
//! random nonce per seal and associated data that binds a sealed value to
//! its place (a sealed value moved to another row does not open). Key
//! files hold 32 random bytes as 64 hexadecimal digits, mode 0600, created
//! once; every replica of a node is given the same file.

use std::io::Write;
use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes in a key.
pub const KEY_BYTES: usize = 32;

/// Why a value cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// The value does not open under this key and associated data: another
    /// key, or a changed or moved value.
    #[error("the sealed value does not open with this key")]
    Open,
}

/// Writes a new random key to `path` (mode 0600); refuses to overwrite.
pub fn create_key_file(path: &Path) -> std::io::Result<()> {
    let mut key = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| std::io::Error::other("the system random generator failed"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
    file.sync_all()
}

/// The key in the file at `path`, or what is wrong with it.
pub fn read_key_file(path: &Path) -> Result<[u8; KEY_BYTES], String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    hex::decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok())
        .ok_or_else(|| format!("not a key of {} hexadecimal digits", KEY_BYTES * 2))
}

/// An AES-256-GCM key that seals and opens values.
pub struct SealingKey {
    aead: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// A key of 32 bytes; `None` for another length.
    pub fn new(key: &[u8]) -> Option<SealingKey> {
        Some(SealingKey {
            aead: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?),
            random: SystemRandom::new(),
        })
    }

    /// Seals `plain`, bound to `aad`: nonce, then ciphertext and tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut out = plain.to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out,
            )
            .map_err(|_| SealError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Ok(sealed)
    }

    /// Opens what [`SealingKey::seal`] sealed with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut body = body.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("k.key");
        create_key_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(create_key_file(&path).is_err(), "never overwritten");
        let key = read_key_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(key, [0u8; KEY_BYTES]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        std::fs::write(&path, "abc").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_key_file(&path).is_err_and(|p| p.contains("64 hexadecimal")));
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_place_under_its_key() {
        let key = SealingKey::new(&[7u8; 32]).unwrap_or_else(|| panic!("a key"));
        let sealed = key
            .seal(b"row-1", b"secret")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            key.open(b"row-1", &sealed).ok().as_deref(),
            Some(&b"secret"[..])
        );
        assert!(key.open(b"row-2", &sealed).is_err(), "moved");
        let other = SealingKey::new(&[8u8; 32]).unwrap_or_else(|| panic!("a key"));
        assert!(other.open(b"row-1", &sealed).is_err(), "another key");
        assert!(SealingKey::new(&[1u8; 16]).is_none(), "not AES-256");
    }
}
