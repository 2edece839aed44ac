//! The documentation stays true to the code: every `trama ...` command line
//! the README, the guides and the runbooks show is one the real command line
//! accepts, and every default the gateway's configuration table documents is
//! the default the gateway applies.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

use std::path::{Path, PathBuf};

use clap::Parser;
use trama::cli::Cli;
use trama_gateway::config::GatewayConfig;

/// The Markdown files a user reads.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("README.md"),
        root.join("deploy/pki-runbook.md"),
        root.join("deploy/container/README.md"),
    ];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// The lines of `text`'s code blocks, continuation lines (`\`) joined.
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_code = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(part) => pending.push_str(part),
            None => {
                pending.push_str(line);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    lines
}

/// A command line split as a shell would, up to a comment, a pipe, a
/// redirection or a second command.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, '#' | '|' | '>' | '&' | ';') if word.is_empty() => break,
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (None, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn every_documented_command_line_parses() {
    let mut checked = 0;
    let mut refused = Vec::new();
    for file in documents() {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in code_lines(&text) {
            let line = line.trim_start_matches("$ ");
            if !line.starts_with("trama ") {
                continue;
            }
            let args = words(line);
            checked += 1;
            if let Err(e) = Cli::try_parse_from(&args) {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                refused.push(format!("{}: `{line}`: {first}", file.display()));
            }
        }
    }
    assert!(checked >= 30, "only {checked} command lines found");
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    eprintln!("{checked} documented command lines parse");
}

/// A gateway configuration with nothing but what is required, and one
/// source.
const MINIMAL: &str = r#"
federation = "myfed"
listen = "127.0.0.1:7400"
policy = "policy.cedar"
[tls]
ca = "pki/ca.pem"
cert = "pki/gateway-gateway.pem"
key = "pki/gateway-gateway-key.pem"
[[sources]]
organisation = "comune"
address = "connector.comune.example.org:7401"
"#;

/// `MINIMAL` with `key = value` set in its table (`[limits] max_in_flight`,
/// `[[sources]] timeout_ms`, or a top-level key), parsed, as text.
fn with_key(key: &str, value: &str) -> String {
    let (table, name) = match key.split_once("] ") {
        Some((table, name)) => (table.trim_matches(['[', ']']), name),
        None => ("", key),
    };
    let text = match table {
        "" => format!("{name} = {value}\n{MINIMAL}"),
        // The one source is the last table of MINIMAL.
        "sources" => format!("{MINIMAL}{name} = {value}\n"),
        table => format!("{MINIMAL}\n[{table}]\n{name} = {value}\n"),
    };
    let parsed = GatewayConfig::parse(Path::new("/etc/trama/gateway.toml"), &text);
    format!(
        "{:?}",
        parsed.unwrap_or_else(|e| panic!("`{key} = {value}`: {e}"))
    )
}

#[test]
fn every_documented_gateway_default_is_the_gateways() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
            .unwrap();
    let table = guide
        .split("## Gateway configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let plain = GatewayConfig::parse(Path::new("/etc/trama/gateway.toml"), MINIMAL).unwrap();
    let plain = format!("{plain:?}");
    let mut checked = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (keys, defaults) = (cells[1], cells[2]);
        let keys: Vec<&str> = keys.split(", ").map(|k| k.trim_matches('`')).collect();
        let defaults: Vec<&str> = defaults.split(", ").collect();
        if keys.len() != defaults.len() || !defaults.iter().all(|d| d.parse::<u64>().is_ok()) {
            continue;
        }
        let table = keys[0].split_once("] ").map(|(t, _)| format!("{t}] "));
        for (key, default) in keys.iter().zip(&defaults) {
            // `client_rate, client_burst`: the second key is in the first's table.
            let key = match (&table, key.contains("] ")) {
                (Some(t), false) => format!("{t}{key}"),
                _ => key.to_string(),
            };
            assert_eq!(
                with_key(&key, default),
                plain,
                "docs/operations.md says `{key}` defaults to {default}; the gateway's default differs"
            );
            assert_ne!(
                with_key(&key, &(default.parse::<u64>().unwrap() + 1).to_string()),
                plain,
                "`{key}` set to another value changed nothing: the test reads no key"
            );
            checked.push(key);
        }
    }
    assert!(checked.len() >= 12, "{checked:?}");
    eprintln!("{} documented defaults hold: {checked:?}", checked.len());
}

/// The messages `docs/schema.md` documents, each with the fields its table
/// lists as `(number, name)`.
fn documented_messages(text: &str) -> Vec<(String, Vec<(u32, String)>)> {
    let mut messages: Vec<(String, Vec<(u32, String)>)> = Vec::new();
    let mut in_message = false;
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("#### `")
            .and_then(|r| r.strip_suffix('`'))
        {
            messages.push((name.to_string(), Vec::new()));
            in_message = true;
            continue;
        }
        if line.starts_with('#') {
            // Another heading: the tables under it are not this message's.
            in_message = false;
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (true, Some(last), [_, number, field, ..]) =
            (in_message, messages.last_mut(), cells.as_slice())
        else {
            continue;
        };
        if let (Ok(number), Some(field)) = (
            number.parse::<u32>(),
            field.strip_prefix('`').and_then(|f| f.strip_suffix('`')),
        ) {
            last.1.push((number, field.to_string()));
        }
    }
    messages
}

#[test]
fn the_schema_reference_lists_every_field_of_every_message_it_documents() {
    let pool = prost_reflect::DescriptorPool::decode(trama_proto::FILE_DESCRIPTOR_SET).unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema.md"))
            .unwrap();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (name, mut documented) in documented_messages(&text) {
        let Some(message) = pool.get_message_by_name(&format!("trama.v1.{name}")) else {
            continue;
        };
        let mut fields: Vec<(u32, String)> = message
            .fields()
            .map(|f| (f.number(), f.name().to_string()))
            .collect();
        fields.sort();
        documented.sort();
        if fields != documented {
            wrong.push(format!(
                "{name}: the schema has {fields:?}, the reference lists {documented:?}"
            ));
        }
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} messages documented");
    assert!(wrong.is_empty(), "docs/schema.md:\n{}", wrong.join("\n"));
}
