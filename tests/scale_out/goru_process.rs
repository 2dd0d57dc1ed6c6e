//! `goru serve` as its own process (the binary the build made), on a port
//! of its own: what a replica is.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct GoruProcess {
    pub base: String,
    child: Child,
    _config: tempfile::NamedTempFile,
}

impl GoruProcess {
    /// Starts a replica with `extra` appended to a test configuration (TOML)
    /// and waits until `/readyz` answers 200.
    pub async fn start(extra: &str) -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("goru-cache");
        let text = format!(
            "listen = \"127.0.0.1:0\"\nruntime_dir = \"{root}/build/runtimes\"\ncache_dir = \"{}\"\n\
             [server]\nconcurrency = 2\npool_size = 1\nprecompile = [\"python\"]\n{extra}",
            cache.display()
        );
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_goru"))
            .arg("serve")
            .arg("--config")
            .arg(config.path())
            .env("GORU_LOG_FORMAT", "json")
            .env("GORU_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addr = listening_address(&mut child);
        let replica = Self {
            base: format!("http://{addr}"),
            child,
            _config: config,
        };
        replica.wait_ready().await;
        replica
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let ready = client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "replica never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Reads the log until the "goru listening" line, then keeps draining it
/// (a full pipe would block the server).
fn listening_address(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["message"] == "goru listening"
            {
                let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the replica never said where it listens")
}

impl Drop for GoruProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
