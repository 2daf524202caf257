//! `agg run` end to end: the real binary, a real SQLite file, feeds from
//! disk and from a real HTTP server on 127.0.0.1.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;

/// A scratch copy of the shipped pipelines and agents (so outputs never land
/// in the repository) and a store path inside it.
fn demo_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("pipelines"), &tmp.path().join("pipelines"));
    copy_dir(&repo().join("agents"), &tmp.path().join("agents"));
    let db = tmp.path().join("agg.db");
    (tmp, db)
}

#[test]
fn demo_runs_twice_with_the_same_item_count() {
    let (tmp, db) = demo_copy();
    run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/demo.yaml"]),
    );
    let first = count(tmp.path(), &db);
    assert_eq!(first, 23, "the demo feeds hold 23 items");
    run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/demo.yaml"]),
    );
    assert_eq!(count(tmp.path(), &db), first);

    // Sinks wrote the deduplicated set: the story carried by two feeds
    // appears once, with the other feed recorded.
    let jsonl = std::fs::read_to_string(tmp.path().join("pipelines/out/items.jsonl")).unwrap();
    let items: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 22);
    let funding: Vec<_> = items
        .iter()
        .filter(|i| i["title"] == "Open-source maintainers report record funding year")
        .collect();
    assert_eq!(funding.len(), 1);
    assert_eq!(
        funding[0]["also_in"],
        serde_json::json!(["Example World Wire"])
    );
    let page = std::fs::read_to_string(tmp.path().join("pipelines/out/index.html")).unwrap();
    assert!(page.contains("Las Vegas Grand Prix: Norris wins, title goes to Abu Dhabi"));

    // The run history has both runs, newest first, with per-agent counts.
    let out = run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["runs", "--json"]),
    );
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[0]["status"], "ok");
    let tech = runs[1]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "tech")
        .unwrap();
    assert_eq!(
        (tech["items_out"].as_u64(), tech["items_new"].as_u64()),
        (Some(8), Some(8))
    );
    let tech2 = runs[0]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "tech")
        .unwrap();
    assert_eq!(tech2["items_new"].as_u64(), Some(0));
}

#[test]
fn dry_run_writes_nothing() {
    let (tmp, db) = demo_copy();
    run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["run", "--dry-run", "pipelines/demo.yaml"]),
    );
    assert_eq!(count(tmp.path(), &db), 0);
    assert!(!tmp.path().join("pipelines/out/items.jsonl").exists());
}

#[test]
fn a_broken_feed_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("good.xml"), rss("good", 3)).unwrap();
    std::fs::write(
        tmp.path().join("broken.xml"),
        b"<rss><channel><item><title>cut",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: p\nagents:\n  good: { kind: file, path: good.xml }\n  bad: { kind: file, path: broken.xml }\n  \
         both: { kind: dedupe, inputs: [good, bad] }\n  out: { kind: jsonl, inputs: [both], path: out.jsonl }\n",
    )
    .unwrap();
    let db = tmp.path().join("agg.db");
    let out = agg(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["run", "--json", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed agent makes the exit code non-zero"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "partial");
    let by = |n: &str| {
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agent"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by("bad")["status"], "failed");
    assert!(
        by("bad")["errors"][0]
            .as_str()
            .unwrap()
            .contains("broken.xml")
    );
    assert_eq!(by("good")["status"], "ok");
    assert_eq!(by("out")["items_in"], 3);
    assert_eq!(count(tmp.path(), &db), 3);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("out.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn rss_over_http_uses_conditional_get_and_survives_errors() {
    let server = Server::start(HashMap::from([
        ("/a.xml".to_string(), Route::Feed(rss("a", 4))),
        ("/b.xml".to_string(), Route::Feed(rss("b", 2))),
        ("/gone.xml".to_string(), Route::Status(500)),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!(
            "name: web\nagents:\n  web:\n    kind: rss\n    feeds: [{}, {}, {}]\n    respect_schedule: false\n  out: {{ kind: jsonl, inputs: [web], path: out.jsonl }}\n",
            server.url("/a.xml"),
            server.url("/b.xml"),
            server.url("/gone.xml")
        ),
    )
    .unwrap();
    let db = tmp.path().join("agg.db");
    let out = agg(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP 500"), "{text}");
    assert_eq!(count(tmp.path(), &db), 6);
    assert_eq!(server.statuses("/a.xml"), vec![200]);

    // Second run: the unchanged feeds answer 304 and nothing is parsed or
    // stored again; a feed that changed is fetched in full.
    server.set("/b.xml", Route::Feed(rss("b", 3)));
    let _ = agg(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(server.statuses("/a.xml"), vec![200, 304]);
    assert_eq!(server.statuses("/b.xml"), vec![200, 200]);
    assert_eq!(count(tmp.path(), &db), 7);
}

#[test]
fn a_run_killed_mid_way_is_completed_by_the_next_without_duplicates() {
    let server = Server::start(HashMap::from([
        ("/fast.xml".to_string(), Route::Feed(rss("fast", 20))),
        ("/slow.xml".to_string(), Route::Hang(rss("slow", 10))),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!(
            "name: kill\nagents:\n  fast: {{ kind: rss, feeds: [{}] }}\n  slow: {{ kind: rss, feeds: [{}] }}\n  \
             out: {{ kind: jsonl, inputs: [fast, slow], path: out.jsonl }}\n",
            server.url("/fast.xml"),
            server.url("/slow.xml")
        ),
    )
    .unwrap();
    let db = tmp.path().join("agg.db");
    let mut child = agg(tmp.path())
        .arg("--db")
        .arg(&db)
        .args(["run", "p.yaml"])
        .spawn()
        .unwrap();
    // Wait until the fast feed is stored while the slow one is in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the fast feed was never stored");
        if db.exists() && count(tmp.path(), &db) == 20 && !server.statuses("/fast.xml").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    server.release();

    run_ok(agg(tmp.path()).arg("--db").arg(&db).args(["run", "p.yaml"]));
    assert_eq!(count(tmp.path(), &db), 30, "every item once, none twice");
    let out = run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["runs", "--json"]),
    );
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "ok");
    assert_eq!(
        runs[1]["status"], "aborted",
        "the killed run is marked, not left running"
    );
}

#[test]
fn items_can_be_filtered_and_listed_as_json() {
    let (tmp, db) = demo_copy();
    run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/demo.yaml"]),
    );
    let out = run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["items", "--json", "--source", "sport"]),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|i| i["source"] == "sport"));
    let out = run_ok(agg(tmp.path()).arg("--db").arg(&db).args([
        "items",
        "--count",
        "--since",
        "2026-11-22",
        "--until",
        "2026-11-23",
    ]));
    // Items dated on 22 November 2026 in the demo feeds.
    let n: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(n > 0 && n < 23, "{n}");
}
