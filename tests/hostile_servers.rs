//! Hostile servers, end to end: the real binary against servers on
//! 127.0.0.1 that misbehave on purpose — a slow drip, an endless body, a gzip
//! bomb, a Content-Length that lies both ways, a redirect chain longer than
//! the cap, redirects into private networks (the SSRF guard), and a TLS
//! failure. Each must end as an error on that feed alone, with a message that
//! says what to do, within the configured limits, while a healthy feed in the
//! same run is stored. (A redirect loop, an HTML page served as a feed, a
//! body over the cap and a slow response are in `fetch_etiquette.rs`.)

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{agg, feed_state, rss, run_rss};

/// A raw TCP server on 127.0.0.1: it reads the request head and hands the
/// stream and the path to `behave`, which writes whatever it likes, however
/// slowly — what a well-behaved test server cannot do.
struct RawServer {
    port: u16,
}

impl RawServer {
    fn start(behave: impl Fn(&str, TcpStream, u16) + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let behave = Arc::new(behave);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let behave = behave.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let head = read_head(&mut stream);
                    let _ = stream.set_read_timeout(None);
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    behave(&path, stream, port);
                });
            }
        });
        RawServer { port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Reads up to the blank line ending a request head (or whatever arrives:
/// a TLS ClientHello has none).
fn read_head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn head(s: &mut TcpStream, status: &str, headers: &[(&str, String)]) {
    let mut h = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    let _ = s.write_all(h.as_bytes());
}

/// 32 MiB of zeros, gzipped: about 32 KiB on the wire.
fn gzip_bomb() -> Vec<u8> {
    use flate2::{Compression, write::GzEncoder};
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

fn hostile(path: &str, mut s: TcpStream, port: u16, bomb: &[u8]) {
    let feed = rss("good", 3);
    match path {
        "/good.xml" => {
            head(
                &mut s,
                "200 OK",
                &[("Content-Length", feed.len().to_string())],
            );
            let _ = s.write_all(&feed);
        }
        // One byte a second: each read succeeds, the whole never ends.
        "/drip.xml" => {
            head(
                &mut s,
                "200 OK",
                &[("Content-Length", feed.len().to_string())],
            );
            for b in &feed {
                if s.write_all(&[*b]).and_then(|()| s.flush()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // Chunked, no length, never ends: only the byte cap stops it.
        "/endless.xml" => {
            head(&mut s, "200 OK", &[("Transfer-Encoding", "chunked".into())]);
            let open = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>";
            let _ = s.write_all(format!("{:x}\r\n{open}\r\n", open.len()).as_bytes());
            let chunk = "<item><title>again</title></item>".repeat(1000);
            let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
            while s.write_all(framed.as_bytes()).is_ok() {}
        }
        "/bomb.xml" => {
            head(
                &mut s,
                "200 OK",
                &[
                    ("Content-Encoding", "gzip".into()),
                    ("Content-Type", "application/rss+xml".into()),
                    ("Content-Length", bomb.len().to_string()),
                ],
            );
            let _ = s.write_all(bomb);
        }
        // Announces far more than it sends, then hangs up.
        "/long-cl.xml" => {
            head(&mut s, "200 OK", &[("Content-Length", "100000".into())]);
            let _ = s.write_all(&feed[..feed.len() / 2]);
        }
        // Announces less than it sends: the client reads what was announced.
        "/short-cl.xml" => {
            head(&mut s, "200 OK", &[("Content-Length", "60".into())]);
            let _ = s.write_all(&feed);
        }
        p if p.starts_with("/hop/") => {
            let n: u32 = p[5..].parse().unwrap_or(0);
            head(
                &mut s,
                "302 Found",
                &[("Location", format!("/hop/{}", n + 1))],
            );
        }
        "/to-metadata.xml" => head(
            &mut s,
            "302 Found",
            &[(
                "Location",
                "http://169.254.169.254/latest/meta-data/".into(),
            )],
        ),
        "/to-private.xml" => head(
            &mut s,
            "301 Moved Permanently",
            &[("Location", "http://10.0.0.1/feed.xml".into())],
        ),
        "/to-mapped.xml" => head(
            &mut s,
            "302 Found",
            &[("Location", "http://[::ffff:192.168.1.1]/".into())],
        ),
        // Another host name for this very server: only the name differs.
        "/to-localhost.xml" => head(
            &mut s,
            "302 Found",
            &[("Location", format!("http://localhost:{port}/good.xml"))],
        ),
        _ => {
            // A TLS ClientHello (or anything else) gets plain HTTP back.
            head(&mut s, "400 Bad Request", &[("Content-Length", "0".into())]);
        }
    }
}

fn stored_feeds(dir: &Path) -> Vec<String> {
    let out = agg(dir)
        .arg("--db")
        .arg(dir.join("agg.db"))
        .args(["items", "--json"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["feed"].to_string())
        .collect()
}

/// The table: every hostile server in one run, each failing alone with an
/// actionable message, the run bounded by the timeout, the good feed stored.
#[test]
fn each_hostile_server_fails_alone_within_its_limits() {
    let bomb = gzip_bomb();
    assert!(bomb.len() < 100_000, "the bomb is small on the wire");
    let s = RawServer::start(move |p, st, port| hostile(p, st, port, &bomb));
    let tls = format!("https://127.0.0.1:{}/tls.xml", s.port);
    let table: Vec<(String, &[&str])> = vec![
        (s.url("/drip.xml"), &["timed out (timeout_secs)"]),
        (
            s.url("/endless.xml"),
            &["limit of 1000000 bytes (max_bytes)"],
        ),
        (s.url("/bomb.xml"), &["limit of 1000000 bytes (max_bytes)"]),
        (
            s.url("/long-cl.xml"),
            &["closed the connection after", "before the end of the body"],
        ),
        (
            s.url("/short-cl.xml"),
            &["not a feed", "before end of input"],
        ),
        (s.url("/hop/0"), &["too many redirects", "(max_redirects)"]),
        (
            s.url("/to-metadata.xml"),
            &[
                "refused to fetch http://169.254.169.254/latest/meta-data/",
                "cloud metadata service",
                "allow_private",
            ],
        ),
        (
            s.url("/to-private.xml"),
            &["10.0.0.1 is a private (RFC 1918) address", "allow_private"],
        ),
        (s.url("/to-mapped.xml"), &["192.168.1.1", "private"]),
        (
            s.url("/to-localhost.xml"),
            &["127.0.0.1 is a loopback address (localhost resolves to it)"],
        ),
        (tls.clone(), &["TLS/https connection failed", "scheme"]),
    ];
    let mut feeds: Vec<String> = table.iter().map(|(u, _)| u.clone()).collect();
    feeds.push(s.url("/good.xml"));
    let tmp = tempfile::tempdir().unwrap();
    let timeout = 3;
    let start = Instant::now();
    let (code, text) = run_rss(
        tmp.path(),
        &feeds,
        &format!(
            ", timeout_secs: {timeout}, connect_timeout_secs: 10, max_bytes: 1000000, \
             max_redirects: 4, retries: 0, concurrency: 16, per_host: 16"
        ),
    );
    let took = start.elapsed();
    assert_eq!(code, Some(1), "{text}");
    // Every fetch runs at once, so the run lasts about one timeout (the
    // drip); the slack covers starting the binary on a loaded machine.
    assert!(
        took < Duration::from_secs(timeout + 12),
        "took {took:?}: {text}"
    );
    for (url, wants) in &table {
        let st = feed_state(tmp.path(), url);
        let err = st.last_error.unwrap_or_default();
        // The outcome table (`--nocapture` prints it).
        println!("{url} -> {err}");
        for w in *wants {
            assert!(err.contains(w), "{url}: `{err}` lacks `{w}`");
        }
        assert_eq!(st.consecutive_failures, 1, "{url}");
    }
    let stored = stored_feeds(tmp.path());
    assert_eq!(stored.len(), 3, "only the good feed's items: {stored:?}");
    assert!(stored.iter().all(|f| f.contains("/good.xml")), "{stored:?}");
}

/// Redirects that leave the configured host are guarded; `allow_private`
/// opens exactly what it names; a redirect on the configured host is the
/// user's own choice.
#[test]
fn private_redirects_need_an_explicit_allowance() {
    let s = RawServer::start(move |p, mut st, port| match p {
        "/good.xml" => {
            let feed = rss("inside", 2);
            head(
                &mut st,
                "200 OK",
                &[("Content-Length", feed.len().to_string())],
            );
            let _ = st.write_all(&feed);
        }
        "/to-ip.xml" => head(
            &mut st,
            "302 Found",
            &[("Location", format!("http://127.0.0.1:{port}/good.xml"))],
        ),
        "/same-host.xml" => head(
            &mut st,
            "301 Moved Permanently",
            &[("Location", "/good.xml".into())],
        ),
        _ => head(&mut st, "404 Not Found", &[("Content-Length", "0".into())]),
    });
    // Configured as `localhost`: the redirect to 127.0.0.1 is another host.
    let via_name = format!("http://localhost:{}/to-ip.xml", s.port);
    let same = s.url("/same-host.xml");
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = run_rss(tmp.path(), &[via_name.clone(), same.clone()], "");
    assert_eq!(code, Some(1), "{text}");
    let err = feed_state(tmp.path(), &via_name).last_error.unwrap();
    assert!(
        err.contains("127.0.0.1 is a loopback address")
            && err.contains("add \"127.0.0.1\" to the agent's `allow_private` list"),
        "{err}"
    );
    assert!(feed_state(tmp.path(), &same).last_error.is_none());

    // Allowing another address changes nothing; allowing this one does.
    let tmp = tempfile::tempdir().unwrap();
    let (code, _) = run_rss(
        tmp.path(),
        std::slice::from_ref(&via_name),
        ", allow_private: [\"10.0.0.0/8\"]",
    );
    assert_eq!(code, Some(1));
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = run_rss(
        tmp.path(),
        std::slice::from_ref(&via_name),
        ", allow_private: [\"127.0.0.1\"]",
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(stored_feeds(tmp.path()).len(), 2);
}

#[test]
fn a_bad_allowance_is_located_by_validate() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: t\nagents:\n  web: { kind: rss, feeds: [\"http://127.0.0.1:9/x\"], allow_private: [\"10.0.0.0/40\"] }\n  out: { kind: jsonl, inputs: [web], path: o.jsonl }\n",
    )
    .unwrap();
    let out = agg(tmp.path())
        .args(["validate", "p.yaml"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("allow_private") && text.contains("prefix length must be 0 to 32"),
        "{text}"
    );
}
