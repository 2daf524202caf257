//! `jsonl`: writes the items new to it as JSON lines, for scripts and other
//! tools: this run's items plus any an earlier run failed to write (the
//! ledger's backlog). The file holds one run's delta, replaced atomically;
//! a run with nothing new leaves the last file as it was (and says so)
//! rather than truncating it to nothing.

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
    summary: "write the items new since the last write to a JSON-lines file (atomically)",
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
        if items.is_empty() {
            ctx.skip(format!(
                "no new items: {} left as it was",
                self.path.display()
            ));
            return Ok(());
        }
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
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))?;
        tracing::info!(path = %self.path.display(), items = items.len(), "wrote the run's delta");
        Ok(())
    }
}
