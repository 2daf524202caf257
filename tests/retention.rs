//! Retention end to end (issue 23), with the real binary: `retention_days`
//! deletes old items after a run — of `agg run` and of `agg serve` alike —,
//! a feed still carrying a deleted item does not bring it back, and items
//! of a followed saga are kept.

mod common;

use std::time::{Duration, Instant};

use common::{agg, run_ok, start_serve};

fn feed(dir: &std::path::Path) {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Old news</title>",
    );
    for (guid, title) in [
        ("keep", "Harbour strike enters its second week"),
        ("drop-1", "Museum reopens after renovation"),
        ("drop-2", "Glacier survey finds record melt"),
    ] {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title>\
             <link>https://example.com/{guid}</link><description>{title}.</description>\
             <pubDate>Thu, 01 Oct 2026 10:00:00 GMT</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    std::fs::write(dir.join("old.xml"), s).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "name: keep\nretention_days: 30\nagents:\n  old: { kind: file, path: old.xml }\n  \
         sagas: { kind: saga, inputs: [old] }\n  out: { kind: jsonl, inputs: [sagas], path: out.jsonl }\n",
    )
    .unwrap();
}

fn items(dir: &std::path::Path, now: &str) -> Vec<serde_json::Value> {
    let out = run_ok(
        agg(dir)
            .env("AGG_NOW", now)
            .args(["--db", "agg.db", "items", "--json", "--limit", "100"]),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The first run, on `early` (the feed's items are dated 1 October), and
/// the harbour story's saga followed.
fn first_run_and_follow(dir: &std::path::Path, early: &str) {
    run_ok(
        agg(dir)
            .env("AGG_NOW", early)
            .args(["--db", "agg.db", "run", "p.yaml"]),
    );
    let first = items(dir, early);
    assert_eq!(first.len(), 3);
    let saga = first
        .iter()
        .find(|i| i["title"] == "Harbour strike enters its second week")
        .unwrap()["saga"]["id"]
        .as_u64()
        .expect("the item has a saga");
    run_ok(agg(dir).env("AGG_NOW", early).args([
        "--db",
        "agg.db",
        "sagas",
        "follow",
        &saga.to_string(),
    ]));
}

fn keys(items: &[serde_json::Value]) -> Vec<String> {
    let mut k: Vec<String> = items
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

#[test]
fn retention_deletes_old_items_for_good_and_keeps_followed_sagas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    feed(dir);
    // Fetched on 2 October; the harbour story's saga is followed.
    first_run_and_follow(dir, "2026-10-02T07:00:00Z");

    // 55 days later: the run keeps the items it sees (nothing new), then
    // applies 30 days of retention.
    let late = "2026-11-26T07:00:00Z";
    let out = run_ok(
        agg(dir)
            .env("AGG_NOW", late)
            .args(["--db", "agg.db", "run", "p.yaml"]),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("2 deleted"), "{said}");
    assert_eq!(
        keys(&items(dir, late)),
        ["Harbour strike enters its second week"]
    );

    // The feed still carries the deleted items: they do not come back.
    let (summary, old) = rerun_next_morning(dir);
    assert_eq!(old["items_new"], 0, "{summary}");
    assert_eq!(
        keys(&items(dir, late)),
        ["Harbour strike enters its second week"]
    );

    // `agg gc` finds nothing more to do.
    let out = run_ok(
        agg(dir)
            .env("AGG_NOW", late)
            .args(["--db", "agg.db", "gc", "--days", "30", "--json"]),
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["deleted"], 0, "{r}");
    assert_eq!(r["kept"], 1, "{r}");
}

/// `agg serve` applies retention after its runs as `agg run` does (it used
/// to run pipelines without it, so a served store only ever grew).
#[test]
fn serve_applies_retention_after_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    feed(dir);
    first_run_and_follow(dir, "2026-10-02T07:00:00Z");

    // 55 days later, `agg serve --run-now` runs the pipeline once.
    let late = "2026-11-26T07:00:00Z";
    let (mut served, _port) = start_serve(
        agg(dir)
            .env("AGG_NOW", late)
            .env("AGG_SECRET", "test-secret-for-feedback-links")
            .args(["--db", "agg.db", "serve", "p.yaml", "--run-now"])
            .args(["--bind", "127.0.0.1:0"]),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run_ok(agg(dir).args(["--db", "agg.db", "runs", "--json"]));
        let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let runs = runs.as_array().unwrap();
        if runs.len() == 2 && runs.iter().all(|r| r["status"] != "running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the served run never finished: {runs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM lets the run finish, retention included, before agg exits:
    // what the store holds then is what the served run left.
    let mut child = served.0.take().unwrap();
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "agg serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "agg serve: {status}");

    // The two old items are gone for good (tombstoned); the followed
    // saga's item is kept.
    assert_eq!(
        keys(&items(dir, late)),
        ["Harbour strike enters its second week"]
    );
    let (summary, old) = rerun_next_morning(dir);
    assert_eq!(old["items_new"], 0, "tombstoned items came back: {summary}");
}

/// Runs the pipeline again the next morning, returning the run summary and
/// the `old` source's part of it (the feed that still carries deleted items).
fn rerun_next_morning(dir: &std::path::Path) -> (serde_json::Value, serde_json::Value) {
    let out = run_ok(
        agg(dir)
            .env("AGG_NOW", "2026-11-27T07:00:00Z")
            .args(["--db", "agg.db", "run", "p.yaml", "--json"]),
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let old = summary["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "old")
        .unwrap()
        .clone();
    (summary, old)
}
