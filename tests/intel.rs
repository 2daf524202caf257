//! The interest classifier and sagas end to end: the real sentence model
//! (installed by scripts/setup-model.sh, which scripts/test.sh and CI run),
//! the real binary, a real SQLite file.

mod common;

use std::path::Path;

use common::*;

fn morning() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("pipelines"), &tmp.path().join("pipelines"));
    let db = tmp.path().join("agg.db");
    (tmp, db)
}

fn items(dir: &Path, db: &Path) -> Vec<serde_json::Value> {
    let out = run_ok(
        agg(dir)
            .arg("--db")
            .arg(db)
            .args(["items", "--json", "--limit", "100"]),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_title<'a>(items: &'a [serde_json::Value], title: &str) -> &'a serde_json::Value {
    items
        .iter()
        .find(|i| i["title"] == title)
        .unwrap_or_else(|| panic!("no item {title}"))
}

#[test]
fn scores_reasons_sagas_feedback_and_cache() {
    let (tmp, db) = morning();
    let dir = tmp.path();
    let out = run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["-v", "run", "pipelines/morning.yaml"]),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("embedded=22"),
        "first run embeds every item:\n{log}"
    );

    let all = items(dir, &db);
    let scored: Vec<_> = all.iter().filter(|i| i["score"].is_number()).collect();
    assert_eq!(scored.len(), 22, "every delivered item is scored");
    assert!(
        scored
            .iter()
            .all(|i| !i["reasons"].as_array().unwrap().is_empty()),
        "and explained"
    );
    // The reader likes Rust: a Rust release outranks a port strike.
    let rust = by_title(&all, "Rust 1.95 stabilises async closures in traits")["score"]
        .as_f64()
        .unwrap();
    let strike = by_title(&all, "Port strike ends after 11 days with wage deal")["score"]
        .as_f64()
        .unwrap();
    assert!(rust > strike, "rust {rust} vs strike {strike}");
    assert!(
        by_title(&all, "Rust 1.95 stabilises async closures in traits")["reasons"][0]
            .as_str()
            .unwrap()
            .contains("rust programming")
    );

    // One story told in three items over four days is one saga.
    let saga = |t: &str| by_title(&all, t)["saga"]["id"].as_u64().unwrap();
    let pole = saga("Las Vegas Grand Prix: Norris takes pole by 0.04s");
    assert_eq!(
        pole,
        saga("Las Vegas Grand Prix: Norris wins, title goes to Abu Dhabi")
    );
    assert_eq!(pole, saga("Abu Dhabi preview: what each contender needs"));
    assert_ne!(pole, saga("City marathon sets participation record"));

    // Re-running embeds nothing: the store caches embeddings per item.
    let out = run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["-v", "run", "pipelines/morning.yaml"]),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("embedded=0 cached=22"), "{log}");

    // Feedback retrains: disliking the F1 items lowers F1 scores.
    let f1_before = by_title(&all, "Abu Dhabi preview: what each contender needs")["score"]
        .as_f64()
        .unwrap();
    let ids: Vec<String> = all
        .iter()
        .filter(|i| {
            i["title"]
                .as_str()
                .unwrap()
                .starts_with("Las Vegas Grand Prix")
        })
        .map(|i| i["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["feedback", "dislike"])
            .args(&ids),
    );
    run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/morning.yaml"]),
    );
    let after = items(dir, &db);
    let f1_after = by_title(&after, "Abu Dhabi preview: what each contender needs")["score"]
        .as_f64()
        .unwrap();
    assert!(
        f1_after < f1_before,
        "dislikes lowered a similar item: {f1_before} → {f1_after}"
    );
    let explain =
        run_ok(
            agg(dir)
                .arg("--db")
                .arg(&db)
                .args(["items", "--explain", "--limit", "50"]),
        );
    let text = String::from_utf8(explain.stdout).unwrap();
    assert!(text.contains("Abu Dhabi preview"), "{text}");
    assert!(text.contains("· "), "reasons are listed: {text}");

    // Following a saga lifts its items and says so.
    run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["sagas", "follow", &pole.to_string()]),
    );
    run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/morning.yaml"]),
    );
    let followed = items(dir, &db);
    let preview = by_title(&followed, "Abu Dhabi preview: what each contender needs");
    assert!(
        preview["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("you follow the saga"),
        "{preview}"
    );
    assert!(preview["score"].as_f64().unwrap() >= f1_after);
}

#[test]
fn saga_controls_persist_and_reject_unknown_sagas() {
    let (tmp, db) = morning();
    let dir = tmp.path();
    run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/morning.yaml"]),
    );
    let all = items(dir, &db);
    let climate: Vec<&serde_json::Value> = all
        .iter()
        .filter(|i| i["title"].as_str().unwrap().starts_with("Climate summit"))
        .collect();
    assert_eq!(climate.len(), 3);
    let id = climate[0]["saga"]["id"].as_u64().unwrap();
    assert!(climate.iter().all(|i| i["saga"]["id"].as_u64() == Some(id)));
    let sagas = |args: &[&str]| {
        agg(dir)
            .arg("--db")
            .arg(&db)
            .arg("sagas")
            .args(args)
            .output()
            .unwrap()
    };

    assert!(
        sagas(&["rename", &id.to_string(), "COP climate talks"])
            .status
            .success()
    );
    assert!(sagas(&["mute", &id.to_string()]).status.success());
    let shown = String::from_utf8(sagas(&["show", &id.to_string()]).stdout).unwrap();
    assert!(
        shown.contains("COP climate talks") && shown.contains("muted"),
        "{shown}"
    );

    // Split the finance item out; it stays out on the next run.
    let finance = climate
        .iter()
        .find(|i| i["title"].as_str().unwrap().contains("finance goal"))
        .unwrap()["id"]
        .to_string();
    let out = sagas(&["split", &id.to_string(), &finance]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/morning.yaml"]),
    );
    let again = items(dir, &db);
    let finance_saga = by_title(
        &again,
        "Climate summit: negotiators split over finance goal",
    )["saga"]["id"]
        .as_u64();
    assert_ne!(finance_saga, Some(id));
    // Muted: its items are marked and sink.
    let muted = by_title(&again, "Climate summit opens with pledge on methane");
    assert!(
        muted["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("you muted the saga"),
        "{muted}"
    );

    // Merging it back, and errors for sagas that do not exist.
    let fs = finance_saga.unwrap().to_string();
    assert!(sagas(&["merge", &id.to_string(), &fs]).status.success());
    let bad = sagas(&["merge", &id.to_string(), "99999"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("99999"));
    assert!(!sagas(&["follow", "99999"]).status.success());
    assert!(
        !sagas(&["split", &id.to_string(), "424242"])
            .status
            .success()
    );
}

/// The demo morning, run, then `agg search QUERY --json` with `env` set:
/// its hits and what it printed on stderr.
fn searched(query: &[&str], env: &[(&str, &std::path::Path)]) -> (Vec<serde_json::Value>, String) {
    let (tmp, db) = morning();
    let dir = tmp.path();
    run_ok(
        agg(dir)
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/morning.yaml"]),
    );
    let mut cmd = agg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_ok(
        cmd.arg("--db")
            .arg(&db)
            .arg("search")
            .args(query)
            .arg("--json"),
    );
    let hits = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (hits, String::from_utf8(out.stderr).unwrap())
}

fn all_about_apophis(hits: &[serde_json::Value]) -> bool {
    hits.iter()
        .all(|h| h["title"].as_str().unwrap().contains("Apophis"))
}

#[test]
fn search_finds_by_meaning() {
    let (hits, _) = searched(&["space rock mission", "--limit", "2"], &[]);
    assert_eq!(hits.len(), 2);
    assert!(all_about_apophis(&hits), "{hits:?}");
}

/// Without the model, `agg search` finds items by their words (through the
/// store's full-text index, stemmed) and says why, instead of failing.
#[test]
fn search_without_the_model_finds_by_words_and_says_why() {
    let missing = std::path::Path::new("/nonexistent/agg-model");
    let (hits, err) = searched(&["Apophis"], &[("AGG_MODEL_DIR", missing)]);
    assert!(!hits.is_empty());
    assert!(all_about_apophis(&hits), "{hits:?}");
    assert!(err.contains("keyword matches only"), "{err}");
}

#[test]
fn eval_commands_print_metrics_and_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let stories = tmp.path().join("s.jsonl");
    let rows = [
        (
            "1",
            "2026-01-01",
            "Volcano erupts in Iceland, flights grounded",
            "v",
        ),
        (
            "2",
            "2026-01-01",
            "Iceland volcano eruption grounds flights across Europe",
            "v",
        ),
        (
            "3",
            "2026-01-02",
            "Tech giant unveils new smartphone with foldable screen",
            "p",
        ),
        (
            "4",
            "2026-01-03",
            "Flights resume as Iceland volcano ash cloud clears",
            "v",
        ),
        (
            "5",
            "2026-01-03",
            "Foldable smartphone from tech giant sells out in hours",
            "p",
        ),
    ];
    let mut s = String::new();
    for (id, d, t, st) in rows {
        s.push_str(
            &serde_json::json!({"id": id, "date": d, "title": t, "text": "", "story": st})
                .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(&stories, s).unwrap();
    let pred = tmp.path().join("p.tsv");
    let out = run_ok(
        agg(tmp.path())
            .args(["eval", "sagas", "--input"])
            .arg(&stories)
            .arg("--output")
            .arg(&pred),
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["bcubed_p", "bcubed_r", "bcubed_f1", "pair_f1", "ari", "nmi"] {
        assert!(m[k].is_number(), "{k} in {m}");
    }
    let tsv = std::fs::read_to_string(&pred).unwrap();
    let lines: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l.len() == 2));
    assert_eq!(
        lines[0][1], lines[1][1],
        "the two volcano headlines share a saga"
    );

    let labelled = tmp.path().join("l.jsonl");
    let mut s = String::new();
    for i in 0..40 {
        let (t, l) = if i % 2 == 0 {
            (format!("Team wins match {i} in the league final"), "Sports")
        } else {
            (
                format!("Shares fall as company {i} reports quarterly loss"),
                "Business",
            )
        };
        s.push_str(
            &serde_json::json!({"id": i.to_string(), "title": t, "text": "", "label": l})
                .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(&labelled, s).unwrap();
    let out = run_ok(
        agg(tmp.path())
            .args(["eval", "interests", "--input"])
            .arg(&labelled)
            .args([
                "--like-label",
                "Sports",
                "--interest",
                "sports",
                "--labels",
                "0,10",
                "--seeds",
                "2",
                "--device",
                "cpu",
            ]),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one line per budget");
    assert_eq!(lines[1]["budget"], 10);
    assert!(lines[0]["auc_mean"].as_f64().unwrap() > 0.8, "{}", lines[0]);
}
