//! What operators build on beside the nodes: the Prometheus alert rules and
//! the Grafana dashboard in `deploy/` are valid, and every metric they name
//! is one a running federation exports (its gateway, a connector and a
//! console, scraped after a few calls); the Kubernetes manifests in
//! `deploy/kubernetes/` pass the Kubernetes API's schemas and hold what a
//! deployment needs (replicas, probes, disruption budgets, network policies).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::collections::BTreeSet;

use support::web::Browser;
use support::{Sandbox, context, ctx, featured_tax_code, http_get, logged_address};
use trama_proto::v1::{self, Section};

const ALERTS: &str = include_str!("../deploy/prometheus/trama-alerts.yml");
const DASHBOARD: &str = include_str!("../deploy/grafana/trama-dashboard.json");

/// Every `trama_...` metric `text` names, without the suffixes of a
/// histogram's series.
fn metrics_named(text: &str) -> BTreeSet<String> {
    text.match_indices("trama_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).map(str::to_string))
                .unwrap_or(name)
        })
        .filter(|name| name.len() > "trama_".len())
        .collect()
}

/// The expressions of the dashboard's panels.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "a dashboard of {} panels", panels.len());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("every target has a query")
                .to_string()
        })
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool() {
    let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "rules", "deploy/prometheus/trama-alerts.yml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing: CI installs Debian's prometheus package for it"
        );
        eprintln!("\n*** SKIPPED: no promtool (apt-get install prometheus) ***\n");
        return;
    };
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("SUCCESS"), "{said}");
}

/// Makes the federation do what the dashboard shows: records read, a call
/// the policy refuses, a console page.
async fn some_traffic(fed: &Sandbox, console: &str) {
    let mut client = fed.client("comune");
    client
        .get_record(v1::GetRecordRequest {
            context: context("presa_in_carico"),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            sections: vec![Section::Needs as i32, Section::Housing as i32],
        })
        .await
        .expect("a record");
    let refused = client
        .access_log(v1::AccessLogRequest {
            context: ctx("assistente_sociale", "presa_in_carico", ""),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            limit: 10,
            ..Default::default()
        })
        .await;
    assert!(
        refused.is_err(),
        "a social worker does not read the access log"
    );
    let mut browser = Browser::new(console, &fed.dir().join("pki/ca.pem"));
    assert_eq!(browser.get("/login").await.status, 200);
}

/// `GET /metrics` of the process `name` logged.
async fn scrape(fed: &Sandbox, name: &str) -> String {
    let address = logged_address(|| fed.log(name), "metrics on http://").await;
    let (status, body) = http_get(&address, "/metrics").await;
    assert_eq!(status, 200, "{name}: {body}");
    body
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_name_is_exported() {
    let mut named = metrics_named(ALERTS);
    for query in dashboard_queries() {
        named.extend(metrics_named(&query));
    }
    assert!(named.len() >= 20, "{named:?}");

    let mut fed = Sandbox::start().await;
    let console = fed
        .running
        .start_console("console-comune", "comune", Vec::new())
        .await
        .unwrap();
    some_traffic(&fed, &console).await;
    // The gateway's readiness watch sets each source's gauge every 2 s.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut exported = String::new();
    for node in ["gateway", "comune", "console-comune"] {
        exported.push_str(&scrape(&fed, node).await);
    }
    let missing: Vec<&String> = named
        .iter()
        .filter(|m| !exported.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but exported by no node: {missing:?}"
    );
    fed.cleanup().await;
}

const KUSTOMIZATION: &str = include_str!("../deploy/kubernetes/kustomization.yaml");
const KUBERNETES_GATEWAY: &str = include_str!("../deploy/kubernetes/gateway.toml");
const KUBERNETES_CONSOLE: &str = include_str!("../deploy/kubernetes/console.toml");

/// The Kubernetes manifests: every `deploy/kubernetes/*.yaml` but
/// kustomize's own `kustomization.yaml`, each file's name and text.
fn kubernetes_manifests() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .map(|entry| entry.expect("a file of deploy/kubernetes").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            let name = path.file_name().expect("a name").to_string_lossy();
            let text = std::fs::read_to_string(&path).expect("a readable manifest");
            (name.into_owned(), text)
        })
        .filter(|(name, _)| name != "kustomization.yaml")
        .collect();
    files.sort();
    files
}

/// The lines of YAML text but comments and blank lines. The manifests are
/// read as text, in the block style they are written in.
fn yaml_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every document of the manifests (between `---` lines), as lines.
fn kubernetes_documents(files: &[(String, String)]) -> Vec<Vec<String>> {
    let mut documents = Vec::new();
    for (_, text) in files {
        let mut lines = Vec::new();
        for line in yaml_lines(text) {
            if line == "---" {
                documents.push(std::mem::take(&mut lines));
            } else {
                lines.push(line);
            }
        }
        documents.push(lines);
    }
    documents.retain(|d| !d.is_empty());
    documents
}

/// A YAML line without its indentation and list dashes.
fn bare(line: &str) -> &str {
    line.trim_start_matches([' ', '-']).trim_end()
}

/// How deep a YAML line sits; a list item's dash counts, so that the keys
/// of one item sit at one depth.
fn depth(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '-']).len()
}

/// The lines nested under the first `key:` line of `lines`.
fn block<'a>(lines: &'a [String], key: &str) -> &'a [String] {
    let head = format!("{key}:");
    let Some(at) = lines.iter().position(|l| bare(l) == head) else {
        return &[];
    };
    let end = lines[at + 1..]
        .iter()
        .position(|l| depth(l) <= depth(&lines[at]))
        .map_or(lines.len(), |n| at + 1 + n);
    &lines[at + 1..end]
}

/// The value of the first `key: value` line of `lines`, unquoted.
fn value<'a>(lines: &'a [String], key: &str) -> Option<&'a str> {
    let head = format!("{key}: ");
    lines
        .iter()
        .find_map(|l| bare(l).strip_prefix(head.as_str()))
        .map(|v| v.trim_matches('"'))
}

/// The manifest of `kind` named `name`.
fn kubernetes_object<'a>(documents: &'a [Vec<String>], kind: &str, name: &str) -> &'a [String] {
    documents
        .iter()
        .find(|d| {
            value(d, "kind") == Some(kind) && value(block(d, "metadata"), "name") == Some(name)
        })
        .unwrap_or_else(|| panic!("deploy/kubernetes has no {kind} {name}"))
}

/// The number of a Deployment's container port named `name`.
fn container_port(deployment: &[String], name: &str) -> String {
    let ports = block(deployment, "ports");
    let named = format!("name: {name}");
    let at = ports
        .iter()
        .position(|l| bare(l) == named)
        .unwrap_or_else(|| panic!("no container port named {name}"));
    value(&ports[at..], "containerPort")
        .unwrap_or_else(|| panic!("the container port {name} has no number"))
        .to_string()
}

/// `listen` of `[table]` in a node's configuration (of the top level for
/// `""`), read as text.
fn listen_of(toml: &str, table: &str) -> Option<String> {
    let head = format!("[{table}]");
    toml.lines()
        .map(str::trim)
        .skip_while(|l| !table.is_empty() && *l != head)
        .skip(usize::from(!table.is_empty()))
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("listen = \""))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
}

/// Whether a NetworkPolicy selects every pod of the namespace.
fn selects_every_pod(policy: &[String]) -> bool {
    let spec = block(policy, "spec");
    spec.first().is_some_and(|first| {
        spec.iter()
            .any(|l| depth(l) == depth(first) && bare(l) == "podSelector: {}")
    })
}

#[test]
fn the_kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let manifests = kubernetes_manifests();
    let names: BTreeSet<String> = manifests.iter().map(|(name, _)| name.clone()).collect();
    let kustomization = yaml_lines(KUSTOMIZATION);
    let listed: BTreeSet<String> = block(&kustomization, "resources")
        .iter()
        .map(|l| bare(l).to_string())
        .collect();
    assert_eq!(listed, names, "kustomization.yaml lists every manifest");
    let documents = kubernetes_documents(&manifests);

    // Every container runs the image of this version, unprivileged, on a
    // read-only root, with resources set.
    let image = format!("localhost/trama:{}", env!("CARGO_PKG_VERSION"));
    for deployment in documents
        .iter()
        .filter(|d| value(d, "kind") == Some("Deployment"))
    {
        let name = value(block(deployment, "metadata"), "name").unwrap_or("?");
        let images: Vec<&str> = deployment
            .iter()
            .filter_map(|l| bare(l).strip_prefix("image: "))
            .collect();
        assert!(images.iter().all(|i| *i == image), "{name}: {images:?}");
        assert_eq!(value(deployment, "runAsNonRoot"), Some("true"), "{name}");
        let seccomp = block(deployment, "seccompProfile");
        assert_eq!(value(seccomp, "type"), Some("RuntimeDefault"), "{name}");
        for each in [
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "ALL",
            "resources:",
            "limits:",
        ] {
            let found = deployment.iter().filter(|l| bare(l) == each).count();
            assert_eq!(found, images.len(), "{name}: `{each}` in every container");
        }
    }

    // Each node listens on 0.0.0.0 at the ports its pods declare, and its
    // probes ask /livez and /readyz there.
    let connector = kubernetes_object(&documents, "ConfigMap", "trama-connector-comune").join("\n");
    for (name, config, serves) in [
        ("trama-gateway", KUBERNETES_GATEWAY, "grpc"),
        ("trama-console", KUBERNETES_CONSOLE, "https"),
        ("trama-connector-comune", connector.as_str(), "grpc"),
    ] {
        let deployment = kubernetes_object(&documents, "Deployment", name);
        for (table, port) in [("", serves), ("health", "health"), ("metrics", "metrics")] {
            assert_eq!(
                listen_of(config, table),
                Some(format!("0.0.0.0:{}", container_port(deployment, port))),
                "{name}: `listen` of [{table}] in its configuration, and the port {port}"
            );
        }
        let liveness = block(deployment, "livenessProbe");
        assert_eq!(value(liveness, "path"), Some("/livez"), "{name}");
        assert_eq!(value(liveness, "port"), Some("health"), "{name}");
        let readiness = block(deployment, "readinessProbe");
        assert_eq!(value(readiness, "path"), Some("/readyz"), "{name}");
        assert_eq!(value(readiness, "port"), Some("health"), "{name}");
    }

    // Two gateways and two consoles, one of each kept through disruptions,
    // preferably on two nodes.
    for name in ["trama-gateway", "trama-console"] {
        let deployment = kubernetes_object(&documents, "Deployment", name);
        assert_eq!(value(deployment, "replicas"), Some("2"), "{name}");
        let budget = kubernetes_object(&documents, "PodDisruptionBudget", name);
        assert_eq!(value(budget, "minAvailable"), Some("1"), "{name}");
        let selector = block(budget, "selector");
        assert_eq!(value(selector, "app.kubernetes.io/name"), Some(name));
        let apart = block(deployment, "podAntiAffinity");
        assert_eq!(value(apart, "topologyKey"), Some("kubernetes.io/hostname"));
        let required = block(apart, "requiredDuringSchedulingIgnoredDuringExecution");
        assert!(
            required.is_empty(),
            "{name}: apart where possible, not required"
        );
    }

    // Nothing comes into the namespace that a policy does not name, and the
    // connectors' port admits the gateway's pods alone.
    let policies: Vec<&Vec<String>> = documents
        .iter()
        .filter(|d| value(d, "kind") == Some("NetworkPolicy"))
        .collect();
    assert!(
        policies.iter().any(|p| selects_every_pod(p)
            && block(p, "ingress").is_empty()
            && block(p, "policyTypes").iter().any(|l| bare(l) == "Ingress")),
        "a NetworkPolicy refuses every connection into the namespace"
    );
    let selected = |policy: &[String]| {
        value(
            block(block(policy, "spec"), "podSelector"),
            "app.kubernetes.io/name",
        )
        .map(str::to_string)
    };
    let opens = |policy: &[String], port: &str| {
        let port = format!("port: {port}");
        block(policy, "ingress").iter().any(|l| bare(l) == port)
    };
    assert!(
        policies
            .iter()
            .any(|p| selected(p).as_deref() == Some("trama-connector") && opens(p, "7401")),
        "a NetworkPolicy selects the connectors and opens their port"
    );
    for policy in policies.iter().filter(|p| opens(p, "7401")) {
        let ingress = block(policy, "ingress");
        let peers: Vec<&str> = ingress
            .iter()
            .map(|l| bare(l))
            .filter(|l| l.starts_with("app.kubernetes.io/") || l.starts_with("podSelector"))
            .collect();
        assert!(
            !peers.is_empty()
                && peers.iter().all(|p| {
                    *p == "podSelector:" || *p == "app.kubernetes.io/name: trama-gateway"
                })
                && peers.iter().filter(|p| **p == "podSelector:").count() * 2 == peers.len(),
            "only pods labelled as the gateway reach the connectors: {ingress:?}"
        );
        assert!(
            !ingress.iter().any(|l| {
                let l = bare(l);
                l.starts_with("ipBlock") || l.starts_with("namespaceSelector")
            }),
            "only pods labelled as the gateway reach the connectors: {ingress:?}"
        );
    }
    for policy in &policies {
        let ingress = block(policy, "ingress");
        let rules = ingress.iter().filter(|l| bare(l) == "from:").count();
        let ported = ingress.iter().filter(|l| bare(l) == "ports:").count();
        assert_eq!(rules, ported, "every rule names its ports: {ingress:?}");
    }

    // The schemas of the Kubernetes API, strictly (no unknown field).
    let mut validate = std::process::Command::new("kubernetes-validate");
    validate
        .arg("--strict")
        .args(manifests.iter().map(|(name, _)| name))
        .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes"));
    let Ok(out) = validate.output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubernetes-validate is missing: CI installs it with pip"
        );
        eprintln!("\n*** SKIPPED: no kubernetes-validate (pip install kubernetes-validate) ***\n");
        return;
    };
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // A kind or version it has no schema for is only a warning to the tool.
    assert!(!said.contains("WARN") && !said.contains("ERROR"), "{said}");
    let passed = said.matches(" passed for resource ").count();
    assert_eq!(passed, documents.len(), "{said}");
}
