//! Replays the fuzz corpus on stable: every committed corpus input and every
//! regression (an input that once crashed a target) goes through the same
//! harness function its fuzz target calls (`fuzz/harness.rs`), so CI, which
//! has no nightly toolchain, still proves that nothing fuzzing found has come
//! back. Runs in seconds: the committed corpus is minimised (`cargo fuzz cmin`).

use std::path::{Path, PathBuf};

#[path = "../fuzz/harness.rs"]
mod harness;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    v
}

/// Debug builds (what `cargo test` runs) use stack frames many times larger
/// than release builds; the pipeline target's inputs nest YAML up to the
/// parser's depth budget (64), which needs more than a test thread's 2 MB
/// unoptimised. The fuzzer (release) and `agg` run these on 8 MB stacks.
const STACK: usize = 64 << 20;

#[test]
fn every_corpus_and_regression_input_passes_its_harness() {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(replay_all)
        .unwrap()
        .join()
        .unwrap();
}

fn replay_all() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (target, run) in harness::TARGETS {
        let corpus = inputs(&root.join("corpus").join(target));
        let regressions = inputs(&root.join("regressions").join(target));
        // A target without a committed corpus means the corpus was lost.
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{target} is empty or missing"
        );
        for f in corpus.iter().chain(&regressions) {
            let data = std::fs::read(f).unwrap();
            let r = std::panic::catch_unwind(|| run(&data));
            if r.is_err() {
                failures.push(f.display().to_string());
            }
        }
        eprintln!(
            "{target}: {} corpus inputs, {} regressions replayed",
            corpus.len(),
            regressions.len()
        );
    }
    assert!(
        failures.is_empty(),
        "inputs that fail their harness:\n{}",
        failures.join("\n")
    );
}

/// The scanner the harness (and tests/sanitize.rs) relies on must itself
/// catch the classic tricks, or every check built on it proves nothing.
#[test]
fn executable_markup_scanner_catches_the_classics() {
    let bad = [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//x.example/a.js>",
        "<img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href='&#106;avascript:alert(1)'>x</a>",
        "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
        "<a href=\" JaVaScRiPt&colon;alert(1)\">x</a>",
        "<a href=vbscript:msgbox(1)>x</a>",
        "<img src=\"data:text/html;base64,PHNjcmlwdD4=\">",
        "<iframe src=https://x.example></iframe>",
        "<svg/onload=alert(1)>",
        "<body onload=alert(1)>",
        "<div style=\"width: expression(alert(1))\">",
        "<meta http-equiv=\"refresh\" content=\"0;url=https://x.example\">",
    ];
    for b in bad {
        assert!(!harness::executable_markup(b).is_empty(), "missed: {b}");
    }
    let good = [
        "<p>2 &lt; 3 and <b>bold</b></p>",
        "<a href=\"https://example.com/?q=javascript:\">a link</a>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<td style=\"color: #333; font-family: sans-serif\">x</td>",
        "<p title=\"onerror=alert(1)\">text about onload=</p>",
        "<!-- <script> in a comment -->",
    ];
    for g in good {
        assert_eq!(
            harness::executable_markup(g),
            Vec::<String>::new(),
            "false alarm: {g}"
        );
    }
}
