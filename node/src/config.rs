//! Loading a node's configuration, the same way for gateway, connector and
//! client profile: a TOML file whose unknown keys are refused; every key
//! overridable from the environment; secrets (database URLs with their
//! passwords) readable from a file instead of sitting in the TOML; and one
//! error type whose messages name the file (or the environment variable),
//! the key and the fix.
//!
//! **Environment.** `<PREFIX>__<KEY>` sets a top-level key and
//! `<PREFIX>__<TABLE>__<KEY>` a key of a table; an array element is
//! addressed by its index (`TRAMA_GATEWAY__SOURCES__0__ADDRESS`). Names are
//! matched in lowercase. A value replaces one of the same type in the file;
//! for a key the file does not set, a TOML literal (`100`, `true`,
//! `["a","b"]`) is read as such and anything else as text.
//!
//! **Secrets.** For each key a node declares secret (for example
//! `database`), `<key>_file = "/run/secrets/..."` in the TOML, or
//! `<PREFIX>__<KEY>_FILE` in the environment, names a file whose contents
//! (without the final newline) are the value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML, unknown or missing keys, a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A key's value cannot work.
    #[error("{path}: key `{key}`{origin}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, dotted (`limits.max_in_flight`, `sources[0].address`).
        key: String,
        /// Where the value came from when not the file, for example
        /// ` (from TRAMA_GATEWAY__LISTEN)`.
        origin: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// An environment variable or secret file cannot be used.
    #[error("{path}: {source_name}: {problem}")]
    Override {
        /// The configuration file it applies to.
        path: PathBuf,
        /// The environment variable or secret file.
        source_name: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// Where environment variables come from: the process, or a map in tests.
pub trait Environment {
    /// Every variable, name and value.
    fn vars(&self) -> Vec<(String, String)>;
}

/// The process's environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }
}

impl Environment for BTreeMap<String, String> {
    fn vars(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// How one kind of node reads its configuration.
#[derive(Debug, Clone, Copy)]
pub struct Loader<'a> {
    /// The environment prefix, for example `TRAMA_GATEWAY`.
    pub prefix: &'a str,
    /// The dotted keys that may be read from a secret file.
    pub secrets: &'a [&'a str],
}

/// A configuration read: its raw form, and where each value came from.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The deserialised raw configuration, to validate.
    pub raw: T,
    /// Where values came from, for messages.
    pub origins: Origins,
}

/// The file a configuration came from, and the keys the environment or a
/// secret file set.
#[derive(Debug, Clone)]
pub struct Origins {
    path: PathBuf,
    overridden: BTreeMap<String, String>,
}

impl Origins {
    /// The configuration file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory relative paths are resolved against.
    pub fn base(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The error for `key`'s value, naming where it came from.
    pub fn invalid(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        let key = key.into();
        let origin = self
            .overridden
            .iter()
            .find(|(k, _)| key == **k || key.starts_with(&format!("{k}.")))
            .map(|(_, from)| format!(" (from {from})"))
            .unwrap_or_default();
        ConfigError::Invalid {
            path: self.path.clone(),
            key,
            origin,
            problem: problem.into(),
        }
    }
}

impl Loader<'_> {
    /// Reads the file at `path`, applies `env`, and deserialises it.
    pub fn load<T: DeserializeOwned>(
        &self,
        path: &Path,
        env: &dyn Environment,
    ) -> Result<Loaded<T>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.parse(path, &text, env)
    }

    /// Parses `text` as the file at `path` (for messages and relative
    /// secret files), applies `env`, and deserialises it.
    pub fn parse<T: DeserializeOwned>(
        &self,
        path: &Path,
        text: &str,
        env: &dyn Environment,
    ) -> Result<Loaded<T>, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message: message.trim_end().to_string(),
        };
        let mut doc: Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        let mut origins = Origins {
            path: path.to_path_buf(),
            overridden: BTreeMap::new(),
        };
        self.read_secret_files(&mut doc, &mut origins)?;
        self.apply_environment(&mut doc, env, &mut origins)?;
        // Without overrides the original text is parsed, so messages point
        // at the user's own lines.
        let raw = if origins.overridden.is_empty() {
            toml::from_str(text)
        } else {
            let merged = toml::to_string(&doc).map_err(|e| parse_error(e.to_string()))?;
            toml::from_str(&merged)
        };
        let raw = raw.map_err(|e| {
            let mut message = e.to_string();
            if !origins.overridden.is_empty() {
                let from: Vec<&str> = origins.overridden.values().map(String::as_str).collect();
                message = format!("{message}\n(with values from {})", from.join(", "));
            }
            parse_error(message)
        })?;
        Ok(Loaded { raw, origins })
    }

    /// Replaces `<key>_file` of each secret key by the file's contents.
    fn read_secret_files(&self, doc: &mut Table, origins: &mut Origins) -> Result<(), ConfigError> {
        for key in self.secrets {
            let file_key = format!("{key}_file");
            let segments: Vec<String> = file_key.split('.').map(str::to_string).collect();
            let Some(Value::String(file)) = take(doc, &segments) else {
                continue;
            };
            let value_segments: Vec<String> = key.split('.').map(str::to_string).collect();
            if lookup(doc, &value_segments).is_some() {
                return Err(origins.invalid(
                    file_key,
                    format!("give either `{key}` or `{key}_file`, not both"),
                ));
            }
            let file = origins.base().join(file);
            let secret = read_secret(&file, &origins.path)?;
            set(doc, &value_segments, Value::String(secret))
                .map_err(|p| origins.invalid(*key, p))?;
            origins.overridden.insert(
                (*key).to_string(),
                format!("secret file {}", file.display()),
            );
        }
        Ok(())
    }

    /// Applies every `<prefix>__...` variable of `env`.
    fn apply_environment(
        &self,
        doc: &mut Table,
        env: &dyn Environment,
        origins: &mut Origins,
    ) -> Result<(), ConfigError> {
        let start = format!("{}__", self.prefix);
        let mut vars: Vec<(String, String)> = env
            .vars()
            .into_iter()
            .filter(|(name, _)| name.starts_with(&start))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let segments: Vec<String> = name[start.len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect();
            let overriding = |problem: String| ConfigError::Override {
                path: origins.path.clone(),
                source_name: name.clone(),
                problem,
            };
            if segments.iter().any(String::is_empty) {
                return Err(overriding(format!(
                    "not a key: write {}__<TABLE>__<KEY>, for example {}__LIMITS__MAX_IN_FLIGHT",
                    self.prefix, self.prefix
                )));
            }
            let (segments, value) = self.secret_from_env(segments, value, &name, origins)?;
            let typed = typed(lookup(doc, &segments), &value).map_err(overriding)?;
            set(doc, &segments, typed).map_err(overriding)?;
            origins.overridden.insert(dotted(&segments), name.clone());
        }
        Ok(())
    }

    /// `<KEY>_FILE` of a secret key: the file's contents for `<key>`.
    fn secret_from_env(
        &self,
        segments: Vec<String>,
        value: String,
        name: &str,
        origins: &Origins,
    ) -> Result<(Vec<String>, String), ConfigError> {
        let key = dotted(&segments);
        let Some(secret) = key
            .strip_suffix("_file")
            .filter(|k| self.secrets.contains(k))
        else {
            return Ok((segments, value));
        };
        let file = PathBuf::from(&value);
        let contents = read_secret(&file, &origins.path).map_err(|_| ConfigError::Override {
            path: origins.path.clone(),
            source_name: name.to_string(),
            problem: format!("cannot read the secret file {}", file.display()),
        })?;
        Ok((secret.split('.').map(str::to_string).collect(), contents))
    }
}

/// The contents of a secret file without its final line break.
fn read_secret(file: &Path, config: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Override {
        path: config.to_path_buf(),
        source_name: format!("secret file {}", file.display()),
        problem: format!("{e}; check the path and that the node may read it"),
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn dotted(segments: &[String]) -> String {
    segments.join(".")
}

/// The value an environment variable gives: of the type the file has for
/// the key, or a TOML literal, or text.
fn typed(existing: Option<&Value>, text: &str) -> Result<Value, String> {
    let literal = || -> Option<Value> {
        let doc: Table = format!("v = {text}").parse().ok()?;
        doc.get("v").cloned()
    };
    match existing {
        None => Ok(literal().unwrap_or_else(|| Value::String(text.to_string()))),
        Some(Value::String(_)) => Ok(Value::String(text.to_string())),
        Some(old) => match literal() {
            Some(v) if v.same_type(old) => Ok(v),
            Some(Value::Integer(i)) if old.is_float() => Ok(Value::Float(i as f64)),
            _ => Err(format!(
                "`{text}` is not a {} like the value it replaces",
                old.type_str()
            )),
        },
    }
}

fn lookup<'d>(doc: &'d Table, segments: &[String]) -> Option<&'d Value> {
    let (first, rest) = segments.split_first()?;
    let mut value = doc.get(first)?;
    for s in rest {
        value = match value {
            Value::Table(t) => t.get(s)?,
            Value::Array(a) => a.get(s.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn take(doc: &mut Table, segments: &[String]) -> Option<Value> {
    let (last, parents) = segments.split_last()?;
    let mut table = doc;
    for s in parents {
        table = table.get_mut(s)?.as_table_mut()?;
    }
    table.remove(last)
}

/// Sets the value at `segments`, creating tables on the way; array
/// elements must exist.
fn set(doc: &mut Table, segments: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = segments.split_last() else {
        return Err("no key".into());
    };
    let mut here: &mut Value = doc
        .entry(parents.first().unwrap_or(last).clone())
        .or_insert_with(|| Value::Table(Table::new()));
    if parents.is_empty() {
        *here = value;
        return Ok(());
    }
    for s in parents.iter().skip(1).chain(std::iter::once(last)) {
        here = match here {
            Value::Table(t) => t
                .entry(s.clone())
                .or_insert_with(|| Value::Table(Table::new())),
            Value::Array(a) => {
                let n = a.len();
                let i: usize = s
                    .parse()
                    .map_err(|_| format!("`{s}` is not an index of a list of {n}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("index {i} is past the end of a list of {n}"))?
            }
            _ => return Err(format!("`{s}` is inside a value that is not a table")),
        };
    }
    *here = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        listen: String,
        database: Option<String>,
        #[serde(default)]
        limits: Limits,
        #[serde(default)]
        sources: Vec<Source>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Limits {
        max_in_flight: u32,
        rate: f64,
        checkpoint_file: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Source {
        address: String,
    }

    const FILE: &str = r#"
listen = "127.0.0.1:7400"
[limits]
max_in_flight = 10
rate = 1.5
checkpoint_file = "cp.jsonl"
[[sources]]
address = "127.0.0.1:7401"
"#;

    const LOADER: Loader<'static> = Loader {
        prefix: "TRAMA_TEST_NODE",
        secrets: &["database"],
    };

    fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(text: &str, vars: &[(&str, &str)]) -> Result<Raw, String> {
        LOADER
            .parse::<Raw>(Path::new("/etc/trama/node.toml"), text, &env(vars))
            .map(|l| l.raw)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_can_come_from_the_environment() {
        let Ok(raw) = check(
            FILE,
            &[
                ("TRAMA_TEST_NODE__LISTEN", "0.0.0.0:7500"),
                ("TRAMA_TEST_NODE__LIMITS__MAX_IN_FLIGHT", "99"),
                ("TRAMA_TEST_NODE__LIMITS__RATE", "3"),
                ("TRAMA_TEST_NODE__SOURCES__0__ADDRESS", "10.0.0.2:7401"),
                ("TRAMA_OTHER__LISTEN", "ignored"),
                ("TRAMA_TEST_POSTGRES", "ignored too"),
            ],
        ) else {
            panic!("loads")
        };
        assert_eq!(raw.listen, "0.0.0.0:7500");
        assert_eq!(raw.limits.max_in_flight, 99);
        assert_eq!(raw.limits.rate, 3.0);
        assert_eq!(raw.sources[0].address, "10.0.0.2:7401");
    }

    #[test]
    fn bad_overrides_name_the_variable() {
        for (vars, want) in [
            (
                vec![("TRAMA_TEST_NODE__LIMITS__MAX_IN_FLIGHT", "many")],
                "TRAMA_TEST_NODE__LIMITS__MAX_IN_FLIGHT: `many` is not a integer",
            ),
            (
                vec![("TRAMA_TEST_NODE__SOURCES__3__ADDRESS", "h:1")],
                "TRAMA_TEST_NODE__SOURCES__3__ADDRESS: index 3 is past the end",
            ),
            (
                vec![("TRAMA_TEST_NODE__LIMTS__RATE", "1")],
                "unknown field `limts`",
            ),
            (vec![("TRAMA_TEST_NODE____X", "1")], "not a key"),
        ] {
            let got = check(FILE, &vars).err().unwrap_or_default();
            assert!(got.contains(want), "want `{want}` in: {got}");
            assert!(got.starts_with("/etc/trama/node.toml"), "{got}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_with_their_line() {
        let got = check(&format!("{FILE}\nlisten_on = 1\n"), &[])
            .err()
            .unwrap_or_default();
        assert!(got.contains("listen_on") && got.contains("line"), "{got}");
    }

    #[test]
    fn secrets_come_from_files_and_only_for_secret_keys() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let secret = dir.path().join("db-url");
        assert!(std::fs::write(&secret, "postgres://u:s3cret@db/x\n").is_ok());
        let path = secret.display().to_string();
        let from_toml = format!("database_file = \"{path}\"\n{FILE}");
        assert_eq!(
            check(&from_toml, &[]).map(|r| r.database),
            Ok(Some("postgres://u:s3cret@db/x".into()))
        );
        let from_env = check(FILE, &[("TRAMA_TEST_NODE__DATABASE_FILE", &path)]);
        assert_eq!(
            from_env.map(|r| r.database),
            Ok(Some("postgres://u:s3cret@db/x".into()))
        );
        // A key that merely ends in `_file` is an ordinary key.
        let ordinary = check(
            FILE,
            &[("TRAMA_TEST_NODE__LIMITS__CHECKPOINT_FILE", "x.jsonl")],
        );
        assert_eq!(
            ordinary.map(|r| r.limits.checkpoint_file),
            Ok("x.jsonl".into())
        );
        let both = format!("database = \"x\"\ndatabase_file = \"{path}\"\n{FILE}");
        let got = check(&both, &[]).err().unwrap_or_default();
        assert!(
            got.contains("either `database` or `database_file`"),
            "{got}"
        );
        let missing = check("database_file = \"/nowhere/db\"\nlisten = \"a\"\n", &[]);
        assert!(
            missing
                .err()
                .is_some_and(|e| e.contains("secret file /nowhere/db")),
            "a missing secret file is named"
        );
    }

    #[test]
    fn invalid_values_name_their_origin() {
        let Ok(loaded) = LOADER.parse::<Raw>(
            Path::new("/etc/trama/node.toml"),
            FILE,
            &env(&[("TRAMA_TEST_NODE__LISTEN", "nowhere")]),
        ) else {
            panic!("loads")
        };
        let e = loaded
            .origins
            .invalid("listen", "not an address")
            .to_string();
        assert_eq!(
            e,
            "/etc/trama/node.toml: key `listen` (from TRAMA_TEST_NODE__LISTEN): not an address"
        );
        let e = loaded
            .origins
            .invalid("limits.rate", "too high")
            .to_string();
        assert_eq!(e, "/etc/trama/node.toml: key `limits.rate`: too high");
    }
}
