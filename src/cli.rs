//! The command line: `goru -c CODE`, `goru script.py`, `echo CODE | goru`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::runner::{RunError, RunSpec, Runner};
use crate::sandbox::{LANGUAGES, LimitRequest, RunResult, Sandbox, SandboxConfig, Status};

/// Run Python in a WebAssembly sandbox.
///
/// The code comes from -c, from a script file, or from standard input.
/// The guest sees no host filesystem, network, environment or processes.
/// `goru serve` runs the HTTP service instead.
#[derive(Debug, Parser)]
#[command(name = "goru", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: Args,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up; the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Serve the HTTP API (POST /run) on 127.0.0.1:8080 unless told otherwise.
    Serve(ServeArgs),
    /// An interactive session: state kept between entries, the last
    /// expression echoed, history and multi-line input. Also what `goru`
    /// starts on a terminal with no program. Takes the run flags (--lang,
    /// --timeout, --memory, --mount, --allow-host, ...).
    Repl(Args),
    /// Serve MCP (Model Context Protocol) on stdin/stdout, for agents that
    /// spawn a tool server: tools run_code, create_session, close_session,
    /// list_runtimes, with the `[mcp]` policy of the configuration.
    Mcp(McpArgs),
    /// Make a new API key for a tenant: prints the key (give it to the
    /// client) and its SHA-256 (put it in `[tenants.<name>] key_sha256`).
    /// With --hash, reads a key from stdin and prints only its hash.
    Key(KeyArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// Hash a key read from stdin instead of making one.
    #[arg(long)]
    pub hash: bool,
}

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// TOML configuration file (the same file as `goru serve`'s).
    #[arg(long, env = "GORU_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see config/goru.toml for every setting).
    #[arg(long, env = "GORU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides `listen`).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Runs executing at once (overrides `server.concurrency`).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Pre-instantiated python sandboxes (overrides `server.pool_size`).
    #[arg(long)]
    pub pool_size: Option<usize>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl Args {
    /// `--lang`, else the language a script's extension names, else python.
    pub fn language(&self) -> &str {
        if let Some(lang) = &self.lang {
            return lang;
        }
        let extension = self.script.as_deref().and_then(|p| p.extension());
        match extension.and_then(|e| e.to_str()) {
            Some("js" | "mjs") => "javascript",
            _ => LANGUAGES[0],
        }
    }
}

/// The arguments of a one-off run.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Program passed in as a string.
    #[arg(short = 'c', value_name = "CODE", conflicts_with = "script")]
    pub code: Option<String>,

    /// Script file to run; `-` or nothing reads the program from stdin.
    #[arg(value_name = "SCRIPT")]
    pub script: Option<PathBuf>,

    /// Guest language [default: javascript for a .js or .mjs script, else python].
    #[arg(long = "lang", value_parser = clap::builder::PossibleValuesParser::new(LANGUAGES))]
    pub lang: Option<String>,

    /// Wall-clock limit, e.g. 500ms, 5s, 1m.
    #[arg(long, value_parser = parse_duration, env = "GORU_TIMEOUT")]
    pub timeout: Option<Duration>,

    /// Memory limit, e.g. 64MB, 1GB (binary units: 1MB = 1024 KB).
    #[arg(long, value_parser = parse_size, env = "GORU_MEMORY")]
    pub memory: Option<u64>,

    /// CPU budget in fuel units (about one per WebAssembly instruction).
    #[arg(long)]
    pub fuel: Option<u64>,

    /// Bytes kept of stdout and of stderr each, e.g. 1MB.
    #[arg(long, value_parser = parse_size)]
    pub max_output: Option<u64>,

    /// File whose content becomes the guest's stdin (`-` for ours).
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,

    /// Mount a host directory: GUEST:HOST:MODE with MODE ro, rw or rwc
    /// (e.g. /data:./input:ro). Repeatable. Reached with fs_* functions.
    #[arg(long = "mount", value_name = "GUEST:HOST:MODE")]
    pub mounts: Vec<String>,

    /// Run against a local directory: its files are placed in the guest's
    /// working directory (/work) and the files the run creates or changes are
    /// written back to it. Symlinks are skipped.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// Let http_* reach this host (api.example.com, *.example.com, host:8443). Repeatable.
    #[arg(long = "allow-host", value_name = "PATTERN")]
    pub allow_hosts: Vec<String>,

    /// Let http_* reach this internal address or CIDR (refused by default:
    /// loopback, private, link-local, metadata). Repeatable.
    #[arg(long = "allow-address", value_name = "CIDR")]
    pub allow_addresses: Vec<String>,

    /// Print the whole result as JSON instead of the guest's output.
    #[arg(long)]
    pub json: bool,

    /// Directory holding the built guest runtimes.
    #[arg(long, env = "GORU_RUNTIME_DIR", default_value_os_t = SandboxConfig::default_runtime_dir())]
    pub runtime_dir: PathBuf,

    /// Compiled-guest cache directory.
    #[arg(long, env = "GORU_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Do not read or write the compiled-guest cache.
    #[arg(long)]
    pub no_cache: bool,
}

fn key_main(args: &KeyArgs) -> ExitCode {
    use crate::tenant::keys::{self, KeyHash, MIN_KEY_BYTES};
    if args.hash {
        let mut key = String::new();
        if std::io::stdin().read_line(&mut key).is_err() || key.trim().len() < MIN_KEY_BYTES {
            eprintln!("goru: key: give a key of at least {MIN_KEY_BYTES} bytes on stdin");
            return ExitCode::from(USAGE);
        }
        println!("{}", KeyHash::of_key(key.trim()).to_hex());
        return ExitCode::SUCCESS;
    }
    match keys::generate() {
        Ok(key) => {
            println!("key        = {key}");
            println!("key_sha256 = \"{}\"", KeyHash::of_key(&key).to_hex());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("goru: key: the system gave no randomness: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Usage errors exit with 2, as clap's own do.
const USAGE: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(serve)) => serve_main(serve),
        Some(Command::Repl(args)) => repl_main(args),
        Some(Command::Mcp(args)) => mcp_main(args),
        Some(Command::Key(args)) => key_main(&args),
        None if cli.run.code.is_none()
            && cli.run.script.is_none()
            && std::io::stdin().is_terminal() =>
        {
            repl_main(cli.run)
        }
        None => run_main(cli.run),
    }
}

fn serve_main(args: ServeArgs) -> ExitCode {
    let mut config = match crate::config::Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("goru: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(n) = args.concurrency {
        config.server.concurrency = n.max(1);
    }
    if let Some(n) = args.pool_size {
        config.server.pool_size = n;
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    run_service(config, crate::server::serve)
}

fn mcp_main(args: McpArgs) -> ExitCode {
    let config = match crate::config::Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("goru: {e}");
            return ExitCode::from(USAGE);
        }
    };
    // Logs go to stderr: stdout carries the protocol.
    run_service(config, crate::server::mcp_stdio)
}

/// Starts logging, then runs `service` (serve or mcp) to its end.
fn run_service<F: std::future::Future<Output = anyhow::Result<()>>>(
    config: crate::config::Config,
    service: impl FnOnce(crate::config::Config) -> F,
) -> ExitCode {
    if let Err(e) = crate::server::init_logging(&config) {
        eprintln!("goru: {e:#}");
        return ExitCode::from(USAGE);
    }
    block_on(async {
        match service(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("goru: {e:#}");
                ExitCode::from(1)
            }
        }
    })
}

/// Runs `main` on a fresh multi-threaded runtime.
fn block_on(main: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(main),
        Err(e) => {
            eprintln!("goru: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

fn repl_main(args: Args) -> ExitCode {
    if args.code.is_some() || args.script.is_some() {
        eprintln!("goru: repl takes no program; use `goru -c CODE` or `goru SCRIPT` to run one");
        return ExitCode::from(USAGE);
    }
    block_on(async move {
        let sandbox = match Sandbox::new(sandbox_config(&args)) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        let (capabilities, _) = match grant(&args) {
            Ok(granted) => granted,
            Err(message) => {
                eprintln!("goru: {message}");
                return ExitCode::from(USAGE);
            }
        };
        let make_spec = || {
            let (_, grants) = grant(&args)?;
            Ok(crate::runner::SessionSpec {
                language: Some(args.language().to_owned()),
                limits: limit_request(&args),
                grants,
                // The operator's own process: the flags' limits and grants.
                tenant: None,
            })
        };
        ExitCode::from(crate::repl::run(Runner::new(sandbox, capabilities), make_spec).await)
    })
}

fn run_main(args: Args) -> ExitCode {
    let stdin_is_tty = std::io::stdin().is_terminal();
    let (code, stdin) = match read_inputs(&args, stdin_is_tty) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("goru: {message}");
            return ExitCode::from(USAGE);
        }
    };
    block_on(run(args, code, stdin))
}

fn read_inputs(args: &Args, stdin_is_tty: bool) -> Result<(String, Vec<u8>), String> {
    let code = match (&args.code, &args.script) {
        (Some(code), _) => code.clone(),
        (None, Some(path)) if path.as_os_str() != "-" => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read script {}: {e}", path.display()))?,
        _ => {
            if stdin_is_tty {
                return Err(
                    "no program given: use -c CODE, a script file, or pipe code on stdin".into(),
                );
            }
            let mut code = String::new();
            std::io::stdin()
                .read_to_string(&mut code)
                .map_err(|e| format!("cannot read the program from stdin: {e}"))?;
            code
        }
    };
    let stdin = match &args.stdin {
        None => Vec::new(),
        Some(path) if path.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            buf
        }
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read --stdin file {}: {e}", path.display()))?,
    };
    Ok((code, stdin))
}

fn limit_request(args: &Args) -> LimitRequest {
    LimitRequest {
        timeout: args.timeout,
        memory_bytes: args.memory,
        fuel: args.fuel,
        max_output_bytes: args.max_output,
    }
}

fn sandbox_config(args: &Args) -> SandboxConfig {
    let mut config = SandboxConfig {
        runtime_dir: args.runtime_dir.clone(),
        ..SandboxConfig::default()
    };
    if args.no_cache {
        config.cache_dir = None;
    } else if let Some(dir) = &args.cache_dir {
        config.cache_dir = Some(dir.clone());
    }
    config
}

/// Loads `language`'s runtime; when that takes a while (a first start
/// compiles the guest: python-sci's takes a minute or more), says so on a
/// terminal.
async fn load_saying_so(
    sandbox: &Sandbox,
    language: &str,
) -> Result<(), crate::error::SandboxError> {
    let languages = [language];
    let load = sandbox.precompile(&languages);
    tokio::pin!(load);
    tokio::select! {
        loaded = &mut load => loaded.map(drop),
        () = tokio::time::sleep(Duration::from_secs(1)) => {
            if std::io::stderr().is_terminal() {
                eprintln!("goru: compiling the {language} runtime (once: it is cached for the next runs)...");
            }
            load.await.map(drop)
        }
    }
}

async fn run(args: Args, code: String, stdin: Vec<u8>) -> ExitCode {
    let mut config = sandbox_config(&args);
    if args.workdir.is_some()
        && let Some(files) = config.files.as_mut()
    {
        // Everything the run writes goes back to the user's directory.
        files.max_returned_bytes = files.quota_bytes;
        files.max_input_files = files.quota_files as usize;
    }
    let sandbox = match Sandbox::new(config) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let limits = limit_request(&args);
    let (capabilities, grants) = match grant(&args) {
        Ok(granted) => granted,
        Err(message) => {
            eprintln!("goru: {message}");
            return ExitCode::from(USAGE);
        }
    };
    let files = match &args.workdir {
        Some(dir) => match crate::cli_files::read_dir(dir, sandbox.files()) {
            Ok(files) => files,
            Err(message) => {
                eprintln!("goru: --workdir: {message}");
                return ExitCode::from(USAGE);
            }
        },
        None => Vec::new(),
    };
    if let Err(e) = load_saying_so(&sandbox, args.language()).await {
        return fail(&e);
    }
    let spec = RunSpec {
        code,
        language: Some(args.language().to_owned()),
        stdin,
        limits,
        grants,
        files,
        sink: None,
        tenant: None,
    };
    match Runner::new(sandbox, capabilities).run(spec).await {
        Ok(result) => {
            if let Some(dir) = &args.workdir
                && let Err(message) = crate::cli_files::write_back(dir, &result.files)
            {
                eprintln!("goru: --workdir: {message}");
            }
            report(&result, args.json)
        }
        Err(e @ (RunError::Limit(_) | RunError::Grant(_))) => {
            let message = match &e {
                RunError::Grant(g) if g.field.starts_with("allowed_hosts") => {
                    format!("--allow-host: {e}")
                }
                _ => e.to_string(),
            };
            eprintln!("goru: {message}");
            ExitCode::from(USAGE)
        }
        Err(e) => fail(&e),
    }
}

/// What the run may reach: private KV always; HTTP and files as flagged.
fn grant(args: &Args) -> Result<(crate::host::Capabilities, crate::host::Grants), String> {
    let http = crate::host::http::HttpConfig {
        allow_addresses: args.allow_addresses.clone(),
        ..Default::default()
    };
    http.validate()
        .map_err(|e| format!("--allow-address: {e}"))?;
    let capabilities = crate::host::Capabilities {
        http: std::sync::Arc::new(http),
        ..Default::default()
    };
    let opened_mounts =
        crate::host::fs::open_cli_mounts(&args.mounts).map_err(|e| e.to_string())?;
    let grants = crate::host::Grants {
        allowed_hosts: args.allow_hosts.clone(),
        opened_mounts,
        ..Default::default()
    };
    Ok((capabilities, grants))
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("goru: {message}");
    ExitCode::from(1)
}

fn report(result: &RunResult, json: bool) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    // Write errors (a closed pipe) are not worth failing over.
    if json {
        let _ = serde_json::to_writer_pretty(&mut out, result).map(|()| writeln!(out));
    } else {
        let _ = out.write_all(result.stdout.as_bytes());
        let _ = err.write_all(result.stderr.as_bytes());
        if result.truncated.stdout || result.truncated.stderr {
            let _ = writeln!(err, "goru: output truncated at the --max-output cap");
        }
        if let Some(reason) = &result.reason {
            let _ = writeln!(err, "goru: {}: {reason}", result.status.as_str());
        }
    }
    let _ = out.flush();
    ExitCode::from(exit_code(result))
}

/// The guest's exit code; conventional codes for limits.
fn exit_code(result: &RunResult) -> u8 {
    match result.status {
        Status::Ok => 0,
        _ => u8::try_from(result.exit_code.clamp(1, 255)).unwrap_or(1),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("invalid duration {text:?} ({e}); examples: 500ms, 5s, 1m"))?;
    if d.is_zero() {
        return Err("a duration of zero is not allowed".into());
    }
    Ok(d)
}

/// Sizes in binary units: `64MB` = 64 MiB. A bare number is bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let invalid = || format!("invalid size {text:?}; examples: 64MB, 512KB, 1GB, 1048576");
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(invalid()),
    };
    n.checked_mul(factor).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("-1MB").is_err());
        assert!(parse_size("99999999999999999999GB").is_err());
    }

    #[test]
    fn durations_need_a_unit_and_cannot_be_zero() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Sizes are the number times the unit, or refused; never
            /// wrapped around.
            #[test]
            fn sizes_multiply_or_are_refused(n: u64, unit in prop::sample::select(vec!["", "B", "K", "kb", "MiB", "m", "GB", "gib"])) {
                let factor: u64 = match unit.to_ascii_uppercase().chars().next() {
                    None | Some('B') => 1,
                    Some('K') => 1 << 10,
                    Some('M') => 1 << 20,
                    _ => 1 << 30,
                };
                prop_assert_eq!(parse_size(&format!("{n}{unit}")).ok(), n.checked_mul(factor));
            }

            #[test]
            fn any_size_or_duration_text_is_parsed_or_refused(text in "\\PC{0,40}") {
                let _ = parse_size(&text);
                if let Ok(d) = parse_duration(&text) {
                    prop_assert!(!d.is_zero());
                }
            }
        }
    }
}
