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
    let subject = m["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Your morning digest · Thu 26 Nov · 22 new"),
        "{subject}"
    );
    let text = m["text"].as_str().unwrap();
    // Top stories (explained), then the followed story under its header.
    let follow = text.find("STORIES YOU FOLLOW").expect(text);
    let top = text.find("TOP STORIES").expect(text);
    assert!(top < follow, "{text}");
    assert!(
        text.contains(
            "## Climate summit ends with methane deal, no finance target — day 7 · 3 new · 1 outlet"
        ),
        "{text}"
    );
    assert!(text.contains("Why: you follow the saga"), "{text}");
    assert!(
        text.contains("Why: close to your interest \"rust programming\""),
        "{text}"
    );
    // The reader likes Rust: it leads.
    let first = text.find("1. ").map(|i| &text[i..i + 60]).unwrap();
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
