//! A feed's item count (issue 20, item 8) is the number of items agg stored
//! from it, in `agg feeds` and on /ui/feeds: items that share a date count
//! one each, and undated items count too.

mod common;

use std::collections::HashMap;

use common::*;

/// An RSS feed: `dated` items all published at the same minute, then
/// `undated` items with no date at all.
fn feed(tag: &str, dated: usize, undated: usize) -> Vec<u8> {
    let mut s =
        format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Counts {tag}</title>");
    for i in 0..dated {
        s.push_str(&format!(
            "<item><guid>{tag}-d{i}</guid><title>Dated story {i} of {tag}</title>\
             <pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>"
        ));
    }
    for i in 0..undated {
        s.push_str(&format!(
            "<item><guid>{tag}-u{i}</guid><title>Undated story {i} of {tag}</title></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

fn items_total(dir: &std::path::Path, url: &str) -> u64 {
    let out = run_ok(
        agg(dir)
            .arg("--db")
            .arg(dir.join("agg.db"))
            .args(["feeds", "--json"]),
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.iter()
        .find(|f| f["url"] == url)
        .and_then(|f| f["items_total"].as_u64())
        .unwrap_or_else(|| panic!("no state for {url}: {v:?}"))
}

#[test]
fn items_are_counted_not_dates() {
    let server = Server::start(HashMap::from([(
        "/c.xml".to_string(),
        Route::Feed(feed("a", 4, 3)),
    )]));
    let url = server.url("/c.xml");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, out) = run_rss(dir, std::slice::from_ref(&url), ", respect_schedule: false");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(items_total(dir, &url), 7, "4 items on one date, 3 undated");

    // Two more (one dated at the same minute, one undated), and the old ones
    // again: only the new ones add.
    server.set("/c.xml", Route::Feed(feed("a", 5, 4)));
    let (code, out) = run_rss(dir, std::slice::from_ref(&url), ", respect_schedule: false");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(items_total(dir, &url), 9);
    // Unchanged (304): nothing is added.
    let (code, out) = run_rss(dir, std::slice::from_ref(&url), ", respect_schedule: false");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(items_total(dir, &url), 9);
    assert_eq!(count(dir, &dir.join("agg.db")), 9, "what the store holds");

    // The same number on the UI's feeds page.
    let mut c = agg(dir);
    c.env("AGG_SECRET", "feed-counts-secret")
        .env_remove("AGG_UI_TOKEN")
        .arg("--db")
        .arg(dir.join("agg.db"))
        .args(["serve", "p.yaml", "--bind", "127.0.0.1:0"]);
    let (_served, port) = start_serve(&mut c);
    let (status, _, body) = http_request(port, "GET", "/ui/feeds", &[], "");
    assert_eq!(status, 200);
    let row = body
        .split("<tr>")
        .find(|r| r.contains("Counts a"))
        .unwrap_or_else(|| panic!("no row for the feed: {body}"));
    assert!(row.contains("<td>9</td>"), "the items cell says 9: {row}");
}
