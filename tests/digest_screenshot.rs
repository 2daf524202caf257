//! The digest as a mail client would show it: the HTML part of a digest
//! received over real SMTP, rendered by headless Chromium. The screenshots
//! are kept as artifacts (target/digest/digest.png, and
//! target/test-artifacts/digest-phone-*.png) and must show a real layout,
//! not a blank page, that fits a phone's screen. Skipped, with a note, where
//! Chromium is absent.

#[path = "fixtures/digest/support.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;

use support::*;

fn chromium() -> Option<String> {
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .into_iter()
    .find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .map(String::from)
}

fn artifacts() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("digest");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_digest_renders_as_a_real_layout_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "note: Chromium not found (apt-get install -y chromium); the screenshot test is skipped"
        );
        return;
    };
    let s = Scratch::new("    timezone: Europe/London\n");
    s.feed("day2.xml");
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.run(DAY2, &smtp.url()));
    let msg = &smtp.messages()[0];
    let out = artifacts();
    let html = out.join("digest-email.html");
    std::fs::write(&html, msg["html"].as_str().unwrap()).unwrap();
    let png = out.join("digest.png");
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    let run = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=720,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stats = png_stats(&png);
    eprintln!("screenshot: {} {stats}", png.display());
    assert_eq!(stats["width"], 720);
    // A blank page is one colour; the digest has a masthead, text, buttons.
    assert!(stats["colors"].as_u64().unwrap() > 50, "{stats}");
    let ink = stats["ink"].as_f64().unwrap();
    assert!(ink > 0.05, "mostly background: {stats}");
}

/// On a phone (360 and 390 px) and a desktop (640 px) the email fits the
/// screen: no sideways scroll, no box past the right edge, and everything
/// the digest says is there, in the order of its text part.
#[test]
fn the_digest_fits_a_phone_screen() {
    if chromium().is_none() {
        eprintln!("note: Chromium not found; the phone layout test is skipped");
        return;
    }
    let s = Scratch::new("    timezone: Europe/London\n");
    s.feed("day2.xml");
    let smtp = Smtp::start(s.dir(), &[]);
    ok(s.run(DAY2, &smtp.url()));
    let msg = &smtp.messages()[0];
    let html = s.dir().join("digest-email.html");
    std::fs::write(&html, msg["html"].as_str().unwrap()).unwrap();
    let url = format!("file://{}", html.display());
    for width in [360u32, 390, 640] {
        let v = common::measure(&url, width, &format!("digest-phone-{width}"));
        eprintln!(
            "{width} px: scrollWidth {} innerWidth {} height {}",
            v["scrollWidth"], v["innerWidth"], v["height"]
        );
        assert_eq!(v["innerWidth"].as_i64(), Some(i64::from(width)), "{v}");
        assert!(
            v["scrollWidth"].as_i64() <= v["innerWidth"].as_i64(),
            "{width} px: scrolls sideways: {v}"
        );
        assert_eq!(
            v["overflowing"].as_array().map(Vec::len),
            Some(0),
            "{width} px: past the right edge: {}",
            v["overflowing"]
        );
        let page = v["text"].as_str().unwrap();
        assert!(page.contains("More like this"), "{page}");
        assert!(page.contains("Unsubscribe"), "{page}");
        // Every title the text part lists is on screen, in the same order.
        let titles: Vec<&str> = msg["text"]
            .as_str()
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(". ").filter(|(n, _)| n.parse::<u32>().is_ok()))
            .map(|(_, t)| t.trim())
            .collect();
        assert!(titles.len() >= 3, "{titles:?}");
        let mut last = 0;
        for t in &titles {
            let at = page[last..]
                .find(t)
                .unwrap_or_else(|| panic!("{width} px: {t:?} missing or out of order in\n{page}"));
            last += at;
        }
    }
}
