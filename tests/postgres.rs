//! The same end-to-end checks as tests/run.rs, on PostgreSQL: a pipeline
//! runs twice without duplicates, and a run killed mid-way is completed by
//! the next.

mod common;
#[path = "common/pgcluster.rs"]
mod pgcluster;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use pgcluster::TestDb as Db;

fn count_pg(dir: &std::path::Path, db: &Db) -> u64 {
    let out = run_ok(agg(dir).args(["--db", &db.url, "items", "--count"]));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn demo_on_postgres_twice_same_count() {
    let db = Db::new("demo");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("pipelines"), &tmp.path().join("pipelines"));
    copy_dir(&repo().join("agents"), &tmp.path().join("agents"));
    run_ok(agg(tmp.path()).args(["--db", &db.url, "run", "pipelines/demo.yaml"]));
    assert_eq!(count_pg(tmp.path(), &db), 23);
    run_ok(agg(tmp.path()).args(["--db", &db.url, "run", "pipelines/demo.yaml"]));
    assert_eq!(count_pg(tmp.path(), &db), 23);
    let out = run_ok(agg(tmp.path()).args(["--db", &db.url, "runs", "--json"]));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert!(runs.as_array().unwrap().iter().all(|r| r["status"] == "ok"));
}

#[test]
fn killed_run_on_postgres_is_completed_without_duplicates() {
    let db = Db::new("kill");
    let server = Server::start(HashMap::from([
        ("/fast.xml".to_string(), Route::Feed(rss("fast", 20))),
        ("/slow.xml".to_string(), Route::Hang(rss("slow", 10))),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!(
            "name: kill\nagents:\n  fast: {{ kind: file, path: fast.xml }}\n  slow: {{ kind: rss, feeds: [{}] }}\n  \
             out: {{ kind: jsonl, inputs: [fast, slow], path: out.jsonl }}\n",
            server.url("/slow.xml")
        ),
    )
    .unwrap();
    std::fs::write(tmp.path().join("fast.xml"), rss("fast", 20)).unwrap();
    let mut child = agg(tmp.path())
        .args(["--db", &db.url, "run", "p.yaml"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_pg(tmp.path(), &db) < 20 {
        assert!(
            Instant::now() < deadline,
            "the fast source was never stored"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    server.release();
    run_ok(agg(tmp.path()).args(["--db", &db.url, "run", "p.yaml"]));
    assert_eq!(count_pg(tmp.path(), &db), 30);
    let out = run_ok(agg(tmp.path()).args(["--db", &db.url, "runs", "--json"]));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[1]["status"], "aborted");
}

#[test]
fn a_database_password_never_reaches_output_or_the_store() {
    // Local connections use trust authentication, so a planted password is
    // accepted and ignored: it can be followed everywhere agg writes.
    let db = Db::new("secret");
    let planted = "PlantedSecret-7f3a";
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_password(Some(planted)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("f.xml"), rss("s", 3)).unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: s\nagents:\n  f: { kind: file, path: f.xml }\n  bad: { kind: file, path: missing.xml }\n  \
         out: { kind: jsonl, inputs: [f, bad], path: out.jsonl }\n",
    )
    .unwrap();
    let mut seen = String::new();
    for args in [
        vec!["-vv", "run", "p.yaml"],
        vec!["-vv", "runs", "--json"],
        vec!["-vv", "items", "--json"],
        vec!["feeds", "--json"],
    ] {
        let out = agg(tmp.path())
            .args(["--db", url.as_str()])
            .args(&args)
            .output()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    // A wrong host makes agg report the URL: still without the password.
    let mut bad = url.clone();
    bad.set_port(Some(1)).unwrap();
    let out = agg(tmp.path())
        .args(["--db", bad.as_str(), "runs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
    seen.push_str(&err);
    seen.push_str(&std::fs::read_to_string(tmp.path().join("out.jsonl")).unwrap());
    assert!(seen.contains("opening store"), "the log was captured");
    assert!(!seen.contains(planted), "the password leaked:\n{seen}");
    // Nor is it in any table.
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", &db.url])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(!String::from_utf8_lossy(&dump.stdout).contains(planted));
}

#[test]
fn two_workers_fetch_each_due_feed_once() {
    let db = Db::new("workers");
    let feeds: HashMap<String, Route> = (0..20)
        .map(|i| (format!("/f{i}.xml"), Route::Feed(rss(&format!("w{i}"), 3))))
        .collect();
    let server = Server::start(feeds);
    let tmp = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..20).map(|i| server.url(&format!("/f{i}.xml"))).collect();
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!(
            "name: workers\nagents:\n  web: {{ kind: rss, feeds: [{}] }}\n  out: {{ kind: jsonl, inputs: [web], path: out.jsonl }}\n",
            urls.join(", ")
        ),
    )
    .unwrap();
    // Migrate once, then two workers race through one cycle each, twice.
    run_ok(agg(tmp.path()).args(["--db", &db.url, "migrate"]));
    for _ in 0..2 {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                agg(tmp.path())
                    .args(["--db", &db.url, "worker", "p.yaml", "--cycles", "1"])
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut w in workers {
            assert!(w.wait().unwrap().success());
        }
    }
    for i in 0..20 {
        let hits = server.statuses(&format!("/f{i}.xml"));
        assert_eq!(
            hits.len(),
            1,
            "feed {i} fetched {hits:?}: once, by one worker, and not again before it is due"
        );
    }
    assert_eq!(count_pg(tmp.path(), &db), 60);
}
