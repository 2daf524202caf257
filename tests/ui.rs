//! The web UI of `agg serve` end to end, against the real binary on
//! 127.0.0.1: the pipeline DAG drawn as SVG, the digest preview (which
//! sends and marks nothing), search by meaning with the real sentence model
//! (and its keyword fallback), "add this URL" fetching a page from a local
//! HTTP server, and headless Chromium screenshots of the new pages.

mod common;
#[path = "fixtures/server.rs"]
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::http_request as request;
use common::*;
use server::{Resp, TestServer};

const SECRET: &str = "test-secret-for-feedback-links";

/// Starts `agg serve PIPELINE` on a port the OS picks; returns it and the
/// port it reports.
fn serve(dir: &Path, db: &Path, pipeline: &str, env: &[(&str, &str)]) -> (Served, u16) {
    let mut c = agg(dir);
    c.env("AGG_SECRET", SECRET)
        .env_remove("AGG_ALLOW_PRIVATE")
        .env_remove("AGG_UI_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("--db")
        .arg(db)
        .args(["serve", pipeline, "--bind", "127.0.0.1:0"]);
    start_serve(&mut c)
}

/// A GET; the body with the HTML escapes minijinja writes undone, so tests
/// can look for plain text.
fn get(port: u16, path: &str) -> (u16, String) {
    let (s, _, b) = request(port, "GET", path, &[], "");
    (s, unescape(&b))
}

/// A form POST to the add page; status and unescaped body.
fn post_add(port: u16, url: &str) -> (u16, String) {
    let (s, _, b) = request(
        port,
        "POST",
        "/ui/add",
        &[],
        &format!("url={}", form_value(url)),
    );
    (s, unescape(&b))
}

fn unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `application/x-www-form-urlencoded` for one value.
fn form_value(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn open_store(db: &Path) -> (tokio::runtime::Runtime, std::sync::Arc<dyn agg_core::Store>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(agg_store::open(db.to_str().unwrap())).unwrap();
    (rt, store)
}

fn items(db: &Path) -> Vec<agg_core::Item> {
    let (rt, store) = open_store(db);
    rt.block_on(store.list_items(&agg_core::ItemQuery::default()))
        .unwrap()
}

fn feedback(db: &Path) -> Vec<agg_core::FeedbackRow> {
    let (rt, store) = open_store(db);
    rt.block_on(store.list_feedback()).unwrap()
}

/// Opens `url` in headless Chromium (tests/fixtures/ui/click.py), clicks
/// `selector` (`-`: none), saves a screenshot as a test artifact and
/// returns the URL the browser ended on.
fn browser(url: &str, selector: &str, name: &str) -> String {
    let shot = repo().join(format!("target/test-artifacts/ui-{name}.png"));
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/fixtures/ui/click.py"))
        .arg(url)
        .arg(selector)
        .arg(&shot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "browser on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&shot).unwrap().len();
    assert!(
        size > 5_000,
        "{name}: a rendered page, not a blank one ({size} bytes)"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["after"].as_str().unwrap().to_string()
}

/// A scratch copy of the shipped pipelines (and demo feeds).
fn shipped() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("pipelines"), &tmp.path().join("pipelines"));
    copy_dir(&repo().join("agents"), &tmp.path().join("agents"));
    let db = tmp.path().join("agg.db");
    (tmp, db)
}

/// `x="…"`-style attribute of an SVG element, as a number.
fn attr(el: &str, name: &str) -> f32 {
    let start = el.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    let end = start + el[start..].find('"').unwrap();
    el[start..end].parse().unwrap()
}

#[test]
fn pipeline_page_draws_the_dag_as_svg() {
    let (tmp, db) = shipped();
    let (srv, port) = serve(tmp.path(), &db, "pipelines/morning.yaml", &[]);
    let (status, page) = get(port, "/ui/pipelines");
    assert_eq!(status, 200);
    let start = page.find("<svg").expect("an inline SVG");
    let svg = &page[start..start + page[start..].find("</svg>").unwrap()];
    let agents = [
        "tech", "world", "sport", "science", "fresh", "scored", "sagas", "page", "items",
    ];
    assert_eq!(
        svg.matches("<g class=\"node ").count(),
        agents.len(),
        "one node per agent"
    );
    for a in agents {
        assert!(svg.contains(&format!("data-agent=\"{a}\"")), "node {a}");
    }
    // Four sources into fresh, fresh → scored → sagas, sagas → page and items.
    assert_eq!(svg.matches("<path class=\"edge\"").count(), 8);
    assert!(svg.contains("data-from=\"sagas\" data-to=\"page\""));
    // Coloured by role, and labelled by kind.
    assert_eq!(svg.matches("class=\"node source\"").count(), 4);
    assert_eq!(svg.matches("class=\"node sink\"").count(), 2);
    assert!(svg.contains(">dedupe</text>") && svg.contains(">score</text>"));
    // The boxes as drawn: none overlaps another, and every edge's source
    // box is above its target box.
    let boxes: HashMap<String, (f32, f32, f32, f32)> = svg
        .split("<g class=\"node ")
        .skip(1)
        .map(|g| {
            let name = g.split("data-agent=\"").nth(1).unwrap();
            let name = name[..name.find('"').unwrap()].to_string();
            let rect = &g[g.find("<rect").unwrap()..];
            let rect = &rect[..rect.find("/>").unwrap()];
            (
                name,
                (
                    attr(rect, "x"),
                    attr(rect, "y"),
                    attr(rect, "width"),
                    attr(rect, "height"),
                ),
            )
        })
        .collect();
    let all: Vec<_> = boxes.values().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
    }
    for (from, to) in [
        ("tech", "fresh"),
        ("fresh", "scored"),
        ("scored", "sagas"),
        ("sagas", "items"),
    ] {
        assert!(
            boxes[from].1 + boxes[from].3 <= boxes[to].1,
            "{from} above {to}"
        );
    }
    // The text and Mermaid forms are still there, escaped.
    assert!(page.contains("flowchart LR") && page.contains("sagas (transform saga) <- scored"));
    let (_, _, raw) = request(port, "GET", "/ui/pipelines", &[], "");
    assert!(
        raw.contains("sagas (transform saga) &lt;- scored"),
        "escaped"
    );
    browser(
        &format!("http://127.0.0.1:{port}/ui/pipelines"),
        "-",
        "pipelines-svg",
    );
    drop(srv);
}

/// The digest fixture: one feed of five items and an `email_digest` agent.
fn digest_scratch() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("feeds")).unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/digest/feeds/day1.xml"),
        tmp.path().join("feeds/news.xml"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: digest-ui\ntimezone: Europe/London\nagents:\n  news: { kind: file, path: feeds/news.xml }\n  \
         fresh: { kind: dedupe, inputs: [news] }\n  digest:\n    kind: email_digest\n    inputs: [fresh]\n    \
         to: reader@example.org\n    from: \"agg <agg@example.org>\"\n    title: Morning\n    public_url: https://agg.example.org\n",
    )
    .unwrap();
    let db = tmp.path().join("agg.db");
    // Store the items without running the digest itself.
    run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["run", "p.yaml", "--only", "fresh"]),
    );
    (tmp, db)
}

#[test]
fn digest_preview_lists_unsent_items_and_sends_nothing() {
    let (tmp, db) = digest_scratch();
    assert_eq!(items(&db).len(), 5);
    // An SMTP "server" that records whether anyone connects.
    let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    smtp.set_nonblocking(true).unwrap();
    let smtp_url = format!("smtp://{}", smtp.local_addr().unwrap());
    let (srv, port) = serve(
        tmp.path(),
        &db,
        "p.yaml",
        &[
            ("AGG_DIGEST_NOW", "2026-11-26T07:00:00Z"),
            ("AGG_SMTP_URL", &smtp_url),
        ],
    );
    for round in 0..2 {
        let (status, page) = get(port, "/ui/digest");
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("digest of 2026-11-26 · 5 items"),
            "round {round}: {page}"
        );
        assert!(page.contains("Port strike enters its fourth day"), "{page}");
        assert!(
            page.contains("<iframe class=\"digest\""),
            "the email itself"
        );
        assert!(!page.contains("class=\"error\""), "{page}");
        // Titles from the feed stay text, even inside the preview (escaped
        // twice there: once in the email, once in the srcdoc attribute).
        let (_, _, raw) = request(port, "GET", "/ui/digest", &[], "");
        assert!(!raw.contains("<script>alert"), "{raw}");
    }
    let (rt, store) = open_store(&db);
    assert!(
        rt.block_on(store.list_digests("digest-ui", 10))
            .unwrap()
            .is_empty(),
        "nothing recorded"
    );
    assert!(
        rt.block_on(store.sent_items("digest-ui"))
            .unwrap()
            .is_empty(),
        "nothing marked sent"
    );
    assert!(smtp.accept().is_err(), "nothing sent");
    browser(&format!("http://127.0.0.1:{port}/ui/digest"), "-", "digest");
    drop(srv);

    // The real digest afterwards still has all five.
    let out = run_ok(
        agg(tmp.path())
            .env("AGG_SECRET", SECRET)
            .env("AGG_DIGEST_NOW", "2026-11-26T07:00:00Z")
            .arg("--db")
            .arg(&db)
            .args(["digest", "p.yaml", "--dry-run"]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(5 items)"));
}

/// Whether the sentence model is installed; with AGG_REQUIRE_MODEL (CI,
/// scripts/test.sh) a missing model fails the test instead of skipping.
fn model_installed() -> bool {
    let dir = std::env::var_os("AGG_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share")
                });
            data.join("agg/models")
        });
    let ok = dir.join("model.onnx").is_file() && dir.join("tokenizer.json").is_file();
    assert!(
        ok || std::env::var_os("AGG_REQUIRE_MODEL").is_none(),
        "AGG_REQUIRE_MODEL is set but the model is not in {} (scripts/setup-model.sh)",
        dir.display()
    );
    ok
}

/// The first result's title on a search page (the text of the row's
/// second cell, before its meta lines).
fn first_result(page: &str) -> String {
    let row = page
        .split("<tr id=\"item-")
        .nth(1)
        .unwrap_or_else(|| panic!("no results: {page}"));
    let cell = row.split("<td>").nth(1).unwrap();
    let cell = &cell[..cell.find("<div").unwrap()];
    let mut text = String::new();
    let mut in_tag = false;
    for c in cell.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_string()
}

#[test]
fn search_finds_by_meaning_and_says_when_it_cannot() {
    let (tmp, db) = shipped();
    let semantic = model_installed();
    let pipeline = if semantic {
        // Scored: every item embedded by the real model.
        run_ok(
            agg(tmp.path())
                .arg("--db")
                .arg(&db)
                .args(["run", "pipelines/morning.yaml"]),
        );
        "pipelines/morning.yaml"
    } else {
        run_ok(
            agg(tmp.path())
                .arg("--db")
                .arg(&db)
                .args(["run", "pipelines/demo.yaml"]),
        );
        "pipelines/demo.yaml"
    };
    if semantic {
        let (srv, port) = serve(tmp.path(), &db, pipeline, &[]);
        // None of these words is in the item: only the meaning matches.
        let (status, page) = get(port, "/ui/search?q=inherited+blood+disorder+cured");
        assert_eq!(status, 200);
        assert!(
            !page.contains("id=\"search-note\""),
            "the model is used: {page}"
        );
        assert!(page.contains("best match by meaning first"), "{page}");
        assert_eq!(
            first_result(&page),
            "Gene therapy trial reports two-year remission in sickle cell patients"
        );
        let (_, page) = get(port, "/ui/search?q=spacecraft+visiting+an+asteroid");
        assert!(first_result(&page).contains("Apophis"), "{page}");
        browser(
            &format!("http://127.0.0.1:{port}/ui/search?q=inherited+blood+disorder+cured"),
            "-",
            "search",
        );
        drop(srv);
    }
    // Without the model: keyword matches, and a note that says so.
    let (srv, port) = serve(
        tmp.path(),
        &db,
        pipeline,
        &[(
            "AGG_MODEL_DIR",
            tmp.path().join("no-model").to_str().unwrap(),
        )],
    );
    let (status, page) = get(port, "/ui/search?q=marathon");
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"search-note\"") && page.contains("keyword matches only"),
        "{page}"
    );
    assert!(page.contains("scripts/setup-model.sh"), "{page}");
    assert_eq!(
        first_result(&page),
        "City marathon sets participation record"
    );
    let (_, page) = get(port, "/ui/search?q=inherited+blood+disorder+cured");
    assert!(
        page.contains("Nothing matches"),
        "keywords cannot find it: {page}"
    );
    drop(srv);
}

const ARTICLE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Volunteers relight a century-old lighthouse lens | Coastal Courier</title>
<meta property="og:site_name" content="Coastal Courier">
<meta property="article:published_time" content="2026-11-25T09:30:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article><h1>Volunteers relight a century-old lighthouse lens</h1>
<p class="byline">By Morag Innes</p>
<p>After four years of weekend work, a group of volunteers on the north coast has relit the
first-order Fresnel lens of the Skerryvore Point lighthouse, dark since the station was automated
in 1987. The lens, ground in Paris in 1921, weighs more than two tonnes and floats on a bath of
mercury so that a single hand can turn it.</p>
<p>The restoration team, most of them retired engineers and fishermen, cleaned each of the
hundreds of glass prisms by hand and rebuilt the clockwork that once rotated the optic. A modern
LED lamp now sits at the focal point, using a fraction of the power of the original paraffin
burner while keeping the light's historic character of two white flashes every fifteen seconds.</p>
<p>The coastguard says the light will not return to the official list of aids to navigation,
but local skippers welcomed its return. Tours of the tower start in the spring, and the group
hopes the income will pay for the next project: the foghorn.</p></article>
<footer><a href="/about">About us</a> · <a href="/privacy">Privacy</a></footer></body></html>"#;

const HOME: &str = r#"<!doctype html><html><head><title>Coastal Courier</title></head><body>
<ul><li><a href="/a">One</a></li><li><a href="/b">Two</a></li><li><a href="/c">Three</a></li></ul></body></html>"#;

fn article_server() -> TestServer {
    TestServer::start(|req| match req.path.as_str() {
        "/lighthouse" => Resp::ok(ARTICLE).header("Content-Type", "text/html; charset=utf-8"),
        "/" => Resp::ok(HOME).header("Content-Type", "text/html; charset=utf-8"),
        "/report.pdf" => Resp::ok("%PDF-1.7 ...").header("Content-Type", "application/pdf"),
        _ => Resp::status(404),
    })
}

#[test]
fn add_url_fetches_stores_and_likes_only_on_post() {
    let pages = article_server();
    let (tmp, db) = shipped();
    run_ok(
        agg(tmp.path())
            .arg("--db")
            .arg(&db)
            .args(["run", "pipelines/demo.yaml"]),
    );
    let before = items(&db).len();
    let (srv, port) = serve(
        tmp.path(),
        &db,
        "pipelines/demo.yaml",
        &[("AGG_ALLOW_PRIVATE", "127.0.0.1")],
    );
    let url = pages.url("/lighthouse");
    let enc = form_value(&url);

    // The form and the bookmarklet.
    let (status, page) = get(port, "/ui/add");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(
            "href=\"javascript:void(location.href='http://127.0.0.1:{port}/ui/add?url='+encodeURIComponent(location.href))\""
        )),
        "{page}"
    );
    // The GET (what the bookmarklet opens) asks, and neither fetches nor stores.
    let (status, page) = get(port, &format!("/ui/add?url={enc}"));
    assert_eq!(status, 200);
    assert!(
        page.contains("method=\"post\"") && page.contains(&url),
        "{page}"
    );
    assert!(
        pages.requests("/lighthouse").is_empty(),
        "a GET fetches nothing"
    );
    assert_eq!(items(&db).len(), before);
    assert!(feedback(&db).is_empty());

    // The POST does the work.
    let (status, page) = post_add(port, &url);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"add-ok\""), "{page}");
    assert_eq!(pages.requests("/lighthouse").len(), 1);
    let all = items(&db);
    assert_eq!(all.len(), before + 1);
    let added = all
        .iter()
        .find(|i| i.source == "added by you")
        .expect("the added item");
    assert_eq!(
        added.title,
        "Volunteers relight a century-old lighthouse lens"
    );
    assert!(
        added.text.contains("Fresnel lens") && !added.text.contains("Privacy"),
        "{}",
        added.text
    );
    assert_eq!(added.url.as_deref(), Some(url.as_str()));
    assert_eq!(added.feed_title.as_deref(), Some("Coastal Courier"));
    let fb = feedback(&db);
    assert_eq!(fb.len(), 1);
    assert_eq!(
        (fb[0].item_id, fb[0].kind.as_str(), fb[0].via.as_str()),
        (added.id.unwrap(), "like", "web")
    );
    // Embedded at once when the model is installed: search finds it by
    // meaning before any pipeline has run on it.
    if model_installed() {
        let (_, page) = get(port, "/ui/search?q=restoring+an+old+coastal+beacon");
        assert_eq!(first_result(&page), added.title, "{page}");
    }
    // Adding it again stores nothing new and likes it once.
    let (status, page) = post_add(port, &url);
    assert_eq!(status, 200);
    assert!(page.contains("Already stored"), "{page}");
    assert_eq!(items(&db).len(), before + 1);
    assert_eq!(feedback(&db).len(), 1);

    // Errors, each said plainly, and nothing stored.
    for (path, code, says) in [
        ("/", 422, "No article found"),
        ("/report.pdf", 422, "application/pdf"),
        ("/gone", 502, "404"),
    ] {
        let (status, page) = post_add(port, &pages.url(path));
        assert_eq!(status, code, "{path}: {page}");
        assert!(
            page.contains("id=\"add-error\"") && page.contains(says),
            "{path}: {page}"
        );
    }
    let (status, page) = post_add(port, "file:///etc/passwd");
    assert_eq!(status, 400, "{page}");
    // Another site cannot make the browser add a page.
    let (status, _, _) = request(
        port,
        "POST",
        "/ui/add",
        &[
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        &format!("url={enc}"),
    );
    assert_eq!(status, 403);
    assert_eq!(items(&db).len(), before + 1);
    assert_eq!(pages.requests("/lighthouse").len(), 2);

    // A real browser: the page the bookmarklet opens, then a click on
    // "Add" (a same-origin POST, which the cross-site check lets through).
    let after = browser(
        &format!("http://127.0.0.1:{port}/ui/add?url={enc}"),
        "button[name=add]",
        "add",
    );
    assert!(after.ends_with("/ui/add"), "{after}");
    assert_eq!(
        pages.requests("/lighthouse").len(),
        3,
        "the browser's POST fetched the page"
    );
    assert_eq!(feedback(&db).len(), 1);
    drop(srv);

    // Without the allowance, a loopback address is refused before any fetch.
    let (srv, port) = serve(tmp.path(), &db, "pipelines/demo.yaml", &[]);
    let (status, page) = post_add(port, &url);
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("Refused") && page.contains("AGG_ALLOW_PRIVATE"),
        "{page}"
    );
    assert_eq!(pages.requests("/lighthouse").len(), 3, "not fetched");
    drop(srv);

    // A bad allowance stops agg serve at start, saying which option.
    let out = agg(tmp.path())
        .env_remove("AGG_ALLOW_PRIVATE")
        .arg("--db")
        .arg(&db)
        .args(["serve", "pipelines/demo.yaml", "--bind", "127.0.0.1:0"])
        .args(["--allow-private", "10.0.0.0/99"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow-private") && err.contains("10.0.0.0/99"),
        "{err}"
    );
}
