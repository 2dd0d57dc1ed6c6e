//! Host functions: the only way a guest reaches the world.
//!
//! Every capability is a named async function taking and returning JSON. The
//! process-wide [`Registry`] says what exists; each run gets a [`HostCalls`]
//! holding only what its policy grants, checked inside the dispatcher on every
//! call.

pub mod fs;
pub mod functions;
mod grants;
pub mod http;
pub mod kv;
mod registry;

pub use grants::{Capabilities, GrantError, GrantFault, Granted, GrantedMount, Grants, GrantsUsed};
pub use registry::{HostCalls, HostError, HostErrorKind, HostFn, MAX_ARGS_BYTES, Registry};
