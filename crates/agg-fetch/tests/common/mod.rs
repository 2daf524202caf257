//! Shared by the corpus tests: where the feed corpus is, and its files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The feed corpus (`../shared/data/feeds`, or `AGG_FEED_CORPUS`), if it is
/// there; a note is printed when it is not, and the caller skips.
pub fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("AGG_FEED_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/feeds")
        });
    if p.join("real").is_dir() {
        Some(p)
    } else {
        eprintln!("note: feed corpus not found at {}; skipping", p.display());
        None
    }
}

/// Every file under `dir`, recursively, sorted; none when `dir` is absent.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
