//! `agg validate` on broken pipelines: every error class is reported at its
//! file:line:column with a snippet. The rendered output is compared with the
//! `.snap` file beside each pipeline; `UPDATE_SNAPSHOTS=1 cargo test` rewrites
//! them (review the diff before committing).

use std::path::Path;
use std::process::Command;

fn agg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agg"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AGG_DB")
        .env_remove("AGG_TEST_SURELY_UNSET_TOKEN")
        // The digest fixtures are about these being unset.
        .env_remove("AGG_SMTP_URL")
        .env_remove("AGG_PUBLIC_URL")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn every_broken_pipeline_matches_its_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pipelines/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 18,
        "expected the whole set of broken pipelines"
    );
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut mismatches = Vec::new();
    for f in files {
        let rel = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let out = agg().arg("validate").arg(rel).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{} must fail validation",
            rel.display()
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        // Every error is located: file:line:column.
        let located = format!("{}:", rel.display());
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(": error[") && l.contains(".yaml:")),
            "{}: no located error in\n{stderr}",
            rel.display()
        );
        assert!(stderr.contains(&located) || rel.ends_with("use-invalid.yaml"));
        let snap = f.with_extension("snap");
        if update {
            std::fs::write(&snap, &stderr).unwrap();
        } else {
            let want = std::fs::read_to_string(&snap)
                .unwrap_or_else(|_| panic!("missing snapshot {}", snap.display()));
            if want != stderr {
                mismatches.push(format!("--- {}\n{stderr}", snap.display()));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "snapshots differ:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn all_problems_are_reported_in_one_pass_as_json() {
    let out = agg()
        .args([
            "validate",
            "--format",
            "json",
            "tests/pipelines/bad/many-errors.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = v[0]["diagnostics"].as_array().unwrap();
    let got: Vec<(String, u64, u64)> = diags
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("bad-cron", 3, 11),
        ("bad-timezone", 4, 11),
        ("missing-option", 6, 3),
        ("wrong-type", 7, 26),
        ("unknown-kind", 8, 14),
        ("unknown-input", 9, 35),
    ];
    let want: Vec<(String, u64, u64)> = want
        .iter()
        .map(|(c, l, k)| (c.to_string(), *l, *k))
        .collect();
    assert_eq!(got, want);
    assert_eq!(v[0]["ok"], false);
}

#[test]
fn errors_in_a_used_file_point_into_that_file() {
    let out = agg()
        .args(["validate", "tests/pipelines/bad/use-invalid.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("tests/pipelines/bad/../agents/broken.yaml:4:1: error[unknown-option]"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `timeout_secs`?"), "{stderr}");
}

#[test]
fn exit_codes_distinguish_ok_errors_and_usage() {
    let ok = agg()
        .args(["validate", "pipelines/demo.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let missing = agg()
        .args(["validate", "tests/pipelines/nope.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let no_args = agg().arg("validate").output().unwrap();
    assert_eq!(no_args.status.code(), Some(2));
    let mixed = agg()
        .args([
            "validate",
            "pipelines/demo.yaml",
            "tests/pipelines/bad/cycle.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(mixed.status.code(), Some(1));
}

#[test]
fn warnings_do_not_fail_validation() {
    let out = agg()
        .args(["validate", "tests/pipelines/good/warnings.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warnings.yaml:5:3: warning[unused-output]"),
        "{stderr}"
    );
    assert!(stderr.contains("warning[no-sink]"), "{stderr}");
}

/// A digest's public URL and SMTP server may come from the environment it
/// runs in: their absence is a located warning, and validation passes.
#[test]
fn a_digest_without_public_url_or_smtp_is_warned_about_at_the_option() {
    for (file, line, option) in [
        ("digest-no-public-url.yaml", 4, "public_url"),
        ("digest-no-smtp.yaml", 4, "smtp"),
    ] {
        let path = format!("tests/pipelines/good/{file}");
        let out = agg()
            .args(["validate", &path])
            .env_remove("AGG_PUBLIC_URL")
            .env_remove("AGG_SMTP_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let located = format!("{path}:{line}:3: warning[option-warning]:");
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&located))
            .unwrap_or_else(|| panic!("no located warning {located} in\n{stderr}"));
        let says = if option == "smtp" {
            "SMTP"
        } else {
            "public URL"
        };
        assert!(line.contains(says), "{line}");
        assert!(
            stderr.contains("help:"),
            "a hint says what to add:\n{stderr}"
        );
        // Set in the environment, the warning goes away.
        let var = if option == "smtp" {
            "AGG_SMTP_URL"
        } else {
            "AGG_PUBLIC_URL"
        };
        let value = if option == "smtp" {
            "smtp://127.0.0.1:2525"
        } else {
            "https://agg.example.org"
        };
        let out = agg()
            .args(["validate", &path])
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains("option-warning"), "{stderr}");
    }
}

#[test]
fn env_references_resolve_when_set() {
    let out = agg()
        .env("AGG_TEST_SURELY_UNSET_TOKEN", "s3cret")
        .args(["validate", "tests/pipelines/bad/unset-env.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The secret itself is never echoed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));
}

#[test]
fn graph_formats() {
    for (fmt, needle) in [
        (
            "text",
            "fresh (transform dedupe) <- tech, world, sport, science",
        ),
        ("dot", "\"quiet\" -> \"items\";"),
        ("mermaid", "fresh --> quiet"),
    ] {
        let out = agg()
            .args(["graph", "pipelines/demo.yaml", "--format", fmt])
            .output()
            .unwrap();
        assert!(out.status.success());
        let s = String::from_utf8(out.stdout).unwrap();
        assert!(s.contains(needle), "{fmt}: {s}");
    }
}
