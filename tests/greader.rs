//! The Google Reader–compatible API of `agg serve` (issue 19), with a real
//! client: newsboat's `urls-source "feedhq"` (the Google Reader dialect as
//! FeedHQ served it: JSON subscription list, Atom streams; Debian's newsboat
//! 2.21 predates its `"freshrss"` source) lists agg's feeds, reads their
//! items, and the read state goes both ways (marked in agg → read in
//! newsboat after a reload; marked in newsboat → read in agg). The protocol's
//! edges (wrong password, unknown ids and streams, paging, starring) are
//! checked over plain HTTP.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{Route, Server, agg, http_request, rss, run_ok, start_serve};

const SECRET: &str = "test-secret-for-links-0123456789abcdef";
const USER: &str = "reader";
const PASSWORD: &str = "correct horse";
const API: &str = "/api/greader";

struct Setup {
    tmp: tempfile::TempDir,
    _feeds: Server,
    alpha: String,
    port: u16,
    served: common::Served,
}

/// Two feeds (3 and 2 items) fetched once by `agg run`, then `agg serve`
/// with the reader API on.
fn setup() -> Setup {
    let mut routes = HashMap::new();
    routes.insert("/alpha.xml".to_string(), Route::Feed(rss("alpha", 3)));
    routes.insert("/beta.xml".to_string(), Route::Feed(rss("beta", 2)));
    let feeds = Server::start(routes);
    let tmp = tempfile::tempdir().unwrap();
    let (alpha, beta) = (feeds.url("/alpha.xml"), feeds.url("/beta.xml"));
    std::fs::write(
        tmp.path().join("p.yaml"),
        format!("name: t\nagents:\n  news: {{ kind: rss, feeds: [\"{alpha}\", \"{beta}\"] }}\n"),
    )
    .unwrap();
    run_ok(agg(tmp.path()).args(["--db", "agg.db", "run", "p.yaml"]));
    let (served, port) = start_serve(
        agg(tmp.path())
            .env("AGG_SECRET", SECRET)
            .env("AGG_API_PASSWORD", PASSWORD)
            .args(["--db", "agg.db", "serve", "p.yaml", "--bind", "127.0.0.1:0"])
            .args(["--api-user", USER]),
    );
    Setup {
        tmp,
        _feeds: feeds,
        alpha,
        port,
        served,
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn login(port: u16, password: &str) -> (u16, String) {
    let (s, _, body) = http_request(
        port,
        "POST",
        &format!("{API}/accounts/ClientLogin"),
        &[],
        &format!("Email={USER}&Passwd={}", enc(password)),
    );
    (s, body)
}

fn auth(port: u16) -> String {
    let (s, body) = login(port, PASSWORD);
    assert_eq!(s, 200, "{body}");
    let token = body
        .lines()
        .find_map(|l| l.strip_prefix("Auth="))
        .expect("an Auth= line")
        .to_string();
    format!("GoogleLogin auth={token}")
}

fn api_get(port: u16, auth: &str, path: &str) -> (u16, serde_json::Value) {
    let (s, _, body) = http_request(
        port,
        "GET",
        &format!("{API}/reader/api/0/{path}"),
        &[("Authorization", auth)],
        "",
    );
    (
        s,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn api_post(port: u16, auth: &str, path: &str, body: &str) -> (u16, String) {
    let (s, _, body) = http_request(
        port,
        "POST",
        &format!("{API}/reader/api/0/{path}"),
        &[("Authorization", auth)],
        body,
    );
    (s, body)
}

fn unread(dir: &Path) -> u64 {
    let out = run_ok(agg(dir).args(["--db", "agg.db", "items", "--unread", "--count"]));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_protocol_answers_with_the_right_status() {
    let s = setup();
    let port = s.port;

    // Wrong password, no token, a forged token: 401 and nothing else.
    let (st, body) = login(port, "wrong");
    assert_eq!(st, 401);
    assert!(!body.contains("Auth="), "{body}");
    let (st, v) = api_get(port, "", "subscription/list?output=json");
    assert_eq!((st, v), (401, serde_json::Value::Null));
    let (st, _) = api_get(
        port,
        &format!("GoogleLogin auth={USER}/0000000000000000000000000000000000000000"),
        "subscription/list?output=json",
    );
    assert_eq!(st, 401);
    // The UI token is not an API login.
    let (st, _, _) = http_request(
        port,
        "GET",
        &format!("{API}/reader/api/0/tag/list?token=x"),
        &[("Cookie", "agg_token=x")],
        "",
    );
    assert_eq!(st, 401);

    let a = auth(port);
    let (st, subs) = api_get(port, &a, "subscription/list?output=json");
    assert_eq!(st, 200);
    let subs = subs["subscriptions"].as_array().unwrap().clone();
    assert_eq!(subs.len(), 2, "{subs:?}");
    assert_eq!(subs[0]["id"], format!("feed/{}", s.alpha));
    assert_eq!(subs[0]["categories"][0]["label"], "news");

    // Paging: 2 + 2 + 1 items, no item twice, the last page has no
    // continuation.
    let mut seen = Vec::new();
    let mut c = String::new();
    for page in 0..3 {
        let (st, v) = api_get(
            port,
            &a,
            &format!(
                "stream/contents/{}?n=2&c={c}",
                enc("user/-/state/com.google/reading-list")
            ),
        );
        assert_eq!(st, 200);
        for it in v["items"].as_array().unwrap() {
            seen.push(it["id"].as_str().unwrap().to_string());
            assert!(it["published"].is_i64());
            assert!(
                it["canonical"][0]["href"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://example.com/")
            );
        }
        match v["continuation"].as_str() {
            Some(next) => c = next.to_string(),
            None => assert_eq!(page, 2, "pages end early"),
        }
    }
    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (5, 5), "{seen:?}");

    // One feed's stream, by path and by query.
    let (st, v) = api_get(
        port,
        &a,
        &format!("stream/contents/{}", enc(&format!("feed/{}", s.alpha))),
    );
    assert_eq!((st, v["items"].as_array().unwrap().len()), (200, 3));
    let (st, v) = api_get(
        port,
        &a,
        "stream/items/ids?s=user/-/state/com.google/reading-list&n=100",
    );
    assert_eq!((st, v["itemRefs"].as_array().unwrap().len()), (200, 5));
    let first = v["itemRefs"][0]["id"].as_str().unwrap().to_string();

    // Unknown streams and items are 404; malformed ids 400.
    let (st, _) = api_get(
        port,
        &a,
        &format!("stream/contents/{}", enc("feed/http://nowhere.example/x")),
    );
    assert_eq!(st, 404);
    let (st, _) = api_get(port, &a, "stream/contents/user/-/label/NoSuchFolder");
    assert_eq!(st, 404);
    let (st, tok) = {
        let (s, _, b) = http_request(
            port,
            "GET",
            &format!("{API}/reader/api/0/token"),
            &[("Authorization", &a)],
            "",
        );
        (s, b.trim().to_string())
    };
    assert_eq!(st, 200);
    let (st, _) = api_post(
        port,
        &a,
        "edit-tag",
        &format!("i=999999&a=user/-/state/com.google/read&T={tok}"),
    );
    assert_eq!(st, 404);
    let (st, _) = api_post(
        port,
        &a,
        "edit-tag",
        &format!("i=abc&a=user/-/state/com.google/read&T={tok}"),
    );
    assert_eq!(st, 400);
    // A wrong action token is refused the way Google Reader did.
    let (st, _, h) = {
        let (s, h, b) = http_request(
            port,
            "POST",
            &format!("{API}/reader/api/0/edit-tag"),
            &[("Authorization", &a)],
            &format!("i={first}&a=user/-/state/com.google/read&T=forged"),
        );
        (s, b, h)
    };
    assert_eq!(st, 401);
    assert_eq!(
        h.get("x-reader-google-bad-token").map(String::as_str),
        Some("true")
    );
    assert_eq!(unread(s.tmp.path()), 5, "a refused request changed nothing");

    // Starring is agg's "saved"; the starred stream lists it, with the
    // starred category; unstarring undoes it.
    let (st, body) = api_post(
        port,
        &a,
        "edit-tag",
        &format!("i={first}&a=user/-/state/com.google/starred&T={tok}"),
    );
    assert_eq!((st, body.as_str()), (200, "OK"));
    let (_, v) = api_get(port, &a, "stream/contents/user/-/state/com.google/starred");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(
        items[0]["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "user/-/state/com.google/starred")
    );
    let saved = run_ok(agg(s.tmp.path()).args(["--db", "agg.db", "items", "--saved", "--count"]));
    assert_eq!(String::from_utf8_lossy(&saved.stdout).trim(), "1");
    api_post(
        port,
        &a,
        "edit-tag",
        &format!("i={first}&r=user/-/state/com.google/starred&T={tok}"),
    );
    let (_, v) = api_get(port, &a, "stream/contents/user/-/state/com.google/starred");
    assert_eq!(v["items"].as_array().unwrap().len(), 0);

    // Unread counts per feed, and xt=read hides what was read.
    api_post(
        port,
        &a,
        "edit-tag",
        &format!("i={first}&a=user/-/state/com.google/read&T={tok}"),
    );
    let (_, v) = api_get(port, &a, "unread-count?output=json");
    let total = v["unreadcounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "user/-/state/com.google/reading-list")
        .unwrap()["count"]
        .as_u64();
    assert_eq!(total, Some(4));
    let (_, v) = api_get(
        port,
        &a,
        "stream/items/ids?s=user/-/state/com.google/reading-list&xt=user/-/state/com.google/read&n=100",
    );
    assert_eq!(v["itemRefs"].as_array().unwrap().len(), 4);
    assert_eq!(unread(s.tmp.path()), 4);
    drop(s.served);
}

/// newsboat's configuration for agg's API.
fn newsboat_home(dir: &Path, port: u16) -> std::path::PathBuf {
    let home = dir.join("nb");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("urls"), "").unwrap();
    std::fs::write(
        home.join("config"),
        format!(
            "urls-source \"feedhq\"\nfeedhq-url \"http://127.0.0.1:{port}{API}\"\n\
             feedhq-login \"{USER}\"\nfeedhq-password \"{PASSWORD}\"\nfeedhq-min-items 50\n\
             feedhq-show-special-feeds no\n"
        ),
    )
    .unwrap();
    home
}

fn newsboat_args(home: &Path) -> Vec<String> {
    vec![
        "-u".into(),
        home.join("urls").display().to_string(),
        "-c".into(),
        home.join("cache.db").display().to_string(),
        "-C".into(),
        home.join("config").display().to_string(),
    ]
}

fn newsboat(home: &Path, args: &[&str]) -> String {
    let out = Command::new("newsboat")
        .env("HOME", home)
        .args(newsboat_args(home))
        .args(args)
        .output()
        .expect("newsboat (apt-get install -y newsboat)");
    assert!(
        out.status.success(),
        "newsboat {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Presses `keys` in an interactive newsboat (see the driver script).
fn newsboat_keys(home: &Path, keys: &str) {
    let out = Command::new("python3")
        .arg(common::repo().join("tests/fixtures/greader/newsboat_keys.py"))
        .arg(keys)
        .arg("--")
        .arg("newsboat")
        .args(newsboat_args(home))
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "interactive newsboat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn newsboat_syncs_read_state_with_agg() {
    let s = setup();
    let dir = s.tmp.path();
    let home = newsboat_home(dir, s.port);

    newsboat(&home, &["-x", "reload"]);
    let text = newsboat(&home, &["-x", "print-unread"]);
    assert!(text.starts_with("5 unread"), "{text}");

    // Read in agg (the web page or `agg mark`) → read in newsboat.
    let a = auth(s.port);
    let (_, v) = api_get(
        s.port,
        &a,
        &format!("stream/contents/{}", enc(&format!("feed/{}", s.alpha))),
    );
    let id = i64::from_str_radix(
        v["items"][0]["id"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap(),
        16,
    )
    .unwrap();
    run_ok(agg(dir).args(["--db", "agg.db", "mark", "read", &id.to_string()]));
    newsboat(&home, &["-x", "reload"]);
    let text = newsboat(&home, &["-x", "print-unread"]);
    assert!(text.starts_with("4 unread"), "{text}");
    assert_eq!(unread(dir), 4);

    // Read in newsboat → read in agg: open the first feed and its first
    // unread article (opening marks it read on the server)…
    newsboat_keys(&home, "wait,enter,wait,enter,wait,q,wait");
    wait_for("the article opened in newsboat is read in agg", || {
        unread(dir) == 3
    });
    // …then "mark all feeds read" (C, confirmed).
    newsboat_keys(&home, "wait,C,y,wait");
    wait_for("newsboat's catch-up reaches agg", || unread(dir) == 0);
    newsboat(&home, &["-x", "reload"]);
    let text = newsboat(&home, &["-x", "print-unread"]);
    assert!(text.starts_with("0 unread"), "{text}");

    // Marked unread in agg → unread again in newsboat, which had read it.
    run_ok(agg(dir).args(["--db", "agg.db", "mark", "unread", &id.to_string()]));
    newsboat(&home, &["-x", "reload"]);
    let text = newsboat(&home, &["-x", "print-unread"]);
    assert!(text.starts_with("1 unread"), "{text}");
    drop(s.served);
}
