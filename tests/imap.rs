//! The `imap` source against a real Dovecot (Debian `dovecot-imapd`),
//! started by each test on a free 127.0.0.1 port with a generated config in
//! a temp dir. Mails are delivered with IMAP APPEND, as a mail server would
//! hand them over; flags are read back over IMAP to prove agg never marks
//! mail read.
//!
//! Without dovecot these tests print why and pass, unless
//! `AGG_REQUIRE_DOVECOT=1` (set in CI), where they fail. The IMAP timeout
//! test needs no dovecot.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{agg, items, repo, run_ok};

const USER: &str = "alice";
const PASSWORD: &str = "Corr3ct-H0rse-imap";
const PASS_ENV: &str = "AGG_TEST_IMAP_PASSWORD";

/// The dovecot binary: `AGG_DOVECOT` if set (a non-Debian layout, or a
/// path that does not exist to check the missing-dovecot behaviour), else
/// from PATH or the sbin folders.
fn dovecot_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AGG_DOVECOT") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join("dovecot"))
        .find(|p| p.is_file())
}

/// A user name and ids for dovecot's processes.
fn user_by_name(name: &str) -> Option<(u32, u32)> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns null or a pointer to a static record, read
    // at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    (!pw.is_null()).then(|| unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn current_user() -> String {
    // SAFETY: as above.
    let pw = unsafe { libc::getpwuid(libc::getuid()) };
    assert!(!pw.is_null(), "the current uid has no passwd entry");
    unsafe { std::ffi::CStr::from_ptr((*pw).pw_name) }
        .to_string_lossy()
        .into_owned()
}

/// A dovecot master process in the foreground, killed (with its children)
/// on drop.
struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    imaps_port: Option<u16>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    /// Starts dovecot, or returns None (after saying why) when it is not
    /// installed and not required.
    fn start() -> Option<Dovecot> {
        Self::start_with(None)
    }

    /// `tls`: (certificate, key) PEM files; adds an implicit-TLS listener
    /// and allows STARTTLS on the plain one.
    fn start_with(tls: Option<(&Path, &Path)>) -> Option<Dovecot> {
        let Some(bin) = dovecot_binary() else {
            let msg = "dovecot is not installed: the imap tests need the Debian package \
                       `dovecot-imapd` (apt-get install -y dovecot-imapd)";
            if std::env::var("AGG_REQUIRE_DOVECOT").as_deref() == Ok("1") {
                panic!("{msg} (AGG_REQUIRE_DOVECOT=1)");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // As root, dovecot runs its login and internal processes as its own
        // unprivileged users (created by the Debian package) and refuses
        // uid 0 for mail: the mailbox belongs to `nobody`. As anyone else,
        // everything runs as that user.
        let root = unsafe { libc::geteuid() } == 0;
        let (internal, login, mail_uid, mail_gid) = if root {
            let (uid, gid) = user_by_name("nobody").expect("no `nobody` user");
            for u in ["dovecot", "dovenull"] {
                assert!(
                    user_by_name(u).is_some(),
                    "user `{u}` is missing (the dovecot-core package creates it)"
                );
            }
            ("dovecot".to_string(), "dovenull".to_string(), uid, gid)
        } else {
            let me = current_user();
            let (uid, gid) = (unsafe { libc::getuid() }, unsafe { libc::getgid() });
            (me.clone(), me, uid, gid)
        };
        let mail = d.join("mail");
        std::fs::create_dir_all(&mail).unwrap();
        if root {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&mail, Some(mail_uid), Some(mail_gid)).unwrap();
        }
        std::fs::write(
            d.join("passwd"),
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{mail_uid}:{mail_gid}::{}::\n",
                mail.join(USER).display()
            ),
        )
        .unwrap();
        let port = free_port();
        let imaps_port = tls.map(|_| free_port());
        let ssl = match tls {
            None => "ssl = no\n".to_string(),
            Some((cert, key)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                cert.display(),
                key.display()
            ),
        };
        let conf = format!(
            r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {mail_uid}
last_valid_uid = 0
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/passwd
}}
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
}}
"#,
            d = d.display(),
            imaps = imaps_port.unwrap_or(0),
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let child = Command::new(&bin)
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut dv = Dovecot {
            child,
            dir,
            port,
            imaps_port,
        };
        dv.wait_ready();
        Some(dv)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.as_mut() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("dovecot exited ({status}): {err}\n{}", self.log());
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut line = String::new();
                if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("* OK") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not answer on port {}\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn client(&self) -> RawImap {
        RawImap::login(self.port)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; SIGKILL would orphan them.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Just enough IMAP, by hand, for the test's own side: deliver mail and look
/// at flags (independent of the client agg uses).
struct RawImap {
    r: BufReader<TcpStream>,
    w: TcpStream,
    tag: u32,
}

impl RawImap {
    fn login(port: u16) -> RawImap {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = RawImap {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            tag: 0,
        };
        let mut greeting = String::new();
        c.r.read_line(&mut greeting).unwrap();
        c.ok(&format!("LOGIN {USER} \"{PASSWORD}\""));
        c
    }

    /// Sends a command, returns the untagged lines; panics unless OK.
    fn ok(&mut self, cmd: &str) -> Vec<String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        write!(self.w, "{tag} {cmd}\r\n").unwrap();
        self.until_tagged(&tag)
    }

    fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                self.r.read_line(&mut line).unwrap() > 0,
                "connection closed"
            );
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{tag}: {rest}");
                return lines;
            }
            lines.push(line.trim_end().to_string());
        }
    }

    fn append(&mut self, mailbox: &str, mail: &[u8]) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        write!(self.w, "{tag} APPEND \"{mailbox}\" {{{}}}\r\n", mail.len()).unwrap();
        let mut cont = String::new();
        self.r.read_line(&mut cont).unwrap();
        assert!(cont.starts_with('+'), "APPEND: {cont}");
        self.w.write_all(mail).unwrap();
        self.w.write_all(b"\r\n").unwrap();
        self.until_tagged(&tag);
    }

    /// (UIDVALIDITY, flags of every message) of a mailbox, read-only.
    fn examine(&mut self, mailbox: &str) -> (u32, Vec<String>) {
        let lines = self.ok(&format!("EXAMINE \"{mailbox}\""));
        let validity = lines
            .iter()
            .find_map(|l| l.split("[UIDVALIDITY ").nth(1))
            .and_then(|r| r.split(']').next())
            .and_then(|v| v.parse().ok())
            .expect("UIDVALIDITY");
        let flags = self
            .ok("FETCH 1:* (FLAGS)")
            .into_iter()
            .filter(|l| l.contains("FETCH"))
            .collect();
        (validity, flags)
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/imap").join(name)).unwrap()
}

fn write_pipeline(dir: &Path, port: u16, extra: &str) {
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "name: nl\nagents:\n  newsletters: {{ kind: imap, host: 127.0.0.1, port: {port}, tls: none, username: {USER}, password_env: {PASS_ENV}{extra} }}\n  out: {{ kind: jsonl, inputs: [newsletters], path: out.jsonl }}\n"
        ),
    )
    .unwrap();
}

struct RunOut {
    json: serde_json::Value,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, password: &str, envs: &[(&str, &str)]) -> RunOut {
    let out = agg(dir)
        .arg("--db")
        .arg(dir.join("agg.db"))
        .args(["run", "--json", "p.yaml"])
        .env(PASS_ENV, password)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    RunOut {
        json,
        stdout,
        stderr,
    }
}

fn outcome(v: &serde_json::Value) -> &serde_json::Value {
    v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "newsletters")
        .unwrap()
}

fn by_guid<'a>(items: &'a [serde_json::Value], guid: &str) -> &'a serde_json::Value {
    items
        .iter()
        .find(|i| i["guid"] == guid)
        .unwrap_or_else(|| panic!("no item {guid} in {items:#?}"))
}

#[test]
fn newsletters_become_items_once_and_stay_unread() {
    let Some(dv) = Dovecot::start() else { return };
    let mut imap = dv.client();
    for f in [
        "rust-weekly.eml",
        "broken.eml",
        "latin1-qp.eml",
        "html-only.eml",
    ] {
        imap.append("INBOX", &fixture(f));
    }
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(tmp.path(), dv.port, "");

    // First run: three items; the broken mail is an error on that mail only.
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(o["status"], "partial", "{:#}", r.json);
    assert_eq!(o["items_new"], 3, "{:#}", r.json);
    let errors = o["errors"].to_string();
    assert!(errors.contains("mail UID 2"), "{errors}");
    assert!(errors.contains("not a mail"), "{errors}");

    let got = items(tmp.path());
    assert_eq!(got.len(), 3, "{got:#?}");
    let rw = by_guid(&got, "issue-42.6f1c@weekly.example.com");
    assert_eq!(rw["title"], "Issue 42 — Rust & friends ✨");
    assert_eq!(rw["author"], "Rust Weekly ✉");
    assert_eq!(rw["feed_title"], "Rust Weekly ✉");
    assert_eq!(rw["source"], "newsletters");
    assert_eq!(rw["feed"], "mailto:hello@weekly.example.com");
    // The HTML's "view in browser" link (entities decoded), not a body link.
    assert_eq!(
        rw["url"],
        "https://weekly.example.com/p/issue-42?utm_source=email&r=7"
    );
    assert_eq!(rw["published"], "2026-03-02T09:30:00Z");
    // Plain text from the text/plain part, HTML sanitised.
    let text = rw["text"].as_str().unwrap();
    assert!(text.starts_with("View in browser: https://"), "{text}");
    assert!(text.contains("async closures land, and cargo gets faster"));
    let html = rw["html"].as_str().unwrap();
    assert!(
        html.contains("<h1>Issue 42 — Rust &amp; friends</h1>"),
        "{html}"
    );
    assert!(
        !html.contains("script") && !html.contains("steal"),
        "{html}"
    );
    assert!(
        !html.contains("onerror") && !html.contains("<style"),
        "{html}"
    );
    assert!(
        rw["tags"]
            .as_array()
            .unwrap()
            .contains(&"list:rustweekly.weekly.example.com".into())
    );

    // ISO-8859-1, quoted-printable, encoded words in Subject and From.
    let fr = by_guid(&got, "cafe-12@redaction.example.fr");
    assert_eq!(fr["title"], "Le café de la rédaction n°12");
    assert_eq!(fr["author"], "Élodie de La Rédaction");
    assert_eq!(fr["url"], "https://redaction.example.fr/archives/12");
    assert_eq!(fr["published"], "2026-03-03T06:15:00Z");
    let text = fr["text"].as_str().unwrap();
    assert!(
        text.contains("Le café de la rédaction: déjà 12 numéros. Lire en ligne ci-dessous."),
        "{text}"
    );
    assert!(text.contains("À bientôt"), "{text}");
    let html = fr["html"].as_str().unwrap();
    assert!(
        html.starts_with("<p>Bonjour à tous,</p><p>Le café"),
        "{html}"
    );

    // HTML only (base64): text comes from the HTML; no web link at all.
    let ho = by_guid(&got, "links-2026-03-04@links.example");
    assert_eq!(ho["title"], "Three links");
    assert_eq!(ho["author"], "Links Digest");
    assert!(ho.get("url").is_none_or(|u| u.is_null()), "{ho:#}");
    assert_eq!(ho["text"], "Three links worth your time. First and second.");

    // Second run: nothing new, nothing failing (the broken mail is behind).
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(o["status"], "ok", "{:#}", r.json);
    assert_eq!(o["items_out"], 0, "{:#}", r.json);

    // A new mail: exactly one new item, found by the plain-text
    // "Read online" line.
    imap.append("INBOX", &fixture("later.eml"));
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(
        (o["items_out"].as_u64(), o["items_new"].as_u64()),
        (Some(1), Some(1)),
        "{:#}",
        r.json
    );
    let got = items(tmp.path());
    assert_eq!(got.len(), 4);
    let later = by_guid(&got, "issue-43.77aa@weekly.example.com");
    assert_eq!(later["url"], "https://weekly.example.com/p/issue-43");
    assert!(
        later["html"]
            .as_str()
            .unwrap()
            .starts_with("<p>Issue 43 is out.")
    );

    // agg read all five mails and marked none of them \Seen.
    let (_, flags) = imap.examine("INBOX");
    assert_eq!(flags.len(), 5, "{flags:?}");
    assert!(flags.iter().all(|f| !f.contains("\\Seen")), "{flags:?}");
    // The client can see it really was a read: dovecot logged body bytes.
    assert!(dv.log().contains("body_count="), "{}", dv.log());
}

/// Every file agg wrote: the database and its WAL, outputs.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_wrong_password_fails_the_agent_and_is_never_written_anywhere() {
    let Some(dv) = Dovecot::start() else { return };
    dv.client().append("INBOX", &fixture("later.eml"));
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(tmp.path(), dv.port, "");
    let wrong = "Wr0ng-Pa55-zq81";
    // Trace logging on, for async-imap too: it logs every command it sends.
    let r = run(tmp.path(), wrong, &[("RUST_LOG", "trace")]);
    let o = outcome(&r.json);
    assert_eq!(o["status"], "failed", "{:#}", r.json);
    let err = o["errors"].to_string();
    assert!(err.contains("IMAP login as `alice` on 127.0.0.1"), "{err}");
    assert!(err.contains("AUTHENTICATIONFAILED"), "{err}");
    assert!(err.contains(&format!("${PASS_ENV}")), "{err}");
    // The trace shows the LOGIN command as the IMAP client saw it: with a
    // placeholder (so not merely masked by the CLI's redaction).
    assert!(
        r.stderr.lines().any(|l| l.contains("encode")
            && l.contains("LOGIN")
            && l.contains("agg-password-placeholder")),
        "no trace of LOGIN with the placeholder: {}",
        r.stderr
    );
    for (what, hay) in [
        ("stdout", r.stdout.as_bytes().to_vec()),
        ("stderr", r.stderr.as_bytes().to_vec()),
        ("files", all_bytes(tmp.path())),
    ] {
        assert!(!contains(&hay, wrong), "the password appears in {what}");
    }
    assert!(!tmp.path().join("out.jsonl").exists() || items(tmp.path()).is_empty());

    // The right password, still tracing: one item, and the password is in
    // no output and no file either.
    let r = run(tmp.path(), PASSWORD, &[("RUST_LOG", "trace")]);
    assert_eq!(outcome(&r.json)["items_new"], 1, "{:#}", r.json);
    assert!(r.stderr.contains("LOGIN"));
    for (what, hay) in [
        ("stdout", r.stdout.into_bytes()),
        ("stderr", r.stderr.into_bytes()),
        ("files", all_bytes(tmp.path())),
    ] {
        assert!(!contains(&hay, PASSWORD), "the password appears in {what}");
    }

    // An unset variable is an agent error naming the variable.
    let out = agg(tmp.path())
        .arg("--db")
        .arg(tmp.path().join("agg.db"))
        .args(["run", "--json", "p.yaml"])
        .env_remove(PASS_ENV)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = outcome(&v)["errors"].to_string();
    assert!(err.contains(PASS_ENV) && err.contains("not set"), "{err}");
}

#[test]
fn a_renumbered_mailbox_is_read_again_without_duplicates() {
    let Some(dv) = Dovecot::start() else { return };
    // A mailbox whose name is not ASCII: on the wire (and in this raw
    // client) it is modified UTF-7; in the pipeline, plain UTF-8.
    const MB: &str = "Bo&AO4-te aux lettres";
    let mut imap = dv.client();
    imap.ok(&format!("CREATE \"{MB}\""));
    imap.append(MB, &fixture("rust-weekly.eml"));
    imap.append(MB, &fixture("latin1-qp.eml"));
    let (v1, _) = imap.examine(MB);
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(
        tmp.path(),
        dv.port,
        ", mailbox: \"Boîte aux lettres\", max_messages: 2",
    );
    let r = run(tmp.path(), PASSWORD, &[]);
    assert_eq!(outcome(&r.json)["items_new"], 2, "{:#}", r.json);

    // The mailbox is recreated (new UIDVALIDITY) with a new mail first, so
    // the old mails get UIDs 2 and 3 and the new one UID 1: only a full
    // rescan finds it.
    imap.ok("CLOSE");
    let mut v2 = v1;
    while v2 == v1 {
        imap.ok(&format!("DELETE \"{MB}\""));
        imap.ok(&format!("CREATE \"{MB}\""));
        imap.append(MB, &fixture("html-only.eml"));
        v2 = imap.examine(MB).0;
        if v2 == v1 {
            // UIDVALIDITY is time-based: wait for the next second.
            std::thread::sleep(Duration::from_millis(1100));
        }
    }
    imap.append(MB, &fixture("rust-weekly.eml"));
    imap.append(MB, &fixture("latin1-qp.eml"));
    imap.append(MB, &fixture("later.eml"));
    // max_messages: 2 → the rescan takes two runs.
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(
        (o["items_out"].as_u64(), o["items_new"].as_u64()),
        (Some(2), Some(1)),
        "{:#}",
        r.json
    );
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(
        (o["items_out"].as_u64(), o["items_new"].as_u64()),
        (Some(2), Some(1)),
        "{:#}",
        r.json
    );
    let got = items(tmp.path());
    assert_eq!(got.len(), 4, "{got:#?}");
    let r = run(tmp.path(), PASSWORD, &[]);
    assert_eq!(outcome(&r.json)["items_out"], 0, "{:#}", r.json);
}

/// A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl CLI).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let sh = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian package `openssl`) is needed for the TLS test");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    sh(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=agg test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    sh(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    sh(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn implicit_tls_and_starttls_verify_the_server_certificate() {
    let certs = tempfile::tempdir().unwrap();
    if dovecot_binary().is_none() {
        // Start (and fail or skip) exactly as the other tests do.
        assert!(Dovecot::start().is_none());
        return;
    }
    let (ca, cert, key) = make_certs(certs.path());
    let Some(dv) = Dovecot::start_with(Some((&cert, &key))) else {
        return;
    };
    dv.client().append("INBOX", &fixture("later.eml"));
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = |port: u16, tls: &str, ca: Option<&Path>| {
        let ca = ca
            .map(|c| format!(", ca_file: \"{}\"", c.display()))
            .unwrap_or_default();
        std::fs::write(
            tmp.path().join("p.yaml"),
            format!(
                "name: nl\nagents:\n  newsletters: {{ kind: imap, host: 127.0.0.1, port: {port}, tls: {tls}, username: {USER}, password_env: {PASS_ENV}{ca} }}\n"
            ),
        )
        .unwrap();
    };
    let imaps = dv.imaps_port.unwrap();

    // Implicit TLS, trusting the test CA: the mail comes in.
    pipeline(imaps, "implicit", Some(&ca));
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(
        (o["status"].as_str(), o["items_new"].as_u64()),
        (Some("ok"), Some(1)),
        "{:#}",
        r.json
    );

    // STARTTLS on the plain port: connects, nothing new.
    pipeline(dv.port, "starttls", Some(&ca));
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(
        (o["status"].as_str(), o["items_out"].as_u64()),
        (Some("ok"), Some(0)),
        "{:#}",
        r.json
    );

    // Without the CA the certificate is not trusted: an error, no login.
    pipeline(imaps, "implicit", None);
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(o["status"], "failed", "{:#}", r.json);
    let err = o["errors"].to_string();
    assert!(err.contains("TLS handshake with 127.0.0.1"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn an_oversized_mail_is_kept_truncated() {
    let Some(dv) = Dovecot::start() else { return };
    let mail = fixture("rust-weekly.eml");
    assert!(mail.len() > 1000);
    dv.client().append("INBOX", &mail);
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(tmp.path(), dv.port, ", max_message_bytes: 1000");
    let r = run(tmp.path(), PASSWORD, &[]);
    let o = outcome(&r.json);
    assert_eq!(
        (o["status"].as_str(), o["items_new"].as_u64()),
        (Some("ok"), Some(1)),
        "{:#}",
        r.json
    );
    let got = items(tmp.path());
    let it = by_guid(&got, "issue-42.6f1c@weekly.example.com");
    // Headers and the start of the body are there; the end is not.
    assert_eq!(it["title"], "Issue 42 — Rust & friends ✨");
    assert!(
        it["tags"].as_array().unwrap().contains(&"truncated".into()),
        "{it:#}"
    );
    assert!(it["text"].as_str().unwrap().contains("async closures land"));
    assert!(
        !it["html"].as_str().unwrap_or("").contains("</h1>"),
        "{it:#}"
    );
}

/// A server that accepts connections and never says a word: the agent
/// gives up after `timeout_secs` with a message naming the option.
#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let held = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        // Silent, and open until the run is over: only the timeout ends it.
        let _ = wait.recv();
        drop(s);
    });
    let tmp = tempfile::tempdir().unwrap();
    write_pipeline(tmp.path(), port, ", timeout_secs: 1");
    let r = run(tmp.path(), PASSWORD, &[]);
    done.send(()).unwrap();
    held.join().unwrap();
    let o = outcome(&r.json);
    assert_eq!(o["status"], "failed", "{:#}", r.json);
    let err = o["errors"].to_string();
    assert!(
        err.contains("greeting") && err.contains("no answer within 1s (timeout_secs)"),
        "{err}"
    );
}

/// `tls: none` to anything but loopback is refused before any run, with the
/// place in the file.
#[test]
fn validate_refuses_cleartext_to_a_remote_host() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: nl\nagents:\n  newsletters:\n    kind: imap\n    host: imap.example.org\n    tls: none\n    username: me\n    password_env: NL_PASSWORD\n",
    )
    .unwrap();
    let out = agg(tmp.path())
        .args(["validate", "p.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("p.yaml:6:10: error[bad-option]: option `tls` of agent `newsletters`: `tls: none` would send the password to `imap.example.org` unencrypted"),
        "{all}"
    );
    // The same agent on loopback validates.
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: nl\nagents:\n  newsletters: { kind: imap, host: 127.0.0.1, tls: none, username: me, password_env: NL_PASSWORD }\n",
    )
    .unwrap();
    run_ok(agg(tmp.path()).args(["validate", "p.yaml"]));
}
