//! `file`: items from local feed files (RSS, Atom, JSON Feed), or every feed
//! file in a folder. The offline source: demos, tests, saved newsletters.

use std::path::PathBuf;

use agg_core::{
    Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use async_trait::async_trait;
use serde::Deserialize;

use crate::util::OneOrMany;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// A file, a folder, or a list of them; relative to the pipeline file.
    path: OneOrMany,
    /// Bytes read from one file at most (default: what `rss` takes from one
    /// response, 10 MiB). A larger file, or an endless one (a device, a
    /// pipe), fails with an error naming this option rather than filling
    /// memory.
    #[serde(default)]
    max_bytes: Option<u64>,
}

pub const KIND: KindDef = KindDef {
    name: "file",
    role: Role::Source,
    summary: "items from local RSS/Atom/JSON Feed files or a folder of them",
    build,
};

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    let paths = o.path.to_vec();
    if paths.is_empty() {
        return Err(OptionsError::at(&["path"], "`path` lists no files"));
    }
    if o.max_bytes == Some(0) {
        return Err(OptionsError::at(
            &["max_bytes"],
            "`max_bytes` must be at least 1",
        ));
    }
    Ok(Box::new(FileSource {
        paths: paths.iter().map(|p| ctx.resolve(p)).collect(),
        max_bytes: o
            .max_bytes
            .unwrap_or(agg_fetch::FetchLimits::default().max_bytes),
    }))
}

struct FileSource {
    paths: Vec<PathBuf>,
    max_bytes: u64,
}

/// The whole of `path`, if it holds at most `limit` bytes: one byte more
/// is read to tell "exactly the limit" from "over it", never the rest.
async fn read_capped(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let f = tokio::fs::File::open(path)
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "larger than {limit} bytes (max_bytes); raise the source's `max_bytes` to read it"
        ));
    }
    Ok(bytes)
}

/// Extensions taken from a folder; other files (READMEs, images) are skipped.
const FEED_EXTS: &[&str] = &["xml", "rss", "atom", "rdf", "json", "feed"];

impl FileSource {
    fn expand(&self, ctx: &RunCtx) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for p in &self.paths {
            if p.is_dir() {
                match std::fs::read_dir(p) {
                    Ok(rd) => {
                        let mut found: Vec<PathBuf> = rd
                            .filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|f| {
                                f.is_file()
                                    && f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                                        FEED_EXTS.contains(&e.to_ascii_lowercase().as_str())
                                    })
                            })
                            .collect();
                        found.sort();
                        files.extend(found);
                    }
                    Err(e) => ctx.error(format!("{}: cannot list folder: {e}", p.display())),
                }
            } else {
                files.push(p.clone());
            }
        }
        files
    }
}

#[async_trait]
impl Agent for FileSource {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let files = self.expand(ctx);
        let mut failed = 0;
        for f in &files {
            let name = f.display().to_string();
            let bytes = match read_capped(f, self.max_bytes).await {
                Ok(b) => b,
                Err(e) => {
                    failed += 1;
                    ctx.error(format!("{name}: {e}"));
                    continue;
                }
            };
            let fetched = agg_core::clock::current();
            match agg_fetch::parse_feed(&bytes, &name, &ctx.agent, fetched) {
                Ok(feed) => {
                    tracing::debug!(file = %name, items = feed.items.len(), "parsed");
                    output.send(feed.items).await?;
                }
                Err(e) => {
                    failed += 1;
                    ctx.error(format!("{name}: {e}"));
                }
            }
        }
        if failed > 0 && failed == files.len() {
            anyhow::bail!("all {failed} file(s) failed");
        }
        Ok(())
    }
}
