//! The chain: each entry's hash covers its sequence number, the previous
//! entry's hash and its payload, so changing, removing, inserting or
//! reordering an entry breaks every hash after it. Checkpoints sign the
//! hash at a sequence number with the node's own private key (the key of
//! its federation certificate), so a truncated tail is detectable too.

use std::path::Path;
use std::sync::Arc;

use ring::digest;
use ring::signature::{self, UnparsedPublicKey};
use rustls::SignatureScheme;
use rustls::sign::SigningKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::AuditError;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of entry `seq` whose predecessor's hash is `prev`.
pub fn entry_hash(seq: i64, prev: &str, payload: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"trama-audit/v1\n");
    ctx.update(seq.to_string().as_bytes());
    ctx.update(b"\n");
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(payload.as_bytes());
    hex::encode(ctx.finish().as_ref())
}

/// A signed statement that the log held `seq` entries, the last with
/// hash `hash`, at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The sequence number of the last entry covered.
    pub seq: i64,
    /// That entry's hash.
    pub hash: String,
    /// When the checkpoint was made, RFC 3339 UTC.
    pub time: String,
    /// The signature scheme, for example `ecdsa-p256-sha256`.
    pub scheme: String,
    /// The signature, hexadecimal.
    pub signature: String,
    /// Which key signed: the SHA-256 of its SubjectPublicKeyInfo,
    /// hexadecimal. A node's key changes when its certificate is renewed.
    #[serde(default)]
    pub key_id: String,
    /// The chain it seals: the replica that wrote it (`""`, and left out
    /// of the checkpoint file, for the only chain of a log).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chain: String,
}

impl Checkpoint {
    /// The bytes signed: for a replica's chain, its name too, so that a
    /// checkpoint moved to another chain does not verify there; the only
    /// chain of a log (`""`) keeps the first layout, which every earlier
    /// checkpoint signed.
    pub fn message_of(chain: &str, seq: i64, hash: &str, time: &str) -> Vec<u8> {
        if chain.is_empty() {
            return Checkpoint::message(seq, hash, time);
        }
        format!("trama-audit-checkpoint/v2\n{chain}\n{seq}\n{hash}\n{time}").into_bytes()
    }

    /// The bytes signed for the only chain of a log.
    pub fn message(seq: i64, hash: &str, time: &str) -> Vec<u8> {
        format!("trama-audit-checkpoint/v1\n{seq}\n{hash}\n{time}").into_bytes()
    }
}

/// The key id of a SubjectPublicKeyInfo (DER): its SHA-256, hexadecimal.
pub fn key_id(spki: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, spki).as_ref())
}

/// Reads a PEM file; returns its bytes and a constructor of errors that
/// name it.
fn read_pem(path: &Path) -> Result<(Vec<u8>, impl Fn(String) -> AuditError + '_), AuditError> {
    let bytes = std::fs::read(path).map_err(|source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = move |problem: String| AuditError::Key {
        path: path.to_path_buf(),
        problem,
    };
    Ok((bytes, bad))
}

/// Signs checkpoints with the node's private key, re-read from its file
/// before each checkpoint so a renewed certificate's key is used without a
/// restart.
#[derive(Debug, Clone)]
pub struct Signer {
    key: Arc<dyn SigningKey>,
    key_id: String,
    path: std::path::PathBuf,
}

const SCHEMES: [(SignatureScheme, &str); 3] = [
    (SignatureScheme::ECDSA_NISTP256_SHA256, "ecdsa-p256-sha256"),
    (SignatureScheme::ECDSA_NISTP384_SHA384, "ecdsa-p384-sha384"),
    (SignatureScheme::ED25519, "ed25519"),
];

impl Signer {
    /// Loads the private key (PEM) at `path`.
    pub fn load(path: &Path) -> Result<Signer, AuditError> {
        let (bytes, bad) = read_pem(path)?;
        let der = PrivateKeyDer::from_pem_slice(&bytes)
            .map_err(|e| bad(format!("no private key found: {e}")))?;
        let key = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(der)
            .map_err(|e| bad(format!("unusable private key: {e}")))?;
        let key_id = key
            .public_key()
            .map(|spki| self::key_id(spki.as_ref()))
            .ok_or_else(|| bad("the key's public half cannot be derived".into()))?;
        let signer = Signer {
            key,
            key_id,
            path: path.to_path_buf(),
        };
        // Fail at start, not at the first checkpoint.
        signer
            .sign(b"probe")
            .map_err(|e| bad(format!("cannot sign checkpoints: {e}")))?;
        Ok(signer)
    }

    /// The id of the signing key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Re-reads the key file; keeps the current key if it does not load.
    pub fn reload(&mut self) {
        match Signer::load(&self.path) {
            Ok(fresh) => {
                if fresh.key_id != self.key_id {
                    tracing::info!(file = %self.path.display(), key = %fresh.key_id, "audit checkpoints now signed with a new key");
                }
                *self = fresh;
            }
            Err(e) => {
                tracing::error!(error = %e, "signing key not reloaded; the previous one signs")
            }
        }
    }

    /// A checkpoint of `chain` sealing entry `seq` with hash `hash`,
    /// signed now.
    pub fn seal(&self, chain: &str, seq: i64, hash: &str) -> Result<Checkpoint, String> {
        let time = trama_plumbing::clock::now();
        let (scheme, signature) = self.sign(&Checkpoint::message_of(chain, seq, hash, &time))?;
        Ok(Checkpoint {
            seq,
            hash: hash.to_string(),
            time,
            scheme,
            signature: hex::encode(&signature),
            key_id: self.key_id.clone(),
            chain: chain.to_string(),
        })
    }

    /// Signs `message`; returns the scheme name and the signature.
    pub fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), String> {
        let offered: Vec<SignatureScheme> = SCHEMES.iter().map(|(s, _)| *s).collect();
        let signer = self
            .key
            .choose_scheme(&offered)
            .ok_or_else(|| "the key is neither ECDSA P-256, ECDSA P-384 nor Ed25519".to_string())?;
        let name = SCHEMES
            .iter()
            .find(|(s, _)| *s == signer.scheme())
            .map_or("unknown", |(_, n)| n);
        let signature = signer.sign(message).map_err(|e| e.to_string())?;
        Ok((name.to_string(), signature))
    }
}

/// What a verifier concludes about a checkpoint's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Signed by one of the certificates' keys.
    Valid,
    /// The key that signed is not among the certificates given (for
    /// example the node's certificate was renewed since).
    UnknownKey,
    /// Not a valid signature by the key it names.
    Invalid,
}

/// Verifies checkpoint signatures against a node's certificates: the one
/// in force and any it had before.
#[derive(Debug, Clone)]
pub struct SignatureVerifier {
    keys: Vec<(String, Vec<u8>)>,
}

impl SignatureVerifier {
    /// Reads the certificates (PEM) at `paths`; in each file the first
    /// certificate is the node's.
    pub fn load_all(paths: &[std::path::PathBuf]) -> Result<SignatureVerifier, AuditError> {
        let mut keys = Vec::new();
        for p in paths {
            keys.extend(SignatureVerifier::load(p)?.keys);
        }
        Ok(SignatureVerifier { keys })
    }

    /// Reads the certificate (PEM) at `path`; the first certificate is the
    /// node's.
    pub fn load(path: &Path) -> Result<SignatureVerifier, AuditError> {
        let (bytes, bad) = read_pem(path)?;
        let der = CertificateDer::pem_slice_iter(&bytes)
            .next()
            .ok_or_else(|| bad("no certificate found".into()))?
            .map_err(|e| bad(e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| bad(format!("not a certificate: {e}")))?;
        let spki = cert.public_key();
        Ok(SignatureVerifier {
            keys: vec![(key_id(spki.raw), spki.subject_public_key.data.to_vec())],
        })
    }

    /// Whether `checkpoint` carries a valid signature by one of the
    /// certificates' keys.
    pub fn verify(&self, checkpoint: &Checkpoint) -> bool {
        self.check(checkpoint) == SignatureCheck::Valid
    }

    /// Checks `checkpoint`'s signature, telling a key that is not among the
    /// certificates from a bad signature.
    pub fn check(&self, checkpoint: &Checkpoint) -> SignatureCheck {
        let candidates: Vec<&Vec<u8>> = if checkpoint.key_id.is_empty() {
            self.keys.iter().map(|(_, k)| k).collect()
        } else {
            self.keys
                .iter()
                .filter(|(id, _)| *id == checkpoint.key_id)
                .map(|(_, k)| k)
                .collect()
        };
        if candidates.is_empty() {
            return SignatureCheck::UnknownKey;
        }
        let alg: &dyn signature::VerificationAlgorithm = match checkpoint.scheme.as_str() {
            "ecdsa-p256-sha256" => &signature::ECDSA_P256_SHA256_ASN1,
            "ecdsa-p384-sha384" => &signature::ECDSA_P384_SHA384_ASN1,
            "ed25519" => &signature::ED25519,
            _ => return SignatureCheck::Invalid,
        };
        let Some(sig) = hex::decode(&checkpoint.signature).ok() else {
            return SignatureCheck::Invalid;
        };
        let message = Checkpoint::message_of(
            &checkpoint.chain,
            checkpoint.seq,
            &checkpoint.hash,
            &checkpoint.time,
        );
        if candidates.iter().any(|k| {
            UnparsedPublicKey::new(alg, k.as_slice())
                .verify(&message, &sig)
                .is_ok()
        }) {
            SignatureCheck::Valid
        } else {
            SignatureCheck::Invalid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(hex::encode([0, 15, 255]), "000fff");
        assert_eq!(hex::decode("000fff").ok(), Some(vec![0, 15, 255]));
        assert_eq!(hex::decode("0g").ok(), None);
        assert_eq!(hex::decode("abc").ok(), None);
    }

    #[test]
    fn hashes_cover_sequence_predecessor_and_payload() {
        let h = entry_hash(1, GENESIS, "{}");
        assert_eq!(h.len(), 64);
        assert_ne!(h, entry_hash(2, GENESIS, "{}"));
        assert_ne!(h, entry_hash(1, &h, "{}"));
        assert_ne!(h, entry_hash(1, GENESIS, "{ }"));
        assert_eq!(h, entry_hash(1, GENESIS, "{}"));
    }

    #[test]
    fn checkpoints_verify_only_with_the_signers_certificate() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let mut files = Vec::new();
        for name in ["a", "b"] {
            let Ok(key) = rcgen::KeyPair::generate() else {
                panic!("keygen")
            };
            let Ok(params) = rcgen::CertificateParams::new(vec![format!("{name}.test")]) else {
                panic!("params")
            };
            let Ok(cert) = params.self_signed(&key) else {
                panic!("cert")
            };
            let k = dir.path().join(format!("{name}-key.pem"));
            let c = dir.path().join(format!("{name}.pem"));
            assert!(std::fs::write(&k, key.serialize_pem()).is_ok());
            assert!(std::fs::write(&c, cert.pem()).is_ok());
            files.push((k, c));
        }
        let Ok(signer) = Signer::load(&files[0].0) else {
            panic!("signer")
        };
        let hash = entry_hash(7, GENESIS, "x");
        let time = "2026-11-23T00:00:00Z";
        let Ok((scheme, sig)) = signer.sign(&Checkpoint::message(7, &hash, time)) else {
            panic!("sign")
        };
        let cp = Checkpoint {
            seq: 7,
            hash: hash.clone(),
            time: time.into(),
            scheme,
            signature: hex::encode(sig),
            key_id: signer.key_id().to_string(),
            chain: String::new(),
        };
        let Ok(good) = SignatureVerifier::load(&files[0].1) else {
            panic!("verifier")
        };
        let Ok(other) = SignatureVerifier::load(&files[1].1) else {
            panic!("verifier")
        };
        assert!(good.verify(&cp));
        assert_eq!(
            other.check(&cp),
            SignatureCheck::UnknownKey,
            "another key's certificate"
        );
        let Ok(both) = SignatureVerifier::load_all(&[files[1].1.clone(), files[0].1.clone()])
        else {
            panic!("verifier")
        };
        assert!(both.verify(&cp), "an earlier certificate among several");
        let forged = Checkpoint {
            signature: hex::encode([0u8; 64]),
            ..cp.clone()
        };
        assert_eq!(good.check(&forged), SignatureCheck::Invalid);
        assert!(
            !good.verify(&Checkpoint {
                seq: 8,
                ..cp.clone()
            }),
            "moved"
        );
        assert!(!good.verify(&Checkpoint {
            hash: entry_hash(7, GENESIS, "y"),
            ..cp
        }));
    }
}
