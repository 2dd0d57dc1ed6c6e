//! A run's result as a model reads it: one compact text block (only the
//! parts that have something in them), each figure as an image, each file the
//! code wrote as an embedded resource. Anything but a clean run is a tool
//! error (`isError`) whose text says what to do about it.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

use crate::sandbox::{Limits, RunResult, Status};
use crate::session::SessionInfo;

/// What the text needs besides the result.
pub struct Context<'a> {
    pub language: &'a str,
    pub limits: &'a Limits,
    /// The session the code ran in, as it is after the run.
    pub session: Option<&'a SessionInfo>,
}

pub fn result(run: RunResult, cx: &Context<'_>) -> CallToolResult {
    let mut text = String::new();
    section(&mut text, "stdout", &run.stdout, run.truncated.stdout);
    section(&mut text, "stderr", &run.stderr, run.truncated.stderr);
    if let Some(display) = &run.result {
        section(&mut text, "result", &display.plain, run.truncated.result);
    }
    if let Some(error) = &run.error
        && run.status == Status::Error
        && error.type_name != "SystemExit"
        // The guests print it to stderr too: once is enough for a model.
        && !run.stderr.contains(error.traceback.trim_end())
    {
        section(&mut text, "traceback", &error.traceback, false);
    }
    let mut blocks = Vec::new();
    for (n, image) in run.images.iter().enumerate() {
        match &image.data {
            Some(data) => blocks.push(ContentBlock::image(data.clone(), image.media_type.clone())),
            None => line(
                &mut text,
                &format!(
                    "figure {}: {}x{} PNG of {} bytes, over the per-image cap, not returned",
                    n + 1,
                    image.width,
                    image.height,
                    image.size
                ),
            ),
        }
    }
    if !run.files.is_empty() {
        let names: Vec<String> = run
            .files
            .iter()
            .map(|f| {
                let note = if f.truncated {
                    ", not returned: over the size cap"
                } else {
                    ""
                };
                format!("{} ({} bytes, {}{note})", f.path, f.size, f.media_type)
            })
            .collect();
        line(&mut text, &format!("files written: {}", names.join(", ")));
    }
    for file in &run.files {
        if let (Some(content), Some(encoding)) = (&file.content, &file.encoding) {
            let uri = file_uri(&file.path);
            let contents = match encoding.as_str() {
                "base64" => ResourceContents::blob(content.clone(), uri),
                _ => ResourceContents::text(content.clone(), uri),
            };
            blocks.push(ContentBlock::resource(
                contents.with_mime_type(file.media_type.clone()),
            ));
        }
    }
    let failed = run.status != Status::Ok;
    if let Some(status) = status_line(&run, cx) {
        line(&mut text, &status);
    }
    if let Some(session) = cx.session {
        line(&mut text, &session_line(session));
    }
    if text.is_empty() {
        text.push_str("(no output)");
    }
    let mut content = vec![ContentBlock::text(text.trim_end().to_owned())];
    content.extend(blocks);
    if failed {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    }
}

/// A refusal before anything ran, as a tool error the model can act on.
pub fn refusal(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// At most `max` bytes of `text`, on a character boundary, marked when cut.
fn head(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn section(text: &mut String, name: &str, body: &str, cut: bool) {
    if body.is_empty() {
        return;
    }
    text.push_str(name);
    text.push_str(":\n");
    text.push_str(body);
    if !body.ends_with('\n') {
        text.push('\n');
    }
    if cut {
        text.push_str(&format!("[{name} cut at the output limit]\n"));
    }
}

fn line(text: &mut String, line: &str) {
    text.push_str(line);
    text.push('\n');
}

/// Why the run did not end cleanly, and what to try instead.
fn status_line(run: &RunResult, cx: &Context<'_>) -> Option<String> {
    let limits = cx.limits;
    Some(match run.status {
        Status::Ok => return None,
        Status::Error => match &run.error {
            Some(e) if e.type_name == "SystemExit" => {
                format!("status: error: the code exited with code {}", run.exit_code)
            }
            Some(e) => {
                // The whole message is in the traceback above; a hostile
                // one is not repeated at full length.
                let mut s = format!("status: error: {}: {}", e.type_name, head(&e.message, 512));
                if e.type_name == "ModuleNotFoundError" {
                    s.push_str(". ");
                    s.push_str(&crate::sandbox::missing_module_hint(
                        &e.message,
                        cx.language,
                    ));
                    s.push('.');
                }
                s
            }
            None => format!("status: error: the code exited with code {}", run.exit_code),
        },
        Status::Timeout => format!(
            "status: timeout: the run was stopped at its time limit of {} ms. Do less work per \
             call (smaller inputs, fewer iterations, numpy/pandas operations instead of Python \
             loops), or split the work across several calls in a session.",
            limits.timeout.as_millis()
        ),
        Status::MemoryLimit => format!(
            "status: memory_limit: the run needed more than its memory limit of {} MiB. Work in \
             smaller chunks, use smaller dtypes, or delete large intermediate values.",
            limits.memory_bytes >> 20
        ),
        Status::FuelExhausted => format!(
            "status: fuel_exhausted: the run used up its CPU budget of {} fuel units. Do less \
             work per call.",
            limits.fuel.unwrap_or(0)
        ),
        Status::Crashed => format!(
            "status: crashed: the interpreter stopped abnormally ({}); deep recursion is the \
             usual cause.",
            run.error
                .as_ref()
                .map_or("no detail", |e| e.message.as_str())
        ),
        Status::Cancelled => {
            "status: cancelled: the server shut down before the run finished; try again.".to_owned()
        }
    })
}

fn session_line(s: &SessionInfo) -> String {
    if s.alive {
        format!(
            "session {}: runs so far: {}, kept until {} unless used again",
            s.session_id, s.cells_run, s.expires_at
        )
    } else {
        format!(
            "session {} has ended ({}); call create_session for a new one",
            s.session_id,
            s.ended_reason.as_deref().unwrap_or("no reason given")
        )
    }
}

/// `file:///work/<path>`, each segment percent-encoded.
fn file_uri(path: &str) -> String {
    let encoded: Vec<String> = path
        .split('/')
        .map(|segment| url::form_urlencoded::byte_serialize(segment.as_bytes()).collect())
        .collect();
    // form encoding writes a space as `+`; a URI path wants `%20`.
    format!("file:///work/{}", encoded.join("/").replace('+', "%20"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_encode_what_a_guest_may_put_in_a_name() {
        assert_eq!(file_uri("out/a b?.csv"), "file:///work/out/a%20b%3F.csv");
    }
}
