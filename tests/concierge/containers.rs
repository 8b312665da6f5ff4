//! The deployment files, validated by what runs here (no Docker engine, no cluster): the
//! compose file passes Compose's schema (docker-compose `config`) and the Kubernetes manifests
//! pass Kubernetes' schemas (kubernetes-validate, strict); both say what operations needs; the
//! Dockerfile builds every workspace member; and every command they run exists in the binary.
//! (`.ci/run` installs the two validators.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read");
    let mut value: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    value.apply_merge().expect("merge keys");
    value
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read");
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a validator, failing with how to get it when it is missing.
fn validate(program: &str, args: &[&str], install: &str) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(root())
        // The compose file requires these to be set; any value does for validation.
        .env("SECRET_KEY", "validation-only-key")
        .env("JWT_SECRET", "validation-only-jwt-secret")
        .env("SEALING_KEY", "validation-only-sealing-key")
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test ({e}): {install}"));
    assert!(
        out.status.success(),
        "{program} {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_compose_file_passes_the_compose_schema() {
    validate(
        "docker-compose",
        &["-f", "docker/compose.yaml", "config", "--quiet"],
        "apt-get install docker-compose (.ci/run does)",
    );
}

#[test]
fn the_kubernetes_manifests_pass_the_kubernetes_schemas() {
    let manifests: Vec<String> = std::fs::read_dir(root().join("docker/k8s"))
        .expect("docker/k8s")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        // A KEDA resource: its schema is KEDA's, not Kubernetes'; checked field by field below.
        .filter(|p| !p.ends_with("keda-scaledobject.yaml"))
        .map(|p| {
            format!(
                "docker/k8s/{}",
                p.file_name().expect("name").to_string_lossy()
            )
        })
        .collect();
    assert!(manifests.len() >= 6, "{manifests:?}");
    // The oldest Kubernetes still supported when this was written, and the newest.
    for version in ["1.28.0", "1.37.0"] {
        let mut args = vec!["--strict", "--quiet", "-k", version];
        args.extend(manifests.iter().map(String::as_str));
        validate(
            "kubernetes-validate",
            &args,
            "pip install kubernetes-validate (.ci/run does)",
        );
    }
}

/// Every `concierge …` invocation (subcommand and flags) must be accepted by the binary.
fn assert_commands_exist(invocations: &BTreeSet<Vec<String>>) {
    let cli = Cli::new();
    for args in invocations {
        let (sub, flags) = args.split_first().expect("a subcommand");
        let out = cli
            .command(&[sub.as_str(), "--help"], &[])
            .output()
            .expect("run concierge");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "`concierge {sub}` does not exist");
        for flag in flags.iter().filter(|f| f.starts_with("--")) {
            assert!(
                help.contains(flag.as_str()),
                "`concierge {sub}` has no {flag}"
            );
        }
    }
}

#[test]
fn compose_runs_every_role_with_healthchecks_a_migration_first_and_durable_redis() {
    let compose = yaml(&root().join("docker/compose.yaml"));
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Value::as_str).collect();
    for name in [
        "postgres", "redis", "mail", "migrate", "api", "worker", "bot",
    ] {
        assert!(names.contains(name), "no {name} service");
    }
    let redis = strings(&compose["services"]["redis"]["command"]).join(" ");
    assert!(
        redis.contains("--appendonly yes"),
        "Redis needs AOF: {redis}"
    );
    assert!(redis.contains("--maxmemory-policy noeviction"), "{redis}");
    assert!(
        compose["services"]["worker"]["deploy"]["replicas"]
            .as_u64()
            .is_some_and(|r| r >= 2)
    );
    let mut invocations = BTreeSet::new();
    for name in ["migrate", "api", "worker", "bot"] {
        let service = &compose["services"][name];
        let command = strings(&service["command"]);
        invocations.insert(command.clone());
        assert_eq!(
            service["image"], "concierge:local",
            "{name}: one image for every role"
        );
        if name != "migrate" {
            assert_eq!(
                service["depends_on"]["migrate"]["condition"], "service_completed_successfully",
                "{name} starts after the migration"
            );
            let test = strings(&service["healthcheck"]["test"]);
            assert_eq!(
                test.first().map(String::as_str),
                Some("CMD"),
                "{name} healthcheck"
            );
            assert_eq!(test.get(1).map(String::as_str), Some("concierge"));
            invocations.insert(test[2..].to_vec());
        }
        // Every role that seals or opens secrets shares one sealing key; only the API holds
        // the admin key and the JWT key.
        let env = &service["environment"];
        assert!(env["SEALING_KEY"].is_string(), "{name}: SEALING_KEY");
        for key in ["SECRET_KEY", "JWT_SECRET"] {
            assert_eq!(env[key].is_string(), name == "api", "{name}: {key}");
        }
        let grace: u64 = service["environment"]["SHUTDOWN_GRACE_SECONDS"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("SHUTDOWN_GRACE_SECONDS");
        let stop: u64 = service["stop_grace_period"]
            .as_str()
            .and_then(|s| s.trim_end_matches('s').parse().ok())
            .expect("stop_grace_period");
        assert!(
            stop > grace,
            "{name}: the container outlives the drain ({stop} s vs {grace} s)"
        );
    }
    for name in ["postgres", "redis", "mail"] {
        assert!(
            compose["services"][name]["healthcheck"].is_mapping(),
            "{name} healthcheck"
        );
    }
    // The API publishes its port and the job board's (the image's PORT and BOARD_PORT).
    let dockerfile = std::fs::read_to_string(root().join("docker/Dockerfile")).expect("Dockerfile");
    let published = strings(&compose["services"]["api"]["ports"]);
    for setting in ["PORT", "BOARD_PORT"] {
        let port = dockerfile
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{setting}=")))
            .unwrap_or_else(|| panic!("the image sets {setting}"));
        assert!(
            published
                .iter()
                .any(|p| p.ends_with(&format!("{port}:{port}"))),
            "{setting} {port} published: {published:?}"
        );
    }
    assert_commands_exist(&invocations);
}

#[test]
fn kubernetes_manifests_parse_and_match_the_binary() {
    let dir = root().join("docker/k8s");
    let mut kinds = Vec::new();
    let mut invocations = BTreeSet::new();
    let spec: serde_json::Value = serde_json::from_str(&api::spec_json()).expect("spec");
    for entry in std::fs::read_dir(&dir).expect("docker/k8s") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        for doc in documents(&path) {
            let kind = doc["kind"].as_str().expect("kind").to_owned();
            assert!(
                doc["apiVersion"].is_string(),
                "{}: apiVersion",
                path.display()
            );
            assert!(
                doc["metadata"]["name"].is_string(),
                "{}: name",
                path.display()
            );
            let pod = match kind.as_str() {
                "Deployment" | "Job" => &doc["spec"]["template"]["spec"],
                _ => {
                    kinds.push(kind);
                    continue;
                }
            };
            assert_eq!(
                pod["securityContext"]["runAsNonRoot"],
                true,
                "{}",
                path.display()
            );
            if kind == "Deployment" {
                let grace = pod["terminationGracePeriodSeconds"]
                    .as_u64()
                    .expect("grace");
                assert!(grace > 0, "{}", path.display());
                let labels = &doc["spec"]["template"]["metadata"]["labels"];
                assert_eq!(
                    &doc["spec"]["selector"]["matchLabels"], labels,
                    "selector matches"
                );
            }
            for container in pod["containers"].as_sequence().expect("containers") {
                invocations.insert(strings(&container["args"]));
                for probe in ["livenessProbe", "readinessProbe"] {
                    let p = &container[probe];
                    if let Some(path) = p["httpGet"]["path"].as_str() {
                        assert!(
                            spec["paths"].get(path.trim_start_matches("/api")).is_some()
                                || spec["paths"].get(path).is_some(),
                            "{probe} {path} is not an endpoint"
                        );
                    }
                    let exec = strings(&p["exec"]["command"]);
                    if !exec.is_empty() {
                        assert_eq!(exec[0], "concierge");
                        invocations.insert(exec[1..].to_vec());
                    }
                }
            }
            kinds.push(kind);
        }
    }
    kinds.sort();
    for kind in [
        "ConfigMap",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "ScaledObject",
        "Service",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in docker/k8s");
    }
    assert_eq!(
        kinds.iter().filter(|k| *k == "Deployment").count(),
        3,
        "api, worker, bot"
    );
    // Only the API reads the secret with the admin key and the JWT key.
    for (file, api_only) in [
        ("api.yaml", true),
        ("worker.yaml", false),
        ("bot.yaml", false),
    ] {
        let doc = &documents(&dir.join(file))[0];
        let secrets: Vec<&str> = doc["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            .as_sequence()
            .expect("envFrom")
            .iter()
            .filter_map(|e| e["secretRef"]["name"].as_str())
            .collect();
        assert!(secrets.contains(&"concierge"), "{file}: {secrets:?}");
        assert_eq!(
            secrets.contains(&"concierge-api"),
            api_only,
            "{file}: {secrets:?}"
        );
    }
    // KEDA reads the stream of a queue in its hash slot, and the workers' group.
    let keda = documents(&dir.join("keda-scaledobject.yaml"));
    for trigger in keda[0]["spec"]["triggers"].as_sequence().expect("triggers") {
        let stream = trigger["metadata"]["stream"].as_str().expect("stream");
        let queue = stream.split(['{', '}']).nth(1).expect("{queue}");
        assert!(jobs::QUEUES.contains(&queue), "{queue} is not a queue");
        assert_eq!(
            stream,
            jobs::redis::QueueKeys::new("concierge", queue).stream()
        );
        assert_eq!(trigger["metadata"]["consumerGroup"], jobs::redis::GROUP);
    }
    assert_commands_exist(&invocations);
}

#[test]
fn the_dockerfile_builds_every_member_and_runs_unprivileged() {
    let dockerfile = std::fs::read_to_string(root().join("docker/Dockerfile")).expect("Dockerfile");
    let manifest: toml_like::Members = toml_like::members(
        &std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml"),
    );
    for member in manifest.0.iter().filter(|m| *m != ".") {
        assert!(
            dockerfile.contains(&format!("COPY {member}/Cargo.toml {member}/")),
            "the dependency layer misses {member}"
        );
    }
    assert!(dockerfile.contains("USER 10001"), "not root");
    assert!(dockerfile.contains("ENTRYPOINT [\"concierge\"]"));
    assert!(dockerfile.contains("HEALTHCHECK"));
    let mut invocations = BTreeSet::new();
    invocations.insert(vec!["healthcheck".to_owned()]);
    invocations.insert(vec!["all".to_owned()]);
    assert_commands_exist(&invocations);
}

/// The workspace members, read from the root manifest without a TOML dependency.
mod toml_like {
    pub struct Members(pub Vec<String>);

    pub fn members(manifest: &str) -> Members {
        let start = manifest.find("members = [").expect("members");
        let list = &manifest[start + "members = [".len()..];
        let list = &list[..list.find(']').expect("]")];
        Members(
            list.split(',')
                .map(|m| m.trim().trim_matches('"').to_owned())
                .filter(|m| !m.is_empty())
                .collect(),
        )
    }
}
