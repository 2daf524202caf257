//! pipelines/daily-digest.yaml end to end, with the real sentence model
//! (scripts/setup-model.sh, as tests/intel.rs): scores with reasons, sagas
//! with their headers, a followed story first, sent over real SMTP.

#[path = "fixtures/digest/support.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use support::*;

#[test]
fn the_shipped_daily_digest_is_scored_grouped_and_sent() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&repo().join("pipelines"), &tmp.path().join("pipelines"));
    let db = tmp.path().join("agg.db");
    let smtp = Smtp::start(tmp.path(), &[]);
    let agg = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_agg"));
        c.current_dir(tmp.path())
            .env_remove("AGG_DB")
            .env("AGG_SECRET", SECRET)
            .env("AGG_DIGEST_NOW", DAY1)
            .env("AGG_SMTP_URL", smtp.url())
            .env("AGG_PUBLIC_URL", "https://agg.example.org")
            .arg("--db")
            .arg(&db);
        c
    };
    // Store, score and group first; follow the climate summit story.
    ok(agg()
        .args(["run", "pipelines/daily-digest.yaml", "--only", "sagas"])
        .output()
        .unwrap());
    assert_eq!(smtp.messages().len(), 0, "--only sagas sends nothing");
    let list =
        String::from_utf8(ok(agg().args(["sagas", "list"]).output().unwrap()).stdout).unwrap();
    let id = list
        .lines()
        .find(|l| l.contains("Climate summit"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no climate saga in:\n{list}"))
        .to_string();
    ok(agg().args(["sagas", "follow", &id]).output().unwrap());

    ok(agg()
        .args(["run", "pipelines/daily-digest.yaml"])
        .output()
        .unwrap());
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    // The same email on a phone and on a desktop: headless Chromium at 360,
    // 390 and 640 px. The column fits the screen (no sideways scroll, nothing
    // past the right edge), the followed story leads, feed health is a line.
    let html = tmp.path().join("digest-email.html");
    std::fs::write(&html, m["html"].as_str().unwrap()).unwrap();
    for width in [360, 390, 640] {
        let v = common::measure(
            &format!("file://{}", html.display()),
            width,
            &format!("digest-{width}"),
        );
        let (scroll, inner) = (v["scrollWidth"].as_i64(), v["innerWidth"].as_i64());
        assert_eq!(inner, Some(i64::from(width)), "{v}");
        assert!(scroll <= inner, "{width} px: scrolls sideways: {v}");
        assert_eq!(
            v["overflowing"].as_array().map(Vec::len),
            Some(0),
            "{width} px: past the right edge: {}",
            v["overflowing"]
        );
        // innerText is as shown: section names are upper-cased by CSS.
        let page = v["text"].as_str().unwrap().to_lowercase();
        let at = |s: &str| {
            page.find(s)
                .unwrap_or_else(|| panic!("no {s:?} in\n{page}"))
        };
        assert!(at("stories you follow") < at("top stories"), "{page}");
        assert!(at("since fri 20 nov") > at("stories you follow"), "{page}");
        assert!(!page.contains("day 7"), "{page}");
        assert!(page.contains("why:"), "{page}");
    }
    let subject = m["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Your morning digest · Thu 26 Nov · 22 new"),
        "{subject}"
    );
    let text = m["text"].as_str().unwrap();
    // The followed story first, under its header (dated, not "day 7"),
    // then the top stories (explained).
    let follow = text.find("STORIES YOU FOLLOW").expect(text);
    let top = text.find("TOP STORIES").expect(text);
    assert!(follow < top, "{text}");
    assert!(
        text.contains(
            "## Climate summit ends with methane deal, no finance target — since Fri 20 Nov · 3 new · 1 outlet"
        ),
        "{text}"
    );
    assert!(text.contains("Why: you follow the saga"), "{text}");
    assert!(
        text.contains("Why: close to your interest \"rust programming\""),
        "{text}"
    );
    // The reader likes Rust: it leads the top stories.
    let first = text[top..]
        .find("1. ")
        .map(|i| &text[top + i..top + i + 60])
        .unwrap();
    assert!(first.contains("Rust"), "{first}");
    assert_eq!(liked_ids(m).len(), 22);
    assert!(
        m["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["valid"] == true)
    );
    // Following the story already done: its header offers only "mute".
    let id_num: i64 = id.parse().unwrap();
    let mutes = m["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["action"] == "mute" && t["target"] == id_num)
        .count();
    let follows = m["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["action"] == "follow" && t["target"] == id_num)
        .count();
    assert_eq!((mutes, follows), (1, 0));
}
