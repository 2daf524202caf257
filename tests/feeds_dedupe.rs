//! Cross-source dedup end to end: the same wire story carried by two feeds
//! with small edits (other URL, re-cased headline, a sentence dropped, a
//! credit line added) is folded into the first report with "also in"; a
//! different story on the same topic is kept; an item its feed updates is
//! updated in place, not duplicated.

mod common;

use common::{agg, count, run_ok};

const WIRE: &str = "The European Central Bank held interest rates steady on Thursday, saying inflation was easing faster than expected but warning that wage growth remained strong. President Christine Lagarde told reporters the bank would stay data dependent and declined to commit to a cut in the spring. Markets had priced in a first reduction by April, and the euro rose slightly after the decision.";

fn feed(title: &str, items: &[(&str, &str, &str, &str)]) -> String {
    let mut s =
        format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{title}</title>");
    for (guid, t, link, body) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{t}</title><link>{link}</link><description>{body}</description>\
             <pubDate>Thu, 26 Nov 2026 10:{:02}:00 GMT</pubDate></item>",
            guid.len()
        ));
    }
    s + "</channel></rss>"
}

#[test]
fn near_duplicates_fold_with_also_in_and_updates_stay_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let edited = WIRE.replace(" and the euro rose slightly after the decision.", ".")
        + " (Reporting by the wire desk; editing by Staff.)";
    std::fs::write(
        tmp.path().join("a.xml"),
        feed(
            "Wire",
            &[
                ("w1", "ECB holds rates steady, signals caution on cuts", "https://wire.example/ecb", WIRE),
                ("w2", "Bank of England cuts rates for the first time in four years", "https://wire.example/boe",
                 "The Bank of England lowered its main interest rate by a quarter point on Thursday, the first cut since 2020, after inflation fell back to its target. Governor Andrew Bailey said the committee would move carefully."),
            ],
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("b.xml"),
        feed(
            "Daily Paper",
            &[(
                "p1",
                "ECB Holds Rates Steady, Signals Caution on Rate Cuts",
                "https://paper.example/markets/ecb-rates",
                &edited,
            )],
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: d\nagents:\n  a: { kind: file, path: a.xml }\n  b: { kind: file, path: b.xml }\n  \
         fresh: { kind: dedupe, inputs: [a, b] }\n  out: { kind: jsonl, inputs: [fresh], path: out.jsonl }\n",
    )
    .unwrap();
    let db = tmp.path().join("agg.db");
    run_ok(agg(tmp.path()).arg("--db").arg(&db).args(["run", "p.yaml"]));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(tmp.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let ecb = lines
        .iter()
        .find(|i| i["url"] == "https://wire.example/ecb")
        .expect("the wire's report is kept");
    assert_eq!(ecb["also_in"], serde_json::json!(["Daily Paper"]));
    assert!(lines.iter().any(|i| i["url"] == "https://wire.example/boe"));
    // Every item is still stored: dedup folds the digest, not the store.
    assert_eq!(count(tmp.path(), &db), 3);

    // The feed corrects its story: same guid, new text: updated in place.
    std::fs::write(
        tmp.path().join("a.xml"),
        feed(
            "Wire",
            &[(
                "w1",
                "ECB holds rates steady, signals caution on cuts (updated)",
                "https://wire.example/ecb",
                WIRE,
            )],
        ),
    )
    .unwrap();
    run_ok(agg(tmp.path()).arg("--db").arg(&db).args(["run", "p.yaml"]));
    assert_eq!(count(tmp.path(), &db), 3);
    let out = run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["items", "--json", "--source", "a"]),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("(updated)"), "{text}");
}

#[test]
fn near_dup_folding_can_be_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let edited = WIRE.replace("Thursday", "Thursday afternoon");
    std::fs::write(
        tmp.path().join("a.xml"),
        feed(
            "Wire",
            &[(
                "w1",
                "ECB holds rates steady",
                "https://wire.example/ecb",
                WIRE,
            )],
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("b.xml"),
        feed(
            "Paper",
            &[(
                "p1",
                "ECB keeps rates on hold",
                "https://paper.example/ecb",
                &edited,
            )],
        ),
    )
    .unwrap();
    for (near, want) in [("true", 1), ("false", 2)] {
        std::fs::write(
            tmp.path().join("p.yaml"),
            format!(
                "name: d\nagents:\n  a: {{ kind: file, path: a.xml }}\n  b: {{ kind: file, path: b.xml }}\n  \
                 fresh: {{ kind: dedupe, inputs: [a, b], near: {near} }}\n  out: {{ kind: jsonl, inputs: [fresh], path: out.jsonl }}\n"
            ),
        )
        .unwrap();
        run_ok(
            agg(tmp.path())
                .arg("--db")
                .arg(tmp.path().join("agg.db"))
                .args(["run", "p.yaml"]),
        );
        let n = std::fs::read_to_string(tmp.path().join("out.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(n, want, "near: {near}");
    }
}
