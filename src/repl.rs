//! `goru repl` (and `goru` on a terminal with no program): an interactive
//! session. Line editing and history come from rustyline; each entry runs as
//! a cell of one session, its output streamed as it is written, and the value
//! of a last expression echoed as Python's own prompt does.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::runner::{CellSpec, Interpreter, RunError, Runner, SessionSpec};
use crate::sandbox::{OutputChunk, OutputSink, RunResult, Status, StreamName};

/// Cells wait this long for the previous one; there is only ever one here.
const CELL_WAIT: Duration = Duration::from_secs(5);
/// A REPL's interpreter lives as long as the REPL.
const LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Runs the REPL until end of input; returns the process exit code.
/// `make_spec` gives the session's language, limits and grants, again when
/// a cell ended the interpreter and a fresh one is opened.
pub async fn run(runner: Runner, make_spec: impl Fn() -> Result<SessionSpec, String>) -> u8 {
    let mut interpreter = match open(&runner, &make_spec).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("goru: cannot start the interpreter: {e}");
            return 1;
        }
    };
    let mut editor = match DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("goru: cannot read input: {e}");
            return 1;
        }
    };
    let history = history_file();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "goru {} — {} in a WebAssembly sandbox; Ctrl-D exits.",
        env!("CARGO_PKG_VERSION"),
        interpreter.language()
    );
    let code = loop {
        let Some(entry) = read_entry(&mut editor, interpreter.language()) else {
            break 0;
        };
        if entry.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(entry.trim_end());
        match cell(&interpreter, entry).await {
            Ok(result) => {
                if let Some(code) = exit_requested(&result) {
                    break code;
                }
                if interpreter.ended().is_some() {
                    eprintln!("goru: the interpreter was reset; earlier definitions are gone");
                    match open(&runner, &make_spec).await {
                        Ok(fresh) => interpreter = fresh,
                        Err(e) => {
                            eprintln!("goru: cannot restart the interpreter: {e}");
                            break 1;
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("goru: {e}");
                break 1;
            }
        }
    };
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    interpreter.close("the REPL ended");
    code
}

async fn open(
    runner: &Runner,
    make_spec: &impl Fn() -> Result<SessionSpec, String>,
) -> Result<Interpreter, String> {
    runner
        .open_session(make_spec()?, Instant::now() + LIFETIME)
        .await
        .map_err(|e| e.to_string())
}

/// One entry: a line, or a block continued with `... ` until it is complete.
fn read_entry(editor: &mut DefaultEditor, language: &str) -> Option<String> {
    let mut entry = String::new();
    loop {
        // Each language's own prompt: Python's `>>>`, Node's `>`.
        let first = if language == crate::sandbox::JAVASCRIPT {
            "> "
        } else {
            ">>> "
        };
        let prompt = if entry.is_empty() { first } else { "... " };
        match editor.readline(prompt) {
            Ok(line) => {
                entry.push_str(&line);
                entry.push('\n');
                if !needs_more(&entry, language) {
                    return Some(entry);
                }
            }
            Err(ReadlineError::Interrupted) => {
                entry.clear();
                eprintln!("KeyboardInterrupt");
            }
            // End of input ends a pending block too, as Python's does.
            Err(_) if !entry.is_empty() => return Some(entry),
            Err(_) => return None,
        }
    }
}

/// Whether `entry` is an unfinished statement in `language`.
pub fn needs_more(entry: &str, language: &str) -> bool {
    if language == crate::sandbox::JAVASCRIPT {
        javascript_needs_more(entry)
    } else {
        python_needs_more(entry)
    }
}

/// Python: an open bracket or triple quote, a trailing backslash, or a block
/// (a line ending in `:`) not yet closed by an empty line.
fn python_needs_more(entry: &str) -> bool {
    let lines: Vec<&str> = entry.lines().collect();
    let Some(last) = lines.last() else {
        return false;
    };
    if entry.matches("\"\"\"").count() % 2 == 1 || entry.matches("'''").count() % 2 == 1 {
        return true;
    }
    if last.trim_end().ends_with('\\') {
        return true;
    }
    let mut depth: i64 = 0;
    let mut quote: Option<char> = None;
    for line in &lines {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(_), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '#') => break,
                (None, '\'' | '"') => quote = Some(c),
                (None, '(' | '[' | '{') => depth += 1,
                (None, ')' | ']' | '}') => depth -= 1,
                _ => {}
            }
        }
        quote = None;
    }
    if depth > 0 {
        return true;
    }
    let block = lines.iter().any(|l| l.trim_end().ends_with(':'));
    block && !last.trim().is_empty()
}

/// JavaScript: an open bracket, template literal or block comment. `//`
/// comments end at the line; `#` is a private name, not a comment.
fn javascript_needs_more(entry: &str) -> bool {
    let mut depth: i64 = 0;
    let mut quote: Option<char> = None;
    let mut block_comment = false;
    let mut chars = entry.chars().peekable();
    while let Some(c) = chars.next() {
        if block_comment {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                block_comment = false;
            }
            continue;
        }
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            // Only template literals span lines.
            (Some('`'), _) => {}
            (Some(_), '\n') => quote = None,
            (Some(_), _) => {}
            (None, '/') if chars.peek() == Some(&'/') => {
                for rest in chars.by_ref() {
                    if rest == '\n' {
                        break;
                    }
                }
            }
            (None, '/') if chars.peek() == Some(&'*') => {
                chars.next();
                block_comment = true;
            }
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    depth > 0 || block_comment || quote == Some('`')
}

/// Runs one cell, printing output as it comes and the last value after.
async fn cell(interpreter: &Interpreter, code: String) -> Result<RunResult, RunError> {
    let sink = OutputSink::default();
    let output = sink.clone();
    let done = std::sync::Arc::new(tokio::sync::Notify::new());
    let finished = done.clone();
    let printer = tokio::spawn(async move {
        loop {
            let over = tokio::select! {
                () = output.written() => false,
                () = finished.notified() => true,
            };
            for chunk in output.take() {
                print_chunk(&chunk);
            }
            if over {
                return;
            }
        }
    });
    let spec = CellSpec {
        code,
        sink: Some(sink),
        ..CellSpec::default()
    };
    let result = interpreter.run_cell(spec, CELL_WAIT).await;
    done.notify_one();
    let _ = printer.await;
    let result = result?;
    if let Some(display) = &result.result {
        println!("{}", display.plain);
    }
    if result.truncated.stdout || result.truncated.stderr {
        eprintln!("goru: output truncated at the --max-output cap");
    }
    if !matches!(result.status, Status::Ok | Status::Error)
        && let Some(reason) = &result.reason
    {
        eprintln!("goru: {}: {reason}", result.status.as_str());
    }
    Ok(result)
}

fn print_chunk(chunk: &OutputChunk) {
    match chunk.stream {
        StreamName::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&chunk.bytes);
            let _ = out.flush();
        }
        StreamName::Stderr => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&chunk.bytes);
            let _ = err.flush();
        }
    }
}

/// `exit()` / `sys.exit(n)` in a cell ends the REPL with that code.
fn exit_requested(result: &RunResult) -> Option<u8> {
    let error = result.error.as_ref()?;
    (error.type_name == "SystemExit")
        .then(|| u8::try_from(result.exit_code.clamp(0, 255)).unwrap_or(1))
}

/// `$XDG_STATE_HOME/goru/history`, else `~/.local/state/goru/history`.
fn history_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    let dir = base.join("goru");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

#[cfg(test)]
mod tests {
    use super::needs_more;

    #[test]
    fn blocks_brackets_and_strings_continue_until_complete() {
        let py = |entry| needs_more(entry, "python");
        assert!(!py("x = 1\n"));
        assert!(py("def f():\n"));
        assert!(py("def f():\n    return 1\n"));
        assert!(!py("def f():\n    return 1\n\n"));
        assert!(py("x = [1,\n"));
        assert!(!py("x = [1,\n 2]\n"));
        assert!(py("s = \"\"\"a\n"));
        assert!(!py("s = '(' # (\n"));
        assert!(py("x = 1 + \\\n"));
    }

    #[test]
    fn javascript_continues_inside_brackets_templates_and_block_comments() {
        let js = |entry| needs_more(entry, "javascript");
        assert!(!js("const x = 1\n"));
        assert!(js("function f() {\n"));
        assert!(!js("function f() {\n  return 1;\n}\n"));
        assert!(js("class A { #p = 1; m() {\n"), "# is a private name");
        assert!(!js("const s = '{'; // {\n"));
        assert!(js("const t = `line\n"));
        assert!(!js("const t = `a\nb`\n"));
        assert!(js("/* open\n"));
        assert!(!js("x = { a: 1 }\n"));
    }
}
