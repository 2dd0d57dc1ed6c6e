//! A capped output pipe for the guest's stdout and stderr.
//!
//! wasmtime-wasi's `MemoryOutputPipe` fails the guest's write once full, which
//! would turn a chatty script into an `OSError`. Here every write succeeds; bytes
//! past the cap are dropped and the pipe remembers that it truncated. A streamed
//! run also hands each kept chunk to an [`OutputSink`] as it is written: only
//! what is kept goes there, and chunks waiting for a slow reader are merged,
//! so what waits is bounded by the same cap.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::sync::Notify;
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

/// Output written and not yet taken by the reader. The guest's write never
/// waits on a slow reader; consecutive chunks of one stream are merged, and
/// past `MAX_PENDING_CHUNKS` every chunk joins the last one of its stream, so
/// the memory held is the kept bytes plus a bounded overhead.
#[derive(Debug, Default)]
pub struct OutputBuffer {
    /// Appended to in place: merging never copies what is already there.
    pending: Mutex<Vec<(StreamName, Vec<u8>)>>,
    notify: Notify,
}

/// Chunks kept apart before merging regardless of order.
const MAX_PENDING_CHUNKS: usize = 256;

impl OutputBuffer {
    fn push(&self, stream: StreamName, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let merge_into = match pending.last() {
            Some((last, _)) if *last == stream => Some(pending.len() - 1),
            _ if pending.len() >= MAX_PENDING_CHUNKS => {
                pending.iter().rposition(|(s, _)| *s == stream)
            }
            _ => None,
        };
        match merge_into {
            Some(i) => pending[i].1.extend_from_slice(bytes),
            None => pending.push((stream, bytes.to_vec())),
        }
        drop(pending);
        // Stores a permit when nobody waits: a wake-up is never lost.
        self.notify.notify_one();
    }

    /// Everything written since the last call, in order.
    pub fn take(&self) -> Vec<OutputChunk> {
        let pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        pending
            .into_iter()
            .map(|(stream, bytes)| OutputChunk {
                stream,
                bytes: bytes.into(),
            })
            .collect()
    }

    /// Resolves when something was written since the last `take`.
    pub async fn written(&self) {
        self.notify.notified().await;
    }
}

/// Where a streamed run's output goes while it runs.
pub type OutputSink = Arc<OutputBuffer>;

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
    /// Every byte the guest wrote in this call, kept or not.
    written: u64,
}

/// How much of the end of the stream `tail` keeps.
const TAIL_BYTES: usize = 16 * 1024;

/// Cheap to clone; clones share the buffer.
#[derive(Debug, Clone)]
pub struct CappedOutput {
    inner: Arc<Mutex<Captured>>,
}

/// What one write may carry once the cap is reached: past it bytes are only
/// counted and dropped, so a chatty guest keeps writing cheaply.
const PAST_CAP_BUDGET: usize = 64 * 1024;

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
                written: 0,
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
        captured.written = 0;
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
        captured.written += data.len() as u64;
        let room = captured.cap.saturating_sub(captured.bytes.len());
        if data.len() > room {
            captured.truncated = true;
        }
        let keep = data.len().min(room);
        captured.bytes.extend_from_slice(&data[..keep]);
        if keep > 0
            && let Some(sink) = &captured.sink
        {
            sink.push(captured.stream, &data[..keep]);
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
    /// Cut output keeps its head and its tail around a marker that says how
    /// many bytes were left out, all within the cap: the end of a long output
    /// (a summary, a traceback) is often what matters.
    /// The sink is let go: the stream ends with the call.
    pub fn take(&self) -> (String, bool) {
        let mut captured = self.lock();
        captured.sink = None;
        let bytes = std::mem::take(&mut captured.bytes);
        let (cap, truncated) = (captured.cap, captured.truncated);
        // Invalid UTF-8 becomes U+FFFD (3 bytes for 1): converted first, so
        // the cut below holds the cap whatever the guest wrote.
        let head = lossy(bytes);
        let text = if truncated && cap >= MIN_CAP_FOR_TAIL {
            let recent = String::from_utf8_lossy(&captured.tail);
            head_and_tail(&head, &recent, cap, captured.written)
        } else {
            super::outcome::cut_str(&head, cap).0.to_owned()
        };
        (text, truncated)
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Caps below this keep only the head: the marker would crowd out the text.
const MIN_CAP_FOR_TAIL: usize = 1024;

/// The start of `head` (the first `cap` bytes written), a marker with the
/// counts, and the end of `recent` (the last bytes written), together at
/// most `cap` bytes, cut on character boundaries.
fn head_and_tail(head: &str, recent: &str, cap: usize, written: u64) -> String {
    let mut start = recent.len() - (cap / 4).min(TAIL_BYTES).min(recent.len());
    while !recent.is_char_boundary(start) {
        start += 1;
    }
    let tail = &recent[start..];
    let marker = |kept_head: usize| {
        let left_out = written.saturating_sub((kept_head + tail.len()) as u64);
        format!(
            "\n[goru: output past the cap: {left_out} of the {written} bytes received are left out here]\n"
        )
    };
    // The marker's length depends on the counts, and shrinks as more is
    // kept: start from its longest, then take the room that frees.
    let fits = |keep: usize| keep + marker(keep).len() + tail.len() <= cap;
    let mut keep = cap
        .saturating_sub(marker(0).len() + tail.len())
        .min(head.len());
    while keep < head.len() && fits(keep + 1) {
        keep += 1;
    }
    // Stepping back to a character boundary grows the marker by at most one
    // digit for at least one byte given up: it still fits.
    while !head.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut text = String::with_capacity(cap);
    text.push_str(&head[..keep]);
    text.push_str(&marker(keep));
    text.push_str(tail);
    text
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
        // A write is never cut short while the cap has room: CPython's
        // unbuffered stdio silently drops what a partial write did not take
        // (a single 3 MB write kept 1 MiB, unflagged, under an 8 MB cap).
        // One byte past the room makes a write that overflows the cap arrive
        // as one, so `push` flags it. A write is thus at most cap + 1 bytes
        // of host memory.
        let captured = self.lock();
        let room = captured.cap.saturating_sub(captured.bytes.len());
        Ok(room.saturating_add(1).max(PAST_CAP_BUDGET))
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
    fn cut_output_keeps_head_and_tail_around_a_marker_within_the_cap() {
        let out = CappedOutput::new(4096, StreamName::Stdout);
        for i in 0..10_000 {
            out.push(format!("line {i}\n").as_bytes());
        }
        out.push("the end: é\n".as_bytes());
        let (text, cut) = out.take();
        assert!(cut);
        assert!(text.len() <= 4096, "{}", text.len());
        assert!(text.starts_with("line 0\nline 1\n"), "{text}");
        assert!(text.ends_with("line 9999\nthe end: é\n"), "{text}");
        let written = (0..10_000)
            .map(|i| format!("line {i}\n").len())
            .sum::<usize>()
            + 12;
        let marker = format!("of the {written} bytes received are left out here]");
        assert!(text.contains(&marker), "{text}");
        let left_out: usize = text
            .split("[goru: output past the cap: ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let kept = text.len()
            - text
                .lines()
                .find(|l| l.starts_with("[goru:"))
                .unwrap()
                .len()
            - 2;
        assert_eq!(left_out + kept, written, "the counts add up");
    }

    #[test]
    fn output_that_is_not_utf8_still_fits_the_cap() {
        for cap in [100, 4096] {
            let out = CappedOutput::new(cap, StreamName::Stdout);
            out.push(&[0xFF; 10_000]);
            let (text, cut) = out.take();
            assert!(cut && text.len() <= cap as usize, "{cap}: {}", text.len());
        }
    }

    #[test]
    fn a_multibyte_character_is_never_split_by_the_cut() {
        let out = CappedOutput::new(2000, StreamName::Stdout);
        out.push("é".repeat(5000).as_bytes());
        let (text, cut) = out.take();
        assert!(
            cut && text.len() <= 2000 && !text.contains('\u{fffd}'),
            "{text}"
        );
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
        let sink = OutputSink::default();
        out.begin(4, Some(sink.clone()));
        out.push(b"ab");
        out.push(b"cdef");
        let chunks = sink.take();
        assert_eq!(chunks.len(), 1, "consecutive chunks are merged");
        assert_eq!(&chunks[0].bytes[..], b"abcd");
        assert_eq!(chunks[0].stream, StreamName::Stderr);
        assert!(sink.take().is_empty());
        assert_eq!(out.take(), ("abcd".to_owned(), true));
    }

    #[test]
    fn interleaved_streams_waiting_for_a_reader_stay_bounded() {
        let sink = OutputSink::default();
        for _ in 0..10_000 {
            sink.push(StreamName::Stdout, b"o");
            sink.push(StreamName::Stderr, b"e");
        }
        let chunks = sink.take();
        assert!(chunks.len() <= MAX_PENDING_CHUNKS, "{}", chunks.len());
        let total: usize = chunks.iter().map(|c| c.bytes.len()).sum();
        assert_eq!(total, 20_000, "nothing kept is lost");
    }
}
