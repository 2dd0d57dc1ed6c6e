//! The registry of named host functions and the per-run, policy-checked door.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

/// The Python exception a host error becomes in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostErrorKind {
    Permission,
    Value,
    Type,
    Timeout,
    NotFound,
    /// `FileExistsError`: the file or directory to create is already there.
    Exists,
    IsADirectory,
    NotADirectory,
    Os,
    /// Raised as `GoruError`: a failure with no closer builtin exception.
    Other,
}

impl HostErrorKind {
    fn python_name(self) -> &'static str {
        match self {
            Self::Permission => "PermissionError",
            Self::Value => "ValueError",
            Self::Type => "TypeError",
            Self::Timeout => "TimeoutError",
            Self::NotFound => "FileNotFoundError",
            Self::Exists => "FileExistsError",
            Self::IsADirectory => "IsADirectoryError",
            Self::NotADirectory => "NotADirectoryError",
            Self::Os => "OSError",
            Self::Other => "GoruError",
        }
    }
}

/// An error a host function reports to the guest. The message is chosen by
/// the host function's author and is all the guest sees: never a host stack
/// trace or an internal error chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    pub kind: HostErrorKind,
    pub message: String,
}

impl HostError {
    pub fn new(kind: HostErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The wire form the guest prelude decodes: `{"type": ..., "message": ...}`.
    pub fn to_guest_json(&self) -> String {
        serde_json::json!({"type": self.kind.python_name(), "message": self.message}).to_string()
    }
}

/// A host function: JSON arguments in, JSON result out.
pub type HostFn = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, HostError>> + Send + Sync>;

/// The functions that exist in this process. Cheap to clone.
#[derive(Clone, Default)]
pub struct Registry {
    functions: HashMap<String, HostFn>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: BTreeSet<_> = self.functions.keys().collect();
        f.debug_struct("Registry")
            .field("functions", &names)
            .finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name`; a later registration of the same name replaces it.
    pub fn register<F, Fut>(&mut self, name: impl Into<String>, f: F) -> &mut Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HostError>> + Send + 'static,
    {
        let f: HostFn = Arc::new(move |args| Box::pin(f(args)));
        self.functions.insert(name.into(), f);
        self
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// The door for one run: only `granted` names can be called through it.
    pub fn grant<I, S>(&self, granted: I) -> HostCalls
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let allowed: BTreeSet<String> = granted.into_iter().map(Into::into).collect();
        let functions = self
            .functions
            .iter()
            .filter(|(name, _)| allowed.contains(*name))
            .map(|(name, f)| (name.clone(), f.clone()))
            .collect();
        HostCalls {
            functions,
            known: self.functions.keys().cloned().collect(),
        }
    }
}

/// Largest argument document a guest may send in one call.
pub const MAX_ARGS_BYTES: usize = 4 << 20;

/// One run's host functions: built for that run alone and dropped with it, so a
/// grant can never leak to another run.
#[derive(Clone, Default)]
pub struct HostCalls {
    functions: HashMap<String, HostFn>,
    known: BTreeSet<String>,
}

impl std::fmt::Debug for HostCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: BTreeSet<_> = self.functions.keys().collect();
        f.debug_struct("HostCalls")
            .field("functions", &names)
            .finish()
    }
}

impl HostCalls {
    /// No host functions at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a function for this run only (a capability built from the run's
    /// policy: its KV namespace, its allowed hosts, its mounts). It dies with
    /// the run.
    pub fn add<F, Fut>(&mut self, name: impl Into<String>, f: F) -> &mut Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HostError>> + Send + 'static,
    {
        let name = name.into();
        let f: HostFn = Arc::new(move |args| Box::pin(f(args)));
        self.known.insert(name.clone());
        self.functions.insert(name, f);
        self
    }

    /// Adds every function of `other`; its functions win on a name clash.
    pub fn extend(&mut self, other: HostCalls) {
        self.known.extend(other.known);
        self.functions.extend(other.functions);
    }

    /// Whether `name` can be called in this run.
    pub fn has(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// Decodes, checks the grant, calls, encodes. Errors are already in the
    /// guest's wire form.
    pub async fn dispatch(&self, name: &str, args_json: &str) -> Result<String, String> {
        self.call(name, args_json)
            .await
            .map_err(|e| e.to_guest_json())
    }

    async fn call(&self, name: &str, args_json: &str) -> Result<String, HostError> {
        let Some(f) = self.functions.get(name) else {
            let why = if self.known.contains(name) {
                format!("host function {name:?} is not granted to this run")
            } else if name.starts_with("http_") {
                format!(
                    "{name} is not available: this run's policy allows no hosts (allowed_hosts)"
                )
            } else if name.starts_with("fs_") {
                format!("{name} is not available: this run's policy has no mounts")
            } else {
                format!("no host function named {name:?}")
            };
            return Err(HostError::new(HostErrorKind::Permission, why));
        };
        if args_json.len() > MAX_ARGS_BYTES {
            return Err(HostError::new(
                HostErrorKind::Value,
                format!(
                    "arguments to {name:?} are {} bytes, above the limit of {MAX_ARGS_BYTES}",
                    args_json.len()
                ),
            ));
        }
        let args: Value = serde_json::from_str(args_json).map_err(|e| {
            HostError::new(
                HostErrorKind::Value,
                format!("arguments to {name:?} are not JSON: {e}"),
            )
        })?;
        let value = f(args).await?;
        Ok(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register("echo", |args| async move { Ok(args) });
        r.register("fail", |_| async {
            Err(HostError::new(HostErrorKind::Value, "bad id"))
        });
        r
    }

    #[tokio::test]
    async fn a_granted_function_is_called_with_its_arguments() {
        let calls = registry().grant(["echo"]);
        assert_eq!(
            calls.dispatch("echo", r#"{"id":"1"}"#).await.unwrap(),
            r#"{"id":"1"}"#
        );
    }

    #[tokio::test]
    async fn an_ungranted_function_is_refused_by_name() {
        let err = registry()
            .grant(["fail"])
            .dispatch("echo", "{}")
            .await
            .unwrap_err();
        assert!(
            err.contains("PermissionError") && err.contains("echo") && err.contains("not granted"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_unknown_function_is_refused_by_name() {
        let err = registry()
            .grant(["nope"])
            .dispatch("nope", "{}")
            .await
            .unwrap_err();
        assert!(err.contains("no host function named \\\"nope\\\""), "{err}");
    }

    #[tokio::test]
    async fn a_function_error_reaches_the_guest_with_its_own_message() {
        let err = registry()
            .grant(["fail"])
            .dispatch("fail", "{}")
            .await
            .unwrap_err();
        assert_eq!(err, r#"{"message":"bad id","type":"ValueError"}"#);
    }
}
