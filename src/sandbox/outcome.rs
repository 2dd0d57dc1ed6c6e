//! What a run produced. Every guest failure ends up here as data.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The code ran to the end (or called `sys.exit(0)`).
    Ok,
    /// An uncaught exception or a non-zero `SystemExit`.
    Error,
    /// The wall-clock deadline passed.
    Timeout,
    /// The guest asked for more memory than its limit.
    MemoryLimit,
    /// The fuel budget ran out.
    FuelExhausted,
    /// The guest trapped (stack exhaustion, an abort in the runtime).
    Crashed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::MemoryLimit => "memory_limit",
            Self::FuelExhausted => "fuel_exhausted",
            Self::Crashed => "crashed",
        }
    }
}

/// An exception that escaped the submitted code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestError {
    #[serde(rename = "type")]
    pub type_name: String,
    pub message: String,
    pub traceback: String,
}

/// Which outputs were cut at the cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    pub stdout: bool,
    pub stderr: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    pub status: Status,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<GuestError>,
    /// The guest's exit code; non-zero for every status but `ok`.
    pub exit_code: i32,
    #[serde(with = "duration_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// Fuel consumed, when the run was metered.
    pub fuel_used: Option<u64>,
    pub peak_memory_bytes: u64,
    pub truncated: Truncated,
}

impl RunResult {
    /// A one-line reason for statuses other than `ok`, for logs and the CLI.
    pub fn reason(&self) -> Option<String> {
        match self.status {
            Status::Ok => None,
            Status::Error => Some(match &self.error {
                Some(e) if e.type_name == "SystemExit" => {
                    format!("exited with code {}", self.exit_code)
                }
                Some(e) => format!("{}: {}", e.type_name, e.message),
                None => format!("exited with code {}", self.exit_code),
            }),
            Status::Timeout => Some(format!("timed out after {} ms", self.duration.as_millis())),
            Status::MemoryLimit => Some("memory limit exceeded".to_owned()),
            Status::FuelExhausted => Some("fuel exhausted".to_owned()),
            Status::Crashed => Some(match &self.error {
                Some(e) => format!("sandbox crashed: {}", e.message),
                None => "sandbox crashed".to_owned(),
            }),
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}
