//! Benchmark helper: serves N distinct feed URLs on 127.0.0.1 from the feed
//! files of a folder (each file repeated under several URLs), HTTP/1.1 with
//! keep-alive, and writes the URLs, one per line, to a file.
//!
//! `bench_serve DIR N URLS_FILE` — runs until killed.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, n, urls_file] = &args[..] else {
        eprintln!("usage: bench_serve DIR N URLS_FILE");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_none_or(|e| e != "opml")
                && !std::fs::read(p)
                    .map(|b| String::from_utf8_lossy(&b[..b.len().min(500)]).contains("<opml"))
                    .unwrap_or(true)
        })
        .collect();
    files.sort();
    let bodies: Arc<Vec<(Vec<u8>, &'static str)>> = Arc::new(
        files
            .iter()
            .map(|p| {
                let ty = if p.extension().is_some_and(|e| e == "json") {
                    "application/feed+json"
                } else {
                    "application/xml"
                };
                (std::fs::read(p).unwrap(), ty)
            })
            .collect(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let urls: String = (0..n)
        .map(|i| {
            let f = &files[i % files.len()];
            format!(
                "http://{addr}/f/{i}/{}\n",
                f.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    let tmp = format!("{urls_file}.tmp");
    std::fs::write(&tmp, urls)?;
    std::fs::rename(&tmp, urls_file)?;
    eprintln!("serving {n} URLs over {} files on {addr}", files.len());
    loop {
        let (mut sock, _) = listener.accept().await?;
        // Without TCP_NODELAY, a response's last partial segment waits for the
        // client's delayed ACK (Nagle): up to 40 ms per request, which both
        // clients measured would spend idle, hiding their own cost.
        sock.set_nodelay(true)?;
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = [0u8; 4096];
            loop {
                // Read one request head.
                let end = loop {
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                buf.drain(..end);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let close = head.to_ascii_lowercase().contains("connection: close");
                let idx = path
                    .strip_prefix("/f/")
                    .and_then(|r| r.split('/').next())
                    .and_then(|i| i.parse::<usize>().ok());
                let (status, body, ty): (&str, &[u8], &str) = match idx {
                    Some(i) => {
                        let (b, t) = &bodies[i % bodies.len()];
                        ("200 OK", b, t)
                    }
                    None => ("404 Not Found", b"not found", "text/plain"),
                };
                // Head and body in one write, as a real server's writev would.
                let mut resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ty}\r\nContent-Length: {}\r\n{}\r\n",
                    body.len(),
                    if close { "Connection: close\r\n" } else { "" }
                )
                .into_bytes();
                resp.extend_from_slice(body);
                if sock.write_all(&resp).await.is_err() || close {
                    return;
                }
            }
        });
    }
}
