//! Several `agg worker` processes on PostgreSQL, and the faults they must
//! survive: kill -9 during fetching, scoring, saga assignment and digest
//! sending, a database restart in the middle of a run, and workers racing
//! for the same feeds. Everything is real: the binary, PostgreSQL (the
//! shared server with a fresh database per test, or a private one for the
//! restart), an HTTP server on 127.0.0.1 that answers slowly so that a kill
//! lands mid-phase, the sentence model, an SMTP server (aiosmtpd).
//!
//! When to kill is read from the worker's own JSON log (stderr) or from the
//! HTTP server's request count; production code has no test hooks for it.
//! Each invariant is checked by counting rows (items, scores, sagas,
//! digests) and messages the SMTP server received.
//!
//! `AGG_TEST_RACE_SECS` makes the race longer (default 30 s).

mod common;
#[path = "common/feedserver.rs"]
mod feedserver;
#[path = "common/pgcluster.rs"]
mod pgcluster;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{agg, repo, rss, run_ok};
use feedserver::FeedServer;
use pgcluster::{PgCluster, TestDb as Db, psql};

/// One number from SQL.
fn num(url: &str, sql: &str) -> i64 {
    psql(url, sql)
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A running `agg worker`, its JSON log in a file. Killed when dropped.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(dir: &Path, db: &str, name: &str, env: &[(&str, &str)]) -> Worker {
        let log = dir.join(format!(
            "worker-{name}-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut c = agg(dir);
        c.args(["--db", db, "--log-format", "json", "-v"])
            .args(["worker", "p.yaml", "--interval", "1", "--name", name])
            .env("AGG_MODEL_DIR", model_dir())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        Worker {
            child: c.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "worker ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn model_dir() -> PathBuf {
    std::env::var_os("AGG_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share")
                });
            data.join("agg/models")
        })
}

/// Polls `cond` until it holds; panics with `what` (and the logs) after
/// `secs` seconds.
fn wait_for(secs: u64, what: &str, logs: &[&Worker], mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        if Instant::now() > deadline {
            let tails: Vec<String> = logs
                .iter()
                .map(|w| {
                    let l = w.log();
                    l[l.len().saturating_sub(4000)..].to_string()
                })
                .collect();
            panic!("timed out waiting for {what}\n{}", tails.join("\n----\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` feeds of `per` items each, served at /f{i}.xml.
fn feeds(n: usize, per: usize, tag: &str) -> HashMap<String, Vec<u8>> {
    (0..n)
        .map(|i| (format!("/f{i}.xml"), rss(&format!("{tag}{i}"), per)))
        .collect()
}

fn feed_list(server: &FeedServer, n: usize) -> String {
    (0..n)
        .map(|i| server.url(&format!("/f{i}.xml")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn items(db: &str) -> i64 {
    num(db, "SELECT count(*) FROM items")
}

/// Every item stored once: as many rows as distinct keys and as distinct
/// (feed, guid) pairs, and `per` items for each of `n` feeds.
fn assert_each_item_once(db: &str, n: usize, per: usize) {
    let rows = items(db);
    let keys = num(db, "SELECT count(DISTINCT key) FROM items");
    let guids = num(db, "SELECT count(DISTINCT (feed, guid)) FROM items");
    assert_eq!(rows, (n * per) as i64, "items stored");
    assert_eq!(keys, rows, "an item stored twice under two keys");
    assert_eq!(guids, rows, "an entry stored twice");
    let feeds = num(
        db,
        &format!(
            "SELECT count(*) FROM (SELECT feed FROM items GROUP BY feed HAVING count(*) = {per}) f"
        ),
    );
    assert_eq!(feeds, n as i64, "every feed has all its items");
}

fn write_pipeline(dir: &Path, body: &str) {
    std::fs::write(dir.join("p.yaml"), body).unwrap();
    // Migrated once, before workers race to open the store.
}

#[test]
fn kill_during_fetch_then_restart_stores_every_item_once() {
    let db = Db::new("fetch");
    let (n, per) = (10, 12);
    // 700 ms per request, two at a time: about 4 s of fetching.
    let server = FeedServer::start(feeds(n, per, "fetch"), Duration::from_millis(700));
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(
        tmp.path(),
        &format!(
            "name: fetch\nagents:\n  web: {{ kind: rss, concurrency: 2, feeds: [{}] }}\n  \
             out: {{ kind: jsonl, inputs: [web], path: out.jsonl }}\n",
            feed_list(&server, n)
        ),
    );
    run_ok(agg(tmp.path()).args(["--db", &db.url, "migrate"]));
    let mut w = Worker::start(tmp.path(), &db.url, "w1", &[]);
    // Killed once some feeds are stored and others are still being fetched.
    wait_for(60, "the first stored items", &[&w], || {
        server.requests() >= 3 && items(&db.url) > 0
    });
    w.kill9();
    let stored = items(&db.url);
    assert!(
        stored < (n * per) as i64,
        "the kill landed after fetching ({stored} items)"
    );
    // The claims of the killed worker stay (10 minutes); restarted under its
    // name, it takes them back at once.
    server.set_delay(Duration::ZERO);
    let mut w = Worker::start(tmp.path(), &db.url, "w1", &[]);
    wait_for(60, "every item", &[&w], || {
        items(&db.url) == (n * per) as i64
    });
    // One more cycle: nothing is stored twice.
    let cycles = |w: &Worker| w.log().matches("cycle run").count();
    let seen = cycles(&w);
    wait_for(30, "another cycle", &[&w], || cycles(&w) > seen);
    assert!(w.stop().success());
    assert_each_item_once(&db.url, n, per);
    // Every feed was fetched by the killed worker or its successor, never
    // more than once by the successor (it needed each feed once).
    for (path, hits) in server.per_path() {
        assert!((1..=2).contains(&hits), "{path} fetched {hits} times");
    }
}

/// The real model (scripts/setup-model.sh, which CI runs), as tests/intel.rs
/// requires it: missing, the test fails and says how to install it.
fn require_model() {
    let dir = model_dir();
    assert!(
        dir.join("model.onnx").exists(),
        "the sentence model is missing from {}: run scripts/setup-model.sh",
        dir.display()
    );
}

#[test]
fn kill_during_scoring_and_during_saga_assignment_then_restart_completes_both() {
    require_model();
    let db = Db::new("score");
    let (n, per) = (8, 40);
    let server = FeedServer::start(feeds(n, per, "score"), Duration::from_millis(600));
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(
        tmp.path(),
        &format!(
            "name: score\nagents:\n  web: {{ kind: rss, concurrency: 2, feeds: [{}] }}\n  \
             scored:\n    kind: score\n    inputs: [web]\n    device: cpu\n    \
             interests: {{ like: [\"story about things\"], dislike: [\"celebrity gossip\"] }}\n  \
             sagas: {{ kind: saga, inputs: [scored] }}\n  \
             out: {{ kind: jsonl, inputs: [sagas], path: out.jsonl }}\n",
            feed_list(&server, n)
        ),
    );
    run_ok(agg(tmp.path()).args(["--db", &db.url, "migrate"]));
    let total = (n * per) as i64;
    let scored = || {
        num(
            &db.url,
            "SELECT count(*) FROM items WHERE score IS NOT NULL",
        )
    };
    let assigned = || {
        num(
            &db.url,
            "SELECT count(*) FROM items WHERE saga_id IS NOT NULL",
        )
    };

    // 1. Killed while scoring: the first batch is scored, feeds remain.
    let mut w = Worker::start(tmp.path(), &db.url, "w1", &[]);
    wait_for(120, "the first scored batch", &[&w], || {
        w.log().contains("\"message\":\"embeddings\"")
    });
    w.kill9();
    let (stored, s) = (items(&db.url), scored());
    assert!(s < total, "the kill landed after scoring ({s} scored)");
    assert_eq!(assigned(), 0, "nothing reached the saga engine yet");
    assert!(stored > 0);

    // 2. Restarted: it completes the killed cycle. Killed again as soon as
    // it holds the saga engine (every item is in the saga agent's hands).
    server.set_delay(Duration::ZERO);
    let mut w = Worker::start(tmp.path(), &db.url, "w1", &[]);
    wait_for(120, "the saga engine held", &[&w], || {
        w.log().contains("saga engine held")
    });
    w.kill9();
    let lease_left = num(
        &db.url,
        "SELECT count(*) FROM leases WHERE name = 'saga-engine'",
    );
    eprintln!(
        "after the second kill: {} items, {} scored, {} assigned, engine lease left: {lease_left}",
        items(&db.url),
        scored(),
        assigned()
    );

    // 3. Restarted again: every item stored once, scored and assigned. Had
    // the killed worker's engine lease been kept from it, this would wait
    // the lease's 10 minutes.
    let mut w = Worker::start(tmp.path(), &db.url, "w1", &[]);
    wait_for(120, "every item scored and assigned", &[&w], || {
        items(&db.url) == total && scored() == total && assigned() == total
    });
    assert!(w.stop().success());
    assert_each_item_once(&db.url, n, per);
    assert!(
        w.log().contains("the last cycle did not finish"),
        "the restart completed the killed cycle"
    );
    // Embedded once per item, whatever the kills.
    assert_eq!(num(&db.url, "SELECT count(*) FROM embeddings"), total);
    assert_eq!(
        num(
            &db.url,
            "SELECT count(*) FROM leases WHERE name = 'saga-engine'"
        ),
        0,
        "the engine was given back"
    );
}

/// Starts tests/common/stall_smtpd.py: stores each message, then waits
/// `stall` before saying so.
struct StallSmtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl StallSmtp {
    fn start(dir: &Path, stall: Duration) -> StallSmtp {
        use std::io::BufRead;
        let maildir = dir.join("maildir");
        let mut child = Command::new("python3")
            .arg(repo().join("tests/common/stall_smtpd.py"))
            .arg(&maildir)
            .arg(stall.as_secs_f64().to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("smtpd.log")).unwrap())
            .spawn()
            .expect("python3 is needed for the SMTP test server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the SMTP test server did not start (python3 -m pip install aiosmtpd): {line:?} {}",
                    std::fs::read_to_string(dir.join("smtpd.log")).unwrap_or_default()
                )
            });
        StallSmtp {
            child,
            port,
            maildir,
        }
    }

    fn received(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new")).map_or(0, |d| d.count())
    }
}

impl Drop for StallSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kill_during_digest_sending_then_restart_sends_the_day_once() {
    let db = Db::new("digest");
    let (n, per) = (3, 5);
    let server = FeedServer::start(feeds(n, per, "digest"), Duration::ZERO);
    let tmp = tempfile::tempdir().unwrap();
    // The server has the whole message, then keeps the sender waiting for
    // its "250" far longer than the test waits.
    let smtp = StallSmtp::start(tmp.path(), Duration::from_secs(120));
    write_pipeline(
        tmp.path(),
        &format!(
            "name: digest\ntimezone: Europe/London\nagents:\n  web: {{ kind: rss, feeds: [{}] }}\n  \
             digest:\n    kind: email_digest\n    inputs: [web]\n    to: reader@example.org\n    \
             from: \"agg <agg@example.org>\"\n    public_url: https://agg.example.org\n    \
             smtp: smtp://127.0.0.1:{}\n    attempts: 1\n    timeout_secs: 60\n",
            feed_list(&server, n),
            smtp.port
        ),
    );
    run_ok(agg(tmp.path()).args(["--db", &db.url, "migrate"]));
    let secret = [("AGG_SECRET", "pg-faults-secret-0123456789abcdef")];
    let at = |now: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut v = secret.to_vec();
        v.push(("AGG_DIGEST_NOW", now));
        v
    };
    let mut w = Worker::start(tmp.path(), &db.url, "w1", &at("2026-11-26T07:00:00Z"));
    wait_for(60, "the message at the SMTP server", &[&w], || {
        smtp.received() == 1
    });
    w.kill9();
    let status = || psql(&db.url, "SELECT string_agg(status, ',') FROM digests");
    assert_eq!(status(), "pending", "killed before the server said 250");

    // Restarted five minutes later the same day (the digest's clock): the
    // mail may have arrived, so the day is closed, not sent again. Two
    // workers now, so that the other one is tempted too.
    let mut w1 = Worker::start(tmp.path(), &db.url, "w1", &at("2026-11-26T07:05:00Z"));
    let mut w2 = Worker::start(tmp.path(), &db.url, "w2", &at("2026-11-26T07:05:00Z"));
    wait_for(60, "the day closed", &[&w1, &w2], || {
        status() == "interrupted"
    });
    let cycles = |w: &Worker| w.log().matches("cycle run").count();
    let (c1, c2) = (cycles(&w1), cycles(&w2));
    wait_for(60, "two more cycles each", &[&w1, &w2], || {
        cycles(&w1) >= c1 + 2 && cycles(&w2) >= c2 + 2
    });
    assert!(w1.stop().success());
    assert!(w2.stop().success());
    assert_eq!(smtp.received(), 1, "the day's digest arrived once");
    assert_eq!(num(&db.url, "SELECT count(*) FROM digests"), 1);
    assert_each_item_once(&db.url, n, per);
}

#[test]
fn postgres_restart_mid_run_workers_reconnect_and_finish() {
    let pg = PgCluster::start();
    let db = pg.create_db("agg");
    let (n, per) = (12, 10);
    let server = FeedServer::start(feeds(n, per, "restart"), Duration::from_millis(500));
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(
        tmp.path(),
        &format!(
            "name: restart\nagents:\n  web: {{ kind: rss, concurrency: 2, retries: 0, feeds: [{}] }}\n  \
             sagas: {{ kind: saga, inputs: [web] }}\n  \
             out: {{ kind: jsonl, inputs: [sagas], path: out.jsonl }}\n",
            feed_list(&server, n)
        ),
    );
    run_ok(agg(tmp.path()).args(["--db", &db, "migrate"]));
    let mut w1 = Worker::start(tmp.path(), &db, "w1", &[]);
    let mut w2 = Worker::start(tmp.path(), &db, "w2", &[]);
    wait_for(60, "the first stored items", &[&w1, &w2], || items(&db) > 0);
    let before = items(&db);
    pg.restart();
    assert!(
        before < (n * per) as i64,
        "the restart came after the fetching"
    );
    server.set_delay(Duration::ZERO);
    let total = (n * per) as i64;
    let assigned = || num(&db, "SELECT count(*) FROM items WHERE saga_id IS NOT NULL");
    wait_for(90, "every item stored and assigned", &[&w1, &w2], || {
        items(&db) == total && assigned() == total
    });
    assert!(w1.alive() && w2.alive(), "a worker died with the database");
    let errors = w1.log() + &w2.log();
    assert!(
        errors.contains("ERROR") || errors.contains("\"error\""),
        "the restart was felt by a worker"
    );
    assert!(w1.stop().success());
    assert!(w2.stop().success());
    assert_each_item_once(&db, n, per);
    assert_eq!(
        num(
            &db,
            "SELECT count(*) FROM leases WHERE name = 'saga-engine'"
        ),
        0
    );
}

#[test]
fn workers_racing_for_the_same_feeds_fetch_each_once_per_cycle() {
    let secs: u64 = std::env::var("AGG_TEST_RACE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let db = Db::new("race");
    let (n, per) = (30, 3);
    let server = FeedServer::start(feeds(n, per, "race"), Duration::from_millis(50));
    let tmp = tempfile::tempdir().unwrap();
    // Every feed is due every 3 s: ten cycles or more in 30 s.
    let period = 3.0;
    write_pipeline(
        tmp.path(),
        &format!(
            "name: race\nagents:\n  web: {{ kind: rss, concurrency: 2, min_interval: 3s, max_interval: 3s, feeds: [{}] }}\n  \
             out: {{ kind: jsonl, inputs: [web], path: out.jsonl }}\n",
            feed_list(&server, n)
        ),
    );
    run_ok(agg(tmp.path()).args(["--db", &db.url, "migrate"]));
    // Feeds fall due as real time passes: the workers read the real clock
    // (an empty AGG_NOW unpins it), not the fixture morning.
    let mut workers: Vec<Worker> = (1..=3)
        .map(|i| Worker::start(tmp.path(), &db.url, &format!("w{i}"), &[("AGG_NOW", "")]))
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    for w in &mut workers {
        assert!(w.stop().success());
    }
    let mut min_hits = usize::MAX;
    for i in 0..n {
        let times = server.times(&format!("/f{i}.xml"));
        min_hits = min_hits.min(times.len());
        // Two fetches of one feed within one due period would be two
        // workers fetching it in the same cycle.
        for pair in times.windows(2) {
            let gap = pair[1].duration_since(pair[0]).as_secs_f64();
            assert!(
                gap >= period - 0.5,
                "feed {i} fetched twice {gap:.2} s apart (due every {period} s)"
            );
        }
    }
    let cycles = (secs as f64 / period) as usize;
    assert!(
        min_hits >= cycles / 2,
        "each feed fetched in most cycles ({min_hits} of about {cycles})"
    );
    // The work was shared: every worker claimed some feeds.
    for w in &workers {
        let log = w.log();
        assert!(
            log.lines()
                .filter(|l| l.contains("feeds claimed"))
                .any(|l| !l.contains("\"claimed\":0")),
            "a worker never claimed a feed:\n{}",
            &log[..log.len().min(2000)]
        );
    }
    assert_each_item_once(&db.url, n, per);
    eprintln!(
        "race: {secs} s, 3 workers, {n} feeds due every {period} s: {} requests, fewest per feed {min_hits}",
        server.requests()
    );
}
