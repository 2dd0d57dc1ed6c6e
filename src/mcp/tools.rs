//! The tools' arguments as a model sees them: JSON Schemas generated from
//! these types, with descriptions that say what the sandbox has and has not.

use rmcp::schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

use crate::sandbox::LANGUAGES;

/// The description of `run_code`: what a model needs to use the sandbox well.
pub const RUN_CODE: &str = "Run code in a fresh, isolated WebAssembly sandbox and get back its \
stdout, stderr, the value of the last expression (as in a notebook), any error with its \
traceback, charts as images and the files it wrote. \
Languages: `python` (CPython 3.14, standard library only, starts in about a millisecond), \
`python-sci` (CPython 3.15 with numpy, pandas, matplotlib, scipy, scikit-learn, statsmodels, \
seaborn, Pillow, sympy and networkx; every matplotlib figure left open comes back as a PNG), \
`python3.12` (standard library) and `javascript` (a SpiderMonkey script: console.log for \
output, top-level await, no Intl, no modules, no fetch; files only through fs_* functions). \
There is no package installer, no network unless the operator \
granted hosts (list_runtimes says which; reach them with http_get(url), http_post(url, body) or \
http_request(...), and in `python` also with urllib or requests), no subprocesses, and no host \
files: the working directory /work starts empty except for the `files` you send, and files the \
code writes there come back with the result. Without `session_id` nothing survives the call; \
to keep variables, imports and files between calls, call create_session once and pass its id. \
Limits (time, memory, output) are set by the operator; list_runtimes shows them.";

pub const CREATE_SESSION: &str = "Start a persistent interpreter: variables, imports, function \
definitions and files in /work survive from one run_code call to the next when you pass the \
returned session_id. Use it for multi-step work (load data once, then explore it). A session \
expires after a period without calls and ends if a run times out or runs out of memory; \
close it with close_session when done.";

pub const CLOSE_SESSION: &str =
    "End a session made by create_session and free its memory. Its state is lost.";

pub const LIST_RUNTIMES: &str = "List the languages this sandbox runs, the packages each has, \
and the limits and grants (network hosts, storage) every run gets.";

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct RunCode {
    /// The program. A Markdown code fence around it is removed.
    pub code: String,
    /// Which interpreter; omit for the server's default (see list_runtimes).
    /// With session_id, the session's own language is used.
    #[serde(default)]
    #[schemars(schema_with = "language_schema")]
    pub language: Option<String>,
    /// Run inside this session (from create_session), keeping its state.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Files placed in the working directory (/work) before the code runs.
    #[serde(default)]
    pub files: Vec<InputFile>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Relative to /work, e.g. `data/sales.csv`.
    pub path: String,
    /// The file's text, or its bytes in base64 when encoding is `base64`.
    pub content: String,
    /// `utf-8` (the default) or `base64`.
    #[serde(default)]
    #[schemars(schema_with = "encoding_schema")]
    pub encoding: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Which interpreter; omit for the server's default (see list_runtimes).
    #[serde(default)]
    #[schemars(schema_with = "language_schema")]
    pub language: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct CloseSession {
    /// The id create_session returned.
    pub session_id: String,
}

fn language_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": LANGUAGES,
        "description": "Which interpreter; omit for the server's default (see list_runtimes).",
    })
}

fn encoding_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": ["utf-8", "base64"],
        "description": "`utf-8` (the default) or `base64`.",
    })
}
