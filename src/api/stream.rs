//! Server-Sent Events for `Accept: text/event-stream`: `stdout` and `stderr`
//! events as the guest writes, then one `result` event holding the JSON the
//! non-streamed answer would have (or one `error` event). The run is owned by
//! the response body: a client that hangs up drops it, which cancels the run
//! and frees its slot.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::sandbox::{OutputChunk, OutputSink, StreamName};

/// The output side of a streamed run: what the guest wrote, taken in batches.
type Output = OutputSink;

/// Whether the client asked for a stream.
pub fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .any(|t| t.split(';').next().unwrap_or("").trim() == "text/event-stream")
        })
}

/// A sink for the run's output and the handle the stream reads it from, when
/// the client asked for a stream.
pub fn channel(headers: &HeaderMap) -> (Option<OutputSink>, Option<Output>) {
    if !wants_stream(headers) {
        return (None, None);
    }
    let sink = OutputSink::default();
    (Some(sink.clone()), Some(sink))
}

/// The final answer of a streamed run: the JSON body, or the error a
/// non-streamed request would have got.
pub type Finish = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send>>;

enum Phase {
    Running {
        finish: Finish,
        output: Output,
        text: Utf8Chunks,
        /// Taken from `output`, not yet sent.
        ready: std::collections::VecDeque<OutputChunk>,
    },
    Draining {
        last: Event,
        ready: std::collections::VecDeque<OutputChunk>,
        text: Utf8Chunks,
    },
    Done,
}

/// The answer of a run or a cell: an event stream when the client asked for
/// one (`output`), else the JSON body. `hold` (the slot, the in-flight count)
/// lives until the answer is complete.
pub async fn answer<T, F, H>(
    finish: F,
    output: Option<Output>,
    hold: H,
) -> Result<Response, ApiError>
where
    T: serde::Serialize,
    F: Future<Output = Result<T, ApiError>> + Send + 'static,
    H: Send + 'static,
{
    match output {
        Some(output) => {
            let finish = Box::pin(async move { finish.await.map(|body| json!(body)) });
            Ok(respond(finish, output, hold))
        }
        None => {
            let body = finish.await;
            drop(hold);
            Ok(axum::Json(body?).into_response())
        }
    }
}

/// Streams `output` until `finish` resolves, then whatever output is left,
/// then the final event. `hold` (the run's slot, its in-flight count) lives
/// as long as the stream.
fn respond<H: Send + 'static>(finish: Finish, output: Output, hold: H) -> Response {
    let phase = Phase::Running {
        finish,
        output,
        text: Utf8Chunks::default(),
        ready: Default::default(),
    };
    let events = stream::unfold((phase, Some(hold)), |(phase, hold)| async move {
        let (event, next) = step(phase).await?;
        // Released with the last event: the run is over.
        let hold = if matches!(next, Phase::Done) {
            None
        } else {
            hold
        };
        Some((Ok::<_, Infallible>(event), (next, hold)))
    });
    sse(events).into_response()
}

fn sse(
    events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> impl IntoResponse {
    Sse::new(events).keep_alive(KeepAlive::default())
}

async fn step(phase: Phase) -> Option<(Event, Phase)> {
    match phase {
        Phase::Running {
            mut finish,
            output,
            mut text,
            mut ready,
        } => loop {
            if let Some(chunk) = ready.pop_front() {
                let event = text.event(&chunk);
                return Some((
                    event,
                    Phase::Running {
                        finish,
                        output,
                        text,
                        ready,
                    },
                ));
            }
            tokio::select! {
                biased;
                () = output.written() => ready.extend(output.take()),
                answer = &mut finish => {
                    let last = match answer {
                        Ok(body) => Event::default().event("result").data(body.to_string()),
                        Err(e) => Event::default().event("error").data(e.body().to_string()),
                    };
                    // Output written before the run ended comes first.
                    ready.extend(output.take());
                    return drain(Phase::Draining { last, ready, text });
                }
            }
        },
        draining @ Phase::Draining { .. } => drain(draining),
        Phase::Done => None,
    }
}

/// Output written before the run ended, then the final event.
fn drain(phase: Phase) -> Option<(Event, Phase)> {
    let Phase::Draining {
        last,
        mut ready,
        mut text,
    } = phase
    else {
        return None;
    };
    match ready.pop_front() {
        Some(chunk) => {
            let event = text.event(&chunk);
            Some((event, Phase::Draining { last, ready, text }))
        }
        None => Some((last, Phase::Done)),
    }
}

/// Turns byte chunks into text events without splitting a character across
/// two events: an incomplete UTF-8 sequence at the end of a chunk waits for
/// the next one.
#[derive(Default)]
struct Utf8Chunks {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Utf8Chunks {
    fn event(&mut self, chunk: &OutputChunk) -> Event {
        let pending = match chunk.stream {
            StreamName::Stdout => &mut self.stdout,
            StreamName::Stderr => &mut self.stderr,
        };
        pending.extend_from_slice(&chunk.bytes);
        let valid = match std::str::from_utf8(pending) {
            Ok(_) => pending.len(),
            // An incomplete sequence at the end waits; invalid bytes are replaced.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => pending.len(),
        };
        let rest = pending.split_off(valid);
        let text = String::from_utf8_lossy(pending).into_owned();
        *pending = rest;
        Event::default()
            .event(chunk.stream.as_str())
            .data(json!({ "text": text }).to_string())
    }
}
