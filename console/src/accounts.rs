//! Local accounts, for the demo and for small associations without an
//! identity provider: a TOML file of operators, each with an Argon2id
//! password hash (PHC string), a display name and the Trama role the
//! console vouches for. `trama console hash-password` writes a hash.

use std::path::{Path, PathBuf};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use serde::Deserialize;

/// One operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// What the operator types to sign in; also their operator id in calls.
    pub username: String,
    /// Their name, shown in the console.
    pub name: String,
    /// The Trama role the console states for them, for example
    /// `assistente_sociale`.
    pub role: String,
    password: String,
}

/// The accounts file.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    accounts: Vec<Account>,
}

/// Why the accounts file is refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// It could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// It is not valid.
    #[error("{}: key `{key}`: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key at fault.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccounts {
    #[serde(default)]
    accounts: Vec<RawAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    username: String,
    name: String,
    role: String,
    password: String,
}

impl Accounts {
    /// Reads and checks the file: every hash must be an Argon2 PHC string
    /// and every username unique.
    pub fn load(path: &Path) -> Result<Accounts, AccountsError> {
        let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Accounts::parse(path, &text)
    }

    /// Parses accounts text; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Accounts, AccountsError> {
        let invalid = |key: String, problem: String| AccountsError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
        };
        let raw: RawAccounts =
            toml::from_str(text).map_err(|e| invalid("accounts".into(), e.message().into()))?;
        let mut accounts: Vec<Account> = Vec::new();
        for (i, a) in raw.accounts.into_iter().enumerate() {
            for (key, value) in [
                ("username", &a.username),
                ("role", &a.role),
                ("name", &a.name),
            ] {
                if value.trim().is_empty() {
                    return Err(invalid(format!("accounts[{i}].{key}"), "is empty".into()));
                }
            }
            if accounts.iter().any(|b| b.username == a.username) {
                return Err(invalid(
                    format!("accounts[{i}].username"),
                    format!("`{}` is listed twice", a.username),
                ));
            }
            if PasswordHash::new(&a.password).is_err() || !a.password.starts_with("$argon2") {
                return Err(invalid(
                    format!("accounts[{i}].password"),
                    "not an Argon2 hash: write one with `trama console hash-password`".into(),
                ));
            }
            accounts.push(Account {
                username: a.username,
                name: a.name,
                role: a.role,
                password: a.password,
            });
        }
        Ok(Accounts { accounts })
    }

    /// The account whose username and password these are. The hash is
    /// always computed, also for an unknown username, so that the time of
    /// a refusal does not tell whether the username exists.
    pub fn verify(&self, username: &str, password: &str) -> Option<&Account> {
        let found = self.accounts.iter().find(|a| a.username == username);
        let hash = found.map_or(DUMMY_HASH, |a| a.password.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        found.filter(|_| ok)
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// An Argon2id hash of a random password, checked against when the
/// username is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ";

/// A new Argon2id hash of `password` (a PHC string for the accounts file).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(hash: &str) -> String {
        format!(
            "[[accounts]]\nusername = \"laura\"\nname = \"Laura Ferrari\"\nrole = \"assistente_sociale\"\npassword = \"{hash}\"\n"
        )
    }

    #[test]
    fn a_password_verifies_against_its_hash_and_nothing_else() {
        let hash = hash_password("correct horse").unwrap_or_default();
        let Ok(accounts) = Accounts::parse(Path::new("a.toml"), &file(&hash)) else {
            panic!("parses")
        };
        assert_eq!(
            accounts
                .verify("laura", "correct horse")
                .map(|a| a.role.as_str()),
            Some("assistente_sociale")
        );
        assert!(accounts.verify("laura", "Correct horse").is_none());
        assert!(accounts.verify("mario", "correct horse").is_none());
    }

    #[test]
    fn a_plain_password_or_a_repeated_user_is_refused_naming_the_key() {
        let err = Accounts::parse(Path::new("a.toml"), &file("secret"))
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.to_string().contains("key `accounts[0].password`"),
            "{err}"
        );
        let hash = hash_password("x").unwrap_or_default();
        let twice = format!("{}{}", file(&hash), file(&hash));
        let err = Accounts::parse(Path::new("a.toml"), &twice)
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("accounts[1].username"), "{err}");
    }
}
