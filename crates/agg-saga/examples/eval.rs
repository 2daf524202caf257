//! Evaluate the saga engine on a labelled JSONL stream.
//!
//! `cargo run -p agg-saga --release --example eval -- FILE.jsonl PRED.tsv [CONFIG.json]
//! [--embeddings EMB.jsonl] [--save-state STATE.json]`
//!
//! CONFIG.json (optional) holds [`agg_saga::SagaConfig`] fields to override.
//! EMB.jsonl (optional) holds `{"id", "embedding"}` lines to use as embeddings.
//! STATE.json (optional) receives the engine state after the run.

use agg_saga::{SagaConfig, attach_embeddings, evaluate, read_rows, write_tsv};
use std::fs::File;
use std::io::{BufReader, BufWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str| -> Result<Option<String>, String> {
        match args.iter().position(|a| a == name) {
            Some(i) if i + 1 < args.len() => {
                let v = args.remove(i + 1);
                args.remove(i);
                Ok(Some(v))
            }
            Some(_) => Err(format!("{name} needs a file")),
            None => Ok(None),
        }
    };
    let emb_path = flag("--embeddings")?;
    let state_path = flag("--save-state")?;
    if args.len() < 2 {
        eprintln!(
            "usage: eval FILE.jsonl PRED.tsv [CONFIG.json] [--embeddings EMB.jsonl] [--save-state STATE.json]"
        );
        std::process::exit(2);
    }
    let mut rows = read_rows(BufReader::new(File::open(&args[0])?))?;
    if let Some(p) = emb_path {
        let n = attach_embeddings(&mut rows, BufReader::new(File::open(&p)?))?;
        eprintln!("{n} of {} rows have an embedding", rows.len());
    }
    let config: SagaConfig = match args.get(2) {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => SagaConfig::default(),
    };
    let out = evaluate(&rows, config);
    write_tsv(BufWriter::new(File::create(&args[1])?), &out.assignments)?;
    eprintln!(
        "{} rows, {} sagas, {:.0} items/s",
        rows.len(),
        out.engine.live_saga_count(),
        rows.len() as f64 / out.assign_seconds.max(1e-9)
    );
    if let Some(p) = state_path {
        let json = out.engine.to_json()?;
        std::fs::write(&p, &json)?;
        eprintln!("engine state: {} bytes in {p}", json.len());
    }
    if let Some(m) = out.metrics {
        println!("{m}");
    }
    Ok(())
}
