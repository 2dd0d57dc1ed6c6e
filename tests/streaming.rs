//! `Accept: text/event-stream` on a real server: output arrives while the run
//! is still going, the last event is the usual answer, and a client that
//! hangs up frees the slot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::{Duration, Instant};

use common::{TestServer, assert_matches_spec, server_config, start_server};
use serde_json::{Value, json};

/// One parsed server-sent event and when it arrived.
#[derive(Debug)]
struct Seen {
    event: String,
    data: Value,
    at: Duration,
}

async fn open_stream(s: &TestServer, path: &str, body: Value) -> reqwest::Response {
    let response = s
        .client
        .post(s.url(path))
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    response
}

/// Reads events until the stream ends (or `stop_after` events).
async fn read_events(
    mut response: reqwest::Response,
    started: Instant,
    stop_after: usize,
) -> Vec<Seen> {
    let mut buffer = String::new();
    let mut seen = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if event.is_empty() {
                continue; // keep-alive comment
            }
            seen.push(Seen {
                event,
                data: serde_json::from_str(&data).unwrap(),
                at: started.elapsed(),
            });
            if seen.len() >= stop_after {
                return seen;
            }
        }
    }
    seen
}

#[tokio::test]
async fn output_arrives_before_the_run_ends_and_the_last_event_is_the_answer() {
    let s = start_server(server_config()).await;
    let started = Instant::now();
    let response = open_stream(
        &s,
        "/run",
        json!({"code": "import time\nprint(1)\ntime.sleep(1)\nprint('é', 2)\n'done'"}),
    )
    .await;
    let events = read_events(response, started, usize::MAX).await;
    let last = events.last().unwrap();
    assert_eq!(last.event, "result", "{events:?}");
    // Everything printed before the sleep arrived well before the end.
    let early: String = events
        .iter()
        .filter(|e| e.event == "stdout" && e.at + Duration::from_millis(700) < last.at)
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        early, "1\n",
        "output was held back until the end: {events:?}"
    );
    assert_matches_spec("/run", "post", 200, &last.data);
    assert_eq!(last.data["stdout"], "1\né 2\n");
    assert_eq!(last.data["result"]["text/plain"], "'done'");
    let streamed: String = events
        .iter()
        .filter(|e| e.event == "stdout")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "1\né 2\n");
}

#[tokio::test]
async fn a_streamed_timeout_and_output_cap_behave_as_without_a_stream() {
    let s = start_server(server_config()).await;
    let code = "print('x' * 100, flush=True)\nwhile True:\n    pass";
    let policy = json!({"timeout_ms": 300, "max_output_bytes": 10});
    let events = read_events(
        open_stream(&s, "/run", json!({"code": code, "policy": policy})).await,
        Instant::now(),
        usize::MAX,
    )
    .await;
    let streamed: String = events
        .iter()
        .filter(|e| e.event == "stdout")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        streamed,
        "x".repeat(10),
        "the stream is capped like the answer"
    );
    let last = events.last().unwrap();
    assert_eq!(last.data["status"], "timeout", "{last:?}");
    assert_eq!(last.data["truncated"]["stdout"], true);
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_the_run_and_frees_its_slot() {
    let mut config = server_config();
    config.server.concurrency = 1;
    config.server.queue_timeout_ms = 4000;
    // One slot for the whole run: no long lane to move to.
    config.server.long_runs = 0;
    let s = start_server(config).await;
    let started = Instant::now();
    let response = open_stream(
        &s,
        "/run",
        json!({"code": "print('go', flush=True)\nwhile True:\n    pass", "policy": {"timeout_ms": 60000}}),
    )
    .await;
    let first = read_events(response, started, 1).await;
    assert_eq!(first[0].event, "stdout");
    // The response was dropped with the events read so far: the run must go.
    let waited = Instant::now();
    let next = s.run_ok(json!({"code": "print('next')"})).await;
    assert_eq!(next["stdout"], "next\n");
    assert!(
        waited.elapsed() < Duration::from_secs(3),
        "the only slot was still held {:?} after the client left",
        waited.elapsed()
    );
}

#[tokio::test]
async fn a_session_cell_streams_and_the_session_lives_on() {
    let s = start_server(server_config()).await;
    let created: Value = s
        .client
        .post(s.url("/sessions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["session_id"].as_str().unwrap();
    let path = format!("/sessions/{id}/run");
    let events = read_events(
        open_stream(&s, &path, json!({"code": "x = 5\nprint(x)\nx * 2"})).await,
        Instant::now(),
        usize::MAX,
    )
    .await;
    let printed: String = events
        .iter()
        .filter(|e| e.event == "stdout")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(printed, "5\n");
    let last = events.last().unwrap();
    assert_matches_spec("/sessions/{id}/run", "post", 200, &last.data);
    assert_eq!(last.data["result"]["text/plain"], "10");
    assert_eq!(last.data["session"]["alive"], true);
    let again = s
        .client
        .post(s.url(&path))
        .json(&json!({"code": "x"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(again["result"]["text/plain"], "5");
}
