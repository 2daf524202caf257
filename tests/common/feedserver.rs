//! A threaded HTTP/1.1 server on 127.0.0.1 for the worker fault tests:
//! serves feed bodies with ETags (304 on a match), waits a configurable
//! time before each answer (so that a kill lands mid-fetch), and keeps
//! every request it answered, with its time, to count fetches per feed.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Vec<u8>>>,
    delay_ms: AtomicU64,
    hits: Mutex<Vec<(String, u16, Instant)>>,
}

pub struct FeedServer {
    pub addr: String,
    shared: Arc<Shared>,
}

impl FeedServer {
    pub fn start(routes: HashMap<String, Vec<u8>>, delay: Duration) -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        *shared.routes.lock().unwrap() = routes;
        shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || handle(stream, &s));
            }
        });
        FeedServer { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    pub fn set_delay(&self, d: Duration) {
        self.shared
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests answered so far (any path, any status).
    pub fn requests(&self) -> usize {
        self.shared.hits.lock().unwrap().len()
    }

    /// Requests answered per path.
    pub fn per_path(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (p, _, _) in self.shared.hits.lock().unwrap().iter() {
            *m.entry(p.clone()).or_insert(0) += 1;
        }
        m
    }

    /// When each request for `path` was answered, in order.
    pub fn times(&self, path: &str) -> Vec<Instant> {
        self.shared
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, t)| *t)
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

fn handle(stream: TcpStream, s: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut if_none_match = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(v.trim().to_string());
        }
    }
    std::thread::sleep(Duration::from_millis(s.delay_ms.load(Ordering::SeqCst)));
    let body = s.routes.lock().unwrap().get(&path).cloned();
    let (status, body, etag) = match body {
        None => (404, b"not found".to_vec(), None),
        Some(b) => {
            let tag = etag_of(&b);
            if if_none_match.as_deref() == Some(tag.as_str()) {
                (304, Vec::new(), Some(tag))
            } else {
                (200, b, Some(tag))
            }
        }
    };
    s.hits.lock().unwrap().push((path, status, Instant::now()));
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/rss+xml\r\n",
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
}
