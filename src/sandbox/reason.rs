//! The one-line reason a run that did not end `ok` carries in its answer,
//! written for whoever reads it next (often a model): which limit ended it,
//! at what value, and what to change.

use super::limits::Limits;
use super::outcome::{RunResult, Status};
use super::python_sci::PythonSci;

/// How much of an exception's message the reason repeats (the whole, cut at
/// the output cap, is in `error.message`).
const MESSAGE_BYTES: usize = 200;

/// Sets `result.reason` for a run of `language` under `limits`.
pub fn explain(result: &mut RunResult, limits: &Limits, language: &str) {
    result.reason = reason(result, limits, language);
}

fn reason(result: &RunResult, limits: &Limits, language: &str) -> Option<String> {
    Some(match result.status {
        Status::Ok => return None,
        Status::Error => match &result.error {
            Some(e) if e.type_name == "SystemExit" || e.type_name.is_empty() => {
                format!("the code exited with code {}", result.exit_code)
            }
            Some(e) => {
                let first_line = e.message.lines().next().unwrap_or_default();
                let message = super::outcome::cut_str(first_line, MESSAGE_BYTES).0;
                let mut line = format!("{}: {message}", e.type_name);
                if e.type_name == "ModuleNotFoundError" {
                    line.push_str("; ");
                    line.push_str(&missing_module_hint(&e.message, language));
                }
                line
            }
            None => format!("the code exited with code {}", result.exit_code),
        },
        Status::Timeout => format!(
            "stopped at the time limit of {} ms; do less work per run or ask for a longer \
             timeout (policy.timeout_ms)",
            limits.timeout.as_millis()
        ),
        Status::MemoryLimit => format!(
            "needed more than the memory limit of {} MiB; work in smaller pieces or ask for \
             more (policy.memory_mb)",
            limits.memory_bytes >> 20
        ),
        Status::FuelExhausted => format!(
            "used up the CPU budget of {} fuel units; do less work per run or ask for more \
             (policy.fuel)",
            limits.fuel.unwrap_or(u64::MAX)
        ),
        // StarlingMonkey's words when an allocation the engine cannot fail
        // gracefully fails: its own heap is full, below `memory_mb`.
        Status::Crashed
            if language == super::JAVASCRIPT
                && result
                    .stderr
                    .contains("Redirecting call to abort() to mozalloc_abort") =>
        {
            format!(
                "the JavaScript engine ran out of memory in its own heap (about 90 MiB, \
                 whatever policy.memory_mb allows; this run's limit was {} MiB): keep fewer \
                 objects alive, or hold bulk data in typed arrays",
                limits.memory_bytes >> 20
            )
        }
        Status::Crashed => match &result.error {
            Some(e) => format!(
                "the guest runtime failed: {}",
                e.message.lines().next().unwrap_or_default()
            ),
            None => "the guest runtime failed".to_owned(),
        },
        Status::Cancelled => "the server shut down before the run finished".to_owned(),
    })
}

/// Says which runtime has the module a `ModuleNotFoundError` names, or that
/// none does. Nothing can be installed in a sandbox.
pub fn missing_module_hint(message: &str, language: &str) -> String {
    let module = message
        .split('\'')
        .nth(1)
        .and_then(|name| name.split('.').next())
        .unwrap_or_default();
    let sci = sci_packages();
    let in_sci = sci.iter().any(|(import, _)| *import == module);
    let listed = sci
        .iter()
        .map(|(_, package)| *package)
        .collect::<Vec<_>>()
        .join(", ");
    match (in_sci, language == PythonSci::LANGUAGE) {
        (true, false) => format!(
            "{module} is in the python-sci runtime (language \"python-sci\"); {language} has \
             the standard library only, and nothing can be installed"
        ),
        (_, true) => {
            format!("nothing can be installed; python-sci has the standard library and {listed}")
        }
        (false, false) => format!(
            "no goru runtime has it and nothing can be installed; {language} has the standard \
             library only, python-sci also {listed}"
        ),
    }
}

/// `(import name, package)` of what python-sci has beyond the standard
/// library, from its version string ("... : numpy 2.5.2, pandas 3.0.6, ...").
fn sci_packages() -> Vec<(&'static str, &'static str)> {
    let listed = PythonSci::VERSION
        .split_once(": ")
        .map_or("", |(_, rest)| rest.trim_end_matches(')'));
    listed
        .split(", ")
        .filter_map(|entry| entry.split_whitespace().next())
        .map(|package| (import_name(package), package))
        .collect()
}

/// The name a package is imported by, where it differs.
fn import_name(package: &'static str) -> &'static str {
    match package {
        "scikit-learn" => "sklearn",
        "Pillow" => "PIL",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_in_python_sci_is_pointed_to_from_python() {
        let hint = missing_module_hint("No module named 'numpy'", "python");
        assert!(
            hint.starts_with("numpy is in the python-sci runtime"),
            "{hint}"
        );
        let hint = missing_module_hint("No module named 'sklearn.linear_model'", "python3.12");
        assert!(
            hint.starts_with("sklearn is in the python-sci runtime"),
            "{hint}"
        );
        let hint = missing_module_hint("No module named 'PIL'", "python");
        assert!(hint.starts_with("PIL is in"), "{hint}");
    }

    #[test]
    fn a_module_no_runtime_has_says_so() {
        let hint = missing_module_hint("No module named 'torch'", "python");
        assert!(hint.starts_with("no goru runtime has it"), "{hint}");
        assert!(hint.contains("numpy"), "{hint}");
        let hint = missing_module_hint("No module named 'torch'", "python-sci");
        assert!(hint.starts_with("nothing can be installed"), "{hint}");
    }
}
