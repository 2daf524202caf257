//! `agg doctor`: which device the interest classifier would use, and why not
//! the others, with the fix for each.
//!
//! Two steps, so that the answer is both cheap and true: first the checks
//! that need no ONNX Runtime (files, the NVIDIA driver, the Vulkan loader),
//! per device in the order `device: auto` tries them; then, unless
//! `--no-load`, the model is loaded exactly as a pipeline would load it and
//! one test batch is run, which says which provider took it and how many
//! graph nodes ran there (a GPU session that runs everything on the CPU is
//! reported as such, not as a GPU).

use std::process::ExitCode;

use agg_score::runtime::{check_devices, cuda_compiled};
use agg_score::{Device, EmbedConfig, OrtEmbedder};
use clap::Args;

use crate::cmd_score::ModelArgs;

#[derive(Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Only the file and driver checks; do not load ONNX Runtime and the model.
    #[arg(long)]
    pub no_load: bool,
}

pub fn run(a: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let device: Device = a.model.device.parse().map_err(|_| {
        anyhow::anyhow!(
            "unknown device `{}`: use auto, cpu, cuda or webgpu",
            a.model.device
        )
    })?;
    let cfg = EmbedConfig {
        device,
        model_dir: a.model.model_dir.clone(),
        ..EmbedConfig::default()
    };
    let dir = cfg
        .model_dir
        .clone()
        .unwrap_or_else(agg_score::default_model_dir);
    println!("model dir: {}", dir.display());
    println!(
        "providers in this build: cpu, {}webgpu (plugin, loaded at run time)",
        if cuda_compiled() { "cuda, " } else { "" }
    );
    println!("devices, in the order `device: auto` tries them:");
    let checks = check_devices(&cfg);
    for c in &checks {
        println!(
            "  {:<7} {:<9} {}",
            c.device.to_string(),
            if c.ready { "ready" } else { "no" },
            c.found
        );
        if let Some(fix) = &c.fix {
            println!("  {:<7} {:<9} fix: {fix}", "", "");
        }
    }
    if a.no_load {
        let first = checks.iter().find(|c| c.ready);
        match first {
            Some(c) => println!(
                "device: {} would try {} first (run without --no-load to load the model)",
                cfg.device, c.device
            ),
            None => println!("device: {} has nothing to run on", cfg.device),
        }
        return Ok(if first.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    match OrtEmbedder::new(cfg.clone()) {
        Ok(e) => {
            for (device, reason) in e.skipped() {
                println!("  skipped {device}: {reason}");
            }
            let nodes: Vec<String> = e
                .placement()
                .iter()
                .map(|(k, v)| format!("{v} on {k}"))
                .collect();
            println!(
                "device: {} uses {} (a test batch ran; graph nodes: {})",
                cfg.device,
                e.provider(),
                if nodes.is_empty() {
                    "placement unknown".to_string()
                } else {
                    nodes.join(", ")
                }
            );
            println!("runtime: {}", e.files().ort_dylib.display());
            println!("model: {}", e.model_path().display());
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!("device: {} cannot load the model: {err}", cfg.device);
            Ok(ExitCode::from(1))
        }
    }
}
