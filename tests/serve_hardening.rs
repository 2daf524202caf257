//! `agg serve` against hostile clients (issue 20, items 3 and 9), with the
//! real binary on 127.0.0.1:
//! - DNS rebinding: a page on `attacker.example` whose name is re-pointed
//!   at 127.0.0.1 talks to agg with `Host: attacker.example` (and a
//!   matching `Origin`, so the cross-site check passes). Such a request is
//!   refused (421) before any handler runs; the names agg is reached by
//!   (the bind address, loopback names, the `--public-url` host) work.
//! - Slow clients: connections that trickle their headers and never finish
//!   them are closed by the header-read timeout, and the server never holds
//!   more connections than its cap.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

const SECRET: &str = "test-secret-for-feedback-links";

/// A pipeline with one stored item (so the items page and feedback have
/// something to act on).
fn setup(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("news.xml"), rss("hard", 2)).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "name: hard\nagents:\n  news: { kind: file, path: news.xml }\n  out: { kind: jsonl, inputs: [news], path: out.jsonl }\n",
    )
    .unwrap();
    let db = dir.join("agg.db");
    run_ok(agg(dir).arg("--db").arg(&db).args(["run", "p.yaml"]));
    db
}

fn serve(dir: &Path, db: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Served, u16) {
    let mut c = agg(dir);
    c.env("AGG_SECRET", SECRET).env_remove("AGG_UI_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("--db")
        .arg(db)
        .args(["serve", "p.yaml", "--bind", "127.0.0.1:0"])
        .args(extra);
    start_serve(&mut c)
}

/// One raw HTTP/1.1 request with exactly the `Host` given (and `extra`
/// header lines); returns the status code.
fn raw(port: u16, method: &str, path: &str, host: &str, extra: &[(&str, &str)], body: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("server never came up: {e}"),
        }
    };
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if method == "POST" {
        req.push_str(&format!(
            "Content-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
            body.len()
        ));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {out:?}"))
}

fn feedback_rows(db: &Path) -> usize {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = agg_store::open(db.to_str().unwrap()).await.unwrap();
        store.list_feedback().await.unwrap().len()
    })
}

#[test]
fn a_rebinding_host_is_refused_and_real_names_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = setup(dir);
    let (_served, port) = serve(
        dir,
        &db,
        &["--public-url", "https://news.example.org/"],
        &[],
    );

    // The names agg is reached by.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "news.example.org".to_string(),
        "news.example.org:443".to_string(),
    ] {
        assert_eq!(
            raw(port, "GET", "/", &host, &[], ""),
            200,
            "GET / as {host}"
        );
        assert_eq!(
            raw(port, "GET", "/feed.xml", &host, &[], ""),
            200,
            "feed as {host}"
        );
    }
    // A feedback link through the public URL reaches its handler (a bad
    // token is that handler's 4xx, not the host check's 421).
    let s = raw(port, "GET", "/f/not-a-token", "news.example.org", &[], "");
    assert!(
        s != 421 && (400..500).contains(&s),
        "/f/ via the public URL: {s}"
    );

    // The rebinding attacker: its own name, a matching Origin.
    let evil = format!("attacker.example:{port}");
    let origin = format!("http://attacker.example:{port}");
    let before = feedback_rows(&db);
    assert_eq!(raw(port, "GET", "/", &evil, &[], ""), 421, "items page");
    assert_eq!(raw(port, "GET", "/feed.xml", &evil, &[], ""), 421, "feed");
    assert_eq!(raw(port, "GET", "/healthz", &evil, &[], ""), 421, "healthz");
    assert_eq!(
        raw(
            port,
            "POST",
            "/ui/items/1/dislike",
            &evil,
            &[("Origin", &origin)],
            ""
        ),
        421,
        "feedback"
    );
    assert_eq!(
        raw(
            port,
            "POST",
            "/ui/add",
            &evil,
            &[("Origin", &origin)],
            "url=http%3A%2F%2F127.0.0.1%3A9%2F"
        ),
        421,
        "add a URL"
    );
    // An address that is not this server's (bound to 127.0.0.1) is no name
    // of it either.
    assert_eq!(
        raw(port, "GET", "/", &format!("10.1.2.3:{port}"), &[], ""),
        421
    );
    assert_eq!(feedback_rows(&db), before, "no feedback was written");
    // The same POST with a real name goes through.
    let origin = format!("http://127.0.0.1:{port}");
    let s = raw(
        port,
        "POST",
        "/ui/items/1/dislike",
        &format!("127.0.0.1:{port}"),
        &[("Origin", &origin)],
        "",
    );
    assert!((200..400).contains(&s), "feedback as 127.0.0.1: {s}");
    assert_eq!(feedback_rows(&db), before + 1);
}

/// Sockets the process `pid` has open (its TCP connections and listener).
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn slow_header_connections_are_closed_and_capped() {
    const CAP: usize = 8;
    const SLOW: usize = 40;
    // A slow client that is never cut off would keep its thread here for
    // ever: past this, the test fails.
    const BOUND: Duration = Duration::from_secs(90);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = setup(dir);
    let cap = CAP.to_string();
    let (served, port) = serve(
        dir,
        &db,
        &[],
        &[
            ("AGG_HTTP_HEADER_TIMEOUT_SECS", "2"),
            ("AGG_HTTP_MAX_CONNECTIONS", cap.as_str()),
        ],
    );
    let pid = served.0.as_ref().unwrap().id();
    assert_eq!(
        raw(
            port,
            "GET",
            "/healthz",
            &format!("127.0.0.1:{port}"),
            &[],
            ""
        ),
        200
    );
    let baseline = sockets(pid);

    let closed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for i in 0..SLOW {
        let (closed, stop) = (closed.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let _ = s.write_all(
                format!("GET /?slow={i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n").as_bytes(),
            );
            let mut buf = [0u8; 256];
            while !stop.load(Ordering::SeqCst) {
                // One more header line now and then; never the blank line.
                if s.write_all(b"X-Slow: 1\r\n").is_err() {
                    break;
                }
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            if !stop.load(Ordering::SeqCst) {
                closed.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let start = Instant::now();
    let mut most = 0;
    while closed.load(Ordering::SeqCst) < SLOW && start.elapsed() < BOUND {
        most = most.max(sockets(pid).saturating_sub(baseline));
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let n = closed.load(Ordering::SeqCst);
    assert_eq!(n, SLOW, "slow connections the server closed (of {SLOW})");
    assert!(most <= CAP, "connections held at once: {most} (cap {CAP})");
    // The server still answers.
    assert_eq!(
        raw(
            port,
            "GET",
            "/healthz",
            &format!("127.0.0.1:{port}"),
            &[],
            ""
        ),
        200
    );
}
