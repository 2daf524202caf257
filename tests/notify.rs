//! The `webhook` and `ntfy` sinks, run by the real binary against a real
//! HTTP receiver on 127.0.0.1: retries then success, a target that is down
//! (recorded, the run not blocked, delivered on a later run), once per item
//! across runs, the rule, the rate limits, the SSRF guard, and the ntfy
//! token kept out of everything agg writes.

mod common;
#[path = "fixtures/server.rs"]
mod server;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{agg, rss};
use server::{Resp, TestServer};

/// Writes `feed.xml` with `n` items and a pipeline `file → (sink, jsonl)`
/// whose sink is `sink` (a YAML flow mapping's inside).
fn setup(dir: &Path, n: usize, sink: &str) {
    std::fs::write(dir.join("feed.xml"), rss("news", n)).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "name: n\nagents:\n  news: {{ kind: file, path: feed.xml }}\n  \
             tell: {{ inputs: [news], {sink} }}\n  \
             dump: {{ kind: jsonl, inputs: [news], path: out.jsonl }}\n"
        ),
    )
    .unwrap();
}

fn run(dir: &Path) -> (bool, String) {
    let out = agg(dir)
        .arg("--db")
        .arg(dir.join("agg.db"))
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The JSON bodies the receiver answered 200 to, in order.
fn delivered(srv: &TestServer) -> Vec<serde_json::Value> {
    srv.hits
        .lock()
        .unwrap()
        .iter()
        .filter(|(r, s)| r.path == "/hook" && *s == 200)
        .map(|(r, _)| serde_json::from_slice(&r.body).expect("a JSON body"))
        .collect()
}

fn titles(v: &[serde_json::Value]) -> Vec<String> {
    let mut t: Vec<String> = v
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

#[test]
fn retries_then_delivers_once_per_item_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    // Two 503s, then every request succeeds.
    let srv = TestServer::start(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < 2 {
            Resp::status(503)
        } else {
            Resp::ok("ok")
        }
    });
    setup(
        dir.path(),
        2,
        &format!(
            "kind: webhook, url: \"{}\", words: [story], retries: 3, retry_base_ms: 10, allow_private: [\"127.0.0.1\"]",
            srv.url("/hook")
        ),
    );
    let (ok, text) = run(dir.path());
    assert!(ok, "{text}");
    assert_eq!(srv.statuses("/hook"), vec![503, 503, 200, 200], "{text}");
    let got = delivered(&srv);
    assert_eq!(
        titles(&got),
        vec![
            "news story number 0 about things",
            "news story number 1 about things"
        ]
    );
    for r in srv.requests("/hook") {
        assert_eq!(r.method, "POST");
        assert_eq!(r.headers["content-type"], "application/json");
    }
    assert!(
        got[0]["why"][0]
            .as_str()
            .unwrap()
            .contains("mentions story")
    );
    assert!(
        got[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://example.com/news/")
    );

    // The same feed again: nothing is sent twice.
    let (ok, text) = run(dir.path());
    assert!(ok, "{text}");
    assert_eq!(srv.statuses("/hook").len(), 4, "{text}");
    // A new item: only it is sent.
    std::fs::write(dir.path().join("feed.xml"), rss("news", 3)).unwrap();
    let (ok, text) = run(dir.path());
    assert!(ok, "{text}");
    let got = delivered(&srv);
    assert_eq!(got.len(), 3, "{text}");
    assert_eq!(got[2]["title"], "news story number 2 about things");
}

#[test]
fn a_target_that_is_down_is_recorded_and_delivered_on_a_later_run() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1 (binding it needs root): connections are
    // refused. (A port freed by a test could be taken by another test's
    // receiver running alongside.)
    let dead = 1;
    assert!(std::net::TcpStream::connect(("127.0.0.1", dead)).is_err());
    setup(
        dir.path(),
        3,
        &format!(
            "kind: webhook, url: \"http://127.0.0.1:{dead}/hook\", words: [story], retries: 1, retry_base_ms: 10, timeout_secs: 2, allow_private: [\"127.0.0.1\"]"
        ),
    );
    let (ok, text) = run(dir.path());
    assert!(
        !ok,
        "a failed delivery makes the run's exit code say so: {text}"
    );
    // The rest of the pipeline was not held up.
    let dumped = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(dumped.lines().count(), 3);
    assert!(text.contains("left for the next run"), "{text}");
    let failed = agg(dir.path())
        .arg("--db")
        .arg(dir.path().join("agg.db"))
        .args(["items", "--failed"])
        .output()
        .unwrap();
    let failed = String::from_utf8_lossy(&failed.stdout);
    assert!(failed.contains("notification not delivered"), "{failed}");

    // The receiver comes up (a 503 first, then answers): every item is
    // delivered, each once.
    let up = Arc::new(AtomicBool::new(false));
    let u = up.clone();
    let srv = TestServer::start(move |_| {
        if u.swap(true, Ordering::SeqCst) {
            Resp::ok("ok")
        } else {
            Resp::status(503)
        }
    });
    let yaml = std::fs::read_to_string(dir.path().join("p.yaml"))
        .unwrap()
        .replace(&format!("http://127.0.0.1:{dead}/hook"), &srv.url("/hook"));
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    let (ok, text) = run(dir.path());
    assert!(ok, "{text}");
    let got = delivered(&srv);
    assert_eq!(got.len(), 3, "{text}");
    assert_eq!(
        titles(&got),
        (0..3)
            .map(|i| format!("news story number {i} about things"))
            .collect::<Vec<_>>()
    );
    let (ok, text) = run(dir.path());
    assert!(ok, "{text}");
    assert_eq!(delivered(&srv).len(), 3, "once per item: {text}");
}

#[test]
fn a_server_that_keeps_failing_parks_the_item_after_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(|_| Resp::status(400));
    setup(
        dir.path(),
        1,
        &format!(
            "kind: webhook, url: \"{}\", words: [story], allow_private: [\"127.0.0.1\"]",
            srv.url("/hook")
        ),
    );
    for _ in 0..3 {
        let (ok, _) = run(dir.path());
        assert!(!ok);
    }
    // 400 is not retried within a run: one request per run.
    assert_eq!(srv.statuses("/hook"), vec![400, 400, 400]);
    let out = agg(dir.path())
        .arg("--db")
        .arg(dir.path().join("agg.db"))
        .args(["status", "p.yaml", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tell = status
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["agent"] == "tell"))
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(tell["parked"], 1, "{status}");
    // Parked: not offered from the backlog again. (The feed no longer
    // carries it: an item its source sends again is offered again, by the
    // executor's rule, and a parked notification would be tried once more.)
    std::fs::write(dir.path().join("feed.xml"), rss("news", 0)).unwrap();
    run(dir.path());
    assert_eq!(srv.statuses("/hook").len(), 3);
}

#[test]
fn only_items_meeting_the_rule_are_sent_within_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(|_| Resp::ok("ok"));
    // Titles "news story number N about things": N = 1, 11, 21… mention "1".
    setup(
        dir.path(),
        25,
        &format!(
            "kind: webhook, url: \"{}\", words: [\"number 1\", \"number 2\"], max_per_run: 4, max_per_hour: 6, allow_private: [\"127.0.0.1\"]",
            srv.url("/hook")
        ),
    );
    // Matching: 1, 10–19, 2, 20–24 = 17 items.
    let (ok, text) = run(dir.path());
    assert!(ok, "{text}");
    assert_eq!(delivered(&srv).len(), 4, "max_per_run: {text}");
    assert!(text.contains("held for a later run"), "{text}");
    let (ok, text) = run(dir.path());
    assert!(ok, "{text}");
    // The clock is pinned: the second run is within the same hour.
    assert_eq!(delivered(&srv).len(), 6, "max_per_hour: {text}");
    assert!(text.contains("max_per_hour 6"), "{text}");
    let got = delivered(&srv);
    let mut seen = std::collections::HashSet::new();
    for b in &got {
        let t = b["title"].as_str().unwrap();
        assert!(
            t.contains("number 1") || t.contains("number 2"),
            "not matching the rule: {t}"
        );
        assert!(seen.insert(t.to_string()), "sent twice: {t}");
    }
}

#[test]
fn the_target_passes_the_ssrf_guard() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(|_| Resp::ok("ok"));
    setup(
        dir.path(),
        1,
        &format!(
            "kind: webhook, url: \"{}\", words: [story]",
            srv.url("/hook")
        ),
    );
    let (ok, text) = run(dir.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("loopback") && text.contains("allow_private"),
        "{text}"
    );
    assert!(
        srv.statuses("/hook").is_empty(),
        "nothing reached the receiver"
    );
}

#[test]
fn ntfy_sends_plain_text_with_headers_and_keeps_the_token_secret() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(|_| Resp::ok("{}"));
    let token = "tk_notify_secret_123456";
    let secrets = dir.path().join("secrets.env");
    std::fs::write(&secrets, format!("NTFY_TOKEN={token}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    setup(
        dir.path(),
        1,
        &format!(
            "kind: ntfy, url: \"{}\", words: [story], priority: 4, token_env: NTFY_TOKEN, allow_private: [\"127.0.0.1\"]",
            srv.url("/hook")
        ),
    );
    let out = agg(dir.path())
        .arg("--secrets")
        .arg(&secrets)
        .arg("--db")
        .arg(dir.path().join("agg.db"))
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let reqs = srv.requests("/hook");
    assert_eq!(reqs.len(), 1, "{text}");
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.headers["title"], "news story number 0 about things");
    assert_eq!(r.headers["priority"], "4");
    assert_eq!(r.headers["click"], "https://example.com/news/0");
    assert_eq!(r.headers["authorization"], format!("Bearer {token}"));
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(body.starts_with("Body of news 0."), "{body}");
    assert!(body.contains("Why: mentions story"), "{body}");
    // The token is in nothing agg printed or stored.
    assert!(!text.contains(token));
    let runs = agg(dir.path())
        .arg("--db")
        .arg(dir.path().join("agg.db"))
        .args(["runs", "--json"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&runs.stdout).contains(token));
    let db = std::fs::read(dir.path().join("agg.db")).unwrap();
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is not in the store"
    );
}
