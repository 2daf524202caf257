//! Tests with the real all-MiniLM-L6-v2 model and ONNX Runtime.
//!
//! They need the files from `scripts/setup-model.sh` (CI runs it first). When
//! the files are absent each test prints a SKIP line saying so and returns,
//! so a fresh checkout still builds and tests; nothing here is mocked.

use std::path::Path;
use std::sync::OnceLock;

use agg_score::{
    CachingEmbedder, Device, EmbedConfig, Embedder, EvalConfig, Feedback, InterestModel, Interests,
    ItemFeatures, LabelledExample, ModelFiles, OrtEmbedder, Reason, ScoreError, TrainOptions,
    cosine, evaluate, read_jsonl,
};

/// One embedder for the whole test binary: ONNX Runtime allows one
/// environment per process, and loading the model once keeps tests fast.
fn embedder() -> Option<&'static OrtEmbedder> {
    static E: OnceLock<Option<OrtEmbedder>> = OnceLock::new();
    E.get_or_init(|| {
        if let Err(e) = ModelFiles::locate(None, None) {
            // CI sets AGG_REQUIRE_MODEL=1 after running the setup script, so
            // that a broken setup fails loudly instead of skipping.
            assert!(
                std::env::var_os("AGG_REQUIRE_MODEL").is_none(),
                "AGG_REQUIRE_MODEL is set but the model files are missing: {e}"
            );
            eprintln!("SKIP: real-model tests need the model files: {e}");
            return None;
        }
        Some(
            OrtEmbedder::new(EmbedConfig {
                device: Device::Cpu,
                batch_size: 8,
                ..EmbedConfig::default()
            })
            .expect("model files are present, so the embedder must load"),
        )
    })
    .as_ref()
}

macro_rules! need_model {
    () => {
        match embedder() {
            Some(e) => e,
            None => {
                eprintln!("SKIP: model files absent (run scripts/setup-model.sh)");
                return;
            }
        }
    };
}

#[test]
fn similar_headlines_are_closer_than_unrelated_ones() {
    let e = need_model!();
    assert_eq!(e.dim(), 384);
    assert!(
        e.model_id().starts_with("minilm-l6-v2:"),
        "{}",
        e.model_id()
    );
    let v = e
        .embed(&[
            "Stocks tumble as oil prices surge",
            "Shares fall sharply on higher crude prices",
            "Team wins the championship in overtime",
            "Scientists find new species of frog in the rainforest",
            "Researchers discover an unknown frog species in the jungle",
        ])
        .unwrap();
    for x in &v {
        let n: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "not unit length: {n}");
    }
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2);
    assert!(cosine(&v[3], &v[4]) > cosine(&v[3], &v[0]) + 0.2);
}

#[test]
fn odd_inputs_embed_without_error() {
    let e = need_model!();
    let huge = "The quick brown fox jumps over the lazy dog. ".repeat(2400); // ~108 KB
    assert!(huge.len() > 100_000);
    let texts = [
        "",
        "   ",
        "😀🔥🚀🎉",
        huge.as_str(),
        "Привет, мир! Это новости.",
        "東京で地震が発生しました",
        "مرحبا بالعالم",
        "\u{0}\u{7}control chars\u{1b}[0m",
    ];
    let v = e.embed(&texts).unwrap();
    assert_eq!(v.len(), texts.len());
    for (t, x) in texts.iter().zip(&v) {
        assert_eq!(x.len(), 384, "{t:.20}");
        assert!(x.iter().all(|a| a.is_finite()), "{t:.20}");
    }
    assert!(e.embed(&[]).unwrap().is_empty());
}

#[test]
fn batching_and_padding_do_not_change_vectors() {
    let e = need_model!();
    let texts = [
        "short",
        "a considerably longer headline about the economy, interest rates and the outlook for growth",
        "medium length headline here",
    ];
    let together = e.embed(&texts).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = e.embed(&[t]).unwrap().remove(0);
        assert!(
            cosine(&alone, &together[i]) > 0.9999,
            "text {i} changed with padding"
        );
    }
}

/// The pooling head GPU sessions get (`device_pooling`), checked on the CPU
/// against host pooling of the same model: ONNX Runtime is the oracle for the
/// hand-written graph bytes. Texts of very different lengths share a batch, so
/// a head that pooled padding would disagree.
#[test]
fn pooling_in_the_graph_matches_pooling_on_the_host() {
    let host = need_model!();
    assert!(!host.pools_on_device(), "the CPU default pools on the host");
    let headed = OrtEmbedder::new(EmbedConfig {
        device: Device::Cpu,
        batch_size: 8,
        device_pooling: Some(true),
        ..EmbedConfig::default()
    })
    .expect("the headed model loads");
    assert!(headed.pools_on_device(), "the head was not taken");
    assert_eq!(headed.dim(), host.dim());
    let texts = [
        "short",
        "",
        "a considerably longer headline about the economy, interest rates and the outlook for \
         growth, with a body that runs past the token cap so that the batch has a long row",
        "medium length headline here",
        "Ünïcödé — 東京 ✓",
    ];
    let a = host.embed(&texts).unwrap();
    let b = headed.embed(&texts).unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let norm: f32 = y.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "text {i}: norm {norm}");
        let c = cosine(x, y);
        assert!(
            c > 0.99999,
            "text {i}: cosine {c} between the head and host pooling"
        );
    }
}

/// The opt-in int8 CPU model (`setup-model.sh --int8`, which the test
/// script runs, setting AGG_REQUIRE_INT8 when the model was made): its own
/// model id, vectors close to the fp32 model's, and a text's vector
/// independent of the texts embedded with it (the int8 model scales
/// activations per call, so it runs one text per call).
#[test]
fn the_int8_model_is_opt_in_close_and_independent_of_batch_mates() {
    let fp32 = need_model!();
    if fp32.files().cpu_int8_model.is_none() {
        assert!(
            std::env::var_os("AGG_REQUIRE_INT8").is_none(),
            "AGG_REQUIRE_INT8 is set but model.int8.onnx is missing (scripts/setup-model.sh --int8)"
        );
        eprintln!("SKIP: model.int8.onnx absent (scripts/setup-model.sh --int8)");
        return;
    }
    assert!(fp32.model_path().ends_with("model.onnx"), "int8 is opt-in");
    let int8 = OrtEmbedder::new(EmbedConfig {
        device: Device::Cpu,
        cpu_int8: true,
        ..EmbedConfig::default()
    })
    .unwrap();
    assert!(int8.model_path().ends_with("model.int8.onnx"));
    assert_ne!(
        int8.model_id(),
        fp32.model_id(),
        "vectors of the two must not mix"
    );
    let texts = [
        "Central bank raises interest rates to curb inflation",
        "short",
        "Verstappen wins in Suzuka after a late safety car, extending his lead in the \
         championship as rivals struggle with tyre wear on a hot afternoon",
    ];
    let together = int8.embed(&texts).unwrap();
    let reference = fp32.embed(&texts).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = int8.embed(&[t]).unwrap().remove(0);
        assert_eq!(alone, together[i], "text {i} depends on its batch mates");
        let c = cosine(&alone, &reference[i]);
        assert!(c > 0.97, "text {i}: cosine {c} with the fp32 model");
    }
}

#[test]
fn cache_avoids_re_embedding() {
    let e = need_model!();
    let c = CachingEmbedder::new(e);
    let a = c.embed(&["one headline", "two headline"]).unwrap();
    let b = c.embed(&["two headline", "one headline", "three"]).unwrap();
    assert_eq!(c.misses(), 3);
    assert_eq!(a[0], b[1]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    c.save(&path).unwrap();
    let c2 = CachingEmbedder::new(e);
    assert_eq!(c2.load(&path).unwrap(), 3);
    c2.embed(&["three", "one headline"]).unwrap();
    assert_eq!(c2.misses(), 0);
}

fn labelled(e: &dyn Embedder, items: &[(&str, Feedback, &str)]) -> Vec<LabelledExample> {
    let texts: Vec<&str> = items.iter().map(|x| x.0).collect();
    let vecs = e.embed(&texts).unwrap();
    items
        .iter()
        .zip(vecs)
        .enumerate()
        .map(|(i, ((title, fb, source), v))| LabelledExample {
            item_id: format!("item-{i}"),
            title: title.to_string(),
            embedding: v,
            feedback: *fb,
            source: Some(source.to_string()),
            saga_followed: false,
            age_days: Some(1.0),
        })
        .collect()
}

#[test]
fn feedback_retrains_and_changes_scores_with_explanations() {
    let e = need_model!();
    let model = InterestModel::cold_start(
        e,
        &Interests {
            like: vec!["space exploration".into()],
            dislike: vec!["celebrity gossip".into()],
        },
    )
    .unwrap();
    assert_eq!(model.revision, 0);

    // The user turns out to love cooking and to dislike rocket news.
    use Feedback::*;
    let examples = labelled(
        e,
        &[
            (
                "Ten easy pasta recipes for busy weeknights",
                Like,
                "food.example",
            ),
            ("How to bake sourdough bread at home", Like, "food.example"),
            (
                "Chef shares secrets of the perfect roast chicken",
                Like,
                "food.example",
            ),
            (
                "The best spices for a homemade curry",
                Click,
                "food.example",
            ),
            (
                "Rocket launch delayed again by weather",
                Dislike,
                "space.example",
            ),
            (
                "Astronauts begin six-month mission on the station",
                Dislike,
                "space.example",
            ),
            (
                "New telescope images show distant galaxies",
                Dislike,
                "space.example",
            ),
            (
                "Pop star spotted at a beach resort",
                Dislike,
                "gossip.example",
            ),
        ],
    );
    let probe_text = "A simple recipe for tomato soup with fresh basil";
    let probe = e.embed(&[probe_text]).unwrap().remove(0);
    let features = ItemFeatures {
        embedding: &probe,
        source: Some("food.example"),
        saga_followed: false,
        age_days: Some(0.5),
    };
    let before = model.score(&features).unwrap();
    let trained = model.train(&examples, &TrainOptions::default()).unwrap();
    assert_eq!(trained.revision, 1);
    assert_eq!(trained.labels.like, 3);
    assert_eq!(trained.labels.click, 1);
    let after = trained.score(&features).unwrap();
    assert!(
        after.score > before.score + 0.2,
        "score should rise after feedback: {} -> {}",
        before.score,
        after.score
    );
    assert_eq!(after.model_revision, 1);
    // Explanations: cold start cites the phrase, trained cites a liked item.
    assert!(
        before
            .reasons
            .iter()
            .any(|r| matches!(r, Reason::InterestPhrase { liked: true, .. })),
        "{before:?}"
    );
    assert!(
        after.reasons.iter().any(|r| matches!(
            r,
            Reason::SimilarItem {
                feedback: Feedback::Like | Feedback::Click,
                ..
            }
        )),
        "{after:?}"
    );
    let text = after.explain();
    assert!(text.contains("which you liked"), "{text}");

    // A rocket item drops.
    let rocket = e
        .embed(&["Space agency prepares next rocket launch"])
        .unwrap()
        .remove(0);
    let r0 = model.score(&ItemFeatures::new(&rocket)).unwrap().score;
    let r1 = trained.score(&ItemFeatures::new(&rocket)).unwrap().score;
    assert!(r1 < r0, "disliked topic should fall: {r0} -> {r1}");

    // Versioned round trip.
    let back = InterestModel::from_json(&trained.to_json()).unwrap();
    assert_eq!(back.score(&features).unwrap(), after);
}

#[test]
fn followed_saga_and_source_show_in_reasons() {
    let e = need_model!();
    let model = InterestModel::cold_start(
        e,
        &Interests {
            like: vec!["football".into()],
            dislike: vec![],
        },
    )
    .unwrap();
    let v = e
        .embed(&["Local council approves new bike lanes"])
        .unwrap()
        .remove(0);
    let plain = model.score(&ItemFeatures::new(&v)).unwrap();
    let followed = model
        .score(&ItemFeatures {
            embedding: &v,
            source: None,
            saga_followed: true,
            age_days: None,
        })
        .unwrap();
    assert!(followed.score > plain.score);
    assert!(
        followed
            .reasons
            .iter()
            .any(|r| matches!(r, Reason::SagaFollowed { .. }))
    );
}

#[test]
fn eval_runs_on_a_small_file() {
    let e = need_model!();
    let rows =
        read_jsonl(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small.jsonl")).unwrap();
    assert_eq!(rows.len(), 24);
    let cfg = EvalConfig {
        like_label: "Sports".into(),
        interests: Interests {
            like: vec!["sports".into()],
            dislike: vec![],
        },
        budgets: vec![0, 6],
        seeds: 3,
        train: TrainOptions::default(),
    };
    let res = evaluate(e, &rows, &cfg).unwrap();
    assert_eq!(res.len(), 2);
    for r in &res {
        assert_eq!(r.aucs.len(), 3);
        assert_eq!((r.n_pool, r.n_test), (12, 12));
        assert!(r.auc_mean > 0.8, "{r:?}");
        let line = serde_json::to_string(r).unwrap();
        assert!(line.contains("\"auc_mean\""));
    }
}

#[test]
fn corrupt_model_is_a_clear_error() {
    let Some(e) = embedder() else {
        eprintln!("SKIP: model files absent (run scripts/setup-model.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&e.files().tokenizer, dir.path().join("tokenizer.json")).unwrap();
    std::fs::write(dir.path().join("model.onnx"), b"this is not an onnx model").unwrap();
    let err = OrtEmbedder::new(EmbedConfig {
        model_dir: Some(dir.path().to_path_buf()),
        ort_dylib: Some(e.files().ort_dylib.clone()),
        device: Device::Cpu,
        ..EmbedConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, ScoreError::Model { .. }), "{err}");
    assert!(err.to_string().contains("setup-model.sh"), "{err}");
}

#[test]
fn unavailable_gpu_is_an_error_not_a_cpu_run() {
    let Some(e) = embedder() else {
        eprintln!("SKIP: model files absent (run scripts/setup-model.sh)");
        return;
    };
    let base = EmbedConfig {
        model_dir: Some(e.files().dir.clone()),
        ort_dylib: Some(e.files().ort_dylib.clone()),
        webgpu_plugin: Some("/nonexistent/libonnxruntime_providers_webgpu.so".into()),
        ..EmbedConfig::default()
    };
    let err = OrtEmbedder::new(EmbedConfig {
        device: Device::Webgpu,
        ..base.clone()
    })
    .unwrap_err();
    assert!(matches!(err, ScoreError::DeviceUnavailable { .. }), "{err}");
    // The CPU-only ONNX Runtime that setup-model.sh installs has no CUDA EP.
    let err = OrtEmbedder::new(EmbedConfig {
        device: Device::Cuda,
        ..base.clone()
    })
    .unwrap_err();
    assert!(matches!(err, ScoreError::DeviceUnavailable { .. }), "{err}");
    // auto falls through to the CPU and says so.
    let auto = OrtEmbedder::new(EmbedConfig {
        device: Device::Auto,
        ..base
    })
    .unwrap();
    assert_eq!(auto.provider(), "cpu");
    assert!(
        auto.placement()
            .get("CPUExecutionProvider")
            .copied()
            .unwrap_or(0)
            > 0
    );
}
