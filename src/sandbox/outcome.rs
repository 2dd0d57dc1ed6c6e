//! What a run produced. Every guest failure ends up here as data.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::workdir::OutputFile;

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
    /// The server shut down before the run finished.
    Cancelled,
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
            Self::Cancelled => "cancelled",
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
    /// One of the texts was cut at the output cap (`truncated.error`).
    #[serde(skip)]
    pub truncated: bool,
}

/// The longest exception type name kept.
pub const MAX_TYPE_NAME: usize = 256;

impl GuestError {
    pub fn new(
        type_name: impl Into<String>,
        message: impl Into<String>,
        traceback: impl Into<String>,
    ) -> Self {
        Self {
            type_name: type_name.into(),
            message: message.into(),
            traceback: traceback.into(),
            truncated: false,
        }
    }

    /// Every text cut to `cap` bytes (the type name to a line's worth).
    pub fn capped(self, cap: usize) -> Self {
        let (type_name, cut_name) = cut(self.type_name, MAX_TYPE_NAME);
        let (message, cut_message) = cut(self.message, cap);
        let (traceback, cut_traceback) = cut(self.traceback, cap);
        Self {
            type_name,
            message,
            traceback,
            truncated: self.truncated || cut_name || cut_message || cut_traceback,
        }
    }

    /// A guest that left through `proc_exit` (`os._exit(code)`): status
    /// `error` with its exit code, as for `sys.exit(code)`.
    pub fn exited(code: i32) -> Self {
        Self::new("SystemExit", code.to_string(), "")
    }
}

/// The value of the code's last expression, as a notebook shows it: a MIME
/// bundle with `text/plain` and, where the object renders itself as HTML,
/// `text/html`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Display {
    #[serde(rename = "text/plain")]
    pub plain: String,
    #[serde(rename = "text/html", default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Cut at the output cap.
    #[serde(skip)]
    pub truncated: bool,
}

impl Display {
    /// Both texts cut to `cap` bytes; `truncated` says whether either was.
    pub fn capped(self, cap: usize) -> Self {
        let (plain, cut_plain) = cut(self.plain, cap);
        let (html, cut_html) = match self.html {
            Some(html) => {
                let (html, was_cut) = cut(html, cap);
                (Some(html), was_cut)
            }
            None => (None, false),
        };
        Self {
            plain,
            html,
            truncated: self.truncated || cut_plain || cut_html,
        }
    }
}

/// `text` cut to at most `cap` bytes on a character boundary.
pub fn cut_str(text: &str, cap: usize) -> (&str, bool) {
    if text.len() <= cap {
        return (text, false);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// `text` cut to at most `cap` bytes on a character boundary.
fn cut(mut text: String, cap: usize) -> (String, bool) {
    let end = cut_str(&text, cap).0.len();
    let was_cut = end < text.len();
    text.truncate(end);
    (text, was_cut)
}

/// Which outputs were cut at the cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    pub stdout: bool,
    pub stderr: bool,
    /// The last expression's representation.
    #[serde(default)]
    pub result: bool,
    /// The exception's type name, message or traceback.
    #[serde(default)]
    pub error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    pub status: Status,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<GuestError>,
    /// The last expression's value when the code ends with one that is not
    /// None (runtimes that cannot tell leave it empty).
    #[serde(default)]
    pub result: Option<Display>,
    /// The guest's exit code; non-zero for every status but `ok`.
    pub exit_code: i32,
    /// One line saying why a run did not end `ok`: the limit and its value,
    /// the exception, or which runtime has a missing module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(with = "duration_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// Fuel consumed, when the run was metered.
    pub fuel_used: Option<u64>,
    pub peak_memory_bytes: u64,
    pub truncated: Truncated,
    /// Files the run created or changed in its working directory.
    #[serde(default)]
    pub files: Vec<OutputFile>,
    /// Figures the run drew (python-sci: every matplotlib figure left open).
    #[serde(default)]
    pub images: Vec<Image>,
}

/// A figure, as PNG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub media_type: String,
    pub width: u32,
    pub height: u32,
    /// Size of the PNG in bytes.
    pub size: u64,
    /// The PNG in base64; absent when it was over the per-image cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The data was left out: the PNG was over the per-image cap.
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_keeps_whole_characters() {
        assert_eq!(cut("aé".to_owned(), 2), ("a".to_owned(), true));
        assert_eq!(cut("abc".to_owned(), 3), ("abc".to_owned(), false));
    }

    #[test]
    fn a_display_past_the_cap_is_flagged() {
        let d = Display {
            plain: "x".repeat(10),
            html: Some("<b>".into()),
            truncated: false,
        }
        .capped(4);
        assert_eq!((d.plain.as_str(), d.truncated), ("xxxx", true));
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
