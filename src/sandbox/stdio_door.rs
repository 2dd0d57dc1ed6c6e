//! The host-call door for guests that only have stdio (the `python3.12`
//! command module), framed the way the original project did it.
//!
//! The guest's prelude writes one frame to stderr,
//! `\x1egoru:call {"name": ..., "args": ...}\n`, then reads one JSON line from
//! stdin: `{"ok": "<result json>"}` or `{"error": "<error json>"}`. Frames never
//! reach the captured stderr. The response is placed in front of whatever user
//! stdin is left, and produced inside stdin's async `ready()`, so host
//! functions can await I/O while the guest blocks on its read.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError};

use super::output::CappedOutput;
use crate::host::{HostCalls, HostError, HostErrorKind, MAX_ARGS_BYTES};

/// Starts a host-call frame on stderr. Record separator first so ordinary
/// text never starts a frame by accident.
const CALL_MARKER: &[u8] = b"\x1egoru:call ";
/// Starts the frame reporting an uncaught exception as data.
const ERROR_MARKER: &[u8] = b"\x1egoru:error ";

#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Call,
    Error,
}

/// Request frames waiting for the guest to read their answers. `_goru_call`
/// waits for each answer, so an honest guest has one; a guest that writes
/// frames without reading must not grow host memory.
const MAX_QUEUED_FRAMES: usize = 16;
/// Bytes those frames may hold together.
const MAX_QUEUED_BYTES: usize = 2 * (MAX_ARGS_BYTES + 4096);

#[derive(Default)]
struct DoorState {
    /// A frame being received across several writes.
    partial: Option<(FrameKind, Vec<u8>)>,
    /// The guest's report of an uncaught exception, if any.
    error: Option<Vec<u8>>,
    /// Complete request frames not yet answered, in order.
    requests: VecDeque<Vec<u8>>,
    /// Bytes held in `requests`.
    queued_bytes: usize,
    /// The guest wrote more frames than the queue holds without reading the
    /// answers: the door is closed to it.
    overrun: bool,
    /// Bytes the guest reads next: responses, then the user's stdin.
    responses: VecDeque<u8>,
    user_stdin: VecDeque<u8>,
}

impl DoorState {
    fn queue(&mut self, frame: Vec<u8>) {
        if self.overrun
            || self.requests.len() >= MAX_QUEUED_FRAMES
            || self.queued_bytes + frame.len() > MAX_QUEUED_BYTES
        {
            self.overrun = true;
            return;
        }
        self.queued_bytes += frame.len();
        self.requests.push_back(frame);
    }

    fn dequeue(&mut self) -> Option<Vec<u8>> {
        let frame = self.requests.pop_front()?;
        self.queued_bytes -= frame.len();
        Some(frame)
    }
}

/// One run's door: hand [`Door::stdin`] and [`Door::stderr`] to the WASI context.
#[derive(Clone)]
pub struct Door {
    state: Arc<Mutex<DoorState>>,
    host: HostCalls,
    stderr: CappedOutput,
}

impl Door {
    pub fn new(host: HostCalls, stdin: Vec<u8>, stderr: CappedOutput) -> Self {
        let state = DoorState {
            user_stdin: stdin.into(),
            ..DoorState::default()
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            host,
            stderr,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DoorState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Splits frames out of what the guest writes to stderr.
    fn write_stderr(&self, mut data: &[u8]) {
        let mut state = self.lock();
        while !data.is_empty() {
            if let Some((kind, mut frame)) = state.partial.take() {
                let end = data.iter().position(|&b| b == b'\n');
                let take = end.unwrap_or(data.len());
                if frame.len() + take <= MAX_ARGS_BYTES + 4096 {
                    frame.extend_from_slice(&data[..take]);
                } else {
                    // Oversized: keep the frame open but stop storing it; the
                    // request fails its JSON decode and the guest gets an error.
                    frame.truncate(0);
                }
                match end {
                    Some(i) => {
                        match kind {
                            FrameKind::Call => state.queue(frame),
                            FrameKind::Error => state.error = Some(frame),
                        }
                        data = &data[i + 1..];
                    }
                    None => {
                        state.partial = Some((kind, frame));
                        return;
                    }
                }
            } else if data.starts_with(CALL_MARKER) {
                state.partial = Some((FrameKind::Call, Vec::new()));
                data = &data[CALL_MARKER.len()..];
            } else if data.starts_with(ERROR_MARKER) {
                state.partial = Some((FrameKind::Error, Vec::new()));
                data = &data[ERROR_MARKER.len()..];
            } else {
                self.stderr.write_bytes(data);
                return;
            }
        }
    }

    /// Answers every pending request, in order.
    async fn answer_pending(&self) {
        loop {
            let Some(frame) = self.lock().dequeue() else {
                return;
            };
            let response = match decode(&frame) {
                Ok((name, args)) => match self.host.dispatch(&name, &args).await {
                    Ok(result) => serde_json::json!({ "ok": result }),
                    Err(error) => serde_json::json!({ "error": error }),
                },
                Err(e) => serde_json::json!({ "error": e.to_guest_json() }),
            };
            let mut line = response.to_string().into_bytes();
            line.push(b'\n');
            self.lock().responses.extend(line);
        }
    }

    fn read(&self, size: usize) -> Result<Bytes, StreamError> {
        let mut state = self.lock();
        let source = if state.responses.is_empty() {
            if state.overrun {
                // `_goru_call` raises: the host call channel is closed.
                return Err(StreamError::Closed);
            }
            if !state.requests.is_empty() {
                // Not answered yet: `ready()` will, then the guest reads again.
                return Ok(Bytes::new());
            }
            if state.user_stdin.is_empty() {
                return Err(StreamError::Closed);
            }
            &mut state.user_stdin
        } else {
            &mut state.responses
        };
        let n = size.min(source.len());
        Ok(source.drain(..n).collect::<Vec<u8>>().into())
    }

    /// The uncaught exception the guest reported, if it reported one.
    pub fn reported_error(&self) -> Option<super::GuestError> {
        let frame = self.lock().error.clone()?;
        let v: serde_json::Value = serde_json::from_slice(&frame).ok()?;
        let field = |k: &str| v[k].as_str().map(str::to_owned);
        Some(super::GuestError {
            truncated: v["truncated"].as_bool().unwrap_or(false),
            ..super::GuestError::new(field("type")?, field("message")?, field("traceback")?)
        })
    }

    /// The exit status the guest told before leaving with a smaller one
    /// (WASI preview 1 carries statuses below 126 only).
    pub fn reported_exit_code(&self) -> Option<i32> {
        let frame = self.lock().error.clone()?;
        let v: serde_json::Value = serde_json::from_slice(&frame).ok()?;
        v["exit_code"].as_i64().and_then(|c| i32::try_from(c).ok())
    }

    /// Where the non-frame stderr bytes end up.
    pub fn stderr_capture(&self) -> CappedOutput {
        self.stderr.clone()
    }

    pub fn stdin(&self) -> DoorStdin {
        DoorStdin(self.clone())
    }

    pub fn stderr(&self) -> DoorStderr {
        DoorStderr(self.clone())
    }
}

fn decode(frame: &[u8]) -> Result<(String, String), HostError> {
    let bad =
        |why: String| HostError::new(HostErrorKind::Value, format!("malformed host call: {why}"));
    let value: serde_json::Value = serde_json::from_slice(frame).map_err(|e| bad(e.to_string()))?;
    let name = value["name"]
        .as_str()
        .ok_or_else(|| bad("no name".into()))?
        .to_owned();
    Ok((name, value["args"].to_string()))
}

pub struct DoorStdin(Door);
pub struct DoorStderr(Door);

impl IsTerminal for DoorStdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for DoorStdin {
    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(DoorStdin(self.0.clone()))
    }

    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        Box::new(DoorStdin(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl InputStream for DoorStdin {
    fn read(&mut self, size: usize) -> Result<Bytes, StreamError> {
        self.0.read(size)
    }
}

#[async_trait::async_trait]
impl Pollable for DoorStdin {
    async fn ready(&mut self) {
        self.0.answer_pending().await;
    }
}

/// Only the preview-2 path (`p2_stream`) answers host calls; this reader
/// serves bytes already there, which is all a p3 guest could ask of it.
impl AsyncRead for DoorStdin {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Ok(bytes) = self.0.read(buf.remaining()) {
            buf.put_slice(&bytes);
        }
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for DoorStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for DoorStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(DoorStderr(self.0.clone()))
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(DoorStderr(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl OutputStream for DoorStderr {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.0.write_stderr(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(1 << 20)
    }
}

#[async_trait::async_trait]
impl Pollable for DoorStderr {
    async fn ready(&mut self) {}
}

impl AsyncWrite for DoorStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.write_stderr(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Registry;

    fn door(stdin: &[u8]) -> (Door, CappedOutput) {
        let mut registry = Registry::new();
        registry.register("echo", |args| async move { Ok(args) });
        let stderr = CappedOutput::new(1 << 20, crate::sandbox::StreamName::Stderr);
        (
            Door::new(registry.grant(["echo"]), stdin.to_vec(), stderr.clone()),
            stderr,
        )
    }

    #[tokio::test]
    async fn a_frame_split_across_writes_is_answered_before_user_stdin() {
        let (door, stderr) = door(b"user input");
        door.write_stderr(b"plain text\n");
        door.write_stderr(b"\x1egoru:call {\"name\": \"echo\",");
        door.write_stderr(b" \"args\": {\"a\": 1}}\n");
        assert_eq!(
            door.read(100).unwrap(),
            Bytes::new(),
            "not answered before ready()"
        );
        door.answer_pending().await;
        let line = door.read(1000).unwrap();
        assert_eq!(&line[..], b"{\"ok\":\"{\\\"a\\\":1}\"}\n");
        assert_eq!(&door.read(1000).unwrap()[..], b"user input");
        assert!(matches!(door.read(1), Err(StreamError::Closed)));
        assert_eq!(stderr.take().0, "plain text\n", "frames never reach stderr");
    }

    /// A guest writing frames without reading the answers: the queue stops
    /// at its bound, the answers already owed are given, then the door is
    /// closed (`_goru_call` raises) instead of host memory growing.
    #[tokio::test]
    async fn frames_written_without_reading_stop_at_the_queue_bound() {
        let (door, _) = door(b"");
        for _ in 0..10_000 {
            door.write_stderr(b"\x1egoru:call {\"name\": \"echo\", \"args\": {}}\n");
        }
        {
            let state = door.lock();
            assert_eq!(
                (state.requests.len(), state.overrun),
                (MAX_QUEUED_FRAMES, true)
            );
        }
        door.answer_pending().await;
        let answers = door.read(1 << 20).unwrap();
        assert_eq!(
            answers.iter().filter(|&&b| b == b'\n').count(),
            MAX_QUEUED_FRAMES
        );
        assert!(matches!(door.read(1), Err(StreamError::Closed)));
    }

    #[test]
    fn an_error_frame_is_reported_as_data() {
        let (door, stderr) = door(b"");
        door.write_stderr(b"\x1egoru:error {\"type\": \"KeyError\", \"message\": \"'k'\", \"traceback\": \"tb\"}\n");
        let error = door.reported_error().unwrap();
        assert_eq!(
            (error.type_name.as_str(), error.message.as_str()),
            ("KeyError", "'k'")
        );
        assert_eq!(stderr.take().0, "");
    }

    #[tokio::test]
    async fn a_malformed_frame_gets_an_error_response() {
        let (door, _) = door(b"");
        door.write_stderr(b"\x1egoru:call not json\n");
        door.answer_pending().await;
        let line = String::from_utf8(door.read(1000).unwrap().to_vec()).unwrap();
        assert!(line.contains("malformed host call"), "{line}");
    }

    mod props {
        use proptest::prelude::*;

        use super::*;

        /// Pieces of what a guest writes to stderr: frame openers, whole
        /// and broken frames, newlines, and noise.
        fn piece() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(b"\x1egoru:call ".to_vec()),
                Just(b"\x1egoru:error ".to_vec()),
                Just(b"{\"name\": \"echo\", \"args\": {\"a\": 1}}".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\x1e".to_vec()),
                prop::collection::vec(any::<u8>(), 0..64),
                (1usize..300_000).prop_map(|n| vec![b'x'; n]),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Whatever the guest writes, in whatever pieces: no panic, the
            /// request queue and any frame held open stay within their
            /// bounds, and stderr within its cap.
            #[test]
            fn any_stderr_writes_keep_the_door_bounded(pieces in prop::collection::vec(piece(), 0..40)) {
                let (door, stderr) = door(b"");
                for piece in &pieces {
                    door.write_stderr(piece);
                    let state = door.lock();
                    prop_assert!(state.requests.len() <= MAX_QUEUED_FRAMES);
                    prop_assert!(state.queued_bytes <= MAX_QUEUED_BYTES);
                    let open = state.partial.as_ref().map_or(0, |(_, f)| f.len());
                    prop_assert!(open <= MAX_ARGS_BYTES + 4096);
                    prop_assert!(state.error.as_ref().map_or(0, Vec::len) <= MAX_ARGS_BYTES + 4096);
                }
                prop_assert!(stderr.take().0.len() <= 1 << 20);
            }
        }
    }
}
