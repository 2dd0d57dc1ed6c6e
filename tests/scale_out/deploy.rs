//! The deployment files: the Kubernetes manifests against the Kubernetes
//! schemas (kubernetes-validate, strict) and against goru itself, and
//! docker/haproxy.cfg in a real HAProxy in front of two real replicas.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::goru_process::GoruProcess;
use super::redis_server::free_port;
use crate::common::post;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every manifest kustomization.yaml lists, parsed.
fn manifests() -> Vec<(PathBuf, Value)> {
    let dir = root().join("deploy/k8s");
    let kustomization: Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    let listed: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    present.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, present, "kustomization.yaml lists every manifest");
    listed
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (path, value)
        })
        .collect()
}

fn validate(files: &[PathBuf]) -> std::process::Output {
    let validator = root().join("build/k8s-validate/venv/bin/kubernetes-validate");
    assert!(
        validator.exists(),
        "{} is missing: make test installs it (scripts/pinned-venv.sh build/k8s-validate/venv tests/k8s/requirements.txt ...)",
        validator.display()
    );
    Command::new(validator)
        .args(["--strict", "--kubernetes-version", "1.37.0"])
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn the_manifests_pass_the_kubernetes_schemas_strictly() {
    let files: Vec<PathBuf> = manifests().into_iter().map(|(path, _)| path).collect();
    let out = validate(&files);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.matches(" passed for resource ").count(),
        files.len(),
        "{text}"
    );

    // The check can fail: one misspelt field is refused.
    let broken = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    let deployment = std::fs::read_to_string(root().join("deploy/k8s/deployment.yaml")).unwrap();
    std::fs::write(
        broken.path(),
        deployment.replace("readinessProbe", "readinesProbe"),
    )
    .unwrap();
    let out = validate(&[broken.path().to_owned()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("'readinesProbe' was unexpected"));
}

#[test]
fn the_deployment_probes_goru_and_the_service_selects_it() {
    let all = manifests();
    let kind = |k: &str| {
        all.iter()
            .find(|(_, m)| m["kind"] == k)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let deployment = kind("Deployment");
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for var in ["GORU_SESSIONS_REPLICA", "GORU_KV_REDIS_URL"] {
        assert!(env.contains(&var), "{var} in {env:?}");
    }
    let service = kind("Service");
    for (label, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][label], value, "selector {label}");
    }
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(kind("Secret")["kind"], "Secret");
}

/// goru itself accepts the ConfigMap's goru.toml, with the environment the
/// Deployment gives it (the key a Secret holds, the pod's name).
#[test]
fn goru_accepts_the_configmaps_goru_toml() {
    let config_map = manifests()
        .into_iter()
        .find(|(_, m)| m["kind"] == "ConfigMap")
        .unwrap()
        .1;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        config_map["data"]["goru.toml"].as_str().unwrap(),
    )
    .unwrap();
    let env = vec![
        (
            "GORU_SESSIONS_REPLICA".to_owned(),
            "goru-7d9f8c6b5-x2x7q".to_owned(),
        ),
        (
            "GORU_KV_REDIS_URL".to_owned(),
            "redis://redis:6379/0".to_owned(),
        ),
    ];
    let config = goru::config::Config::load(Some(file.path()), env).expect("loads and validates");
    assert_eq!(config.kv.backend, goru::host::kv::KvBackend::Redis);
    assert_eq!(config.sessions.replica, "goru-7d9f8c6b5-x2x7q");
    let keys = std::collections::BTreeMap::from([("GORU_APP_KEY".to_owned(), "k".repeat(40))]);
    goru::tenant::Tenants::from_config(&config, &keys).expect("its tenants build");
    // The Secret as shipped (an empty key) is refused, by name.
    let empty = std::collections::BTreeMap::from([("GORU_APP_KEY".to_owned(), String::new())]);
    let refused = goru::tenant::Tenants::from_config(&config, &empty)
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("GORU_APP_KEY"), "{refused}");
}

/// HAProxy, started with docker/haproxy.cfg, in front of two replicas:
/// runs go to both, and every session's requests reach the replica that
/// holds it, however many sessions there are.
#[tokio::test]
async fn haproxy_with_the_shipped_config_routes_each_session_to_its_replica() {
    let one = GoruProcess::start("[sessions]\nreplica = \"goru-1\"\n").await;
    let two = GoruProcess::start("[sessions]\nreplica = \"goru-2\"\n").await;
    let lb_port = free_port();
    let mut haproxy = Command::new("haproxy")
        .arg("-f")
        .arg(root().join("docker/haproxy.cfg"))
        .arg("-db")
        .env("LB_BIND", format!("127.0.0.1:{lb_port}"))
        .env("GORU_1", one.base.trim_start_matches("http://"))
        .env("GORU_2", two.base.trim_start_matches("http://"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("haproxy (make test installs it)");
    let lb = format!("http://127.0.0.1:{lb_port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while client.get(format!("{lb}/readyz")).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "haproxy never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let mut ids = Vec::new();
    for i in 0..6 {
        let created = post(
            &client,
            format!("{lb}/sessions"),
            json!({"language": "python"}),
        )
        .await;
        let id = created["session_id"].as_str().unwrap().to_owned();
        let cell = post(
            &client,
            format!("{lb}/sessions/{id}/run"),
            json!({"code": format!("n = {i}")}),
        )
        .await;
        assert_eq!(cell["status"], "ok", "{cell}");
        ids.push(id);
    }
    let on = |name: &str| {
        ids.iter()
            .filter(|id| id.starts_with(&format!("ses_{name}.")))
            .count()
    };
    assert!(
        on("goru-1") > 0 && on("goru-2") > 0,
        "balanced over both: {ids:?}"
    );
    for (i, id) in ids.iter().enumerate() {
        let cell = post(
            &client,
            format!("{lb}/sessions/{id}/run"),
            json!({"code": "print(n)"}),
        )
        .await;
        assert_eq!(cell["stdout"], format!("{i}\n"), "{id}: {cell}");
    }
    let _ = haproxy.kill();
    let _ = haproxy.wait();
}
