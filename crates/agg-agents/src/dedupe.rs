//! `dedupe`: one item per story across its inputs. Items with the same key,
//! the same canonical URL or the same normalised title are folded into the
//! first one seen, which records where else the story appeared (`also_in`)
//! instead of the duplicates vanishing silently.

use std::collections::HashMap;

use agg_core::{
    Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use agg_fetch::normalize::canonical_url;
use async_trait::async_trait;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Also fold items whose titles match after lower-casing and dropping
    /// punctuation (syndicated copies often differ only in their URL).
    #[serde(default = "yes")]
    by_title: bool,
}

fn yes() -> bool {
    true
}

pub const KIND: KindDef = KindDef {
    name: "dedupe",
    role: Role::Transform,
    summary: "fold duplicate items (same guid/URL/title) across inputs into the first",
    build,
};

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    Ok(Box::new(Dedupe {
        by_title: o.by_title,
    }))
}

struct Dedupe {
    by_title: bool,
}

fn title_key(t: &str) -> String {
    t.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Dedupe {
    fn keys(&self, item: &Item) -> Vec<String> {
        let mut keys = vec![format!("k:{}", item.key)];
        if let Some(u) = item.url.as_deref().and_then(canonical_url) {
            keys.push(format!("u:{u}"));
        }
        if self.by_title {
            let t = title_key(&item.title);
            // Very short titles ("Update", "Links") are not evidence.
            if t.split(' ').count() >= 4 {
                keys.push(format!("t:{t}"));
            }
        }
        keys
    }
}

#[async_trait]
impl Agent for Dedupe {
    async fn run(
        &self,
        _ctx: &RunCtx,
        input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        // Whole input first: the first item of a story must list every other
        // place it appeared before it is passed on.
        let mut kept: Vec<Item> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        // "First" is the earliest report (then source and key): sources run
        // concurrently, so arrival order changes from run to run, and the
        // kept item must not.
        let mut all = input.collect().await;
        all.sort_by(|a, b| (a.when(), &a.source, &a.key).cmp(&(b.when(), &b.source, &b.key)));
        for item in all {
            let keys = self.keys(&item);
            match keys.iter().find_map(|k| seen.get(k).copied()) {
                Some(i) => {
                    let where_ = item
                        .feed_title
                        .clone()
                        .unwrap_or_else(|| item.source.clone());
                    let first = &mut kept[i];
                    let first_where = first
                        .feed_title
                        .clone()
                        .unwrap_or_else(|| first.source.clone());
                    if where_ != first_where && !first.also_in.contains(&where_) {
                        first.also_in.push(where_);
                    }
                    for k in keys {
                        seen.entry(k).or_insert(i);
                    }
                }
                None => {
                    for k in keys {
                        seen.insert(k, kept.len());
                    }
                    kept.push(item);
                }
            }
        }
        for chunk in kept.chunks(256) {
            output.send(chunk.to_vec()).await?;
        }
        Ok(())
    }
}
