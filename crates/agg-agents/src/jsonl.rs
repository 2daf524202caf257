//! `jsonl`: writes the run's items as JSON lines, for scripts and other tools.

use std::path::PathBuf;

use agg_core::{
    Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use async_trait::async_trait;
use serde::Deserialize;

use crate::util::write_atomic;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Output file, relative to the pipeline file. Replaced atomically each
    /// run, so a killed run never leaves half a file.
    path: String,
}

pub const KIND: KindDef = KindDef {
    name: "jsonl",
    role: Role::Sink,
    summary: "write the run's items to a JSON-lines file",
    build,
};

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    Ok(Box::new(Jsonl {
        path: ctx.resolve(&o.path),
    }))
}

struct Jsonl {
    path: PathBuf,
}

#[async_trait]
impl Agent for Jsonl {
    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        _output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let items = input.collect().await;
        let mut out = Vec::new();
        for item in &items {
            serde_json::to_writer(&mut out, item)?;
            out.push(b'\n');
        }
        if ctx.dry_run {
            tracing::info!(path = %self.path.display(), items = items.len(), "dry run: would write");
            return Ok(());
        }
        write_atomic(&self.path, &out)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))
    }
}
