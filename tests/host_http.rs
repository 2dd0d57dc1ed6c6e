//! The HTTP capability through the real registry door, against a real local
//! server: allow-listing, address checks, redirects, secrets and caps.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use goru::host::HostCalls;
use goru::host::http::{self, HostPattern, HttpConfig, SecretHeader};
use serde_json::{Value, json};

/// One request as the test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A real HTTP server on 127.0.0.1:0 that records every request.
struct Server {
    port: u16,
    log: Log,
}

impl Server {
    async fn start() -> Self {
        let log = Log::default();
        let app = axum::Router::new().fallback(handle).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, log }
    }

    /// `http://{host}:{port}{path}`.
    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

async fn handle(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response<Body> {
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let query: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let reply = Response::builder();
    match uri.path() {
        "/hello" => reply
            .header("X-Reply", "yes")
            .body(Body::from("hello"))
            .unwrap(),
        "/echo" => {
            let custom = headers.get("x-custom").map(|v| v.to_str().unwrap());
            let ctype = headers.get("content-type").map(|v| v.to_str().unwrap());
            let doc = json!({"method": method.as_str(), "body": body,
                "x_custom": custom, "content_type": ctype});
            reply.body(Body::from(doc.to_string())).unwrap()
        }
        "/redirect" => reply
            .status(query.get("status").map_or("302", String::as_str))
            .header("Location", &query["to"])
            .body(Body::empty())
            .unwrap(),
        "/loop" => reply
            .status(StatusCode::FOUND)
            .header("Location", "/loop")
            .body(Body::empty())
            .unwrap(),
        "/big" => reply
            .body(Body::from("x".repeat(query["n"].parse().unwrap())))
            .unwrap(),
        "/sleep" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            reply.body(Body::from("late")).unwrap()
        }
        _ => reply.body(Body::from("ok")).unwrap(),
    }
}

/// Loopback allow-listed, as for an internal service.
fn internal() -> HttpConfig {
    HttpConfig {
        allow_addresses: vec!["127.0.0.1/32".into(), "::1/128".into()],
        ..HttpConfig::default()
    }
}

fn patterns(hosts: &[&str]) -> Vec<HostPattern> {
    hosts.iter().map(|h| h.parse().unwrap()).collect()
}

fn calls_with(config: HttpConfig, hosts: &[&str], deadline: Instant) -> HostCalls {
    let mut calls = HostCalls::none();
    http::register(&mut calls, Arc::new(config), patterns(hosts), deadline);
    calls
}

fn calls(config: HttpConfig, hosts: &[&str]) -> HostCalls {
    calls_with(config, hosts, Instant::now() + Duration::from_secs(30))
}

/// A failed call: the guest's exception type and message.
#[derive(Debug)]
struct Raised {
    kind: String,
    message: String,
}

async fn call(calls: &HostCalls, name: &str, args: Value) -> Result<Value, Raised> {
    match calls.dispatch(name, &args.to_string()).await {
        Ok(out) => Ok(serde_json::from_str(&out).unwrap()),
        Err(err) => {
            let err: Value = serde_json::from_str(&err).unwrap();
            Err(Raised {
                kind: err["type"].as_str().unwrap().to_owned(),
                message: err["message"].as_str().unwrap().to_owned(),
            })
        }
    }
}

async fn get(calls: &HostCalls, url: &str) -> Result<Value, Raised> {
    call(
        calls,
        "http_request",
        json!({"method": "GET", "url": url, "headers": null, "body": null}),
    )
    .await
}

/// Asserts a refusal of `kind` whose message holds every one of `words`.
fn refused(r: Result<Value, Raised>, kind: &str, words: &[&str]) {
    let e = r.expect_err("the call should have been refused");
    assert_eq!(e.kind, kind, "{e:?}");
    for w in words {
        assert!(e.message.contains(w), "{w:?} not in {e:?}");
    }
}

#[tokio::test]
async fn a_get_returns_status_body_and_lowercased_headers() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    let r = get(&calls, &s.url("127.0.0.1", "/hello")).await.unwrap();
    assert_eq!(r["status"], 200);
    assert_eq!(r["body"], "hello");
    assert_eq!(r["headers"]["x-reply"], "yes");
    assert_eq!(r["truncated"], false);
}

#[tokio::test]
async fn a_post_carries_the_guests_headers_and_body() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    let r = call(
        &calls,
        "http_request",
        json!({"method": "POST", "url": s.url("127.0.0.1", "/echo"),
            "headers": {"X-Custom": "42", "Content-Type": "application/json"},
            "body": "{\"a\": 1}"}),
    )
    .await
    .unwrap();
    let echo: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        echo,
        json!({"method": "POST", "body": "{\"a\": 1}", "x_custom": "42",
            "content_type": "application/json"})
    );
    let seen = s.seen();
    assert_eq!(
        (&seen[0].method, seen[0].body.as_str()),
        (&Method::POST, "{\"a\": 1}")
    );
}

#[tokio::test]
async fn http_get_and_http_post_imply_their_method() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    let url = s.url("127.0.0.1", "/echo");
    let r = call(&calls, "http_get", json!({"url": url})).await.unwrap();
    assert!(r["body"].as_str().unwrap().contains("\"GET\""), "{r}");
    let r = call(&calls, "http_post", json!({"url": url, "body": "b"}))
        .await
        .unwrap();
    assert!(r["body"].as_str().unwrap().contains("\"POST\""), "{r}");
}

#[tokio::test]
async fn a_redirect_within_the_allowed_hosts_is_followed() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    let r = get(&calls, &s.url("127.0.0.1", "/redirect?to=/hello"))
        .await
        .unwrap();
    assert_eq!(
        (r["status"].as_u64(), r["body"].as_str()),
        (Some(200), Some("hello"))
    );
    assert_eq!(r["url"], s.url("127.0.0.1", "/hello"));
}

#[tokio::test]
async fn a_redirect_to_a_host_not_allowed_is_refused_naming_it() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    let to = "http://evil.example.net/steal";
    refused(
        get(&calls, &s.url("127.0.0.1", &format!("/redirect?to={to}"))).await,
        "PermissionError",
        &["evil.example.net", "not in allowed_hosts"],
    );
}

#[tokio::test]
async fn a_redirect_to_a_forbidden_address_is_refused() {
    let s = Server::start().await;
    let calls = calls(
        internal(),
        &[&format!("127.0.0.1:{}", s.port), "169.254.169.254"],
    );
    refused(
        get(
            &calls,
            &s.url(
                "127.0.0.1",
                "/redirect?to=http://169.254.169.254/latest/meta-data/",
            ),
        )
        .await,
        "PermissionError",
        &["169.254.169.254", "metadata"],
    );
}

#[tokio::test]
async fn see_other_turns_a_post_into_a_get_without_body_and_307_keeps_both() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    for (status, method, body) in [
        ("303", "GET", ""),
        ("302", "GET", ""),
        ("307", "POST", "data"),
    ] {
        let r = call(
            &calls,
            "http_request",
            json!({"method": "POST", "body": "data", "headers": {"content-type": "text/plain"},
                "url": s.url("127.0.0.1", &format!("/redirect?status={status}&to=/echo"))}),
        )
        .await
        .unwrap();
        let echo: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            (echo["method"].as_str(), echo["body"].as_str()),
            (Some(method), Some(body)),
            "{status}"
        );
    }
}

#[tokio::test]
async fn redirects_past_the_limit_are_refused() {
    let s = Server::start().await;
    let config = HttpConfig {
        max_redirects: 3,
        ..internal()
    };
    let calls = calls(config, &[&format!("127.0.0.1:{}", s.port)]);
    refused(
        get(&calls, &s.url("127.0.0.1", "/loop")).await,
        "OSError",
        &["more than 3 redirects"],
    );
    assert_eq!(s.seen().len(), 4);
}

#[tokio::test]
async fn an_allowed_name_resolving_to_loopback_is_refused_unless_the_address_is_allow_listed() {
    let s = Server::start().await;
    let host = format!("localhost:{}", s.port);
    let public_only = calls(HttpConfig::default(), &[&host]);
    let answer = get(&public_only, &s.url("localhost", "/hello")).await;
    // The kind of address, never the address: what a name resolves to
    // inside the operator's network is not the guest's to learn.
    assert!(
        answer
            .as_ref()
            .is_err_and(|e| !e.message.contains("127.0.0.1")),
        "{answer:?}"
    );
    refused(
        answer,
        "PermissionError",
        &["\"localhost\"", "loopback address"],
    );
    assert!(s.seen().is_empty(), "nothing may reach the server");

    let internal = calls(internal(), &[&host]);
    let r = get(&internal, &s.url("localhost", "/hello")).await.unwrap();
    assert_eq!(r["body"], "hello");
}

#[tokio::test]
async fn the_cloud_metadata_address_is_refused() {
    let calls = calls(HttpConfig::default(), &["169.254.169.254"]);
    refused(
        get(&calls, "http://169.254.169.254/latest/meta-data/").await,
        "PermissionError",
        &["169.254.169.254", "link-local cloud metadata"],
    );
}

#[tokio::test]
async fn ipv6_loopback_and_ipv4_mapped_loopback_are_refused() {
    let calls = calls(
        HttpConfig::default(),
        &["[::1]", "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]"],
    );
    for url in [
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:a9fe:a9fe]/",
    ] {
        let r = get(&calls, url).await;
        let e = r.expect_err(url);
        assert_eq!(e.kind, "PermissionError", "{url}: {e:?}");
        assert!(
            e.message.contains("loopback") || e.message.contains("metadata"),
            "{url}: {e:?}"
        );
    }
}

#[tokio::test]
async fn every_spelling_of_loopback_is_normalised_and_refused() {
    let s = Server::start().await;
    let calls = calls(HttpConfig::default(), &[&format!("127.0.0.1:{}", s.port)]);
    for host in ["2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.1"] {
        refused(
            get(&calls, &s.url(host, "/hello")).await,
            "PermissionError",
            &["127.0.0.1", "loopback"],
        );
    }
    assert!(s.seen().is_empty(), "nothing may reach the server");
}

#[tokio::test]
async fn ip_literals_need_their_own_allowed_hosts_entry() {
    let calls = calls(internal(), &["localhost", "example.com"]);
    for url in ["http://127.0.0.1/", "http://2130706433/", "http://[::1]/"] {
        refused(
            get(&calls, url).await,
            "PermissionError",
            &["not in allowed_hosts"],
        );
    }
}

#[tokio::test]
async fn a_wildcard_matches_neither_the_apex_nor_a_lookalike() {
    let calls = calls(HttpConfig::default(), &["*.example.com"]);
    for (url, host) in [
        ("https://example.com/", "\"example.com\""),
        ("https://evil-example.com/", "\"evil-example.com\""),
        ("https://example.com.evil.net/", "\"example.com.evil.net\""),
    ] {
        refused(
            get(&calls, url).await,
            "PermissionError",
            &[host, "not in allowed_hosts"],
        );
    }
}

#[tokio::test]
async fn a_port_other_than_the_patterns_is_refused() {
    let s = Server::start().await;
    let pinned = calls(internal(), &["127.0.0.1:1"]);
    refused(
        get(&pinned, &s.url("127.0.0.1", "/hello")).await,
        "PermissionError",
        &[&format!("port {}", s.port)],
    );
    let default_port_only = calls(internal(), &["127.0.0.1"]);
    refused(
        get(&default_port_only, &s.url("127.0.0.1", "/hello")).await,
        "PermissionError",
        &[&format!("port {}", s.port)],
    );
    assert!(s.seen().is_empty());
}

fn with_secret(host: String) -> HttpConfig {
    HttpConfig {
        secrets: vec![SecretHeader {
            host,
            header: "X-Api-Key".into(),
            value: "s3cret-value".into(),
        }],
        ..internal()
    }
}

#[tokio::test]
async fn a_secret_header_reaches_its_host_but_never_the_guest() {
    let s = Server::start().await;
    let host = format!("localhost:{}", s.port);
    let calls = calls(with_secret(host.clone()), &[&host]);
    let r = call(
        &calls,
        "http_request",
        json!({"method": "GET", "url": s.url("localhost", "/record"),
            "headers": {"X-Api-Key": "guest-guess"}, "body": null}),
    )
    .await
    .unwrap();
    assert!(!r.to_string().contains("s3cret"), "{r}");
    let seen = s.seen();
    let keys: Vec<_> = seen[0].headers.get_all("x-api-key").iter().collect();
    assert_eq!(
        keys,
        ["s3cret-value"],
        "the host's secret replaces the guest's"
    );
}

#[tokio::test]
async fn a_secret_header_is_not_carried_across_a_redirect_to_another_host() {
    let s = Server::start().await;
    let secret_host = format!("localhost:{}", s.port);
    let other = format!("127.0.0.1:{}", s.port);
    let calls = calls(with_secret(secret_host.clone()), &[&secret_host, &other]);
    let to = s.url("127.0.0.1", "/record");
    let r = get(&calls, &s.url("localhost", &format!("/redirect?to={to}")))
        .await
        .unwrap();
    assert_eq!(r["body"], "ok");
    let seen = s.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].path.as_str(), seen[1].path.as_str()),
        ("/redirect", "/record")
    );
    assert_eq!(seen[0].headers["x-api-key"], "s3cret-value");
    assert!(
        seen[1].headers.get("x-api-key").is_none(),
        "{:?}",
        seen[1].headers
    );
}

#[tokio::test]
async fn a_response_body_past_the_cap_is_cut_and_flagged() {
    let s = Server::start().await;
    let config = HttpConfig {
        max_response_body_bytes: 1000,
        ..internal()
    };
    let calls = calls(config, &[&format!("127.0.0.1:{}", s.port)]);
    let big = get(&calls, &s.url("127.0.0.1", "/big?n=100000"))
        .await
        .unwrap();
    assert_eq!(
        (big["body"].as_str().unwrap().len(), &big["truncated"]),
        (1000, &json!(true))
    );
    let exact = get(&calls, &s.url("127.0.0.1", "/big?n=1000"))
        .await
        .unwrap();
    assert_eq!(
        (exact["body"].as_str().unwrap().len(), &exact["truncated"]),
        (1000, &json!(false))
    );
}

#[tokio::test]
async fn a_request_body_past_the_cap_is_a_value_error() {
    let s = Server::start().await;
    let config = HttpConfig {
        max_request_body_bytes: 10,
        ..internal()
    };
    let calls = calls(config, &[&format!("127.0.0.1:{}", s.port)]);
    refused(
        call(
            &calls,
            "http_post",
            json!({"url": s.url("127.0.0.1", "/echo"), "body": "x".repeat(11)}),
        )
        .await,
        "ValueError",
        &["11 bytes", "limit of 10"],
    );
    assert!(s.seen().is_empty());
}

#[tokio::test]
async fn calls_past_the_per_run_cap_are_refused() {
    let s = Server::start().await;
    let config = HttpConfig {
        max_calls_per_run: 2,
        ..internal()
    };
    let calls = calls(config, &[&format!("127.0.0.1:{}", s.port)]);
    let url = s.url("127.0.0.1", "/hello");
    get(&calls, &url).await.unwrap();
    get(&calls, &url).await.unwrap();
    refused(
        get(&calls, &url).await,
        "PermissionError",
        &["limit of 2 HTTP calls per run"],
    );
    assert_eq!(s.seen().len(), 2);
}

#[tokio::test]
async fn a_slow_server_is_cut_off_at_the_run_deadline() {
    let s = Server::start().await;
    let calls = calls_with(
        internal(),
        &[&format!("127.0.0.1:{}", s.port)],
        Instant::now() + Duration::from_millis(500),
    );
    let started = Instant::now();
    refused(
        get(&calls, &s.url("127.0.0.1", "/sleep")).await,
        "TimeoutError",
        &["timed out"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_server_is_cut_off_at_the_call_timeout() {
    let s = Server::start().await;
    let config = HttpConfig {
        call_timeout: Duration::from_millis(300),
        ..internal()
    };
    let calls = calls(config, &[&format!("127.0.0.1:{}", s.port)]);
    let started = Instant::now();
    refused(
        get(&calls, &s.url("127.0.0.1", "/sleep")).await,
        "TimeoutError",
        &["timed out"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_url_past_the_cap_is_a_value_error() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    let long = s.url("127.0.0.1", &format!("/{}", "a".repeat(9000)));
    refused(get(&calls, &long).await, "ValueError", &["limit of 8192"]);
}

#[tokio::test]
async fn schemes_other_than_http_and_https_are_refused() {
    let calls = calls(internal(), &["localhost", "127.0.0.1"]);
    for url in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "gopher://localhost/",
        "data:text/plain,hi",
    ] {
        refused(
            get(&calls, url).await,
            "ValueError",
            &["only http and https"],
        );
    }
}

#[tokio::test]
async fn a_guest_cannot_set_host_or_framing_headers() {
    let s = Server::start().await;
    let calls = calls(internal(), &[&format!("127.0.0.1:{}", s.port)]);
    for name in ["Host", "Content-Length", "Transfer-Encoding", "Connection"] {
        refused(
            call(
                &calls,
                "http_get",
                json!({"url": s.url("127.0.0.1", "/hello"), "headers": {name: "x"}}),
            )
            .await,
            "ValueError",
            &[name],
        );
    }
    assert!(s.seen().is_empty());
}

#[tokio::test]
async fn an_invalid_configuration_refuses_every_call() {
    let config = HttpConfig {
        allow_addresses: vec!["not-an-address".into()],
        ..HttpConfig::default()
    };
    assert!(config.validate().is_err());
    let calls = calls(config, &["example.com"]);
    refused(
        get(&calls, "http://example.com/").await,
        "PermissionError",
        &["configuration is invalid"],
    );
}

#[tokio::test]
async fn a_refused_connection_is_an_os_error() {
    let closed: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let calls = calls(internal(), &[&closed.to_string()]);
    refused(
        get(&calls, &format!("http://{closed}/")).await,
        "OSError",
        &["connection to \"127.0.0.1\" failed"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_guest_fetches_through_http_request() {
    let s = Server::start().await;
    let url = s.url("localhost", "/hello");
    let code = format!(
        "r = _goru_call('http_request', {{'method': 'GET', 'url': {url:?}, 'headers': None, 'body': None}})\n\
         print(r['status'], r['body'])\n\
         try:\n    _goru_call('http_request', {{'method': 'GET', 'url': 'http://169.254.169.254/', 'headers': None, 'body': None}})\n\
         except PermissionError as e:\n    print('refused')\n"
    );
    let mut req = common::request("python", &code);
    req.grants.extra = calls(
        internal(),
        &[&format!("localhost:{}", s.port), "169.254.169.254"],
    );
    let r = common::run_req(req).await;
    assert_eq!(r.stdout, "200 hello\nrefused\n", "{r:?}");
}
