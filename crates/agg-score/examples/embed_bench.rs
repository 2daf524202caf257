//! agg's embedding benchmark: items/s on one execution provider, optionally
//! with the cosine agreement against the CPU provider in the same process.
//! Used by `benches/embed-bench.sh` (beside Python onnxruntime) and by
//! `scripts/gpu-check.sh` (CUDA / WebGPU on a lent GPU machine).
//!
//! ```text
//! embed_bench --input FILE.jsonl [--field title|title_text] [--n 2000] [--batch 64]
//!             [--device cpu|cuda|webgpu|auto] [--no-sort] [--repeat 3]
//!             [--max-tokens 256] [--threads N] [--compare-cpu] [--dump FILE]
//!             [--batch-tokens N] [--arena on|off] [--mem-pattern on|off]
//!             [--model-dir DIR] [--device-pool on|off] [--cpu-int8 on|off]
//! ```
//!
//! Prints one JSON line. `--dump` writes the vectors as raw little-endian f32
//! (n x dim) so another implementation's output can be compared.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use agg_score::embed::{Device, EmbedConfig, Embedder, OrtEmbedder, cosine, item_text};
use agg_score::eval::read_jsonl;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn on_off(v: &str) -> Result<bool, String> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, got {v}")),
    }
}

/// Peak resident set of this process so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut input: Option<PathBuf> = None;
    let mut field = "title".to_string();
    let mut n = 2000usize;
    let mut cfg = EmbedConfig {
        device: Device::Cpu,
        ..EmbedConfig::default()
    };
    let mut repeat = 3usize;
    let mut compare_cpu = false;
    let mut dump: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--input" => input = Some(PathBuf::from(val()?)),
            "--field" => field = val()?,
            "--n" => n = val()?.parse()?,
            "--batch" => {
                cfg.batch_size = val()?.parse()?;
                cfg.gpu_batch_size = cfg.batch_size;
            }
            "--device" => cfg.device = val()?.parse()?,
            "--no-sort" => cfg.sort_by_length = false,
            "--repeat" => repeat = val()?.parse()?,
            "--max-tokens" => cfg.max_tokens = val()?.parse()?,
            "--model-dir" => cfg.model_dir = Some(PathBuf::from(val()?)),
            "--threads" => cfg.intra_threads = Some(val()?.parse()?),
            "--batch-tokens" => cfg.batch_tokens = val()?.parse()?,
            "--arena" => cfg.cpu_arena = on_off(&val()?)?,
            "--mem-pattern" => cfg.memory_pattern = on_off(&val()?)?,
            "--device-pool" => cfg.device_pooling = Some(on_off(&val()?)?),
            "--cpu-int8" => cfg.cpu_int8 = on_off(&val()?)?,
            "--compare-cpu" => compare_cpu = true,
            "--dump" => dump = Some(PathBuf::from(val()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let rows = read_jsonl(&input.ok_or("--input FILE is required")?)?;
    if rows.is_empty() {
        return Err("no rows".into());
    }
    // Repeat the file if it is shorter than n, so every run sees n texts.
    let texts: Vec<String> = rows
        .iter()
        .cycle()
        .take(n)
        .map(|r| match field.as_str() {
            "title" => r.title.clone(),
            "title_text" => item_text(&r.title, &r.text),
            _ => r.title.clone(),
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    let t_load = Instant::now();
    let emb = OrtEmbedder::new(cfg.clone())?;
    let load_s = t_load.elapsed().as_secs_f64();
    // Warm-up (allocations, kernel selection, GPU autotuning).
    emb.embed(&refs[..refs.len().min(cfg.batch_size)])?;

    let mut times = Vec::new();
    let mut out = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        out = emb.embed(&refs)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let best = times[0];
    let median = times[times.len() / 2];

    let mut agreement = serde_json::Value::Null;
    if compare_cpu && emb.provider() != "cpu" {
        let cpu = OrtEmbedder::new(EmbedConfig {
            device: Device::Cpu,
            device_pooling: Some(false),
            // The same model file as the device ran, so the cosine measures
            // the device, not int8 against fp32.
            cpu_int8: false,
            ..cfg.clone()
        })?;
        let m = refs.len().min(2000);
        let reference = cpu.embed(&refs[..m])?;
        let cos: Vec<f32> = reference
            .iter()
            .zip(&out)
            .map(|(a, b)| cosine(a, b))
            .collect();
        let min = cos.iter().copied().fold(f32::INFINITY, f32::min);
        let mean = cos.iter().sum::<f32>() / cos.len() as f32;
        agreement = serde_json::json!({"n": m, "cos_min": min, "cos_mean": mean});
    }
    if let Some(path) = dump {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for v in &out {
            for x in v {
                f.write_all(&x.to_le_bytes())?;
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "impl": "agg (Rust, ort)",
            "device": cfg.device.to_string(),
            "provider": emb.provider(),
            "placement": emb.placement(),
            "model_id": emb.model_id(),
            "field": field,
            "n": refs.len(),
            "batch": if emb.provider() == "cpu" { cfg.batch_size } else { cfg.gpu_batch_size },
            "sorted_by_length": cfg.sort_by_length,
            "max_tokens": cfg.max_tokens,
            "batch_tokens": cfg.batch_tokens,
            "threads": cfg.intra_threads,
            "arena": cfg.cpu_arena,
            "mem_pattern": cfg.memory_pattern,
            "device_pooling": emb.pools_on_device(),
            "model_file": emb.model_path().file_name().map(|f| f.to_string_lossy().into_owned()),
            "peak_rss_mib": peak_rss_mib(),
            "load_s": load_s,
            "best_s": best,
            "median_s": median,
            "items_per_s_best": refs.len() as f64 / best,
            "items_per_s_median": refs.len() as f64 / median,
            "cpu_agreement": agreement,
        })
    );
    Ok(())
}
