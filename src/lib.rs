//! goru: run untrusted Python in WebAssembly sandboxes.
//!
//! The [`sandbox`] runs code; [`host`] holds the functions a run may be
//! granted; [`cli`] is the command line on top.

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod host;
pub mod sandbox;
pub mod server;
