//! Local reads are bounded (issue 20, item 6): a `file` source and a `use:`
//! file read at most a named number of bytes, so `/dev/zero` (or any
//! endless or huge file) is a clear error, not a process eating memory
//! until it is killed.
//!
//! Each `agg` runs with its address space capped (`RLIMIT_AS`, 3 GiB, far
//! above what these runs need): an unbounded read then ends in an
//! allocation failure inside the test instead of exhausting the machine.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

const AS_LIMIT: u64 = 3 << 30;

fn capped(mut c: Command) -> Output {
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the
    // child between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: AS_LIMIT,
                rlim_max: AS_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(dir: &Path, yaml: &str) -> Output {
    std::fs::write(dir.join("p.yaml"), yaml).unwrap();
    let mut c = agg(dir);
    c.arg("--db")
        .arg(dir.join("agg.db"))
        .args(["run", "p.yaml"]);
    capped(c)
}

#[test]
fn a_file_source_reads_at_most_max_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // An endless file: the default cap applies, named in the error.
    let o = run(
        dir,
        "name: z\nagents:\n  zero: { kind: file, path: /dev/zero }\n  out: { kind: jsonl, inputs: [zero], path: out.jsonl }\n",
    );
    assert_eq!(o.status.code(), Some(1), "a clean failure: {}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("/dev/zero") && t.contains("max_bytes"),
        "the error names the file and the limit: {t}"
    );

    // A real feed over an explicit cap fails the same way; under it, it is
    // read.
    let feed = rss("cap", 20);
    std::fs::write(dir.join("news.xml"), &feed).unwrap();
    let o = run(
        dir,
        "name: z\nagents:\n  news: { kind: file, path: news.xml, max_bytes: 1000 }\n  out: { kind: jsonl, inputs: [news], path: out.jsonl }\n",
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("larger than") && t.contains("1000") && t.contains("max_bytes"),
        "{t}"
    );
    let o = run(
        dir,
        &format!(
            "name: z\nagents:\n  news: {{ kind: file, path: news.xml, max_bytes: {} }}\n  out: {{ kind: jsonl, inputs: [news], path: out.jsonl }}\n",
            feed.len()
        ),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("out.jsonl"))
            .unwrap()
            .lines()
            .count(),
        20
    );
}

#[test]
fn a_use_file_is_read_with_a_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("news.xml"), rss("use", 2)).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "name: u\nagents:\n  news: { use: /dev/zero }\n  out: { kind: jsonl, inputs: [news], path: out.jsonl }\n",
    )
    .unwrap();
    let mut c = agg(dir);
    c.args(["validate", "p.yaml"]);
    let o = capped(c);
    let t = text(&o);
    assert!(
        !o.status.success() && o.status.code().is_some(),
        "a clean failure: {t}"
    );
    assert!(
        t.contains("/dev/zero") && t.contains("larger than"),
        "located, named error: {t}"
    );
    assert!(t.contains("p.yaml:3"), "located at the `use:` line: {t}");
}
