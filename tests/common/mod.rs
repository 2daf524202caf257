//! Test support: a real HTTP/1.1 server on 127.0.0.1 serving feed files, and
//! helpers to run the `agg` binary.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the server answers one path.
#[derive(Clone)]
pub enum Route {
    /// 200 with an ETag; 304 when the request carries that ETag.
    Feed(Vec<u8>),
    /// Holds the response until [`Server::release`] is called.
    Hang(Vec<u8>),
    Status(u16),
}

/// A threaded HTTP server bound to 127.0.0.1 on a free port. It speaks just
/// enough HTTP/1.1 for feed fetching (GET, ETag, If-None-Match, close).
pub struct Server {
    pub addr: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    released: Arc<AtomicBool>,
    pub hits: Arc<Mutex<Vec<(String, u16)>>>,
    pub active: Arc<AtomicUsize>,
}

impl Server {
    pub fn start(routes: HashMap<String, Route>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let routes = Arc::new(Mutex::new(routes));
        let released = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let active = Arc::new(AtomicUsize::new(0));
        let (r, rel, h, a) = (
            routes.clone(),
            released.clone(),
            hits.clone(),
            active.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (r, rel, h, a) = (r.clone(), rel.clone(), h.clone(), a.clone());
                std::thread::spawn(move || handle(stream, &r, &rel, &h, &a));
            }
        });
        Server {
            addr,
            routes,
            released,
            hits,
            active,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }

    pub fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.into(), route);
    }

    pub fn statuses(&self, path: &str) -> Vec<u16> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| *s)
            .collect()
    }
}

fn etag_of(body: &[u8]) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in body {
        h = (h ^ u64::from(*b)).wrapping_mul(1099511628211);
    }
    format!("\"{h:x}\"")
}

fn handle(
    stream: TcpStream,
    routes: &Mutex<HashMap<String, Route>>,
    released: &AtomicBool,
    hits: &Mutex<Vec<(String, u16)>>,
    active: &AtomicUsize,
) {
    active.fetch_add(1, Ordering::SeqCst);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        active.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let route = routes.lock().unwrap().get(&path).cloned();
    let (status, body, etag) = match route {
        None => (404, b"not found".to_vec(), None),
        Some(Route::Status(s)) => (s, Vec::new(), None),
        Some(Route::Feed(b)) => {
            let tag = etag_of(&b);
            if headers.get("if-none-match") == Some(&tag) {
                (304, Vec::new(), Some(tag))
            } else {
                (200, b, Some(tag))
            }
        }
        Some(Route::Hang(b)) => {
            while !released.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            (200, b, None)
        }
    };
    hits.lock().unwrap().push((path, status));
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/xml\r\n",
        body.len()
    );
    if let Some(t) = etag {
        head.push_str(&format!("ETag: {t}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&body);
    let _ = out.flush();
    let mut sink = [0u8; 64];
    let _ = out.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = out.read(&mut sink);
    active.fetch_sub(1, Ordering::SeqCst);
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn agg(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agg"));
    // The fixtures (pipelines/demo-feeds, the feeds written by tests) are
    // dated 20–26 Nov 2026: saga and digest windows are read as of the
    // morning after, whatever day the tests run (see agg_core::clock).
    c.current_dir(dir)
        .env_remove("AGG_DB")
        .env("NO_COLOR", "1")
        .env("AGG_NOW", "2026-11-26T07:00:00Z");
    c
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Number of stored items, through the CLI.
pub fn count(dir: &Path, db: &Path) -> u64 {
    let out = run_ok(agg(dir).arg("--db").arg(db).args(["items", "--count"]));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Items stored in `dir/agg.db`, as `agg items --json` prints them.
pub fn items(dir: &Path) -> Vec<serde_json::Value> {
    let out = run_ok(
        agg(dir)
            .arg("--db")
            .arg(dir.join("agg.db"))
            .args(["items", "--json"]),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes a pipeline with one `rss` agent over `feeds` (extra options as
/// YAML flow entries, e.g. `", retries: 0"`) feeding a jsonl sink, runs it
/// on `dir/agg.db`, and returns (exit code, stdout + stderr).
pub fn run_rss(dir: &Path, feeds: &[String], extra: &str) -> (Option<i32>, String) {
    let list = feeds
        .iter()
        .map(|f| format!("\"{f}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "name: t\nagents:\n  web: {{ kind: rss, feeds: [{list}]{extra} }}\n  out: {{ kind: jsonl, inputs: [web], path: out.jsonl }}\n"
        ),
    )
    .unwrap();
    // Fetch etiquette (backoff, Retry-After, the adaptive schedule) is
    // about time passing between runs: these runs read the real clock,
    // not the pinned fixture morning every other test reads.
    let out = agg(dir)
        .env_remove("AGG_NOW")
        .arg("--db")
        .arg(dir.join("agg.db"))
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The stored state of feed `url` in `dir/agg.db`, read through the store.
pub fn feed_state(dir: &Path, url: &str) -> agg_core::FeedState {
    let db = dir.join("agg.db").display().to_string();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = agg_store::open(&db).await.unwrap();
        store
            .feed_state(url)
            .await
            .unwrap()
            .expect("feed state saved")
    })
}

/// One HTTP/1.1 request to `agg serve` on 127.0.0.1 (retried until the server
/// listens, for 20 s); returns status, headers (lower-case names) and body,
/// de-chunked.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, HashMap<String, String>, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("server never came up: {e}"),
        }
    };
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if method == "POST" {
        req.push_str(&format!(
            "Content-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
            body.len()
        ));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v: &String| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, headers, body)
}

/// The payload of a `Transfer-Encoding: chunked` body.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A running `agg serve`, killed when dropped (take the child out to stop
/// it another way).
pub struct Served(pub Option<Child>);

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Spawns `cmd` (an `agg … serve … --bind 127.0.0.1:0`: the OS picks the
/// port, so no other program can race for it) and returns it with the port
/// it reports on stderr, which is drained from then on so the server never
/// blocks on a full pipe.
pub fn start_serve(cmd: &mut Command) -> (Served, u16) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening on http://127.0.0.1:")
                .nth(1)
                .map(|p| p.trim().parse::<u16>().unwrap())
        })
        .expect("agg serve reports its address");
    std::thread::spawn(move || for _ in lines {});
    (Served(Some(child)), port)
}

/// Copies a folder recursively (demo pipelines are run from a scratch copy
/// so their outputs never land in the repository). Output folders (`out`)
/// left by a manual run are not copied.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "out" {
            continue;
        }
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A small RSS 2.0 feed with `n` items whose guids start with `prefix`.
pub fn rss(prefix: &str, n: usize) -> Vec<u8> {
    let mut s = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>");
    s.push_str(prefix);
    s.push_str("</title>");
    for i in 0..n {
        s.push_str(&format!(
            "<item><guid>{prefix}-{i}</guid><title>{prefix} story number {i} about things</title>\
             <link>https://example.com/{prefix}/{i}</link><description>Body of {prefix} {i}.</description>\
             <pubDate>Mon, 02 Nov 2026 10:{:02}:00 GMT</pubDate></item>",
            i % 60
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

/// Opens `url` in headless Chromium (tests/fixtures/ui/click.py), clicks
/// `selector` (`-`: none), saves a screenshot as a test artifact and
/// returns the URL the browser ended on.
pub fn browser(url: &str, selector: &str, name: &str) -> String {
    let shot = repo().join(format!("target/test-artifacts/ui-{name}.png"));
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/fixtures/ui/click.py"))
        .arg(url)
        .arg(selector)
        .arg(&shot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "browser on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&shot).unwrap().len();
    assert!(
        size > 5_000,
        "{name}: a rendered page, not a blank one ({size} bytes)"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["after"].as_str().unwrap().to_string()
}

/// Renders `url` at `width` px in headless Chromium
/// (tests/fixtures/ui/measure.py), keeps the screenshot as
/// target/test-artifacts/NAME.png, and returns the page's measurements.
pub fn measure(url: &str, width: u32, name: &str) -> serde_json::Value {
    let shot = repo().join(format!("target/test-artifacts/{name}.png"));
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/fixtures/ui/measure.py"))
        .arg(url)
        .arg(width.to_string())
        .arg(&shot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 5_000,
        "{name}: blank"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
