//! `agg digest PIPELINE`: --preview/--eml render without sending or
//! recording, --dry-run says what would go out, --force sends a day again.

#[path = "fixtures/digest/support.rs"]
mod support;

use support::*;

#[test]
fn preview_and_eml_render_without_sending_or_recording() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    let out = ok(s
        .agg(DAY1, &smtp.url())
        .args([
            "digest",
            "digest.yaml",
            "--preview",
            "out/digest.html",
            "--eml",
            "out/digest.eml",
        ])
        .output()
        .unwrap());
    let t = text(&out);
    assert!(
        t.contains("digest of 2026-11-26 (5 items), not sent"),
        "{t}"
    );
    assert!(t.contains("html: out/digest.html"), "{t}");
    let html = std::fs::read_to_string(s.dir().join("out/digest.html")).unwrap();
    assert!(html.contains("Port strike enters its fourth day"));
    assert!(!html.to_lowercase().contains("<script"));
    let eml = parse_eml(&s.dir().join("out/digest.eml"));
    assert_eq!(
        eml["types"],
        serde_json::json!(["multipart/alternative", "text/plain", "text/html"])
    );
    assert!(
        eml["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["valid"] == true)
    );
    assert_eq!(liked_ids(&eml).len(), 5);
    assert_eq!(smtp.messages().len(), 0, "nothing sent");
    assert!(s.digests().is_empty(), "nothing recorded");

    // The real send afterwards still has everything.
    ok(s.agg(DAY1, &smtp.url())
        .args(["digest", "digest.yaml"])
        .output()
        .unwrap());
    assert_eq!(liked_ids(&smtp.messages()[0]), liked_ids(&eml));
}

#[test]
fn dry_run_says_what_would_be_sent_and_does_nothing() {
    let s = Scratch::new("    max_items: 4\n");
    let smtp = Smtp::start(s.dir(), &[]);
    let out = ok(s
        .agg(DAY1, &smtp.url())
        .args(["digest", "digest.yaml", "--dry-run"])
        .output()
        .unwrap());
    let t = text(&out);
    assert!(
        t.contains("dry run: would send the digest of 2026-11-26 (4 items) to reader@example.org"),
        "{t}"
    );
    assert!(
        t.contains("subject: Morgen-Übersicht ☕ · Thu 26 Nov · 4 new"),
        "{t}"
    );
    assert!(t.contains("Museum reopens after renovation"), "{t}");
    assert!(t.contains("held back by the caps: 1"), "{t}");
    assert_eq!(smtp.messages().len(), 0);
    assert!(s.digests().is_empty());
}

#[test]
fn the_same_day_is_sent_once_unless_forced() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    let digest = |extra: &[&str]| {
        ok(s.agg(DAY1, &smtp.url())
            .args(["digest", "digest.yaml"])
            .args(extra)
            .output()
            .unwrap())
    };
    let t = text(&digest(&[]));
    assert!(
        t.contains("sent the digest of 2026-11-26 (5 items) to reader@example.org"),
        "{t}"
    );
    let t = text(&digest(&[]));
    assert!(
        t.contains("digest of 2026-11-26 already sent at ")
            && t.contains("new items wait for the next one (--force to send again)"),
        "{t}"
    );
    let t = text(&digest(&["--dry-run"]));
    assert!(t.contains("already sent"), "{t}");
    assert_eq!(smtp.messages().len(), 1);
    let t = text(&digest(&["--force"]));
    assert!(
        t.contains("--force: sending the digest of 2026-11-26 again"),
        "{t}"
    );
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(liked_ids(&msgs[0]), liked_ids(&msgs[1]));
    assert_ne!(
        msgs[0]["headers"]["Message-ID"],
        msgs[1]["headers"]["Message-ID"]
    );
    assert_eq!(
        s.digest("2026-11-26")["message_id"],
        msgs[1]["headers"]["Message-ID"]
    );
}

#[test]
fn json_outcome_and_a_pipeline_without_a_digest() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    let out = ok(s
        .agg(DAY1, &smtp.url())
        .args(["digest", "digest.yaml", "--json"])
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "sent");
    assert_eq!(v["day"], "2026-11-26");
    assert_eq!(v["items"].as_array().unwrap().len(), 5);

    std::fs::write(
        s.dir().join("plain.yaml"),
        "name: plain\nagents:\n  news: { kind: file, path: feeds/news.xml }\n  dump: { kind: jsonl, inputs: [news], path: out.jsonl }\n",
    )
    .unwrap();
    let out = s
        .agg(DAY1, &smtp.url())
        .args(["digest", "plain.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("has no `email_digest` agent"),
        "{}",
        text(&out)
    );
}

/// A morning with nothing new sends no mail, and the run's summary says so
/// under the digest (a reader wondering where today's mail is reads why).
#[test]
fn a_morning_with_nothing_new_says_so_in_the_run_summary() {
    let s = Scratch::new("");
    let smtp = Smtp::start(s.dir(), &[]);
    let day1 = text(&s.run(DAY1, &smtp.url()));
    assert!(
        !day1.contains("nothing new since the last digest"),
        "{day1}"
    );
    assert_eq!(smtp.messages().len(), 1);
    let day2 = text(&s.run(DAY2, &smtp.url()));
    assert!(
        day2.contains("nothing new since the last digest; no mail for 2026-11-27"),
        "{day2}"
    );
    assert_eq!(smtp.messages().len(), 1);
}
