//! `hacker_news` and `reddit` sources end to end, against a real HTTP server
//! on 127.0.0.1 serving response files shaped exactly like the real APIs'
//! (tests/fixtures/hn: the Firebase API; tests/fixtures/reddit: subreddit
//! listing JSON).

mod common;
#[path = "fixtures/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{agg, items, repo};
use server::{Resp, TestServer};

/// Serves files under `root` by request path (query ignored); `overrides`
/// replaces some paths' bodies.
fn file_server(root: PathBuf, overrides: Arc<Mutex<Vec<(String, String)>>>) -> TestServer {
    TestServer::start(move |req| {
        let path = req.path.split('?').next().unwrap_or("/").to_string();
        if let Some((_, body)) = overrides.lock().unwrap().iter().find(|(p, _)| *p == path) {
            return Resp::ok(body.clone()).header("Content-Type", "application/json");
        }
        match std::fs::read(root.join(path.trim_start_matches('/'))) {
            Ok(b) => Resp::ok(b).header("Content-Type", "application/json; charset=utf-8"),
            Err(_) => Resp::status(404),
        }
    })
}

fn run(dir: &Path, agent: &str) -> serde_json::Value {
    std::fs::write(
        dir.join("p.yaml"),
        format!("name: s\nagents:\n  src: {agent}\n  out: {{ kind: jsonl, inputs: [src], path: out.jsonl }}\n"),
    )
    .unwrap();
    let out = agg(dir)
        .arg("--db")
        .arg(dir.join("agg.db"))
        .args(["run", "--json", "p.yaml"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn tags(i: &serde_json::Value) -> Vec<String> {
    i["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn hacker_news_top_stories_with_points_and_comments() {
    let overrides = Arc::new(Mutex::new(Vec::new()));
    let s = file_server(repo().join("tests/fixtures/hn"), overrides.clone());
    let tmp = tempfile::tempdir().unwrap();
    let agent = format!(
        "{{ kind: hacker_news, base_url: \"{}\", limit: 5, min_points: 2 }}",
        s.url("/v0")
    );
    let v = run(tmp.path(), &agent);
    assert_eq!(v["status"], "ok", "{v:#}");
    let got = items(tmp.path());
    // Five ids: one below min_points, one deleted, one null.
    assert_eq!(got.len(), 2, "{got:#?}");
    let dropbox = got.iter().find(|i| i["guid"] == "8863").unwrap();
    assert_eq!(
        dropbox["title"],
        "My YC app: Dropbox - Throw away your USB drive"
    );
    assert_eq!(
        dropbox["url"],
        "http://www.getdropbox.com/u/2/screencast.html"
    );
    assert_eq!(dropbox["author"], "dhouston");
    assert_eq!(dropbox["feed_title"], "Hacker News");
    assert!(tags(dropbox).contains(&"points:111".to_string()));
    assert!(tags(dropbox).contains(&"comments:71".to_string()));
    assert!(
        dropbox["html"]
            .as_str()
            .unwrap()
            .contains("news.ycombinator.com/item?id=8863")
    );
    let ask = got.iter().find(|i| i["guid"] == "121003").unwrap();
    assert_eq!(ask["url"], "https://news.ycombinator.com/item?id=121003");
    assert!(ask["text"].as_str().unwrap().contains("Diggification"));
    assert_eq!(s.statuses("/v0/topstories.json"), vec![200]);

    // Points change between runs: the story is updated in place.
    overrides.lock().unwrap().push((
        "/v0/item/8863.json".into(),
        r#"{"by":"dhouston","descendants":80,"id":8863,"score":150,"time":1175714200,"title":"My YC app: Dropbox - Throw away your USB drive","type":"story","url":"http://www.getdropbox.com/u/2/screencast.html"}"#.into(),
    ));
    run(tmp.path(), &agent);
    let got = items(tmp.path());
    assert_eq!(got.len(), 2);
    let dropbox = got.iter().find(|i| i["guid"] == "8863").unwrap();
    assert!(
        tags(dropbox).contains(&"points:150".to_string()),
        "{dropbox:#}"
    );

    // Another list.
    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        &format!(
            "{{ kind: hacker_news, list: best, base_url: \"{}\" }}",
            s.url("/v0")
        ),
    );
    assert_eq!(items(tmp.path()).len(), 2);
    assert_eq!(s.statuses("/v0/beststories.json"), vec![200]);
}

#[test]
fn reddit_listing_posts_with_score_and_self_text() {
    let s = file_server(repo().join("tests/fixtures/reddit"), Arc::default());
    let tmp = tempfile::tempdir().unwrap();
    let v = run(
        tmp.path(),
        &format!(
            "{{ kind: reddit, subreddits: [rust, r/programming], base_url: \"{}\", limit: 10 }}",
            s.addr
        ),
    );
    // r/programming has no response file: that subreddit fails alone.
    assert_eq!(v["agents"][0]["status"], "partial", "{v:#}");
    assert!(
        v["agents"][0]["errors"][0]
            .as_str()
            .unwrap()
            .contains("r/programming")
    );
    let req = &s.requests("/r/rust/hot.json?limit=10&raw_json=1");
    assert_eq!(req.len(), 1);
    assert!(req[0].headers["user-agent"].starts_with("agg/"));
    let got = items(tmp.path());
    // Stickied and NSFW posts are left out by default.
    assert_eq!(got.len(), 2, "{got:#?}");
    let rel = got.iter().find(|i| i["guid"] == "t3_1h0a1b").unwrap();
    assert_eq!(rel["title"], "Announcing Rust 1.95.0 & friends");
    assert_eq!(
        rel["url"],
        "https://blog.rust-lang.org/2026/11/20/Rust-1.95.0/?utm_source=reddit&x=1"
    );
    assert_eq!(rel["feed_title"], "r/rust");
    assert_eq!(rel["author"], "u/rustlang");
    let t = tags(rel);
    assert!(
        t.contains(&"points:812".into())
            && t.contains(&"comments:97".into())
            && t.contains(&"announcement".into()),
        "{t:?}"
    );
    assert!(rel["html"].as_str().unwrap().contains(&format!(
        "{}/r/rust/comments/1h0a1b/announcing_rust_1950/",
        s.addr
    )));
    let own = got.iter().find(|i| i["guid"] == "t3_1h0b2c").unwrap();
    assert_eq!(
        own["url"],
        format!("{}/r/rust/comments/1h0b2c/i_wrote_a_feed_reader/", s.addr)
    );
    assert!(
        own["text"]
            .as_str()
            .unwrap()
            .starts_with("It fetches politely. Code")
    );
    let html = own["html"].as_str().unwrap();
    assert!(
        html.contains("<strong>politely</strong>") && !html.contains("script"),
        "{html}"
    );

    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        &format!(
            "{{ kind: reddit, subreddits: [rust], base_url: \"{}\", include_stickied: true, nsfw: true, min_score: 4 }}",
            s.addr
        ),
    );
    assert_eq!(
        items(tmp.path()).len(),
        3,
        "sticky (5) kept, NSFW (3) below min_score"
    );
}

#[test]
fn source_options_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: s\nagents:\n  hn: { kind: hacker_news, list: hottest }\n  rd: { kind: reddit, subreddits: [\"not a sub\"] }\n  out: { kind: jsonl, inputs: [hn, rd], path: o.jsonl }\n",
    )
    .unwrap();
    let out = agg(tmp.path())
        .args(["validate", "p.yaml"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("unknown list `hottest`")
            && text.contains("`not a sub` is not a subreddit name"),
        "{text}"
    );
}
