//! The integration suite: one test binary, a module per concern.
//!
//! One binary instead of one per file: each binary links wasmtime (about
//! 15 s and 200 MB apiece here), and the modules share one process-wide
//! sandbox (`common::sandbox`) and one loaded copy of each compiled guest.
//! Run one concern with `cargo test --release --test integration server::`.

mod common;

mod cache;
mod capabilities;
mod cases;
mod cli;
mod docker;
mod engine_statuses;
mod everyday_python;
mod files;
mod host_calls;
mod host_fs;
mod host_http;
mod javascript;
mod mcp;
mod python_sci;
mod scale_out;
mod server;
mod sessions;
mod slot_reset;
mod stdlib;
mod streaming;
mod tenants;
