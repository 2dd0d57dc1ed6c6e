//! A capped output pipe for the guest's stdout and stderr.
//!
//! wasmtime-wasi's `MemoryOutputPipe` fails the guest's write once full, which
//! would turn a chatty script into an `OSError`. Here every write succeeds; bytes
//! past the cap are dropped and the pipe remembers that it truncated. A streamed
//! run also gets each kept chunk as it is written, through an [`OutputSink`]:
//! only what is kept is sent, so the stream is bounded by the same cap.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Which of the guest's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamName {
    Stdout,
    Stderr,
}

impl StreamName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Output as the guest writes it, for streamed runs.
#[derive(Debug, Clone)]
pub struct OutputChunk {
    pub stream: StreamName,
    pub bytes: Bytes,
}

/// Receives a run's output while it runs. Unbounded, because the guest's
/// write must never wait on a slow client; what it can carry is bounded by the
/// output cap.
pub type OutputSink = mpsc::UnboundedSender<OutputChunk>;

#[derive(Debug)]
struct Captured {
    stream: StreamName,
    sink: Option<OutputSink>,
    cap: usize,
    bytes: Vec<u8>,
    truncated: bool,
    /// The last bytes written, kept even past the cap: a traceback printed at
    /// the end of a long output must still be readable (see `tail`).
    tail: Vec<u8>,
}

/// How much of the end of the stream `tail` keeps.
const TAIL_BYTES: usize = 16 * 1024;

/// Cheap to clone; clones share the buffer.
#[derive(Debug, Clone)]
pub struct CappedOutput {
    inner: Arc<Mutex<Captured>>,
}

/// Largest single write we accept in one go; keeps `check_write` honest.
const WRITE_BUDGET: usize = 1 << 20;

impl CappedOutput {
    pub fn new(cap: u64, stream: StreamName) -> Self {
        let out = Self {
            inner: Arc::new(Mutex::new(Captured {
                stream,
                sink: None,
                cap: 0,
                bytes: Vec::new(),
                truncated: false,
                tail: Vec::new(),
            })),
        };
        out.set_cap(cap);
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        // A poisoned lock only means another writer panicked mid-push; the
        // bytes are still a valid prefix.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_cap(&self, cap: u64) {
        self.lock().cap = usize::try_from(cap).unwrap_or(usize::MAX);
    }

    /// Starts a call into the guest: empty, with this call's cap and sink.
    pub fn begin(&self, cap: u64, sink: Option<OutputSink>) {
        let mut captured = self.lock();
        captured.cap = usize::try_from(cap).unwrap_or(usize::MAX);
        captured.sink = sink;
        captured.bytes.clear();
        captured.truncated = false;
        captured.tail.clear();
    }

    /// The cap in bytes.
    pub fn cap(&self) -> u64 {
        self.lock().cap as u64
    }

    /// Appends guest output, keeping what fits under the cap.
    pub fn write_bytes(&self, data: &[u8]) {
        self.push(data);
    }

    fn push(&self, data: &[u8]) {
        let mut captured = self.lock();
        let room = captured.cap.saturating_sub(captured.bytes.len());
        if data.len() > room {
            captured.truncated = true;
        }
        let keep = data.len().min(room);
        captured.bytes.extend_from_slice(&data[..keep]);
        if keep > 0
            && let Some(sink) = &captured.sink
        {
            let chunk = OutputChunk {
                stream: captured.stream,
                bytes: Bytes::copy_from_slice(&data[..keep]),
            };
            // A receiver that went away (the client hung up) is not the
            // guest's problem; the run is being cancelled anyway.
            let _ = sink.send(chunk);
        }
        let recent = &data[data.len().saturating_sub(TAIL_BYTES)..];
        captured.tail.extend_from_slice(recent);
        if captured.tail.len() > 2 * TAIL_BYTES {
            let excess = captured.tail.len() - TAIL_BYTES;
            captured.tail.drain(..excess);
        }
    }

    /// The last bytes written (up to 16 KiB), whatever the cap.
    pub fn tail(&self) -> String {
        let captured = self.lock();
        let start = captured.tail.len().saturating_sub(TAIL_BYTES);
        String::from_utf8_lossy(&captured.tail[start..]).into_owned()
    }

    /// The captured text (invalid UTF-8 replaced) and whether it was cut.
    /// The sink is let go: the stream ends with the call.
    pub fn take(&self) -> (String, bool) {
        let mut captured = self.lock();
        captured.sink = None;
        let bytes = std::mem::take(&mut captured.bytes);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        (text, captured.truncated)
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
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

    #[test]
    fn bytes_past_the_cap_are_dropped_and_flagged() {
        let out = CappedOutput::new(5, StreamName::Stdout);
        out.push(b"abc");
        out.push(b"defgh");
        assert_eq!(out.take(), ("abcde".to_owned(), true));
    }

    #[test]
    fn the_tail_survives_truncation() {
        let out = CappedOutput::new(2, StreamName::Stdout);
        out.push(b"abc");
        out.push(b"Traceback");
        assert_eq!(out.tail(), "abcTraceback");
    }

    #[test]
    fn output_under_the_cap_is_not_flagged() {
        let out = CappedOutput::new(5, StreamName::Stdout);
        out.push(b"abcde");
        assert_eq!(out.take(), ("abcde".to_owned(), false));
    }

    #[test]
    fn a_sink_gets_what_is_kept_and_no_more() {
        let out = CappedOutput::new(100, StreamName::Stderr);
        let (tx, mut rx) = mpsc::unbounded_channel();
        out.begin(4, Some(tx));
        out.push(b"ab");
        out.push(b"cdef");
        let first = rx.try_recv().unwrap();
        assert_eq!(
            (first.stream, &first.bytes[..]),
            (StreamName::Stderr, &b"ab"[..])
        );
        assert_eq!(&rx.try_recv().unwrap().bytes[..], b"cd");
        assert!(rx.try_recv().is_err());
        assert_eq!(out.take(), ("abcd".to_owned(), true));
    }
}
