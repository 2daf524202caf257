//! `agg doctor` and `scripts/setup-model.sh --gpu cuda`, with the real binary,
//! the real model and the real packages.
//!
//! Model: the files of `scripts/setup-model.sh` in the default model dir;
//! tests that need them skip when they are absent (AGG_REQUIRE_MODEL=1 makes
//! that a failure).
//!
//! The `--gpu cuda` test installs ~2 GB of NVIDIA libraries from ~1.3 GB of
//! wheels. It runs when the wheels are already in the wheel cache
//! (`~/.cache/agg/wheels`, filled by any earlier `setup-model.sh --gpu cuda`)
//! or when AGG_TEST_GPU_DOWNLOAD=1 asks for the download; otherwise it skips
//! and says so, so that a fresh CI machine does not spend minutes and 1.3 GB
//! on every run. On a machine without an NVIDIA GPU it checks the whole path
//! up to "no NVIDIA device"; on one with a GPU, that agg picks CUDA.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agg_score::runtime::{Driver, nvidia_driver};

fn agg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agg"));
    c.env_remove("ORT_DYLIB_PATH")
        .env_remove("AGG_WEBGPU_EP_PATH")
        .env_remove("AGG_MODEL_DIR")
        .env("RUST_LOG", "warn");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A model dir with the CPU files of the default one (symlinked), and
/// nothing else: no CUDA runtime, no WebGPU plugin.
fn cpu_model_dir() -> Option<tempfile::TempDir> {
    let src = agg_score::default_model_dir();
    let files = [
        "model.onnx",
        "tokenizer.json",
        agg_score::embed::ORT_LIB_NAME,
    ];
    if !files.iter().all(|f| src.join(f).is_file()) {
        assert!(
            std::env::var_os("AGG_REQUIRE_MODEL").is_none(),
            "AGG_REQUIRE_MODEL is set but {} lacks the model (run scripts/setup-model.sh)",
            src.display()
        );
        eprintln!(
            "skipped: no model in {} (run scripts/setup-model.sh)",
            src.display()
        );
        return None;
    }
    let t = tempfile::tempdir().unwrap();
    for f in files {
        std::os::unix::fs::symlink(src.join(f), t.path().join(f)).unwrap();
    }
    Some(t)
}

fn no_gpu_here() -> bool {
    !matches!(nvidia_driver(), Driver::Ready { .. })
}

#[test]
fn doctor_names_the_device_and_why_not_the_others() {
    let Some(dir) = cpu_model_dir() else { return };
    let o = agg()
        .args(["doctor", "--model-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // Every device has a line, in the order auto tries them, with a fix.
    let pos = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` missing in:\n{out}"))
    };
    assert!(pos("  cuda ") < pos("  webgpu ") && pos("  webgpu ") < pos("  cpu "));
    assert!(
        out.contains("providers in this build: cpu, cuda, webgpu"),
        "{out}"
    );
    assert!(
        out.contains("fix: scripts/setup-model.sh --gpu webgpu"),
        "{out}"
    );
    if no_gpu_here() {
        assert!(out.contains("no NVIDIA device"), "{out}");
        assert!(out.contains("device: auto uses cpu"), "{out}");
        assert!(out.contains("skipped cuda:"), "{out}");
        assert!(out.contains("skipped webgpu:"), "{out}");
        assert!(out.contains("on CPUExecutionProvider"), "{out}");
    }
}

#[test]
fn doctor_without_a_model_fails_and_names_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let o = agg()
        .args(["doctor", "--model-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("cannot load the model"), "{out}");
    assert!(out.contains("scripts/setup-model.sh"), "{out}");
}

#[test]
fn asking_for_cuda_without_it_is_an_error_with_the_fix() {
    let Some(dir) = cpu_model_dir() else { return };
    let o = agg()
        .args(["doctor", "--device", "cuda", "--model-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("device `cuda` requested but not available"),
        "{out}"
    );
    assert!(out.contains("scripts/setup-model.sh --gpu cuda"), "{out}");
}

fn wheel_cache() -> PathBuf {
    if let Some(c) = std::env::var_os("AGG_WHEEL_CACHE") {
        return PathBuf::from(c);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("agg/wheels")
}

fn cached(dir: &Path, prefix: &str) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
        .unwrap_or(false)
}

fn setup(args: &[&str], dir: &Path) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new("bash")
        .arg(root.join("scripts/setup-model.sh"))
        .args(args)
        .arg(dir)
        .env_remove("AGG_MODEL_DIR")
        .output()
        .unwrap()
}

#[test]
fn setup_model_gpu_cuda_installs_and_agg_says_why_it_is_not_used() {
    let cache = wheel_cache();
    let wheels = [
        "onnxruntime_gpu-1.31.1-",
        "nvidia_cuda_runtime-13.5.37-",
        "nvidia_cublas-13.10.0.20-",
        "nvidia_curand-10.4.5.25-",
        "nvidia_cudnn_cu13-9.28.1.4-",
    ];
    let all_cached = wheels.iter().all(|w| cached(&cache, w));
    if !all_cached && std::env::var_os("AGG_TEST_GPU_DOWNLOAD").is_none() {
        eprintln!(
            "skipped: the CUDA wheels (~1.3 GB) are not in {}; set AGG_TEST_GPU_DOWNLOAD=1 to download them",
            cache.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = setup(&["--gpu", "cuda"], dir.path());
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let cuda = dir.path().join("cuda");
    let manifest = std::fs::read_to_string(cuda.join("agg-cuda.txt")).unwrap();
    assert!(
        manifest.contains("runtime libonnxruntime.so.1.31.1"),
        "{manifest}"
    );
    assert!(manifest.contains("cuda 13"), "{manifest}");
    for lib in [
        "libcudart.so.13",
        "libcublasLt.so.13",
        "libcublas.so.13",
        "libcurand.so.10",
        "libcudnn.so.9",
    ] {
        assert!(manifest.contains(&format!("preload {lib}")), "{manifest}");
        assert!(cuda.join(lib).is_file(), "{lib} not installed");
    }
    assert!(cuda.join("libonnxruntime_providers_cuda.so").is_file());
    if no_gpu_here() {
        assert!(out.contains("no NVIDIA device"), "{out}");
    }

    // Idempotent: a second run installs nothing.
    let o = setup(&["--gpu", "cuda"], dir.path());
    let again = text(&o);
    assert!(o.status.success(), "{again}");
    assert!(!again.contains("setup-model: new "), "{again}");

    // A damaged library is noticed and replaced.
    std::fs::write(cuda.join("libcurand.so.10"), b"not a library").unwrap();
    let o = setup(&["--gpu", "cuda"], dir.path());
    let repaired = text(&o);
    assert!(o.status.success(), "{repaired}");
    assert!(repaired.contains("bad checksum, replacing"), "{repaired}");
    assert!(
        std::fs::metadata(cuda.join("libcurand.so.10"))
            .unwrap()
            .len()
            > 1_000_000
    );

    // agg finds the install without any environment variable and says why
    // it does not use it here (or uses it, on a GPU machine).
    let o = agg()
        .args(["doctor", "--model-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let doc = text(&o);
    assert!(o.status.success(), "{doc}");
    if no_gpu_here() {
        assert!(doc.contains("no NVIDIA device"), "{doc}");
        assert!(doc.contains("the CUDA 13 runtime is installed"), "{doc}");
        assert!(doc.contains("device: auto uses cpu"), "{doc}");
        let o = agg()
            .args(["doctor", "--device", "cuda", "--model-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let doc = text(&o);
        assert_eq!(o.status.code(), Some(1), "{doc}");
        assert!(doc.contains("no NVIDIA device"), "{doc}");
        // Without the CPU build, auto runs the GPU build on the CPU.
        std::fs::remove_file(dir.path().join(agg_score::embed::ORT_LIB_NAME)).unwrap();
        let o = agg()
            .args(["doctor", "--model-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let doc = text(&o);
        assert!(o.status.success(), "{doc}");
        assert!(doc.contains("device: auto uses cpu"), "{doc}");
        assert!(doc.contains("cuda/libonnxruntime.so.1.31.1"), "{doc}");
    } else {
        assert!(doc.contains("device: auto uses cuda"), "{doc}");
    }
}

#[test]
fn setup_model_rejects_an_unknown_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let o = setup(&["--gpu", "rocm"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("expected cuda or webgpu"));
}
