//! Security and compatibility cases as data: `tests/cases/<name>/main.py` runs
//! and must match `expect.json` (`language`, `status`, `stdout`,
//! `stdout_contains`, `error_type`). Adding a case is adding a folder.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default = "python")]
    language: String,
    status: String,
    stdout: Option<String>,
    #[serde(default)]
    stdout_contains: Vec<String>,
    error_type: Option<String>,
}

fn python() -> String {
    "python".to_owned()
}

#[tokio::test]
async fn every_case_behaves_as_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "cases are missing");
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let code = std::fs::read_to_string(dir.join("main.py")).unwrap();
        let expect: Expect =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap())
                .unwrap_or_else(|e| panic!("{name}/expect.json: {e}"));
        let r = common::run_req(common::request(&expect.language, &code)).await;
        let mut problems = Vec::new();
        if r.status.as_str() != expect.status {
            problems.push(format!(
                "status {} (expected {})",
                r.status.as_str(),
                expect.status
            ));
        }
        if let Some(stdout) = &expect.stdout
            && &r.stdout != stdout
        {
            problems.push(format!("stdout {:?} (expected {stdout:?})", r.stdout));
        }
        for needle in &expect.stdout_contains {
            if !r.stdout.contains(needle) {
                problems.push(format!("stdout lacks {needle:?}: {:?}", r.stdout));
            }
        }
        let error_type = r.error.as_ref().map(|e| e.type_name.as_str());
        if expect.error_type.as_deref() != error_type && expect.error_type.is_some() {
            problems.push(format!(
                "error {error_type:?} (expected {:?})",
                expect.error_type
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {} — stderr: {}",
                problems.join("; "),
                r.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "cases failed:\n{}",
        failures.join("\n")
    );
}
