//! The digest as a mail client would show it: the HTML part of a digest
//! received over real SMTP, rendered by headless Chromium. The screenshot is
//! kept as an artifact (target/digest/digest.png) and must show a real
//! layout, not a blank page. Skipped, with a note, where Chromium is absent.

#[path = "fixtures/digest/support.rs"]
mod support;

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
