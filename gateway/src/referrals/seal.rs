//! Sealing a referral's content at rest: AES-256-GCM under the gateway's
//! referral key, a fresh random nonce per referral, and the referral's id
//! as associated data (a sealed content moved to another row does not
//! open). Keys derived from the same secret, through HMAC-SHA256,
//! fingerprint a request's content, so that a retried send is recognised
//! after the content itself is gone without the fingerprint revealing it,
//! and the sender's idempotency key, which a client may have built from
//! personal data and which the store therefore never holds as sent. Every
//! replica of a gateway holds the same referral key, so every replica
//! computes the same fingerprints.

use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use trama_plumbing::sealed::{SealingKey, read_key_file};

pub use trama_plumbing::sealed::SealError;

/// Why the referral key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: referrals.key: {problem}", path.display())]
pub struct KeyError {
    /// The key file.
    pub path: std::path::PathBuf,
    /// What is wrong.
    pub problem: String,
}

/// The referral key.
pub struct Sealer {
    aead: SealingKey,
    fingerprint: hmac::Key,
    idempotency: hmac::Key,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Reads the key at `path`, creating it on first start.
    pub fn open(path: &Path) -> Result<Sealer, KeyError> {
        let problem = |problem: String| KeyError {
            path: path.to_path_buf(),
            problem,
        };
        if !path.exists() {
            trama_plumbing::sealed::create_key_file(path).map_err(|e| problem(e.to_string()))?;
            tracing::info!(file = %path.display(), "created a new referral key; back it up and give it to every gateway replica");
        }
        let key = read_key_file(path).map_err(|p| {
            problem(format!(
                "{p}: restore it from backup (referrals waiting for delivery cannot be opened without it)"
            ))
        })?;
        Sealer::new(&key).ok_or_else(|| problem("not an AES-256 key".into()))
    }

    /// A sealer with a 32-byte key.
    pub fn new(key: &[u8]) -> Option<Sealer> {
        let aead = SealingKey::new(key)?;
        // A key of its own for each kind of fingerprint, derived from the
        // same secret: a fingerprint of one kind says nothing of the other.
        let secret = hmac::Key::new(hmac::HMAC_SHA256, key);
        let derived =
            |label: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&secret, label).as_ref());
        Some(Sealer {
            aead,
            fingerprint: derived(b"trama referral fingerprint"),
            idempotency: derived(b"trama referral idempotency key"),
            random: SystemRandom::new(),
        })
    }

    /// Seals `plain` for the referral `id`: nonce followed by ciphertext
    /// and tag.
    pub fn seal(&self, id: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        self.aead.seal(id.as_bytes(), plain)
    }

    /// Opens what [`Sealer::seal`] sealed for `id`.
    pub fn open_sealed(&self, id: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        self.aead.open(id.as_bytes(), sealed)
    }

    /// The keyed fingerprint of `bytes`, hexadecimal.
    pub fn fingerprint(&self, bytes: &[u8]) -> String {
        hex::encode(hmac::sign(&self.fingerprint, bytes).as_ref())
    }

    /// The keyed fingerprint of `sender`'s idempotency key `key`,
    /// hexadecimal: what the store keeps in its place. The sender is part of
    /// it, so one key used by two senders gives two fingerprints.
    pub fn key_fingerprint(&self, sender: &str, key: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.idempotency);
        ctx.update(sender.as_bytes());
        ctx.update(&[0x1f]);
        ctx.update(key.as_bytes());
        hex::encode(ctx.sign().as_ref())
    }

    /// A fresh referral id, a random UUID.
    pub fn new_id(&self) -> Result<String, SealError> {
        let mut bytes = [0u8; 16];
        self.random
            .fill(&mut bytes)
            .map_err(|_| SealError::Random)?;
        Ok(uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&[7u8; 32]).unwrap_or_else(|| panic!("a 32-byte key"))
    }

    #[test]
    fn sealed_content_opens_only_for_its_own_id_and_key() {
        let s = sealer();
        let plain = b"RSSMRA80A01D150X mental-health";
        let sealed = s.seal("a", plain).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !sealed.windows(16).any(|w| w == &plain[..16]),
            "no clear text in what is stored"
        );
        assert_eq!(
            s.open_sealed("a", &sealed).ok().as_deref(),
            Some(&plain[..])
        );
        assert!(s.open_sealed("b", &sealed).is_err(), "moved to another row");
        let other = Sealer::new(&[8u8; 32]).unwrap_or_else(|| panic!("a key"));
        assert!(other.open_sealed("a", &sealed).is_err(), "another key");
        let mut changed = sealed.clone();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        assert!(s.open_sealed("a", &changed).is_err(), "a changed byte");
        let again = s.seal("a", plain).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(sealed, again, "a fresh nonce each time");
    }

    #[test]
    fn fingerprints_are_keyed_and_ids_random() {
        let s = sealer();
        assert_eq!(s.fingerprint(b"x"), s.fingerprint(b"x"));
        assert_ne!(s.fingerprint(b"x"), s.fingerprint(b"y"));
        let other = Sealer::new(&[8u8; 32]).unwrap_or_else(|| panic!("a key"));
        assert_ne!(s.fingerprint(b"x"), other.fingerprint(b"x"));
        let key = s.key_fingerprint("asl", "cps-RSSMRA80A01D150X");
        assert_eq!(key, s.key_fingerprint("asl", "cps-RSSMRA80A01D150X"));
        assert_eq!(key.len(), 64);
        assert!(!key.contains("RSSMRA"));
        assert_ne!(key, s.key_fingerprint("caritas", "cps-RSSMRA80A01D150X"));
        assert_ne!(key, other.key_fingerprint("asl", "cps-RSSMRA80A01D150X"));
        // Another derived key: not the content's fingerprint of the same
        // bytes.
        assert_ne!(s.key_fingerprint("asl", "k"), s.fingerprint(b"asl\x1fk"));
        let id = s.new_id().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()).ok(),
            Some(4)
        );
    }
}
