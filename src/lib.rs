//! goru: run untrusted Python in WebAssembly sandboxes.
//!
//! The [`sandbox`] runs code; [`host`] holds the functions a run may be
//! granted; [`cli`] is the command line on top.

pub mod api;
pub mod cli;
mod cli_files;
pub mod config;
pub mod error;
pub mod host;
pub mod mcp;
mod repl;
pub mod runner;
pub mod sandbox;
pub mod server;
pub mod session;
pub mod tenant;
