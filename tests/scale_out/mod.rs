//! Scale-out: KV in a real `redis-server` (installed by `make test`), the
//! same contract as the in-memory store, failure and recovery, and
//! replicas (real `goru serve` processes) sharing namespaces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
mod contract;
mod deploy;
pub mod goru_process;
mod redis_server;

use std::time::{Duration, Instant};

use common::{TestServer, server_config, start_server};
use goru::host::kv::KvBackend;
use serde_json::{Value, json};

use common::{get, post};
use goru_process::GoruProcess;
use redis_server::RedisServer;

fn redis_config(redis: &RedisServer) -> goru::config::Config {
    let mut config = server_config();
    config.kv.backend = KvBackend::Redis;
    config.kv.redis_url = redis.url();
    config.kv.redis_timeout_ms = 500;
    config.kv.redis_connect_timeout_ms = 500;
    config
}

async fn run(s: &TestServer, code: &str, namespace: &str) -> Value {
    s.run_ok(json!({"code": code, "policy": {"kv_namespace": namespace}}))
        .await
}

#[tokio::test]
async fn many_runs_writing_at_once_keep_the_limits_exact() {
    let redis = RedisServer::start();
    let mut config = redis_config(&redis);
    config.kv.limits.max_keys_per_namespace = 50;
    config.server.concurrency = 8;
    let s = start_server(config).await;
    // Twelve runs of ten new keys each, into one namespace of 50.
    let code = |i: usize| {
        format!(
            "n = 0\nfor k in range(10):\n    try:\n        kv_set('r{i}-' + str(k), 'v')\n        n += 1\n    except ValueError as e:\n        assert 'holds 50 keys' in str(e), e\nprint(n)"
        )
    };
    let runs: Vec<_> = (0..12)
        .map(|i| s.spawn_run(json!({"code": code(i), "policy": {"kv_namespace": "jobs"}})))
        .collect();
    let mut stored = 0;
    for run in runs {
        let body = run.await.unwrap();
        assert_eq!(body["status"], "ok", "{body}");
        stored += body["stdout"]
            .as_str()
            .unwrap()
            .trim()
            .parse::<usize>()
            .unwrap();
    }
    assert_eq!(stored, 50, "exactly the limit was written");
    let listed = s.get_json("/kv/jobs").await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn redis_down_or_stalled_gives_clear_errors_then_recovers_with_its_data() {
    let mut redis = RedisServer::start();
    let s = start_server(redis_config(&redis)).await;
    let r = run(&s, "kv_set('kept', 'before the crash')", "ops").await;
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(
        s.get_json("/readyz").await["kv"],
        json!({"backend": "redis", "reachable": true})
    );

    redis.kill();
    let catch = "import time\nt = time.monotonic()\ntry:\n    kv_get('kept')\nexcept OSError as e:\n    print(type(e).__name__, '|', e, '|', round(time.monotonic() - t, 1))";
    let started = Instant::now();
    let r = run(&s, catch, "ops").await;
    let out = r["stdout"].as_str().unwrap();
    assert!(
        out.starts_with("OSError | the KV store is unavailable"),
        "{r}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "bounded");
    // The /kv routes say so with 503, and the rest of the service runs.
    let got = s.client.get(s.url("/kv/ops/kept")).send().await.unwrap();
    assert_eq!(got.status(), 503);
    assert_eq!(got.headers()["retry-after"], "1");
    let body: Value = got.json().await.unwrap();
    assert_eq!(body["error"]["code"], "kv_unavailable", "{body}");
    let plain = s.run_ok(json!({"code": "print(6 * 7)"})).await;
    assert_eq!(plain["stdout"], "42\n");
    let ready = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "reported, not required");
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["kv"]["reachable"], false);
    let metrics = s.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("goru_kv_backend_errors_total{")
                && l.contains("kind=\"unavailable\"")),
        "{metrics}"
    );
    assert!(metrics.contains("goru_kv_backend_up{backend=\"redis\"} 0"));

    // Back, with what it had: no restart of goru, no manual step.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s
            .run_ok(json!({"code": "try:\n    print(kv_get('kept'))\nexcept OSError as e:\n    print('not yet', e)", "policy": {"kv_namespace": "ops"}}))
            .await;
        if r["stdout"] == "before the crash\n" {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.get_json("/readyz").await["status"], "ready");

    // Stalled (answers nothing): TimeoutError after kv.redis_timeout_ms.
    redis.pause();
    let r = run(&s, "import time\nt = time.monotonic()\ntry:\n    kv_set('k', 'v')\nexcept TimeoutError as e:\n    print(e, '|', round(time.monotonic() - t, 1))", "ops").await;
    redis.resume();
    assert_eq!(
        r["stdout"],
        "the KV store did not answer within 500 ms (kv.redis_timeout_ms); try again later | 0.5\n",
        "{r}"
    );
}

#[tokio::test]
async fn two_replicas_share_a_namespace_and_keep_it_across_restarts() {
    let redis = RedisServer::start();
    let kv = format!(
        "[kv]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    );
    let a = GoruProcess::start(&kv).await;
    let b = GoruProcess::start(&kv).await;
    assert_ne!(a.base, b.base);
    let client = reqwest::Client::new();
    let run = |replica: &GoruProcess, code: &str| {
        post(
            &client,
            replica.url("/run"),
            json!({"code": code, "policy": {"kv_namespace": "team"}}),
        )
    };
    let r = run(&a, "kv_set('from', 'a')").await;
    assert_eq!(r["status"], "ok", "{r}");
    let put = client
        .put(b.url("/kv/team/seed"))
        .json(&json!({"value": "from b's route"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let r = run(&b, "print(kv_get('from'), kv_keys())").await;
    assert_eq!(r["stdout"], "a ['from', 'seed']\n", "{r}");
    let got = get(&client, a.url("/kv/team/seed")).await;
    assert_eq!(got["value"], "from b's route");

    // Both replicas gone, one back: the namespace is all there.
    drop(a);
    drop(b);
    let again = GoruProcess::start(&kv).await;
    let r = run(&again, "print(sorted(kv_keys()), kv_get('from'))").await;
    assert_eq!(r["stdout"], "['from', 'seed'] a\n", "{r}");
}

#[tokio::test]
async fn a_session_id_names_its_replica_and_the_wrong_one_says_so() {
    let replica = |name: &str| {
        let mut config = server_config();
        config.sessions.replica = name.to_owned();
        start_server(config)
    };
    let (a, b) = (replica("goru-a").await, replica("goru-b").await);
    let (status, created) = a
        .post_value("/sessions", json!({"language": "python"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["session_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ses_goru-a."), "{id}");
    let cell = json!({"code": "x = 41"});
    let (status, _) = a
        .post_value(&format!("/sessions/{id}/run"), cell.clone())
        .await;
    assert_eq!(status, 200);

    // On the other replica: a clear refusal naming where it lives, for
    // every route, and no session made there.
    let (status, body) = b.post_value(&format!("/sessions/{id}/run"), cell).await;
    assert_eq!(status, 421, "{body}");
    assert_eq!(body["error"]["code"], "wrong_replica");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("lives on replica \"goru-a\", and this is \"goru-b\""),
        "{message}"
    );
    common::assert_matches_spec("/sessions/{id}/run", "post", 421, &body);
    let got = b
        .client
        .get(b.url(&format!("/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 421);
    let deleted = b
        .client
        .delete(b.url(&format!("/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 421);
    assert_eq!(b.get_json("/sessions").await["sessions"], json!([]));

    // The session itself is untouched on its own replica.
    let (status, r) = a
        .post_value(
            &format!("/sessions/{id}/run"),
            json!({"code": "print(x + 1)"}),
        )
        .await;
    assert_eq!((status, r["stdout"].as_str()), (200, Some("42\n")), "{r}");
}
