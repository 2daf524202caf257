//! Polite fetching, end to end: the real binary against a real HTTP server on
//! 127.0.0.1 — Retry-After, retries with backoff, per-host and global limits,
//! permanent and temporary redirects, loops, charsets, HTML served as a feed,
//! feed health (pause after failures) and the adaptive schedule.

mod common;
#[path = "fixtures/server.rs"]
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{agg, feed_state, items, rss, run_rss};
use server::{Gauge, Resp, TestServer};

#[test]
fn retry_after_is_honoured_across_runs() {
    let s = TestServer::start(|_| Resp::status(429).header("Retry-After", "3600"));
    let tmp = tempfile::tempdir().unwrap();
    let url = s.url("/busy.xml");
    let (code, text) = run_rss(
        tmp.path(),
        std::slice::from_ref(&url),
        ", respect_schedule: false",
    );
    assert_eq!(code, Some(1));
    assert!(
        text.contains("HTTP 429") && text.contains("retry after"),
        "{text}"
    );
    // A Retry-After is not retried within the run either.
    assert_eq!(s.statuses("/busy.xml"), vec![429]);
    let st = feed_state(tmp.path(), &url);
    let wait = st.next_fetch.unwrap() - chrono::Utc::now();
    assert!(wait > chrono::Duration::minutes(55), "{wait}");
    assert_eq!(st.consecutive_failures, 1);
    // Even with the schedule ignored, the server's wish is respected.
    run_rss(tmp.path(), &[url], ", respect_schedule: false");
    assert_eq!(s.statuses("/busy.xml"), vec![429]);
}

#[test]
fn transient_errors_are_retried_with_backoff_within_a_run() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let s = TestServer::start(move |req| {
        if n2.fetch_add(1, Ordering::SeqCst) < 2 {
            Resp::status(503)
        } else {
            Resp::feed(req, &rss("flaky", 3))
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = run_rss(
        tmp.path(),
        &[s.url("/flaky.xml")],
        ", retries: 2, retry_base_ms: 10",
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(s.statuses("/flaky.xml"), vec![503, 503, 200]);
    assert_eq!(items(tmp.path()).len(), 3);

    // With no retries allowed, the first 503 is the answer.
    n.store(0, Ordering::SeqCst);
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = run_rss(tmp.path(), &[s.url("/flaky2.xml")], ", retries: 0");
    assert_eq!(code, Some(1));
    assert!(text.contains("HTTP 503"), "{text}");
    assert_eq!(s.statuses("/flaky2.xml"), vec![503]);
}

#[test]
fn per_host_and_global_concurrency_are_capped() {
    let all = Gauge::default();
    let slow = |req: &server::Req| {
        Resp::feed(req, &rss(&req.path[1..3], 1)).delay(Duration::from_millis(150))
    };
    let a = TestServer::start_with(all.clone(), slow);
    let b = TestServer::start_with(all.clone(), slow);
    let tmp = tempfile::tempdir().unwrap();
    let feeds: Vec<String> = (0..6)
        .flat_map(|i| [a.url(&format!("/a{i}.xml")), b.url(&format!("/b{i}.xml"))])
        .collect();
    let (code, text) = run_rss(tmp.path(), &feeds, ", per_host: 2, concurrency: 3");
    assert_eq!(code, Some(0), "{text}");
    assert!(a.max_active.load(Ordering::SeqCst) <= 2);
    assert!(b.max_active.load(Ordering::SeqCst) <= 2);
    assert!(all.max.load(Ordering::SeqCst) <= 3);
    assert_eq!(items(tmp.path()).len(), 12);
}

#[test]
fn permanent_redirects_are_remembered_temporary_ones_are_not() {
    let s = TestServer::start(|req| match req.path.as_str() {
        "/old.xml" => Resp::status(301).header("Location", "/new.xml"),
        "/new.xml" => Resp::feed(req, &rss("moved", 2)),
        "/tmp.xml" => Resp::status(302).header("Location", "/dest.xml"),
        "/dest.xml" => Resp::feed(req, &rss("dest", 1)),
        "/loop1" => Resp::status(301).header("Location", "/loop2"),
        "/loop2" => Resp::status(308).header("Location", "/loop1"),
        _ => Resp::status(404),
    });
    let tmp = tempfile::tempdir().unwrap();
    let (old, tmp_url, looping) = (s.url("/old.xml"), s.url("/tmp.xml"), s.url("/loop1"));
    let feeds = [old.clone(), tmp_url.clone(), looping.clone()];
    let opts = ", respect_schedule: false";
    let (code, text) = run_rss(tmp.path(), &feeds, opts);
    assert_eq!(code, Some(1));
    assert!(text.contains("redirect loop"), "{text}");
    let st = feed_state(tmp.path(), &old);
    assert_eq!(st.moved_to.as_deref(), Some(s.url("/new.xml").as_str()));
    assert_eq!(feed_state(tmp.path(), &tmp_url).moved_to, None);
    // Items stay keyed by (and attributed to) the configured URL.
    let got = items(tmp.path());
    assert_eq!(got.len(), 3);
    assert!(got.iter().filter(|i| i["feed"] == old.as_str()).count() == 2);

    run_rss(tmp.path(), &feeds, opts);
    assert_eq!(s.statuses("/old.xml"), vec![301], "the new address is used");
    assert_eq!(s.statuses("/new.xml"), vec![200, 304]);
    assert_eq!(s.statuses("/tmp.xml"), vec![302, 302]);
    assert_eq!(items(tmp.path()).len(), 3);
}

#[test]
fn charsets_from_header_prolog_and_guess_decode_right() {
    let latin1_prolog = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>Caf\xe9</title>\
<item><guid>1</guid><title>Gr\xfc\xdfe aus M\xfcnchen</title></item></channel></rss>"
        .to_vec();
    let header_1252 = b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>x</title>\
<item><guid>2</guid><title>\x93Quoted\x94 \x96 caf\xe9 \x80</title></item></channel></rss>"
        .to_vec();
    let s = TestServer::start(move |req| match req.path.as_str() {
        "/latin1.xml" => Resp::ok(latin1_prolog.clone()).header("Content-Type", "application/xml"),
        "/cp1252.xml" => {
            Resp::ok(header_1252.clone()).header("Content-Type", "text/xml; charset=windows-1252")
        }
        _ => Resp::status(404),
    });
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = run_rss(
        tmp.path(),
        &[s.url("/latin1.xml"), s.url("/cp1252.xml")],
        "",
    );
    assert_eq!(code, Some(0), "{text}");
    let mut titles: Vec<String> = items(tmp.path())
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        vec![
            "Grüße aus München",
            "\u{201c}Quoted\u{201d} \u{2013} café €"
        ]
    );
}

#[test]
fn an_html_page_served_as_a_feed_is_named() {
    let s = TestServer::start(|_| {
        Resp::ok("<!DOCTYPE html><html><head><title>Home</title></head><body>hi</body></html>")
            .header("Content-Type", "text/html")
    });
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = run_rss(tmp.path(), &[s.url("/")], "");
    assert_eq!(code, Some(1));
    assert!(text.contains("HTML page, not a feed"), "{text}");
}

#[test]
fn failing_feeds_back_off_then_pause_with_the_reason_kept() {
    let s = TestServer::start(|_| Resp::status(500));
    let tmp = tempfile::tempdir().unwrap();
    let url = s.url("/down.xml");
    let opts = ", retries: 0, pause_after: 2, min_interval: 1s";
    run_rss(tmp.path(), std::slice::from_ref(&url), opts);
    let st = feed_state(tmp.path(), &url);
    assert_eq!((st.consecutive_failures, st.paused), (1, false));
    assert!(st.last_error.as_deref().unwrap().contains("HTTP 500"));
    // Backing off: an immediate re-run does not fetch.
    run_rss(tmp.path(), std::slice::from_ref(&url), opts);
    assert_eq!(s.statuses("/down.xml").len(), 1);
    std::thread::sleep(Duration::from_millis(1300));
    run_rss(tmp.path(), std::slice::from_ref(&url), opts);
    let st = feed_state(tmp.path(), &url);
    assert_eq!((st.consecutive_failures, st.paused), (2, true));
    assert!(
        st.pause_reason
            .as_deref()
            .unwrap()
            .contains("2 consecutive failures")
    );
    std::thread::sleep(Duration::from_millis(2500));
    let (_, text) = run_rss(tmp.path(), std::slice::from_ref(&url), opts);
    assert_eq!(
        s.statuses("/down.xml").len(),
        2,
        "a paused feed is skipped: {text}"
    );
}

#[test]
fn the_adaptive_schedule_skips_feeds_not_due_and_health_is_recorded() {
    let s = TestServer::start(|req| Resp::feed(req, &rss("sched", 5)));
    let tmp = tempfile::tempdir().unwrap();
    let url = s.url("/s.xml");
    let (code, _) = run_rss(tmp.path(), std::slice::from_ref(&url), "");
    assert_eq!(code, Some(0));
    let st = feed_state(tmp.path(), &url);
    assert_eq!(st.title.as_deref(), Some("sched"));
    assert_eq!(st.agent.as_deref(), Some("web"));
    assert_eq!(st.items_total, 5);
    assert_eq!(st.recent_items.len(), 5);
    assert!(st.last_success.is_some() && st.last_error.is_none());
    // Items a minute apart: polled at the 15-minute floor.
    let wait = st.next_fetch.unwrap() - chrono::Utc::now();
    assert!(wait > chrono::Duration::minutes(14) && wait <= chrono::Duration::minutes(15));
    let (code, _) = run_rss(tmp.path(), std::slice::from_ref(&url), "");
    assert_eq!(code, Some(0), "a feed not due is a note, not an error");
    assert_eq!(s.statuses("/s.xml"), vec![200]);
    run_rss(
        tmp.path(),
        std::slice::from_ref(&url),
        ", respect_schedule: false",
    );
    assert_eq!(s.statuses("/s.xml"), vec![200, 304]);
}

#[test]
fn a_feed_carrying_more_than_max_items_gives_its_newest() {
    let s = TestServer::start(|req| Resp::feed(req, &rss("big", 30)));
    let tmp = tempfile::tempdir().unwrap();
    let url = s.url("/big.xml");
    let (code, text) = run_rss(tmp.path(), std::slice::from_ref(&url), ", max_items: 10");
    assert_eq!(code, Some(0), "{text}");
    let mut guids: Vec<String> = items(tmp.path())
        .iter()
        .map(|i| i["guid"].as_str().unwrap().to_string())
        .collect();
    guids.sort();
    let newest: Vec<String> = (20..30).map(|i| format!("big-{i}")).collect();
    assert_eq!(guids, newest, "the ten newest (minutes 20..29)");
}

#[test]
fn bad_etiquette_options_are_located() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "name: t\nagents:\n  web: { kind: rss, feeds: [\"http://127.0.0.1:9/x\"], min_interval: soon, per_hots: 2 }\n  out: { kind: jsonl, inputs: [web], path: o.jsonl }\n",
    )
    .unwrap();
    let out = agg(tmp.path())
        .args(["validate", "p.yaml"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("per_hots") && text.contains("did you mean `per_host`"),
        "{text}"
    );
}

#[test]
fn bodies_over_the_cap_and_slow_servers_fail_alone_with_named_limits() {
    let s = TestServer::start(|req| match req.path.as_str() {
        "/big.xml" => Resp::feed(req, &rss("big", 400)),
        "/slow.xml" => Resp::feed(req, &rss("slow", 1)).delay(Duration::from_millis(2500)),
        _ => Resp::feed(req, &rss("ok", 2)),
    });
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = run_rss(
        tmp.path(),
        &[s.url("/big.xml"), s.url("/slow.xml"), s.url("/ok.xml")],
        ", max_bytes: 20000, timeout_secs: 1, retries: 0",
    );
    assert_eq!(code, Some(1));
    assert!(text.contains("limit of 20000 bytes (max_bytes)"), "{text}");
    assert!(text.contains("timed out (timeout_secs)"), "{text}");
    assert_eq!(items(tmp.path()).len(), 2, "the healthy feed is stored");
}
