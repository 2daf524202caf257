//! The real-world and hostile feed corpus (`../shared/data/feeds`, see its
//! README): every real feed parses or fails with a precise error, a sample of
//! fields matches feed-rs's expectations, and every hostile file goes through
//! the parser without a panic. Skipped, with a note, when the corpus is absent.

mod common;

use common::{corpus, files};

use agg_fetch::parse::{ParseError, parse_feed};
use chrono::Utc;

fn is_opml(name: &str, bytes: &[u8]) -> bool {
    name.ends_with(".opml") || {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).to_ascii_lowercase();
        head.contains("<opml")
    }
}

/// Real files that are not feeds at all, with the error they must get.
const EXPECTED_FAILURES: &[(&str, &str)] = &[
    // A capture whose </channel> is missing: ill-formed XML.
    (
        "feedbin__microposts.xml",
        "expected `</channel>`, but `</rss>` was found",
    ),
    // An XHTML page with an Atom feed pasted inside its <body>.
    (
        "feedjira__DuplicateContentAtomFeed.xml",
        "HTML page, not a feed",
    ),
    // RSS 2.0 transliterated into JSON (`{"rss": {"channel": …}}`), not JSON Feed.
    ("netnewswire__ScriptingNews.json", "missing field `version`"),
];

#[test]
fn every_real_feed_parses_or_fails_precisely() {
    let Some(root) = corpus() else { return };
    let mut parsed = 0;
    let mut failures = Vec::new();
    for f in files(&root.join("real")) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&f).unwrap();
        if is_opml(&name, &bytes) {
            let outlines = agg_fetch::opml::parse(&bytes)
                .unwrap_or_else(|e| panic!("{name}: OPML did not parse: {e}"));
            assert!(
                !outlines.feeds().is_empty() || name.contains("example"),
                "{name}: no feeds found in the OPML"
            );
            continue;
        }
        let url = format!("https://example.com/{name}");
        match parse_feed(&bytes, &url, "corpus", Utc::now()) {
            Ok(feed) => {
                parsed += 1;
                for it in &feed.items {
                    assert!(!it.title.is_empty(), "{name}: empty title");
                    assert!(!it.key.is_empty());
                    if let Some(h) = &it.html {
                        assert!(
                            !h.to_ascii_lowercase().contains("<script"),
                            "{name}: script survived"
                        );
                    }
                    if let Some(u) = &it.url {
                        assert!(url::Url::parse(u).is_ok(), "{name}: link not absolute: {u}");
                    }
                }
            }
            Err(e) => failures.push((name, e)),
        }
    }
    let mut wrong = Vec::new();
    for (name, e) in &failures {
        let expected = EXPECTED_FAILURES.iter().find(|(n, _)| n == name);
        match expected {
            Some((_, msg)) if e.to_string().contains(msg) => {}
            _ => wrong.push(format!("{name}: {e}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected failures:\n{}",
        wrong.join("\n")
    );
    eprintln!(
        "{parsed} real feeds parsed, {} failed as expected",
        failures.len()
    );
    assert!(parsed > 150);
}

/// Compares a sample of fields with feed-rs's own expected parse results.
#[test]
fn fields_match_feed_rs_expectations() {
    let Some(root) = corpus() else { return };
    let mut checked = 0;
    for exp in files(&root.join("expected/feed-rs")) {
        let name = exp.file_name().unwrap().to_string_lossy().to_string();
        let stem = name.trim_end_matches(".serde.json");
        let Some(src) = std::fs::read_dir(root.join("real"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_stem().is_some_and(|s| s.to_string_lossy() == stem))
        else {
            continue;
        };
        let want: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&exp).unwrap()).unwrap();
        let got = parse_feed(
            &std::fs::read(&src).unwrap(),
            "https://example.com/f",
            "c",
            Utc::now(),
        )
        .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let entries = want["entries"].as_array().unwrap();
        assert_eq!(got.items.len(), entries.len(), "{stem}: item count");
        if let Some(t) = want["title"]["content"].as_str() {
            let t = agg_fetch::normalize::collapse_ws(&agg_fetch::normalize::html_to_text(t));
            if !t.is_empty() {
                assert_eq!(got.title.as_deref(), Some(t.as_str()), "{stem}: feed title");
            }
        }
        assert_eq!(
            got.ttl,
            want["ttl"].as_u64().map(|t| t as u32),
            "{stem}: ttl"
        );
        for (it, e) in got.items.iter().zip(entries) {
            if let Some(t) = e["title"]["content"].as_str() {
                let t = agg_fetch::normalize::html_to_text(t);
                if !t.is_empty() {
                    assert_eq!(it.title, t, "{stem}: title");
                }
            }
            let published = e["published"].as_str().map(|p| {
                chrono::DateTime::parse_from_rfc3339(p)
                    .unwrap()
                    .with_timezone(&Utc)
            });
            // agg reads date forms feed-rs does not (a 12-hour clock,
            // localised names): where feed-rs found a date it must agree.
            if published.is_some() {
                assert_eq!(it.published, published, "{stem}: published of {}", it.title);
            }
            if let Some(link) = e["links"].as_array().and_then(|l| l.first()) {
                let href = link["href"].as_str().unwrap();
                if url::Url::parse(href).is_ok() {
                    assert!(
                        e["links"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|l| Some(l["href"].as_str().unwrap()) == it.url.as_deref()),
                        "{stem}: url {:?} not among the entry's links",
                        it.url
                    );
                }
            }
            let mut media: Vec<String> = e["media"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|o| o["content"].as_array().into_iter().flatten())
                .filter_map(|c| c["url"].as_str())
                .map(|u| url::Url::parse(u).map_or(u.to_string(), |u| u.to_string()))
                .collect();
            media.sort();
            media.dedup();
            // feed-rs versions differ on which media elements they keep;
            // at least one of the entry's expected files must be there.
            if !media.is_empty() {
                assert!(
                    media
                        .iter()
                        .any(|m| it.enclosures.iter().any(|x| x.url == *m)),
                    "{stem}: none of the enclosures {media:?} in {:?}",
                    it.enclosures
                );
            }
            checked += 1;
        }
    }
    eprintln!("{checked} entries compared with feed-rs expectations");
    assert!(checked > 50, "{checked}");
}

#[test]
fn encodings_in_the_corpus_come_out_right() {
    let Some(root) = corpus() else { return };
    let real = root.join("real");
    let check = |file: &str, needle: &str| {
        let f = parse_feed(
            &std::fs::read(real.join(file)).unwrap(),
            "https://e.com/f",
            "c",
            Utc::now(),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        let all: String = f
            .items
            .iter()
            .map(|i| format!("{} {}\n", i.title, i.text))
            .collect();
        assert!(
            all.contains(needle),
            "{file} ({}): `{needle}` not found in\n{}",
            f.encoding,
            &all[..all.len().min(600)]
        );
        assert!(!all.contains('\u{fffd}'), "{file}: replacement characters");
        f.encoding
    };
    assert_eq!(
        check("netnewswire__DaringFireball.windows-1252.rss", "\u{2019}"),
        "windows-1252"
    );
    assert_eq!(
        check("rss-parser__guardian.utf-16le-bom.rss", "\u{2019}"),
        "UTF-16LE"
    );
    check("miniflux__encoding_ISO-8859-1.xml", "wünschen");
    check("miniflux__no_encoding_ISO-8859-1.xml", "développementaux");
    check("miniflux__encoding_WINDOWS-1251.xml", "и");
}

#[test]
fn hostile_files_never_panic() {
    let Some(root) = corpus() else { return };
    let mut n = 0;
    let mut ok = 0;
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for f in files(&root.join("hostile")) {
        let bytes = std::fs::read(&f).unwrap();
        let name = f.strip_prefix(&root).unwrap().display().to_string();
        let r = std::panic::catch_unwind(|| {
            parse_feed(&bytes, "https://example.com/f", "h", Utc::now())
        });
        match r {
            Ok(Ok(feed)) => {
                ok += 1;
                for it in &feed.items {
                    if let Some(h) = &it.html {
                        let l = h.to_ascii_lowercase();
                        assert!(
                            !l.contains("<script")
                                && !l.contains("javascript:")
                                && !l.contains(" onerror="),
                            "{name}: unsafe HTML survived: {h}"
                        );
                    }
                }
            }
            Ok(Err(e)) => {
                let k = match e {
                    ParseError::Empty => "empty",
                    ParseError::Html => "html",
                    ParseError::TooLarge(_) => "too large",
                    ParseError::Invalid(_) => "invalid",
                };
                *kinds.entry(k.into()).or_default() += 1;
            }
            Err(_) => panic!("{name}: parser panicked"),
        }
        n += 1;
    }
    eprintln!("{n} hostile files: {ok} parsed, errors {kinds:?}");
    assert!(n > 500);
}
