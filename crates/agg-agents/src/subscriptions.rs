//! `subscriptions`: every feed subscribed to in the store (`agg feeds add`,
//! `agg feeds import --store`), fetched like `rss` — same etiquette options,
//! health and schedule. The list is read from the store at each run, so
//! subscribing needs no pipeline change: YAML keeps the structure, the store
//! the list. Options: `folder` (only feeds filed in that folder), plus those
//! of [`crate::feedpoll::PollOptions`].

use agg_core::{Agent, BuildCtx, Inbox, KindDef, OptionsError, Outbox, Role, RunCtx};
use async_trait::async_trait;
use serde::Deserialize;

use crate::feedpoll::{self, FeedSpec, PollConfig};

pub const KIND: KindDef = KindDef {
    name: "subscriptions",
    role: Role::Source,
    summary: "items from every feed subscribed to in the store (agg feeds add), fetched like rss",
    build,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Own {
    #[serde(default)]
    folder: Option<String>,
}

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let cfg = feedpoll::options(v, &["folder"])?;
    let own = serde_json::json!({ "folder": v.get("folder") });
    let o: Own = agg_core::typed_options(&own)?;
    Ok(Box::new(Subscriptions {
        folder: o.folder,
        cfg,
    }))
}

struct Subscriptions {
    folder: Option<String>,
    cfg: PollConfig,
}

#[async_trait]
impl Agent for Subscriptions {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let subs = ctx.store.list_subscriptions(self.folder.as_deref()).await?;
        let feeds: Vec<FeedSpec> = subs
            .iter()
            .filter(|s| feedpoll::check_url(&s.url))
            .map(|s| FeedSpec::Url(s.url.clone()))
            .collect();
        if feeds.is_empty() {
            ctx.skip(match &self.folder {
                Some(f) => {
                    format!("no subscriptions in folder `{f}` (agg feeds add URL --folder {f})")
                }
                None => "no subscriptions in the store (agg feeds add URL)".to_string(),
            });
            return Ok(());
        }
        tracing::info!(agent = %ctx.agent, feeds = feeds.len(), "feeds from the store's subscriptions");
        feedpoll::poll(ctx, output, &feeds, &self.cfg).await
    }
}
