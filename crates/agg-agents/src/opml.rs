//! `opml`: every feed listed in an OPML subscription file (nested folders
//! included), fetched like `rss` — same etiquette options, health and
//! schedule. The file is read at each run, so editing the subscription list
//! needs no pipeline change. Options: `path` (relative to the pipeline
//! file), `folder` (only feeds under a folder of that title), plus those of
//! [`crate::feedpoll::PollOptions`].

use std::path::PathBuf;

use agg_core::{Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx};
use async_trait::async_trait;
use serde::Deserialize;

use crate::feedpoll::{self, FeedSpec, PollConfig};

pub const KIND: KindDef = KindDef {
    name: "opml",
    role: Role::Source,
    summary: "items from every feed of an OPML subscription list, fetched like rss",
    build,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Own {
    path: String,
    #[serde(default)]
    folder: Option<String>,
}

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let cfg = feedpoll::options(v, &["path", "folder"])?;
    let Some(path) = v.get("path") else {
        return Err(OptionsError::at(&[], "missing field `path`"));
    };
    let own = serde_json::json!({ "path": path, "folder": v.get("folder") });
    let o: Own = agg_core::typed_options(&own)?;
    Ok(Box::new(OpmlSource {
        path: ctx.resolve(&o.path),
        folder: o.folder,
        cfg,
    }))
}

struct OpmlSource {
    path: PathBuf,
    folder: Option<String>,
    cfg: PollConfig,
}

#[async_trait]
impl Agent for OpmlSource {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let name = self.path.display();
        let bytes = tokio::fs::read(&self.path)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let opml = agg_fetch::opml::parse(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let mut feeds = Vec::new();
        for o in opml.feeds() {
            if let Some(f) = &self.folder
                && !o.folders.iter().any(|x| x == f)
            {
                continue;
            }
            if feedpoll::check_url(&o.xml_url) {
                feeds.push(FeedSpec::Url(o.xml_url.clone()));
            } else {
                ctx.error(format!(
                    "{name}: `{}` is not an http(s) feed URL",
                    o.xml_url
                ));
            }
        }
        if feeds.is_empty() {
            anyhow::bail!(
                "{name}: no http(s) feeds listed{}",
                match &self.folder {
                    Some(f) => format!(" under folder `{f}`"),
                    None => String::new(),
                }
            );
        }
        tracing::info!(agent = %ctx.agent, feeds = feeds.len(), "feeds from {name}");
        feedpoll::poll(ctx, output, &feeds, &self.cfg).await
    }
}
