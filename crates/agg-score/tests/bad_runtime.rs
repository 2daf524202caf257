//! A wrong ONNX Runtime library is one clear error at start. Own test binary
//! (own process), because a process can load ONNX Runtime only once.

use agg_score::{Device, EmbedConfig, ModelFiles, OrtEmbedder, ScoreError};

#[test]
fn not_a_runtime_library_is_a_clear_error() {
    let files = match ModelFiles::locate(None, None) {
        Ok(f) => f,
        Err(e) => {
            assert!(
                std::env::var_os("AGG_REQUIRE_MODEL").is_none(),
                "AGG_REQUIRE_MODEL is set but the model files are missing: {e}"
            );
            eprintln!("SKIP: model files absent (run scripts/setup-model.sh)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so.1.32.0");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let err = OrtEmbedder::new(EmbedConfig {
        model_dir: Some(files.dir.clone()),
        ort_dylib: Some(fake),
        device: Device::Cpu,
        ..EmbedConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, ScoreError::Runtime { .. }), "{err}");
    assert!(err.to_string().contains("ORT_DYLIB_PATH"), "{err}");
}
