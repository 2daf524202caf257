//! Link options for the `agg` executable only (no dependency is rebuilt).
//!
//! `agg` is a position-independent executable, so the dynamic loader
//! relocates every pointer in its read-only data at start-up. Stored as
//! classic RELA entries (24 bytes each) that table is ~2.4 MB, which the
//! loader reads in full: resident memory every run pays for, ~5% of the
//! ingest benchmark's peak. Packed relative relocations (DT_RELR, glibc 2.36,
//! binutils 2.38) encode the same relocations in a few KiB.
//!
//! The option is used only where a probe program linked with it also runs,
//! so an older linker or C library gets the classic table instead of a
//! binary that does not start.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if probe("-Wl,-z,pack-relative-relocs") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether a C program linked with `flag` builds and runs here.
fn probe(flag: &str) -> bool {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let src = out.join("relr_probe.c");
    let exe = out.join("relr_probe");
    // A pointer in initialised data makes the linker emit a relocation.
    let code = "static const char *s = \"x\"; int main(void) { return s[0] != 'x'; }\n";
    if std::fs::write(&src, code).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let linked = Command::new(cc)
        .args(["-pie", "-fPIE", flag, "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&exe).status().is_ok_and(|s| s.success())
}
