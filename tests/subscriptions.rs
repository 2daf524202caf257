//! Subscriptions in the store, through the real binary and a real HTTP
//! server on 127.0.0.1: `agg feeds add` (discovery from a page, one fetch to
//! check, duplicates refused, a non-feed refused with the reason and nothing
//! stored), the `subscriptions` source fetching them, OPML export and
//! import into the store, `agg feeds remove`.

mod common;
#[path = "fixtures/server.rs"]
mod server;

use std::path::Path;

use common::{agg, rss};
use server::{Resp, TestServer};

fn feeds(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = agg(dir)
        .arg("--db")
        .arg(dir.join("agg.db"))
        .arg("feeds")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn subs(dir: &Path) -> Vec<serde_json::Value> {
    let (ok, out, err) = feeds(dir, &["subscriptions", "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn feeds_are_added_checked_fetched_exported_and_imported() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(|req| {
        match req.path.as_str() {
        "/feed.xml" => Resp::feed(req, &rss("subs", 3)),
        "/page.html" => Resp::ok(
            "<html><head><title>Blog</title><link rel=\"alternate\" type=\"application/rss+xml\" \
             title=\"Blog feed\" href=\"/feed.xml\"></head><body>hi</body></html>",
        )
        .header("Content-Type", "text/html"),
        "/plain.html" => Resp::ok("<html><head><title>No feed</title></head><body>x</body></html>")
            .header("Content-Type", "text/html"),
        "/broken.html" => Resp::ok(
            "<html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/bad.xml\"></head></html>",
        )
        .header("Content-Type", "text/html"),
        "/bad.xml" => Resp::ok("<html>not a feed</html>").header("Content-Type", "text/html"),
        _ => Resp::status(404),
    }
    });
    let d = dir.path();

    // A page resolves to the feed it advertises, fetched once to check it.
    let (ok, out, err) = feeds(d, &["add", &srv.url("/page.html"), "--folder", "tech"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&srv.url("/feed.xml")), "{out}");
    assert_eq!(srv.statuses("/feed.xml"), vec![200]);
    let s = subs(d);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["url"], srv.url("/feed.xml"));
    assert_eq!(s[0]["folder"], "tech");
    assert_eq!(s[0]["title"], "subs");

    // Duplicates are refused, whether named by page or by feed.
    for u in ["/feed.xml", "/page.html"] {
        let (ok, _, err) = feeds(d, &["add", &srv.url(u)]);
        assert!(!ok);
        assert!(err.contains("already subscribed"), "{err}");
    }
    // Not a feed: says why, stores nothing.
    let (ok, _, err) = feeds(d, &["add", &srv.url("/plain.html")]);
    assert!(!ok);
    assert!(
        err.contains("is not a feed") && err.contains("advertises none"),
        "{err}"
    );
    let (ok, _, err) = feeds(d, &["add", &srv.url("/broken.html")]);
    assert!(!ok);
    assert!(err.contains("not a readable feed"), "{err}");
    let (ok, _, err) = feeds(d, &["add", &srv.url("/missing")]);
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
    assert_eq!(subs(d).len(), 1, "nothing stored for bad URLs");

    // The `subscriptions` source fetches what the store lists.
    std::fs::write(
        d.join("p.yaml"),
        "name: s\nagents:\n  mine: { kind: subscriptions, folder: tech }\n  \
         out: { kind: jsonl, inputs: [mine], path: out.jsonl }\n",
    )
    .unwrap();
    let out = agg(d)
        .arg("--db")
        .arg(d.join("agg.db"))
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::count(d, &d.join("agg.db")), 3);

    // Export to OPML, remove, import back into the store.
    let (ok, opml, err) = feeds(d, &["export", "--subscriptions"]);
    assert!(ok, "{err}");
    assert!(
        opml.contains(&srv.url("/feed.xml")) && opml.contains("tech"),
        "{opml}"
    );
    std::fs::write(d.join("subs.opml"), &opml).unwrap();
    let (ok, out, err) = feeds(d, &["remove", &srv.url("/feed.xml")]);
    assert!(ok, "{out}{err}");
    assert!(subs(d).is_empty());
    let (ok, _, err) = feeds(d, &["remove", &srv.url("/feed.xml")]);
    assert!(!ok && err.contains("not subscribed"), "{err}");
    let (ok, out, err) = feeds(d, &["import", "subs.opml", "--store"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 subscribed, 0 already subscribed"), "{out}");
    let s = subs(d);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["url"], srv.url("/feed.xml"));
    assert_eq!(s[0]["folder"], "tech");
    let (ok, out, _) = feeds(d, &["import", "subs.opml", "--store"]);
    assert!(
        ok && out.contains("0 subscribed, 1 already subscribed"),
        "{out}"
    );
}

/// Form-encodes a value (the characters a URL holds).
fn form(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_web_ui_subscribes_and_unsubscribes_by_post_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let srv = TestServer::start(|req| {
        match req.path.as_str() {
        "/feed.xml" => Resp::feed(req, &rss("ui", 2)),
        "/site.html" => Resp::ok(
            "<html><head><link rel=\"alternate\" type=\"application/atom+xml\" href=\"/feed.xml\"></head></html>",
        )
        .header("Content-Type", "text/html"),
        "/plain.html" => Resp::ok("<html><body>no feed</body></html>").header("Content-Type", "text/html"),
        _ => Resp::status(404),
    }
    });
    std::fs::write(
        d.join("p.yaml"),
        "name: s\nagents:\n  mine: { kind: subscriptions }\n  out: { kind: jsonl, inputs: [mine], path: out.jsonl }\n",
    )
    .unwrap();
    let serve = |allow: bool| {
        let mut c = agg(d);
        c.env("AGG_SECRET", "0123456789abcdef0123456789abcdef")
            .env_remove("AGG_UI_TOKEN")
            .env_remove("AGG_ALLOW_PRIVATE")
            .arg("--db")
            .arg(d.join("agg.db"))
            .args(["serve", "p.yaml", "--bind", "127.0.0.1:0"]);
        if allow {
            c.args(["--allow-private", "127.0.0.1"]);
        }
        common::start_serve(&mut c)
    };
    let site = srv.url("/site.html");
    let body = format!("url={}&folder=blogs", form(&site));

    // Without --allow-private the browser's URL may not reach loopback.
    {
        let (_s, port) = serve(false);
        let (status, _, page) = common::http_request(port, "POST", "/ui/feeds/add", &[], &body);
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("allow"), "{page}");
    }
    assert!(srv.statuses("/site.html").is_empty(), "nothing was fetched");

    let (_s, port) = serve(true);
    // The bookmarklet's GET only asks.
    let (status, _, page) = common::http_request(
        port,
        "GET",
        &format!("/ui/feeds/subscribe?url={}", form(&site)),
        &[],
        "",
    );
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/ui/feeds/add\""), "{page}");
    assert!(
        srv.statuses("/site.html").is_empty(),
        "a GET fetches nothing"
    );
    // A POST another site makes is refused.
    let (status, _, _) = common::http_request(
        port,
        "POST",
        "/ui/feeds/add",
        &[("Origin", "https://evil.example")],
        &body,
    );
    assert_eq!(status, 403);
    assert!(subs(d).is_empty());
    // The same-site POST subscribes (the page's advertised feed, checked).
    let (status, _, page) = common::http_request(port, "POST", "/ui/feeds/add", &[], &body);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("subscribe-ok"), "{page}");
    let s = subs(d);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["url"], srv.url("/feed.xml"));
    assert_eq!(s[0]["folder"], "blogs");
    // Again: a duplicate.
    let (status, _, page) = common::http_request(port, "POST", "/ui/feeds/add", &[], &body);
    assert_eq!(status, 409, "{page}");
    // Not a feed: why, and nothing stored.
    let plain = format!("url={}", form(&srv.url("/plain.html")));
    let (status, _, page) = common::http_request(port, "POST", "/ui/feeds/add", &[], &plain);
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("advertises none"), "{page}");
    assert_eq!(subs(d).len(), 1);
    // The feeds page lists it with its form; the bookmarklet is on a page of
    // its own (no `javascript:` URL beside feed content).
    let (status, _, page) = common::http_request(port, "GET", "/ui/feeds", &[], "");
    assert_eq!(status, 200);
    assert!(!page.contains("javascript:"), "{page}");
    assert!(page.contains("href=\"/ui/feeds/subscribe\""), "{page}");
    // minijinja escapes `/` and quotes in values.
    let unescape = |page: &str| {
        page.replace("&#x2f;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    };
    assert!(unescape(&page).contains(&srv.url("/feed.xml")), "{page}");
    let (status, _, page) = common::http_request(port, "GET", "/ui/feeds/subscribe", &[], "");
    assert_eq!(status, 200);
    let page = unescape(&page);
    assert!(
        page.contains("href=\"javascript:") && page.contains("/ui/feeds/subscribe?url="),
        "{page}"
    );
    // Unsubscribe.
    let rm = format!("url={}", form(&srv.url("/feed.xml")));
    let (status, _, _) = common::http_request(port, "POST", "/ui/feeds/remove", &[], &rm);
    assert_eq!(status, 303);
    assert!(subs(d).is_empty());
    let (status, _, _) = common::http_request(port, "POST", "/ui/feeds/remove", &[], &rm);
    assert_eq!(status, 404);
}
