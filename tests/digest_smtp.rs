//! The daily digest over a real SMTP server (aiosmtpd, started here on
//! 127.0.0.1), checked with independent parsers: MIME structure, headers,
//! links, token signatures; never an item twice; exactly once per day across
//! crashes; clear errors and a retry when SMTP fails.

#[path = "fixtures/digest/support.rs"]
mod support;

use support::*;

/// Half an hour after DAY1, the same local day.
const LATER1: &str = "2026-11-26T07:30:00Z";

#[test]
fn sends_one_multipart_digest_with_headers_links_and_valid_tokens() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.run(DAY1, &smtp.url()));
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(
        m["types"],
        serde_json::json!(["multipart/alternative", "text/plain", "text/html"])
    );
    let h = &m["headers"];
    // Non-ASCII subjects are encoded on the wire and decode back.
    let subject = h["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Morgen-Übersicht ☕ · Thu 26 Nov · 5 new"),
        "{subject}"
    );
    assert!(
        m["raw_headers"]["Subject"]
            .as_str()
            .unwrap()
            .contains("=?utf-8?")
    );
    assert_eq!(h["To"], "reader@example.org");
    assert!(h["Date"].as_str().unwrap().contains("26 Nov 2026 07:00:00"));
    let rec = s.digest("2026-11-26");
    assert_eq!(rec["status"], "sent");
    assert_eq!(h["Message-ID"], rec["message_id"]);
    assert!(h["Message-ID"].as_str().unwrap().ends_with("@example.org>"));
    let unsub = h["List-Unsubscribe"].as_str().unwrap();
    assert!(unsub.starts_with("<https://agg.example.org/f/"), "{unsub}");
    assert_eq!(h["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");

    // Every feedback link is signed with the key and names a real item; the
    // record lists exactly the items whose links are in the mail.
    let tokens = m["tokens"].as_array().unwrap();
    assert!(tokens.iter().all(|t| t["valid"] == true), "{tokens:?}");
    let expires = chrono_like_unix("2026-12-26T07:00:00Z");
    assert!(tokens.iter().all(|t| t["expires"] == expires));
    assert_eq!(liked_ids(m), record_ids(&rec));
    assert_eq!(liked_ids(m).len(), 5);
    for action in ["dislike", "unsubscribe"] {
        assert!(tokens.iter().any(|t| t["action"] == action));
    }

    // Markup in a feed is shown as text, never run; script links are dropped.
    let html = m["html"].as_str().unwrap();
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "{html}");
    assert!(!lower.contains("<img"), "{html}");
    assert!(!lower.contains("javascript:"), "{html}");
    assert!(html.contains("Council &amp; budget"), "{html}");
    assert!(!lower.contains("<style"), "CSS is inlined");
    assert!(!lower.contains("<link"), "no external CSS");
    assert!(html.contains("<table"), "table layout");
    assert!(html.contains("Zürich café"));
    assert!(html.contains("href=\"https://wire.example.org/rail\""));
    let text = m["text"].as_str().unwrap();
    assert!(text.contains("Port strike enters its fourth day"));
    assert!(text.contains("https://wire.example.org/rail"));
    assert!(!text.contains("javascript:"));
    assert!(
        m["links"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.as_str().unwrap().starts_with("https://")),
        "only https links: {:?}",
        m["links"]
    );
}

/// Unix seconds of an RFC 3339 UTC time (for the token expiry).
fn chrono_like_unix(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

#[test]
fn never_repeats_an_item_and_sends_once_a_day() {
    let s = Scratch::new("    max_items: 3\n");
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.run(DAY1, &smtp.url()));
    assert_eq!(smtp.messages().len(), 1);
    let first = liked_ids(&smtp.messages()[0]);
    assert_eq!(first.len(), 3, "capped at max_items");
    assert!(
        smtp.messages()[0]["text"]
            .as_str()
            .unwrap()
            .contains("2 more held back")
    );

    // Same day again: nothing, and it says why.
    let again = ok(s.run(DAY1, &smtp.url()));
    assert_eq!(smtp.messages().len(), 1);
    let _ = again;

    // Next day, with two new items: the two held back and the new ones
    // (capped), none of yesterday's.
    s.feed("day2.xml");
    ok(s.run(DAY2, &smtp.url()));
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 2);
    let second = liked_ids(&msgs[1]);
    assert_eq!(second.len(), 3);
    assert!(
        second.iter().all(|id| !first.contains(id)),
        "{first:?} then {second:?}"
    );
    assert!(msgs[1]["text"].as_str().unwrap().contains("Storm warning"));
    assert_ne!(
        msgs[0]["headers"]["Message-ID"],
        msgs[1]["headers"]["Message-ID"]
    );

    // Third day: what is left, still nothing repeated.
    ok(s.run("2026-11-28T07:00:00Z", &smtp.url()));
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 3);
    let third = liked_ids(&msgs[2]);
    assert_eq!(third.len(), 1);
    let mut all: Vec<i64> = first.iter().chain(&second).chain(&third).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 7, "every item exactly once over three days");
}

#[test]
fn the_day_is_the_readers_local_day() {
    let smtp_dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(smtp_dir.path(), &[]);
    // 23:30 UTC on the 26th is still the 26th in London (winter, UTC+0)…
    let london = Scratch::new("    timezone: Europe/London\n");
    ok(london.run("2026-11-26T23:30:00Z", &smtp.url()));
    assert_eq!(london.digests()[0]["day"], "2026-11-26");
    // …and already the 27th in Tokyo (08:30).
    let tokyo = Scratch::new("    timezone: Asia/Tokyo\n");
    ok(tokyo.run("2026-11-26T23:30:00Z", &smtp.url()));
    assert_eq!(tokyo.digests()[0]["day"], "2026-11-27");
    assert!(
        smtp.messages()[1]["headers"]["Subject"]
            .as_str()
            .unwrap()
            .contains("Fri 27 Nov")
    );
}

#[test]
fn a_crash_after_sending_never_sends_that_day_again_and_loses_no_item() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    let out = s
        .agg(DAY1, &smtp.url())
        .env("AGG_DIGEST_TEST_CRASH", "after-send")
        .args(["run", "digest.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process died: {}", text(&out));
    assert_eq!(
        smtp.messages().len(),
        1,
        "the mail went out before the crash"
    );
    assert_eq!(s.digest("2026-11-26")["status"], "pending");

    // Right after, it could be another worker still talking to the server:
    // left alone.
    ok(s.run(DAY1, &smtp.url()));
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(s.digest("2026-11-26")["status"], "pending");
    // Half an hour later it is abandoned: it may have gone out, so it is
    // never sent again that day.
    ok(s.run(LATER1, &smtp.url()));
    ok(s.run(LATER1, &smtp.url()));
    assert_eq!(smtp.messages().len(), 1);
    let rec = s.digest("2026-11-26");
    assert_eq!(rec["status"], "interrupted");
    assert!(rec["error"].as_str().unwrap().contains("not sent again"));

    // Its items were not counted as sent: they are in the next digest.
    ok(s.run(DAY2, &smtp.url()));
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(liked_ids(&msgs[1]), record_ids(&rec));
}

#[test]
fn a_crash_before_sending_sends_nothing_that_day_and_loses_no_item() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    let out = s
        .agg(DAY1, &smtp.url())
        .env("AGG_DIGEST_TEST_CRASH", "after-begin")
        .args(["run", "digest.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(smtp.messages().len(), 0);
    let pending = s.digest("2026-11-26");
    assert_eq!(pending["status"], "pending");
    ok(s.run(LATER1, &smtp.url()));
    assert_eq!(smtp.messages().len(), 0);
    assert_eq!(s.digest("2026-11-26")["status"], "interrupted");
    ok(s.run(DAY2, &smtp.url()));
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(liked_ids(&smtp.messages()[0]), record_ids(&pending));
}

#[test]
fn smtp_down_is_a_clear_error_and_the_next_run_retries() {
    let s = Scratch::new("");
    let down = format!("smtp://127.0.0.1:{}", closed_port());
    let out = s.run(DAY1, &down);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("cannot reach the SMTP server smtp://127.0.0.1:"),
        "{t}"
    );
    assert!(t.contains("after 2 attempts"), "{t}");
    assert!(t.contains("retried on the next run"), "{t}");
    let rec = s.digest("2026-11-26");
    assert_eq!(rec["status"], "failed");
    assert!(rec["error"].as_str().unwrap().contains("cannot reach"));

    // The server is back: the same day's digest goes out, once.
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.run(DAY1, &smtp.url()));
    ok(s.run(DAY1, &smtp.url()));
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(s.digest("2026-11-26")["status"], "sent");
    assert_eq!(liked_ids(&smtp.messages()[0]).len(), 5);
}

#[test]
fn a_server_that_never_answers_times_out_and_the_next_run_retries() {
    let s = Scratch::new("    timeout_secs: 1\n");
    // Accepts connections (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let out = s.run(DAY1, &url);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("did not answer within 1s"), "{t}");
    assert!(t.contains("after 2 attempts"), "{t}");
    assert_eq!(s.digest("2026-11-26")["status"], "failed");
    drop(silent);
}

#[test]
fn refused_authentication_is_reported_not_retried_and_the_password_never_shown() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &["--auth", "reader:right-pass"]);
    let bad = format!("smtp://reader:wrong-pass@127.0.0.1:{}", smtp.port);
    let out = s.run(DAY1, &bad);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("refused authentication"), "{t}");
    assert!(
        !t.contains("after 2 attempts"),
        "a permanent refusal is not retried: {t}"
    );
    assert!(!t.contains("wrong-pass"), "{t}");
    assert!(t.contains("reader:***@"), "{t}");
    assert_eq!(s.digest("2026-11-26")["status"], "failed");
    assert_eq!(smtp.messages().len(), 0);

    let good = format!("smtp://reader:right-pass@127.0.0.1:{}", smtp.port);
    ok(s.run(DAY1, &good));
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(s.digest("2026-11-26")["status"], "sent");
}

#[test]
fn a_rejected_recipient_is_reported_and_retried_next_run() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &["--reject-rcpt", "reader@"]);
    let out = s.run(DAY1, &smtp.url());
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("rejected the message or a recipient"), "{t}");
    assert!(t.contains("no such user"), "{t}");
    assert_eq!(s.digest("2026-11-26")["status"], "failed");
    assert_eq!(smtp.messages().len(), 0);
    // Fixed address: the retry goes out.
    let fixed = std::fs::read_to_string(s.dir().join("digest.yaml"))
        .unwrap()
        .replace("to: reader@example.org", "to: me@example.org");
    std::fs::write(s.dir().join("digest.yaml"), fixed).unwrap();
    ok(s.run(DAY1, &smtp.url()));
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn a_temporary_failure_is_retried_within_the_run() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &["--tempfail", "1"]);
    let out = ok(s.run(DAY1, &smtp.url()));
    let _ = out;
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(s.digest("2026-11-26")["status"], "sent");
}

#[test]
fn dry_run_of_the_pipeline_sends_and_records_nothing() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.agg(DAY1, &smtp.url())
        .args(["run", "--dry-run", "digest.yaml"])
        .output()
        .unwrap());
    assert_eq!(smtp.messages().len(), 0);
    assert!(s.digests().is_empty());
}

#[test]
fn bad_digest_options_are_located_errors() {
    let s = Scratch::new("    max_items: 0\n");
    let out = s
        .agg(DAY1, "smtp://x")
        .args(["validate", "digest.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("`max_items` must be at least 1"),
        "{}",
        text(&out)
    );
    s.pipeline("    smtp: ftp://nope\n    timezon: UTC\n");
    let out = s
        .agg(DAY1, "smtp://x")
        .args(["validate", "digest.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("timezon"), "{t}");
    s.pipeline("    timezone: Mars/Olympus\n");
    let out = s
        .agg(DAY1, "smtp://x")
        .args(["validate", "digest.yaml"])
        .output()
        .unwrap();
    assert!(
        text(&out).contains("unknown time zone `Mars/Olympus`"),
        "{}",
        text(&out)
    );
    s.pipeline("    smtp: ftp://nope\n");
    let out = s
        .agg(DAY1, "smtp://x")
        .args(["validate", "digest.yaml"])
        .output()
        .unwrap();
    assert!(
        text(&out).contains("unknown SMTP URL scheme `ftp`"),
        "{}",
        text(&out)
    );
}

#[test]
fn two_workers_racing_for_the_same_day_send_one_mail() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    // The store exists first (two processes creating one SQLite file at
    // the same moment is the store's concern, not the digest's).
    ok(s.agg(DAY1, &smtp.url())
        .args(["items", "--count"])
        .output()
        .unwrap());
    let children: Vec<_> = (0..3)
        .map(|_| {
            s.agg(DAY1, &smtp.url())
                .args(["run", "digest.yaml"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(s.digest("2026-11-26")["status"], "sent");
}

#[test]
fn items_stored_by_earlier_runs_come_back_when_the_feed_says_nothing_new() {
    let s = Scratch::new("    max_items: 3\n");
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.run(DAY1, &smtp.url()));
    let first = liked_ids(&smtp.messages()[0]);
    // The next day the source delivers nothing (as a feed answering 304
    // would): the two items held back yesterday still come.
    std::fs::write(
        s.dir().join("feeds/news.xml"),
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Example Wire</title></channel></rss>",
    )
    .unwrap();
    ok(s.run(DAY2, &smtp.url()));
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 2);
    let second = liked_ids(&msgs[1]);
    assert_eq!(second.len(), 2, "{first:?} then {second:?}");
    assert!(second.iter().all(|id| !first.contains(id)));
    // And nothing is left after that.
    ok(s.run("2026-11-28T07:00:00Z", &smtp.url()));
    assert_eq!(smtp.messages().len(), 2);
}

#[path = "common/mod.rs"]
mod common;

#[test]
fn feed_health_counts_a_failing_feed_in_one_linked_line() {
    use std::collections::HashMap;
    let feeds = common::Server::start(HashMap::from([
        (
            "/ok.xml".to_string(),
            common::Route::Feed(common::rss("ok", 2)),
        ),
        ("/broken.xml".to_string(), common::Route::Status(500)),
    ]));
    let s = Scratch::new("");
    let yaml = std::fs::read_to_string(s.dir().join("digest.yaml"))
        .unwrap()
        .replace(
            "news:  { kind: file, path: feeds/news.xml }",
            &format!(
                "news:  {{ kind: rss, feeds: [\"{}\", \"{}\"] }}",
                feeds.url("/ok.xml"),
                feeds.url("/broken.xml")
            ),
        );
    std::fs::write(s.dir().join("digest.yaml"), yaml).unwrap();
    let smtp = Smtp::start(s.dir(), &[]);
    // The broken feed makes the run partial; the digest still goes out.
    let out = s.run(DAY1, &smtp.url());
    assert_eq!(smtp.messages().len(), 1, "{}", text(&out));
    let m = &smtp.messages()[0];
    let body = m["text"].as_str().unwrap();
    // One line with a link, not a list longer than the news.
    // (The good feed's items are old: it counts as quiet.)
    assert!(
        body.contains("Feed health: 1 feed quiet, 1 failing (https://agg.example.org/ui/feeds)"),
        "{body}"
    );
    assert!(!body.contains("/broken.xml"), "{body}");
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("Feed health: 1 feed quiet, 1 failing"),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://agg.example.org/ui/feeds\""),
        "{html}"
    );
    assert_eq!(liked_ids(m).len(), 2);
}

#[test]
fn templates_are_overridden_from_a_folder_and_a_broken_one_sends_nothing() {
    let s = Scratch::new("    templates: my-templates\n");
    std::fs::create_dir_all(s.dir().join("my-templates")).unwrap();
    std::fs::write(
        s.dir().join("my-templates/subject.txt"),
        "Custom {{ count }} for {{ pipeline }} — ünïcode",
    )
    .unwrap();
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.run(DAY1, &smtp.url()));
    let m = &smtp.messages()[0];
    assert_eq!(
        m["headers"]["Subject"],
        "Custom 5 for digest-test — ünïcode"
    );
    assert!(
        m["html"].as_str().unwrap().contains("Port strike"),
        "the rest stays shipped"
    );

    // A template that does not compile: a clear error, nothing recorded or sent.
    std::fs::write(s.dir().join("my-templates/digest.txt"), "{% for %}").unwrap();
    s.feed("day2.xml");
    let out = s.run(DAY2, &smtp.url());
    assert!(!out.status.success());
    assert!(text(&out).contains("template digest.txt"), "{}", text(&out));
    assert_eq!(smtp.messages().len(), 1);
    assert!(s.digests().iter().all(|d| d["day"] != "2026-11-27"));
}

#[test]
fn starttls_and_implicit_tls_with_authentication() {
    let certs = tempfile::tempdir().unwrap();
    let Some(ca) = test_ca(certs.path()) else {
        eprintln!("note: no openssl command; the TLS test is skipped");
        return;
    };
    let cert = ca.cert.to_str().unwrap();
    let key = ca.key.to_str().unwrap();
    let s = Scratch::new(&format!("    tls_ca_file: {}\n", ca.ca.display()));

    // STARTTLS required by the server, AUTH only after it.
    let smtp = Smtp::start(s.dir(), &["--starttls", cert, key, "--auth", "me:secret"]);
    let url = format!("smtp+starttls://me:secret@127.0.0.1:{}", smtp.port);
    ok(s.run(DAY1, &url));
    assert_eq!(smtp.messages().len(), 1);

    // Implicit TLS (smtps).
    s.feed("day2.xml");
    let smtps = Smtp::start(s.dir(), &["--tls", cert, key, "--auth", "me:secret"]);
    let url = format!("smtps://me:secret@127.0.0.1:{}", smtps.port);
    ok(s.run(DAY2, &url));
    assert_eq!(smtps.messages().len(), 1);

    // Without trusting the private CA, the certificate is refused: a clear
    // error, nothing sent.
    let other = Scratch::new("");
    let out = other.run(DAY1, &format!("smtps://me:secret@127.0.0.1:{}", smtps.port));
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.to_lowercase().contains("certificate"), "{t}");
    assert!(
        t.contains("TLS with the SMTP server smtps://me:***@127.0.0.1"),
        "{t}"
    );
    assert!(!t.contains("after 2 attempts"), "not retried: {t}");
    assert!(!t.contains("secret"), "{t}");
    assert_eq!(smtps.messages().len(), 1);
}
