//! SMTP credentials (issue 20, item 5), with the real binary and a real
//! SMTP server on this machine (a small one in this file that, like some
//! real servers, quotes the client's `AUTH` command back in its refusal):
//! - the password appears nowhere agg writes, in any encoding the
//!   conversation uses: as given, percent-encoded, base64 on its own (AUTH
//!   LOGIN) or inside `\0user\0password` (AUTH PLAIN);
//! - a plain `smtp://` URL with a password is refused for a host that is
//!   not loopback, before anything is sent, unless the URL spells out
//!   `?tls=none`.

#[path = "fixtures/digest/support.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use support::{DAY1, Scratch, text};

/// A real SMTP server on `bind` that refuses every login and quotes what
/// it was sent in the refusal. Keeps every line it received.
struct EchoSmtp {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl EchoSmtp {
    fn start(bind: &str) -> EchoSmtp {
        let l = TcpListener::bind((bind, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let got = lines.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let got = got.clone();
                std::thread::spawn(move || {
                    let _ = converse(s, &got);
                });
            }
        });
        EchoSmtp { port, lines }
    }

    fn received(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

fn converse(s: TcpStream, got: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let read = |r: &mut BufReader<TcpStream>| -> std::io::Result<Option<String>> {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end().to_string();
        got.lock().unwrap().push(line.clone());
        Ok(Some(line))
    };
    w.write_all(b"220 echo.test ESMTP\r\n")?;
    while let Some(line) = read(&mut r)? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-echo.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("AUTH PLAIN") {
            let mut data = line[10..].trim().to_string();
            if data.is_empty() {
                w.write_all(b"334 \r\n")?;
                data = read(&mut r)?.unwrap_or_default();
            }
            w.write_all(
                format!("535 5.7.8 credentials rejected: AUTH PLAIN {data}\r\n").as_bytes(),
            )?;
        } else if upper.starts_with("AUTH LOGIN") {
            w.write_all(b"334 VXNlcm5hbWU6\r\n")?;
            let user = read(&mut r)?.unwrap_or_default();
            w.write_all(b"334 UGFzc3dvcmQ6\r\n")?;
            let pass = read(&mut r)?.unwrap_or_default();
            w.write_all(format!("535 5.7.8 rejected: user {user} password {pass}\r\n").as_bytes())?;
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n")?;
            break;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            w.write_all(b"250 ok\r\n")?;
        } else {
            w.write_all(format!("502 5.5.2 not here: {line}\r\n").as_bytes())?;
        }
    }
    Ok(())
}

/// Standard base64 (RFC 4648, padded), written out here so the test does
/// not share code with what it checks.
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn find(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every form of the password an SMTP conversation (or a URL) puts it in.
fn forms(user: &str, pw: &str) -> Vec<(&'static str, String)> {
    vec![
        ("as given", pw.to_string()),
        ("percent-encoded", pct(pw)),
        ("base64 (AUTH LOGIN)", b64(pw.as_bytes())),
        (
            "base64 of \\0user\\0password (AUTH PLAIN)",
            b64(format!("\0{user}\0{pw}").as_bytes()),
        ),
    ]
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    // `/`, `+` and `?` make the percent-encoded form differ from the raw.
    format!("Pw{}x{nanos}/+?", std::process::id())
}

fn assert_nowhere(forms: &[(&str, String)], outs: &[&Output], dir: &Path) {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    let mut hays: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|f| {
            (
                f.display().to_string(),
                std::fs::read(&f).unwrap_or_default(),
            )
        })
        .collect();
    for (i, o) in outs.iter().enumerate() {
        hays.push((format!("output {i}: stdout"), o.stdout.clone()));
        hays.push((format!("output {i}: stderr"), o.stderr.clone()));
    }
    let mut found = Vec::new();
    for (what, form) in forms {
        for (name, hay) in &hays {
            if find(hay, form) {
                found.push(format!("the password {what} ({form}) is in {name}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn an_echoed_auth_leaves_no_encoded_password_behind() {
    let smtp = EchoSmtp::start("127.0.0.1");
    let s = Scratch::new("");
    let pw = unique();
    let url = format!("smtp://reader:{}@127.0.0.1:{}", pct(&pw), smtp.port);
    let mut outs = Vec::new();
    let o = s
        .agg(DAY1, &url)
        .args(["-vv", "run", "digest.yaml"])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("refused authentication"),
        "the server refused the login: {}",
        text(&o)
    );
    outs.push(o);
    let o = s
        .agg(DAY1, &url)
        .args(["digest", "digest.yaml", "--force"])
        .output()
        .unwrap();
    outs.push(o);
    outs.push(s.agg(DAY1, &url).args(["runs", "--json"]).output().unwrap());
    // The server did get the credentials (the test exercised the echo).
    let got = smtp.received().join("\n");
    assert!(got.contains("AUTH"), "{got}");
    let forms = forms("reader", &pw);
    assert!(
        forms.iter().skip(2).any(|(_, f)| got.contains(f.as_str())),
        "the password went over in base64: {got}"
    );
    let refs: Vec<&Output> = outs.iter().collect();
    assert_nowhere(&forms, &refs, s.dir());
}

/// This machine's first IPv4 address that is not loopback, if any.
fn non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    let mut found = None;
    // SAFETY: getifaddrs fills a list we free with freeifaddrs; every
    // pointer is checked before it is read.
    unsafe {
        let mut ifs: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut ifs) != 0 {
            return None;
        }
        let mut p = ifs;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() && i32::from((*a).sa_family) == libc::AF_INET {
                let sin = &*(a as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && found.is_none() {
                    found = Some(ip);
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(ifs);
    }
    found
}

#[test]
fn plain_auth_to_another_host_needs_tls_none_spelled_out() {
    // A pipeline naming such a server is refused by `validate`, located.
    let s = Scratch::new("    smtp: \"smtp://reader:hunter22@mail.example.org:25\"\n");
    let o = s
        .agg(DAY1, "")
        .args(["validate", "digest.yaml"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("unencrypted") && t.contains("tls=none") && t.contains("digest.yaml:"),
        "{t}"
    );
    // (The snippet quotes the pipeline file, password and all; the message
    // itself does not repeat it.)
    let msg = t.lines().find(|l| l.contains("unencrypted")).unwrap();
    assert!(!msg.contains("hunter22"), "{msg}");
    // Without a password nothing secret is sent: accepted.
    let s2 = Scratch::new("    smtp: \"smtp://mail.example.org:25\"\n");
    let o = s2
        .agg(DAY1, "")
        .args(["validate", "digest.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("note: no non-loopback IPv4 address here; skipping the live part");
        return;
    };
    let smtp = EchoSmtp::start("0.0.0.0");
    let s = Scratch::new("");
    let pw = unique();
    // From the environment: refused when the digest is sent, before any
    // byte of the password leaves.
    let url = format!("smtp://reader:{}@{ip}:{}", pct(&pw), smtp.port);
    let o = s
        .agg(DAY1, &url)
        .args(["run", "digest.yaml"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("unencrypted") && t.contains("tls=none"), "{t}");
    let got = smtp.received().join("\n");
    assert!(!got.contains("AUTH"), "no AUTH reached the server: {got}");
    // Spelled out, the user's choice is honoured (and still redacted).
    let o = s
        .agg(DAY1, &format!("{url}?tls=none"))
        .args(["run", "digest.yaml"])
        .output()
        .unwrap();
    assert!(text(&o).contains("refused authentication"), "{}", text(&o));
    let got = smtp.received().join("\n");
    assert!(got.contains("AUTH"), "{got}");
    assert_nowhere(&forms("reader", &pw), &[&o], s.dir());
}
