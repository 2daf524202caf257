//! The `website` source and the `extract` transform end to end: the real
//! `agg` binary against a real HTTP server on 127.0.0.1 serving the pages
//! under tests/fixtures/web/ (a council news listing, a newspaper article
//! with navigation, ads and comments, a home page, robots.txt and an RSS
//! feed pointing at them). `{{BASE}}` in a served file becomes the
//! server's address.

mod common;
#[path = "fixtures/server.rs"]
mod server;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use common::{agg, items as stored, repo};
use server::{Resp, TestServer};

/// Serves tests/fixtures/web by path (query ignored; `dir/` serves
/// `dir/index.html`), with `{{BASE}}` replaced by the server's address.
fn web_server() -> TestServer {
    web_server_with(None)
}

/// [`web_server`] with robots.txt answered by this status instead.
fn web_server_with(robots_status: Option<u16>) -> TestServer {
    let root = repo().join("tests/fixtures/web");
    let base: Arc<OnceLock<String>> = Arc::default();
    let b2 = base.clone();
    let s = TestServer::start(move |req| {
        let mut path = req.path.split('?').next().unwrap_or("/").to_string();
        if path.ends_with('/') {
            path.push_str("index.html");
        }
        if path.contains("..") {
            return Resp::status(400);
        }
        if let (Some(st), "/robots.txt") = (robots_status, path.as_str()) {
            return Resp::status(st);
        }
        let file = root.join(path.trim_start_matches('/'));
        // Article URLs have no extension, like most news sites'.
        let file = if file.extension().is_none() {
            file.with_extension("html")
        } else {
            file
        };
        let Ok(body) = std::fs::read(&file) else {
            return Resp::status(404).header("Content-Type", "text/html");
        };
        let body = String::from_utf8(body)
            .unwrap()
            .replace("{{BASE}}", b2.get().unwrap());
        let ct = match file.extension().and_then(|e| e.to_str()) {
            Some("xml") => "application/rss+xml",
            Some("txt") => "text/plain",
            _ => "text/html; charset=utf-8",
        };
        Resp::ok(body).header("Content-Type", ct)
    });
    base.set(s.addr.clone()).unwrap();
    s
}

struct Ran {
    report: serde_json::Value,
    stderr: String,
}

fn run(dir: &Path, pipeline: &str) -> Ran {
    std::fs::write(dir.join("p.yaml"), pipeline).unwrap();
    let out = agg(dir)
        .arg("--db")
        .arg(dir.join("agg.db"))
        .args(["run", "--json", "p.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{stderr}", String::from_utf8_lossy(&out.stdout)));
    Ran { report, stderr }
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_title<'a>(items: &'a [serde_json::Value], title: &str) -> &'a serde_json::Value {
    items
        .iter()
        .find(|i| i["title"] == title)
        .unwrap_or_else(|| panic!("no item titled {title:?} in {items:#?}"))
}

fn website_pipeline(url: &str, item: &str) -> String {
    format!(
        "name: w\ntimezone: UTC\nagents:\n  council:\n    kind: website\n    url: \"{url}\"\n    item: \"{item}\"\n    title: h3\n    date: .published\n    summary: p.teaser\n  out: {{ kind: jsonl, inputs: [council], path: out.jsonl }}\n"
    )
}

#[test]
fn website_scrape_gives_titles_links_and_dates() {
    let s = web_server();
    let tmp = tempfile::tempdir().unwrap();
    let p = website_pipeline(&s.url("/news/"), "ul.news-list > li.news-item");
    let r = run(tmp.path(), &p);
    assert_eq!(r.report["status"], "ok", "{:#}\n{}", r.report, r.stderr);
    let got = stored(tmp.path());
    // Five list entries; the notice without a link gives no item.
    assert_eq!(got.len(), 4, "{got:#?}");
    let grit = by_title(&got, "Winter gritting routes published");
    assert_eq!(grit["url"], s.url("/news/2026/11/winter-gritting"));
    assert_eq!(grit["published"], "2026-11-24T00:00:00Z");
    assert!(
        grit["text"].as_str().unwrap().contains("priority routes"),
        "{grit:#}"
    );
    assert!(
        grit["html"]
            .as_str()
            .unwrap()
            .contains("<strong>priority routes</strong>")
    );
    assert_eq!(
        grit["feed_title"],
        "News releases — Harrogate Borough Council"
    );
    // A relative link resolves against the page URL.
    let market = by_title(&got, "Market hall reopens after £2m refurbishment");
    assert_eq!(market["url"], s.url("/news/market-hall-reopens?ref=list"));
    assert_eq!(market["published"], "2026-11-21T00:00:00Z");
    let parking = by_title(&got, "Have your say on town centre parking");
    assert_eq!(
        parking["url"],
        "https://www.example.gov/consultations/parking#respond"
    );
    assert_eq!(parking["published"], "2026-11-18T00:00:00Z");
    assert!(!parking["html"].as_str().unwrap().contains("script"));
    // A date that does not parse leaves the item undated, not dropped.
    let lib = by_title(&got, "Library opening hours from January");
    assert!(lib.get("published").is_none_or(|p| p.is_null()), "{lib:#}");
    // The jsonl sink saw the same four.
    assert_eq!(jsonl(&tmp.path().join("out.jsonl")).len(), 4);

    // Scraping again stores nothing twice: keys come from the links.
    let r = run(tmp.path(), &p);
    assert_eq!(r.report["status"], "ok");
    assert_eq!(stored(tmp.path()).len(), 4);
    assert_eq!(s.statuses("/news/"), vec![200, 200]);
}

#[test]
fn website_selector_matching_nothing_fails_that_agent_with_a_hint() {
    let s = web_server();
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &website_pipeline(&s.url("/news/"), "div.article-card"),
    );
    let agent = &r.report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "council")
        .unwrap_or_else(|| panic!("{:#}", r.report));
    assert_eq!(agent["status"], "failed", "{:#}", r.report);
    let err = agent.to_string();
    assert!(err.contains("matched nothing"), "{err}");
    assert!(err.contains("div.article-card"), "{err}");
    assert!(err.contains("hint"), "{err}");
    assert_ne!(r.report["status"], "ok");
}

#[test]
fn bad_selectors_are_rejected_by_validate_at_their_location() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: w\nagents:\n  council:\n    kind: website\n    url: https://www.example.gov/news\n    item: \"ul.news > li[\"\n    date: \"span:nth-child(\"\n  out: { kind: jsonl, inputs: [council], path: out.jsonl }\n",
    )
    .unwrap();
    let out = agg(tmp.path())
        .args(["validate", "--format", "json", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v[0]["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(6), Some(11)),
        "{v:#}"
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("invalid CSS selector `ul.news > li[`"),
        "{v:#}"
    );
    // The human form names the file, line and column.
    let out = agg(tmp.path())
        .args(["validate", "p.yaml"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("p.yaml:6:11"), "{text}");
}

fn extract_pipeline(feed: &str) -> String {
    format!(
        "name: x\ntimezone: UTC\nagents:\n  news: {{ kind: rss, feeds: [\"{feed}\"], respect_schedule: false }}\n  full:\n    kind: extract\n    inputs: [news]\n    per_host: 1\n    allow_private: [127.0.0.1]\n  out: {{ kind: jsonl, inputs: [full], path: out.jsonl }}\n"
    )
}

#[test]
fn extract_fills_in_articles_and_keeps_every_other_item() {
    let s = web_server();
    let tmp = tempfile::tempdir().unwrap();
    let p = extract_pipeline(&s.url("/feed.xml"));
    let r = run(tmp.path(), &p);
    assert_eq!(r.report["status"], "ok", "{:#}\n{}", r.report, r.stderr);
    let out = jsonl(&tmp.path().join("out.jsonl"));
    assert_eq!(out.len(), 4, "no item is dropped: {out:#?}");

    // The article: its main text replaces the teaser; the chrome stays out.
    let weir = by_title(&out, "Volunteers map every weir on the River Ouse");
    let text = weir["text"].as_str().unwrap();
    assert!(
        text.contains("Over three summers, 140 volunteers"),
        "{text}"
    );
    assert!(text.contains("eleven small weirs on the Swale"), "{text}");
    for chrome in [
        "Great article, thanks",
        "Best mortgage rates",
        "Subscribe to our newsletter",
        "All rights reserved",
    ] {
        assert!(!text.contains(chrome), "{chrome:?} in {text}");
    }
    let html = weir["html"].as_str().unwrap();
    assert!(html.contains(&s.url("/reports/ouse-weirs.pdf")), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert_eq!(weir["author"], "Priya Raman");
    assert!(weir["tags"].to_string().contains("extracted"));
    // The store has the full text too (readers of the store see it).
    let st = stored(tmp.path());
    assert!(
        by_title(&st, "Volunteers map every weir on the River Ouse")["text"]
            .as_str()
            .unwrap()
            .contains("Over three summers")
    );

    // robots.txt disallows /private/: the page is never requested, the item
    // keeps its feed summary and the reason is logged.
    let memo = by_title(&out, "Council memo leaked");
    assert_eq!(memo["text"], "Teaser for the memo story.");
    assert!(s.requests("/private/leaked-memo.html").is_empty());
    assert!(
        r.stderr.contains("/private/leaked-memo.html") && r.stderr.contains("robots.txt"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Disallow: /private/"), "{}", r.stderr);
    // One request at a time to the host (`per_host: 1`).
    assert_eq!(s.max_active.load(std::sync::atomic::Ordering::SeqCst), 1);
    // robots.txt read once for the host, with agg's user agent.
    let robots = s.requests("/robots.txt");
    assert_eq!(robots.len(), 1);
    assert!(robots[0].headers["user-agent"].starts_with("agg/"));

    // Not an article (a home page): kept as it was, with a reason.
    let front = by_title(&out, "Front page");
    assert_eq!(front["text"], "Teaser pointing at the home page.");
    assert!(
        r.stderr.contains("/index.html")
            && (r.stderr.contains("not an article") || r.stderr.contains("too short")),
        "{}",
        r.stderr
    );
    // 404: kept, with the status in the log.
    let gone = by_title(&out, "Story that was taken down");
    assert_eq!(gone["text"], "Teaser of a removed story.");
    assert!(r.stderr.contains("HTTP 404"), "{}", r.stderr);
    assert_eq!(s.statuses("/2026/11/removed-story"), vec![404]);
    assert_eq!(s.statuses("/2026/11/river-survey"), vec![200]);

    // Second run: nothing is fetched again (outcomes are remembered), and
    // the article text is still applied.
    let r = run(tmp.path(), &p);
    assert_eq!(r.report["status"], "ok", "{:#}", r.report);
    let out = jsonl(&tmp.path().join("out.jsonl"));
    assert_eq!(out.len(), 4);
    assert!(
        by_title(&out, "Volunteers map every weir on the River Ouse")["text"]
            .as_str()
            .unwrap()
            .contains("Over three summers")
    );
    assert_eq!(s.statuses("/2026/11/river-survey"), vec![200]);
    assert_eq!(s.statuses("/2026/11/removed-story"), vec![404]);
    assert_eq!(s.statuses("/index.html"), vec![200]);
    assert!(s.requests("/private/leaked-memo.html").is_empty());
}

#[test]
fn extract_never_fetches_private_addresses_unless_allowed() {
    // Article links come from feeds: without `allow_private`, a link to
    // 127.0.0.1 is refused before any request (robots.txt included).
    let s = web_server();
    let tmp = tempfile::tempdir().unwrap();
    let p = extract_pipeline(&s.url("/feed.xml")).replace("    allow_private: [127.0.0.1]\n", "");
    let r = run(tmp.path(), &p);
    assert_eq!(r.report["status"], "ok", "{:#}\n{}", r.report, r.stderr);
    let out = jsonl(&tmp.path().join("out.jsonl"));
    assert_eq!(out.len(), 4);
    let weir = by_title(&out, "Volunteers map every weir on the River Ouse");
    assert_eq!(
        weir["text"],
        "A three-year survey has recorded 212 weirs. Read more on our site."
    );
    assert!(r.stderr.contains("allow_private"), "{}", r.stderr);
    // The feed itself is the user's choice and was read; nothing else was.
    assert_eq!(s.statuses("/feed.xml"), vec![200]);
    assert_eq!(
        s.hits.lock().unwrap().len(),
        1,
        "only the feed was requested"
    );
}

#[test]
fn robots_txt_missing_allows_all_and_unreachable_disallows_all() {
    // 404 for robots.txt: the site set no rules, every page may be read
    // (the memo /private/ included, since the rule came from robots.txt).
    let s = web_server_with(Some(404));
    let tmp = tempfile::tempdir().unwrap();
    let p = extract_pipeline(&s.url("/feed.xml"));
    let r = run(tmp.path(), &p);
    assert_eq!(r.report["status"], "ok", "{:#}\n{}", r.report, r.stderr);
    let out = jsonl(&tmp.path().join("out.jsonl"));
    assert!(
        by_title(&out, "Council memo leaked")["text"]
            .as_str()
            .unwrap()
            .contains("excluded by robots.txt")
    );
    assert_eq!(s.statuses("/robots.txt"), vec![404]);

    // 503 for robots.txt: the rules exist but cannot be read, so nothing
    // is fetched; every item keeps its summary, and the next run asks again
    // (a server error is transient).
    let s = web_server_with(Some(503));
    let tmp = tempfile::tempdir().unwrap();
    let p = extract_pipeline(&s.url("/feed.xml"));
    let r = run(tmp.path(), &p);
    assert_eq!(r.report["status"], "ok", "{:#}\n{}", r.report, r.stderr);
    let out = jsonl(&tmp.path().join("out.jsonl"));
    assert_eq!(out.len(), 4);
    assert_eq!(
        by_title(&out, "Volunteers map every weir on the River Ouse")["text"],
        "A three-year survey has recorded 212 weirs. Read more on our site."
    );
    assert!(r.stderr.contains("treated as disallow-all"), "{}", r.stderr);
    assert!(r.stderr.contains("HTTP 503"), "{}", r.stderr);
    let pages: Vec<String> = s
        .hits
        .lock()
        .unwrap()
        .iter()
        .map(|(q, _)| q.path.clone())
        .filter(|p| p != "/feed.xml" && p != "/robots.txt")
        .collect();
    assert!(
        pages.is_empty(),
        "pages fetched despite robots.txt 503: {pages:?}"
    );
    assert_eq!(
        s.statuses("/robots.txt"),
        vec![503],
        "once per host per run"
    );
    run(tmp.path(), &p);
    assert_eq!(
        s.statuses("/robots.txt"),
        vec![503, 503],
        "retried next run"
    );
}
