//! Everyday Python as models write it, through POST /run: time zones from the
//! bundled tzdata, and `urllib.request` / `requests` reaching a real local
//! server through the run's HTTP capability (and refused without a grant).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use common::{TestServer, server_config, start_server};
use serde_json::{Value, json};

/// One request as the local server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// Path and query, as sent.
    target: String,
    headers: HeaderMap,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Records every request; `/missing` is a 404, anything else echoes the
/// request back as JSON with an `X-Reply` header.
async fn record(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let target = uri
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if uri.path() == "/missing" {
        return (
            StatusCode::NOT_FOUND,
            HeaderMap::new(),
            "no such thing".to_owned(),
        );
    }
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let echo = json!({"method": method.as_str(), "target": target, "body": body,
        "x_custom": header("x-custom"), "content_type": header("content-type")});
    let mut reply = HeaderMap::new();
    reply.insert("x-reply", "yes".parse().unwrap());
    (StatusCode::OK, reply, echo.to_string())
}

/// A local server that records what it receives.
struct Local {
    addr: SocketAddr,
    log: Log,
}

impl Local {
    async fn start() -> Self {
        let log = Log::default();
        let router = axum::Router::new().fallback(record).with_state(log.clone());
        let addr = common::local_http(router).await;
        Self { addr, log }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The policy granting this server.
    fn grant(&self) -> Value {
        json!({"allowed_hosts": [self.addr.to_string()]})
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

/// A goru server that lets runs reach loopback when their policy grants it.
async fn goru_with_loopback() -> TestServer {
    let mut config = server_config();
    config.http.allow_addresses = vec!["127.0.0.1/32".into()];
    start_server(config).await
}

/// Runs `code` with `policy` and returns the result, asserting it succeeded.
async fn run_ok(s: &TestServer, code: &str, policy: Value) -> Value {
    let r = s.run_ok(json!({"code": code, "policy": policy})).await;
    assert_eq!(r["status"], "ok", "{code}\n-> {r}");
    r
}

#[tokio::test]
async fn zoneinfo_gives_paris_and_utc_their_offsets() {
    let s = start_server(server_config()).await;
    let code = r#"
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
paris, utc = ZoneInfo("Europe/Paris"), ZoneInfo("UTC")
winter = datetime(2024, 1, 15, 12, tzinfo=paris)
summer = datetime(2024, 7, 15, 12, tzinfo=paris)
print(winter.utcoffset(), winter.tzname(), summer.utcoffset(), summer.tzname())
print(datetime(2024, 7, 15, 12, tzinfo=utc).utcoffset(), utc.key)
print(datetime(2024, 3, 31, 1, 30, tzinfo=utc).astimezone(paris).isoformat())
print(datetime(2024, 1, 1, tzinfo=ZoneInfo("Asia/Kathmandu")).utcoffset())
try:
    ZoneInfo("Europe/Atlantis")
except ZoneInfoNotFoundError:
    print("unknown zone refused")
"#;
    let r = run_ok(&s, code, json!({})).await;
    assert_eq!(
        r["stdout"],
        "1:00:00 CET 2:00:00 CEST\n0:00:00 UTC\n2024-03-31T03:30:00+02:00\n5:45:00\nunknown zone refused\n"
    );
}

#[tokio::test]
async fn tzdata_is_importable_and_zoneinfo_falls_back_to_it() {
    let s = start_server(server_config()).await;
    // With TZPATH emptied, zoneinfo loads zones from the tzdata package itself.
    let code = r#"
import tzdata, zoneinfo
from datetime import datetime
zoneinfo.reset_tzpath([])
zoneinfo.ZoneInfo.clear_cache()
tokyo = datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))
print(tzdata.IANA_VERSION[:2], tokyo.utcoffset(), "Europe/Paris" in zoneinfo.available_timezones())
"#;
    let r = run_ok(&s, code, json!({})).await;
    assert_eq!(r["stdout"], "20 9:00:00 True\n");
}

#[tokio::test]
async fn urllib_urlopen_reaches_a_granted_host_through_the_host() {
    let local = Local::start().await;
    let s = goru_with_loopback().await;
    let code = format!(
        r#"
import json, urllib.request, urllib.error
req = urllib.request.Request("{url}/echo?x=1", data=json.dumps({{"a": 1}}).encode(),
                             headers={{"Content-Type": "application/json", "X-Custom": "u"}})
with urllib.request.urlopen(req, timeout=5) as r:
    echo = json.loads(r.read())
    print(r.status, r.getcode(), r.headers["X-Reply"], echo["method"], echo["target"])
try:
    urllib.request.urlopen("{url}/missing")
except urllib.error.HTTPError as e:
    print("HTTPError", e.code, e.read().decode())
"#,
        url = local.url()
    );
    let r = run_ok(&s, &code, local.grant()).await;
    assert_eq!(
        r["stdout"],
        "200 200 yes POST /echo?x=1\nHTTPError 404 no such thing\n"
    );
    let seen = local.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (
            &seen[0].method,
            seen[0].target.as_str(),
            seen[0].body.as_str()
        ),
        (&Method::POST, "/echo?x=1", "{\"a\": 1}")
    );
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(seen[0].headers["x-custom"], "u");
    assert_eq!(
        (&seen[1].method, seen[1].target.as_str()),
        (&Method::GET, "/missing")
    );
}

#[tokio::test]
async fn requests_get_and_post_send_params_headers_and_json() {
    let local = Local::start().await;
    let s = goru_with_loopback().await;
    let code = format!(
        r#"
import requests
r = requests.get("{url}/echo", params={{"q": "a b", "n": [1, 2]}}, headers={{"X-Custom": "g"}}, timeout=5)
print(r.status_code, r.ok, r.headers["X-Reply"], r.json()["target"])
r = requests.post("{url}/echo", json={{"k": [1, 2]}})
print(r.json()["body"], r.json()["content_type"], len(r.content) == len(r.text))
with requests.Session() as session:
    session.headers.update({{"X-Custom": "session"}})
    print(session.get("{url}/echo").json()["x_custom"], session.post("{url}/echo", data={{"f": "v"}}).status_code)
"#,
        url = local.url()
    );
    let r = run_ok(&s, &code, local.grant()).await;
    assert_eq!(
        r["stdout"],
        "200 True yes /echo?q=a+b&n=1&n=2\n{\"k\": [1, 2]} application/json True\nsession 200\n"
    );
    let seen = local.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        (&seen[0].method, seen[0].target.as_str()),
        (&Method::GET, "/echo?q=a+b&n=1&n=2")
    );
    assert_eq!(seen[0].headers["x-custom"], "g");
    assert_eq!(
        (&seen[1].method, seen[1].body.as_str()),
        (&Method::POST, "{\"k\": [1, 2]}")
    );
    assert_eq!(seen[1].headers["content-type"], "application/json");
    assert_eq!(seen[2].headers["x-custom"], "session");
    assert_eq!(seen[3].body, "f=v");
    assert_eq!(
        seen[3].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
}

#[tokio::test]
async fn requests_raise_for_status_raises_http_error_on_a_404() {
    let local = Local::start().await;
    let s = goru_with_loopback().await;
    let code = format!(
        r#"
import requests
r = requests.get("{url}/missing")
print(r.status_code, r.ok, r.text)
try:
    r.raise_for_status()
except requests.exceptions.HTTPError as e:
    print(type(e).__name__, e.response.status_code, e)
"#,
        url = local.url()
    );
    let r = run_ok(&s, &code, local.grant()).await;
    let missing = format!("{}/missing", local.url());
    assert_eq!(
        r["stdout"],
        format!(
            "404 False no such thing\nHTTPError 404 404 Client Error: Not Found for url: {missing}\n"
        )
    );
}

/// Runs `code` without any grant; returns the error's type and message.
async fn refused_without_grant(s: &TestServer, code: &str) -> (String, String) {
    let r = s.run_ok(json!({"code": code})).await;
    assert_eq!(r["status"], "error", "{code}\n-> {r}");
    let message = r["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("network access is not granted"), "{r}");
    assert!(message.contains("allowed_hosts"), "{r}");
    (r["error"]["type"].as_str().unwrap().to_owned(), message)
}

#[tokio::test]
async fn without_a_grant_urllib_and_requests_say_how_to_ask_for_network_access() {
    let local = Local::start().await;
    let s = goru_with_loopback().await;
    let url = format!("{}/echo", local.url());
    let (kind, message) = refused_without_grant(
        &s,
        &format!("import urllib.request\nurllib.request.urlopen({url:?})"),
    )
    .await;
    assert_eq!(kind, "URLError");
    assert!(message.contains(&local.addr.to_string()), "{message}");
    // https too: not the "unknown url type" of a CPython without ssl.
    let (kind, _) = refused_without_grant(
        &s,
        "import urllib.request\nurllib.request.urlopen('https://example.com/')",
    )
    .await;
    assert_eq!(kind, "URLError");
    let (kind, _) =
        refused_without_grant(&s, &format!("import requests\nrequests.get({url:?})")).await;
    assert_eq!(kind, "ConnectionError");
    let code = format!(
        "import requests\ntry:\n    requests.post({url:?}, json={{}})\nexcept requests.RequestException as e:\n    raise SystemExit(str(e))"
    );
    let r = s.run_ok(json!({"code": code})).await;
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("network access is not granted"),
        "{r}"
    );
    assert!(local.seen().is_empty(), "nothing may reach the server");
}

#[tokio::test]
async fn the_hosts_checks_still_apply_to_requests_and_urllib() {
    let local = Local::start().await;
    // Granted by the policy, but loopback is not allow-listed by the operator.
    let s = start_server(server_config()).await;
    let code = format!(
        r#"
import requests, urllib.request, urllib.error
try:
    requests.get("{url}/echo")
except requests.ConnectionError as e:
    print("requests:", "loopback" in str(e))
try:
    urllib.request.urlopen("{url}/echo")
except urllib.error.URLError as e:
    print("urllib:", type(e.reason).__name__, "loopback" in str(e))
"#,
        url = local.url()
    );
    let r = run_ok(&s, &code, local.grant()).await;
    assert_eq!(
        r["stdout"],
        "requests: True\nurllib: PermissionError True\n"
    );
    assert!(local.seen().is_empty(), "nothing may reach the server");
}
