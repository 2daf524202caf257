//! `agg serve` end to end: two servers on one database run a pipeline once;
//! saga feeds are valid for a real feed parser (Python feedparser) and honour
//! ETag / 304; SIGTERM stops cleanly.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const SECRET: &str = "test-secret-for-feedback-links";

/// Starts `agg serve` on a port the OS picks (no race with other programs
/// grabbing a port we chose) and returns it with the port it reports.
fn serve(dir: &Path, db: &Path, pipeline: &str, now: bool, env: &[(&str, &str)]) -> (Served, u16) {
    let mut c = agg(dir);
    c.env("AGG_SECRET", SECRET);
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("--db")
        .arg(db)
        .args(["serve", pipeline, "--bind", "127.0.0.1:0"]);
    if now {
        c.arg("--run-now");
    }
    start_serve(&mut c)
}

/// A minimal HTTP GET: status, headers (lower-cased names), body.
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, HashMap<String, String>, String) {
    request(port, "GET", path, headers)
}

fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>, String) {
    http_request(port, method, path, headers, "")
}

fn terminate(mut served: Served) -> Option<i32> {
    let mut child = served.0.take().unwrap();
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "agg serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_servers_one_run() {
    let server = Server::start(HashMap::from([(
        "/slow.xml".to_string(),
        Route::Hang(rss("slow", 5)),
    )]));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!(
            "name: once\nschedule: \"0 7 * * *\"\nagents:\n  web: {{ kind: rss, feeds: [{}] }}\n  \
             out: {{ kind: jsonl, inputs: [web], path: out.jsonl }}\n",
            server.url("/slow.xml")
        ),
    )
    .unwrap();
    let db = tmp.path().join("agg.db");
    // Create the database first so both servers open a migrated store.
    run_ok(agg(tmp.path()).arg("--db").arg(&db).args(["runs"]));
    let (a, _) = serve(tmp.path(), &db, "p.yaml", true, &[]);
    let (b, _) = serve(tmp.path(), &db, "p.yaml", true, &[]);
    // Both start a run "now"; the first holds the lease while its fetch hangs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.active.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no fetch started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    server.release();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tmp.path().join("out.jsonl").exists() {
        assert!(Instant::now() < deadline, "the run never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM: both stop cleanly.
    assert_eq!(terminate(a), Some(0));
    assert_eq!(terminate(b), Some(0));
    assert_eq!(server.statuses("/slow.xml").len(), 1, "one fetch: one run");
    let out = run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["runs", "--json"]),
    );
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["status"], "ok");
}

fn feedparser(body: &str) -> serde_json::Value {
    let script = "import sys, json, feedparser\nd = feedparser.parse(sys.stdin.read())\n\
                  print(json.dumps({'bozo': d.bozo, 'version': d.version, 'n': len(d.entries), \
                  'ids': [e.get('id') for e in d.entries], 'titles': [e.get('title') for e in d.entries]}))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "feedparser (pip install feedparser): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A store with the demo sport feed (and the world feed, with `world`)
/// grouped into sagas, and the pipeline `p.yaml` that made it (with a daily
/// schedule, for `agg serve`).
fn saga_fixture(name: &str, world: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(
        &repo().join("pipelines/demo-feeds"),
        &tmp.path().join("demo-feeds"),
    );
    let (extra, input) = if world {
        (
            "  world: { kind: file, path: demo-feeds/world.atom }\n  all: { kind: dedupe, inputs: [sport, world] }\n",
            "all",
        )
    } else {
        ("", "sport")
    };
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!(
            "name: {name}\nschedule: \"0 7 * * *\"\nagents:\n  sport: {{ kind: file, path: demo-feeds/sport.json }}\n{extra}  \
             sagas: {{ kind: saga, inputs: [{input}] }}\n  out: {{ kind: jsonl, inputs: [sagas], path: out.jsonl }}\n"
        ),
    )
    .unwrap();
    let db = tmp.path().join("agg.db");
    run_ok(agg(tmp.path()).arg("--db").arg(&db).args(["run", "p.yaml"]));
    (tmp, db)
}

#[test]
fn saga_feeds_are_valid_and_cacheable() {
    let (tmp, db) = saga_fixture("sagas", true);
    let out = run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["sagas", "list", "--json"]),
    );
    let sagas: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let f1 = sagas
        .iter()
        .find(|s| s["items"] == 3 && s["title"].as_str().unwrap().contains("Grand Prix"))
        .unwrap();
    let id = f1["id"].as_u64().unwrap();

    let (srv, port) = serve(tmp.path(), &db, "p.yaml", false, &[]);
    assert_eq!(get(port, "/healthz", &[]).0, 200);

    let (status, headers, body) = get(port, "/sagas.xml", &[]);
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("application/rss+xml"));
    let parsed = feedparser(&body);
    assert_eq!(parsed["bozo"], false, "{parsed}");
    assert_eq!(parsed["version"], "rss20");
    assert_eq!(
        parsed["n"], 11,
        "every item of the two feeds is in some saga"
    );
    let etag = headers["etag"].clone();
    let (status, _, body304) = get(port, "/sagas.xml", &[("If-None-Match", &etag)]);
    assert_eq!((status, body304.as_str()), (304, ""));
    let (status, _, _) = get(
        port,
        "/sagas.xml",
        &[("If-Modified-Since", &headers["last-modified"])],
    );
    assert_eq!(status, 304);

    for path in [
        format!("/sagas/{id}.xml"),
        format!("/sagas/{id}.atom"),
        format!("/sagas/{id}.xml?format=atom"),
    ] {
        let (status, _, body) = get(port, &path, &[]);
        assert_eq!(status, 200, "{path}");
        let parsed = feedparser(&body);
        assert_eq!(parsed["bozo"], false, "{path}: {parsed}");
        assert_eq!(parsed["n"], 3, "{path}");
        let ids = parsed["ids"].as_array().unwrap();
        assert_eq!(
            ids.iter().collect::<std::collections::HashSet<_>>().len(),
            3,
            "unique ids"
        );
        if path.contains("atom") {
            assert_eq!(parsed["version"], "atom10", "{path}");
        }
    }
    // Stable ids: the same entry has the same id in both feeds.
    let a = feedparser(&get(port, &format!("/sagas/{id}.xml"), &[]).2);
    let b = feedparser(&get(port, "/sagas.xml", &[]).2);
    assert!(
        a["ids"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| b["ids"].as_array().unwrap().contains(i))
    );
    assert_eq!(get(port, "/sagas/99999.xml", &[]).0, 404);
    assert_eq!(get(port, "/sagas/nope.xml", &[]).0, 404);
    let (status, _, metrics) = get(port, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(metrics.contains("agg_items_stored 11"), "{metrics}");
    assert!(metrics.contains("agg_runs{status=\"ok\"} 1"), "{metrics}");
    assert_eq!(terminate(srv), Some(0));
}

#[test]
fn schedule_prints_next_runs_in_local_time() {
    let out = run_ok(agg(&repo()).args(["schedule", "pipelines/morning.yaml", "--count", "3"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("morning: `0 7 * * *` in Europe/London"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("07:00 GMT") || l.contains("07:00 BST"))
            .count(),
        3,
        "{text}"
    );
}

fn feedback_rows(db: &Path) -> Vec<agg_core::FeedbackRow> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = agg_store::open(db.to_str().unwrap()).await.unwrap();
        store.list_feedback().await.unwrap()
    })
}

#[test]
fn feedback_links_need_a_post_and_a_valid_token() {
    use agg_digest::token::{Action, Signer, Token};
    let (tmp, db) = saga_fixture("fb", false);
    let out = run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["items", "--json"]),
    );
    let item: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let (item_id, saga_id) = (
        item["id"].as_i64().unwrap(),
        item["saga"]["id"].as_i64().unwrap(),
    );

    let signer = Signer::new(SECRET.as_bytes().to_vec());
    let later = chrono::Utc::now().timestamp() + 3600;
    let like = signer.sign(&Token {
        action: Action::Like,
        target: item_id,
        expires: later,
    });
    let (srv, port) = serve(tmp.path(), &db, "p.yaml", false, &[]);

    // A GET (a mail scanner's prefetch) shows a confirmation and records nothing.
    let (status, _, body) = get(port, &format!("/f/{like}"), &[]);
    assert_eq!(status, 200);
    assert!(
        body.contains("method=\"post\"") && body.contains("👍"),
        "{body}"
    );
    assert!(feedback_rows(&db).is_empty());
    // The POST records it; a replay changes nothing more.
    let (status, _, body) = request(port, "POST", &format!("/f/{like}"), &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Recorded"));
    let (_, _, body) = request(port, "POST", &format!("/f/{like}"), &[]);
    assert!(body.contains("Already recorded"), "{body}");
    let rows = feedback_rows(&db);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].item_id, rows[0].kind.as_str(), rows[0].via.as_str()),
        (item_id, "like", "email")
    );

    // Forged, altered, expired and foreign-key tokens are refused.
    let other = Signer::new(b"someone else".to_vec()).sign(&Token {
        action: Action::Like,
        target: item_id,
        expires: later,
    });
    let expired = signer.sign(&Token {
        action: Action::Like,
        target: item_id,
        expires: 1,
    });
    let mut altered = like.clone();
    let flip = if altered.ends_with('A') { "B" } else { "A" };
    altered.replace_range(altered.len() - 1.., flip);
    for bad in [other, expired, altered, "garbage".to_string()] {
        let (status, _, _) = request(port, "POST", &format!("/f/{bad}"), &[]);
        assert_eq!(status, 403, "{bad}");
    }
    assert_eq!(feedback_rows(&db).len(), 1);

    // Follow: the saga is followed afterwards.
    let follow = signer.sign(&Token {
        action: Action::Follow,
        target: saga_id,
        expires: later,
    });
    assert_eq!(request(port, "POST", &format!("/f/{follow}"), &[]).0, 200);
    assert_eq!(terminate(srv), Some(0));
    let out =
        run_ok(
            agg(tmp.path())
                .arg("--db")
                .arg(&db)
                .args(["sagas", "show", &saga_id.to_string()]),
        );
    assert!(String::from_utf8(out.stdout).unwrap().contains("followed"));
}

#[test]
fn sagas_export_writes_the_same_feeds_as_static_files() {
    let (tmp, db) = saga_fixture("ex", false);
    let site = tmp.path().join("site");
    run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["sagas", "export", "--dir"])
            .arg(&site),
    );
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("Grand Prix"), "{index}");
    let all = feedparser(&std::fs::read_to_string(site.join("sagas.xml")).unwrap());
    assert_eq!(
        (all["bozo"].clone(), all["n"].clone()),
        (serde_json::json!(false), serde_json::json!(5))
    );
    let sagas: Vec<_> = std::fs::read_dir(site.join("sagas"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        sagas
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "atom"))
    );
    for p in sagas {
        let parsed = feedparser(&std::fs::read_to_string(&p).unwrap());
        assert_eq!(parsed["bozo"], false, "{}", p.display());
    }
}

#[test]
fn web_ui_needs_its_token_and_a_browser_click_records_feedback() {
    let (tmp, db) = saga_fixture("ui", false);
    let (srv, port) = serve(
        tmp.path(),
        &db,
        "p.yaml",
        false,
        &[("AGG_UI_TOKEN", "letmein")],
    );

    assert_eq!(get(port, "/", &[]).0, 401, "the UI needs its token");
    assert_eq!(request(port, "POST", "/ui/items/1/like", &[]).0, 401);
    assert_eq!(get(port, "/sagas.xml", &[]).0, 200, "feeds stay public");
    let (status, headers, body) = get(port, "/?token=letmein", &[]);
    assert_eq!(status, 200);
    assert!(headers["set-cookie"].contains("HttpOnly"));
    assert!(
        body.contains("Abu Dhabi preview") && body.contains("👍"),
        "{body}"
    );
    for page in [
        "/ui/sagas",
        "/ui/runs",
        "/ui/feeds",
        "/ui/pipelines",
        "/?q=marathon",
    ] {
        let (status, _, body) = get(port, page, &[("Cookie", "agg_token=letmein")]);
        assert_eq!(status, 200, "{page}");
        assert!(body.contains("<nav>"), "{page}");
    }
    let (_, _, found) = get(port, "/?q=marathon", &[("Cookie", "agg_token=letmein")]);
    assert!(
        found.contains("City marathon") && !found.contains("Abu Dhabi"),
        "{found}"
    );
    let (_, _, pipes) = get(port, "/ui/pipelines", &[("Cookie", "agg_token=letmein")]);
    assert!(
        pipes.contains("sagas (transform saga) &lt;- sport")
            || pipes.contains("sagas (transform saga) <- sport"),
        "{pipes}"
    );

    // A real browser: open the page, click 👍 on the first item.
    assert!(feedback_rows(&db).is_empty());
    browser(
        &format!("http://127.0.0.1:{port}/?token=letmein"),
        "button[name=like]",
        "items",
    );
    let shot = repo().join("target/test-artifacts/ui-items.png");
    let rows = feedback_rows(&db);
    assert_eq!(rows.len(), 1, "the click recorded one like");
    assert_eq!(
        (rows[0].kind.as_str(), rows[0].via.as_str()),
        ("like", "web")
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.len() > 10_000,
        "a real page, not a blank screenshot ({} bytes)",
        png.len()
    );
    let (_, _, after) = get(port, "/", &[("Cookie", "agg_token=letmein")]);
    assert!(after.contains("you said: like"));
    // Screenshots of the main pages, kept as test artifacts.
    for (page, name) in [
        ("/ui/sagas", "sagas"),
        ("/ui/sagas/1", "saga"),
        ("/ui/runs", "runs"),
        ("/ui/feeds", "feeds"),
        ("/ui/pipelines", "pipelines"),
    ] {
        // `browser` checks that the page rendered (not a blank shot).
        browser(
            &format!("http://127.0.0.1:{port}{page}?token=letmein"),
            "-",
            name,
        );
    }
    drop(srv);
}

#[test]
fn newsboat_reads_the_served_saga_feeds() {
    let (tmp, db) = saga_fixture("nb", true);
    let (srv, port) = serve(tmp.path(), &db, "p.yaml", false, &[]);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("urls"),
        format!("http://127.0.0.1:{port}/sagas.xml\nhttp://127.0.0.1:{port}/sagas.atom\n"),
    )
    .unwrap();
    std::fs::write(home.join("config"), "").unwrap();
    let newsboat = |args: &[&str]| {
        std::process::Command::new("newsboat")
            .env("HOME", &home)
            .arg("-u")
            .arg(home.join("urls"))
            .arg("-c")
            .arg(home.join("cache.db"))
            .arg("-C")
            .arg(home.join("config"))
            .args(args)
            .output()
            .expect("newsboat (apt-get install -y newsboat)")
    };
    let reload = newsboat(&["-x", "reload"]);
    assert!(
        reload.status.success(),
        "{}",
        String::from_utf8_lossy(&reload.stderr)
    );
    let unread = newsboat(&["-x", "print-unread"]);
    let text = String::from_utf8_lossy(&unread.stdout).to_string();
    // 11 items, in both the RSS and the Atom feed: each entry has the same id
    // in both formats, so newsboat counts it once.
    assert!(text.starts_with("11 unread"), "{text}");
    // A second reload finds nothing new (stable ids).
    newsboat(&["-x", "reload"]);
    let again = String::from_utf8_lossy(&newsboat(&["-x", "print-unread"]).stdout).to_string();
    assert!(again.starts_with("11 unread"), "{again}");
    assert_eq!(terminate(srv), Some(0));
}

/// Issue 16: a merge is shown where the saga is read — what came in, when,
/// whether agg or the reader made it — and undone there with one POST.
#[test]
fn a_merge_is_shown_on_the_saga_page_and_undone_there() {
    let (tmp, db) = saga_fixture("merges", true);
    let list = |dir: &Path| -> Vec<serde_json::Value> {
        let out = run_ok(
            agg(dir)
                .arg("--db")
                .arg(&db)
                .args(["sagas", "list", "--json"]),
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let sagas = list(tmp.path());
    assert!(sagas.len() >= 2, "{sagas:?}");
    let (into, from) = (
        sagas[0]["id"].as_u64().unwrap(),
        sagas[1]["id"].as_u64().unwrap(),
    );
    let from_title = sagas[1]["title"].as_str().unwrap().to_string();
    run_ok(agg(tmp.path()).arg("--db").arg(&db).args([
        "sagas",
        "merge",
        &into.to_string(),
        &from.to_string(),
    ]));

    let (srv, port) = serve(tmp.path(), &db, "p.yaml", false, &[]);
    let (status, _, page) = get(port, &format!("/ui/sagas/{into}"), &[]);
    assert_eq!(status, 200);
    let page = page
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    assert!(page.contains("Merged into this story"), "{page}");
    assert!(page.contains(&from_title), "{page}");
    assert!(page.contains("by you"), "{page}");
    let (_, _, list_page) = get(port, "/ui/sagas", &[]);
    assert!(list_page.contains("merged with 1 other"), "{list_page}");

    // Undo: the items that came in are a saga again, and the page says
    // nothing of the merge any more.
    let (status, headers, _) = request(
        port,
        "POST",
        &format!("/ui/sagas/{into}/unmerge/{from}"),
        &[],
    );
    assert_eq!(status, 303);
    let new = headers["location"]
        .trim_start_matches("/ui/sagas/")
        .to_string();
    assert_ne!(new, into.to_string());
    let (_, _, page) = get(port, &format!("/ui/sagas/{into}"), &[]);
    assert!(!page.contains("Merged into this story"), "{page}");
    let (status, _, page) = get(port, &format!("/ui/sagas/{new}"), &[]);
    assert_eq!(status, 200);
    assert!(page.contains("<table class=\"timeline\">"), "{page}");
    assert_eq!(terminate(srv), Some(0));
    assert_eq!(list(tmp.path()).len(), sagas.len(), "every saga back");
}
