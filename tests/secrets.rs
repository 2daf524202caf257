//! Secrets never leak: a unique secret is planted in every place agg takes
//! one from (the SMTP URL's password, a PostgreSQL URL's password, the
//! feedback-link key `AGG_SECRET`, the web UI token, an IMAP password named
//! by `password_env`), through the secrets file
//! and through the environment; agg is run through success and failure paths
//! (SMTP refusing the password, SMTP down, PostgreSQL unreachable, a bad SMTP
//! URL, debug logs in text and JSON, exports); then everything agg wrote —
//! stdout, stderr, every file under the scratch and data folders (the SQLite
//! database and its journal included), the PostgreSQL database's dump — is
//! searched for each secret. None may appear.

#[path = "fixtures/digest/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{DAY1, Scratch, Smtp, closed_port, text};

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}Zq{}x{nanos}", std::process::id())
}

fn write_private(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `agg` in `dir` with a clean environment for the variables under test and
/// its data folder inside `dir`.
fn agg(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agg"));
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("AGG_DIGEST_NOW", DAY1)
        .env_remove("RUST_LOG");
    for v in [
        "AGG_DB",
        "AGG_SMTP_URL",
        "AGG_SECRET",
        "AGG_SECRETS_FILE",
        "AGG_UI_TOKEN",
    ] {
        c.env_remove(v);
    }
    c
}

/// Every file under `dir`, except the ones that hold the secrets on purpose
/// and the test SMTP server's own log.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            files_under(&p, out);
        } else if !name.ends_with(".env") && !name.ends_with(".log") {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Asserts no secret is in any output or any file under `dirs`; returns how
/// many bytes were searched (so a test can see it searched something).
fn assert_nowhere(secrets: &[(&str, &str)], outputs: &[(&str, &Output)], dirs: &[&Path]) -> usize {
    let mut searched = 0;
    let mut hays: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, o) in outputs {
        hays.push((format!("{what}: stdout"), o.stdout.clone()));
        hays.push((format!("{what}: stderr"), o.stderr.clone()));
    }
    for d in dirs {
        let mut files = Vec::new();
        files_under(d, &mut files);
        for f in files {
            hays.push((f.display().to_string(), std::fs::read(&f).unwrap()));
        }
    }
    for (where_, bytes) in &hays {
        searched += bytes.len();
        for (name, s) in secrets {
            assert!(
                !contains(bytes, s),
                "the {name} leaked into {where_}:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    searched
}

/// An IMAP server on 127.0.0.1 that greets, lists its capabilities and
/// refuses every login. Returns its port.
fn refusing_imap_server() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut w) = stream else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(w.try_clone().unwrap());
                let _ = w.write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n");
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let mut parts = line.split_whitespace();
                    let tag = parts.next().unwrap_or("*").to_string();
                    let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
                    let reply = match cmd.as_str() {
                        "CAPABILITY" => {
                            format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n")
                        }
                        "LOGOUT" => format!("* BYE\r\n{tag} OK bye\r\n"),
                        "LOGIN" | "AUTHENTICATE" => {
                            format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
                        }
                        _ => format!("{tag} BAD unknown\r\n"),
                    };
                    if w.write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

/// Runs `agg serve` (stderr to a file read back at the end), opens the UI
/// with a wrong token and the right one, stops it with SIGTERM.
fn serve_and_use_token(dir: &Path, db: &Path, secrets: &Path, token: &str) -> Output {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let log = dir.join("serve.stderr");
    let child = agg(dir)
        .arg("--secrets")
        .arg(secrets)
        .args(["-vv", "--db"])
        .arg(db)
        .args(["serve", "digest.yaml", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(p) = text
            .split("listening on http://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse::<u16>().ok())
        {
            break p;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "agg serve did not start: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut statuses = Vec::new();
    for t in ["not-the-token", token] {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            c,
            "GET /?token={t} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        let _ = c.read_to_string(&mut resp);
        statuses.push(resp.split_whitespace().nth(1).unwrap_or("").to_string());
    }
    assert_eq!(statuses[0], "401", "a wrong token is refused");
    assert_ne!(statuses[1], "401", "the right token opens the UI");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut out = child.wait_with_output().unwrap();
    out.stderr = std::fs::read(&log).unwrap();
    out
}

#[test]
fn planted_secrets_appear_nowhere_agg_writes() {
    let smtp_pw = unique("SmtpPw");
    let env_smtp_pw = unique("EnvSmtpPw");
    let key = unique("SignKey");
    let pg_pw = unique("PgPw");
    let ui = unique("UiTok");
    let imap_pw = unique("ImapPw");
    let secrets = [
        ("SMTP password (secrets file)", smtp_pw.as_str()),
        ("SMTP password (environment)", env_smtp_pw.as_str()),
        ("AGG_SECRET key", key.as_str()),
        ("PostgreSQL password", pg_pw.as_str()),
        ("UI token", ui.as_str()),
        ("IMAP password", imap_pw.as_str()),
    ];

    // The digest pipeline names its SMTP server through `${AGG_SMTP_URL}`.
    let s = Scratch::new("    smtp: \"${AGG_SMTP_URL}\"\n");
    let dir = s.dir().to_path_buf();
    let smtp = Smtp::start(&dir, &["--auth", "reader:the-right-one"]);
    let file = dir.join("secrets.env");
    write_private(
        &file,
        &format!(
            "# agg secrets\nAGG_SMTP_URL=smtp://reader:{smtp_pw}@127.0.0.1:{}\nexport AGG_SECRET='{key}'\nAGG_UI_TOKEN={ui}\n",
            smtp.port
        ),
    );
    let mut outs: Vec<(&str, Output)> = Vec::new();

    // 1. The server refuses the password: a run with debug logs.
    let o = agg(&dir)
        .arg("--secrets")
        .arg(&file)
        .args(["-vv", "--db"])
        .arg(&s.db)
        .args(["run", "digest.yaml"])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("refused authentication"),
        "the failure path ran: {}",
        text(&o)
    );
    outs.push(("run, SMTP refuses the password", o));

    // 2. The same through AGG_SECRETS_FILE, logs as JSON, the digest command.
    let o = agg(&dir)
        .env("AGG_SECRETS_FILE", &file)
        .args(["-vv", "--log-format", "json", "--db"])
        .arg(&s.db)
        .args(["digest", "digest.yaml", "--force"])
        .output()
        .unwrap();
    assert!(text(&o).contains("refused authentication"), "{}", text(&o));
    outs.push(("digest, JSON logs", o));

    // 3. The SMTP server is down; its URL (with a password) from the
    //    environment, which wins over the file.
    let o = agg(&dir)
        .env(
            "AGG_SMTP_URL",
            format!("smtp://reader:{env_smtp_pw}@127.0.0.1:{}", closed_port()),
        )
        .arg("--secrets")
        .arg(&file)
        .args(["-vv", "--db"])
        .arg(&s.db)
        .args(["digest", "digest.yaml", "--force"])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("cannot reach the SMTP server"),
        "{}",
        text(&o)
    );
    outs.push(("digest, SMTP down", o));

    // 4. A malformed SMTP URL carrying the password.
    let o = agg(&dir)
        .env(
            "AGG_SMTP_URL",
            format!("smtpx://reader:{env_smtp_pw}@127.0.0.1:25"),
        )
        .args(["-vv", "validate", "digest.yaml"])
        .output()
        .unwrap();
    outs.push(("validate, bad SMTP URL", o));
    let o = agg(&dir)
        .env(
            "AGG_SMTP_URL",
            format!("smtpx://reader:{env_smtp_pw}@127.0.0.1:25"),
        )
        .args(["-vv", "--db"])
        .arg(&s.db)
        .args(["run", "digest.yaml"])
        .output()
        .unwrap();
    outs.push(("run, bad SMTP URL", o));

    // 5. Exports and listings: an .eml preview (signed links), runs, items,
    //    feeds.
    let o = agg(&dir)
        .arg("--secrets")
        .arg(&file)
        .arg("--db")
        .arg(&s.db)
        .args(["digest", "digest.yaml", "--force", "--eml", "out.eml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.join("out.eml").exists());
    outs.push(("digest --eml", o));
    for args in [
        &["runs", "--json"][..],
        &["items", "--json"],
        &["feeds", "--json"],
    ] {
        let o = agg(&dir)
            .arg("--secrets")
            .arg(&file)
            .arg("--db")
            .arg(&s.db)
            .args(args)
            .output()
            .unwrap();
        outs.push(("a listing", o));
    }

    // 6. PostgreSQL out of reach, its URL (with a password) from the
    //    secrets file as AGG_DB, and on the command line.
    let pg_file = dir.join("pg.env");
    write_private(
        &pg_file,
        &format!(
            "AGG_DB=postgres://agg:{pg_pw}@127.0.0.1:{}/agg\n",
            closed_port()
        ),
    );
    let o = agg(&dir)
        .arg("--secrets")
        .arg(&pg_file)
        .args(["-vv", "items"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("127.0.0.1"), "{}", text(&o));
    outs.push(("items, PostgreSQL down (AGG_DB from the file)", o));
    let o = agg(&dir)
        .args(["-vv", "--log-format", "json", "--db"])
        .arg(format!(
            "postgres://agg:{pg_pw}@127.0.0.1:{}/agg",
            closed_port()
        ))
        .args(["run", "digest.yaml"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    outs.push(("run, PostgreSQL down (--db)", o));

    // 7. An IMAP server that refuses the login (password from the file,
    //    named by `password_env`), with debug logs that trace IMAP commands.
    let imap_port = refusing_imap_server();
    std::fs::write(
        dir.join("mail.yaml"),
        format!(
            "name: mail\nagents:\n  inbox: {{ kind: imap, host: 127.0.0.1, port: {imap_port}, tls: none, username: reader, password_env: NEWS_IMAP_PASSWORD, timeout_secs: 5 }}\n  out: {{ kind: jsonl, inputs: [inbox], path: mail.jsonl }}\n"
        ),
    )
    .unwrap();
    let imap_file = dir.join("imap.env");
    write_private(&imap_file, &format!("NEWS_IMAP_PASSWORD={imap_pw}\n"));
    for fmt in ["text", "json"] {
        let o = agg(&dir)
            .arg("--secrets")
            .arg(&imap_file)
            .args(["-vv", "--log-format", fmt, "--db"])
            .arg(&s.db)
            .args(["run", "mail.yaml"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{}", text(&o));
        outs.push(("run, IMAP refuses the login", o));
    }

    // 8. `agg serve` with the UI token from the file, debug logs on: the
    //    token is used (right and wrong) in requests.
    outs.push((
        "serve, the UI token used",
        serve_and_use_token(&dir, &s.db, &file, &ui),
    ));

    let out_refs: Vec<(&str, &Output)> = outs.iter().map(|(w, o)| (*w, o)).collect();
    let searched = assert_nowhere(&secrets, &out_refs, &[&dir]);
    assert!(searched > 10_000, "searched {searched} bytes");
    // The SQLite database was written (runs, items, digests): it was searched.
    assert!(std::fs::metadata(&s.db).unwrap().len() > 0);
}

/// A real PostgreSQL server (trust auth ignores the password, so the
/// connection succeeds): the whole pipeline runs, and neither the output nor
/// the database holds the password.
#[test]
fn a_postgres_password_is_not_stored_or_printed() {
    let admin = std::env::var("AGG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("agg_secrets_{}", std::process::id());
    let psql = |url: &str, sql: &str| {
        let o = Command::new("psql")
            .arg(url)
            .args(["-qAtc", sql])
            .output()
            .expect("psql is needed (Debian postgresql-client)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    psql(
        &admin,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    );
    psql(&admin, &format!("CREATE DATABASE \"{name}\""));
    let pw = unique("PgLive");
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    url.set_password(Some(&pw)).unwrap();
    let s = Scratch::new("");
    let dir = s.dir().to_path_buf();
    let file = dir.join("secrets.env");
    write_private(
        &file,
        &format!("AGG_DB={url}\nAGG_SECRET={}\n", unique("K")),
    );
    let mut outs = Vec::new();
    for args in [
        &["-vv", "run", "digest.yaml"][..],
        &["--log-format", "json", "-vv", "runs", "--json"],
        &["digest", "digest.yaml", "--eml", "out.eml"],
    ] {
        let o = agg(&dir)
            .env(
                "AGG_SMTP_URL",
                format!("smtp://u:{pw}@127.0.0.1:{}", closed_port()),
            )
            .arg("--secrets")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        outs.push(o);
    }
    assert!(
        text(&outs[1]).contains("digest-test"),
        "the run was recorded in PostgreSQL: {}",
        text(&outs[1])
    );
    let dump = Command::new("pg_dump")
        .arg(url.as_str())
        .args(["--data-only", "--no-owner"])
        .output()
        .expect("pg_dump is needed (Debian postgresql-client)");
    psql(
        &admin,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    );
    assert!(dump.status.success(), "{}", text(&dump));
    assert!(
        contains(&dump.stdout, "digest-test"),
        "the dump has the run"
    );
    let refs: Vec<(&str, &Output)> = outs
        .iter()
        .map(|o| ("agg on PostgreSQL", o))
        .chain([("pg_dump of agg's database", &dump)])
        .collect();
    assert_nowhere(&[("PostgreSQL password", pw.as_str())], &refs, &[&dir]);
}

#[test]
fn a_secrets_file_others_can_read_is_refused_and_values_reach_pipelines() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let value = unique("Open");
    let file = dir.join("open.env");
    std::fs::write(&file, format!("FEED_DIR_SECRET={value}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = agg(dir)
        .arg("--secrets")
        .arg(&file)
        .arg("kinds")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("can be read by other users") && t.contains("chmod 600"),
        "{t}"
    );
    assert!(!t.contains(&value), "{t}");
    let o = agg(dir)
        .arg("--secrets")
        .arg(dir.join("missing.env"))
        .arg("kinds")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("cannot read the secrets file"),
        "{}",
        text(&o)
    );

    // Made private, it is used: `${FEED_DIR_SECRET}` in a pipeline resolves.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "name: t\nagents:\n  f: { kind: file, path: \"${FEED_DIR_SECRET}/feed.xml\" }\n  out: { kind: jsonl, inputs: [f], path: o.jsonl }\n",
    )
    .unwrap();
    let o = agg(dir).args(["validate", "p.yaml"]).output().unwrap();
    assert!(
        text(&o).contains("FEED_DIR_SECRET"),
        "unset without the file: {}",
        text(&o)
    );
    let o = agg(dir)
        .arg("--secrets")
        .arg(&file)
        .args(["validate", "p.yaml"])
        .output()
        .unwrap();
    assert!(!text(&o).contains("FEED_DIR_SECRET"), "{}", text(&o));
}
