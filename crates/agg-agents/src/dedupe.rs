//! `dedupe`: one item per story across its inputs. Items with the same key,
//! the same canonical URL or the same normalised title are folded into the
//! first one seen, which records where else the story appeared (`also_in`)
//! instead of the duplicates vanishing silently. With `near` (on by
//! default) the same story syndicated with small edits is folded too: items
//! whose SimHash signatures of title and text are within `near_distance`
//! bits (see `agg_fetch::normalize::near_dup_signature`).

use std::collections::HashMap;

use agg_core::{
    Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use agg_fetch::normalize::{
    NEAR_DUP_MAX_DISTANCE, canonical_url, near_dup_distance, near_dup_has_evidence,
    near_dup_signature,
};
use async_trait::async_trait;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Also fold items whose titles match after lower-casing and dropping
    /// punctuation (syndicated copies often differ only in their URL).
    #[serde(default = "yes")]
    by_title: bool,
    /// Also fold near-duplicates: same story text with small edits.
    #[serde(default = "yes")]
    near: bool,
    /// Largest SimHash distance (bits of 64) still counted as the same story.
    #[serde(default = "default_near_distance")]
    near_distance: u32,
}

fn default_near_distance() -> u32 {
    NEAR_DUP_MAX_DISTANCE
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
    if o.near_distance > 32 {
        return Err(OptionsError::at(
            &["near_distance"],
            "`near_distance` above 32 bits would fold unrelated stories",
        ));
    }
    Ok(Box::new(Dedupe {
        by_title: o.by_title,
        near: o.near.then_some(o.near_distance),
    }))
}

struct Dedupe {
    by_title: bool,
    /// Near-duplicate folding, with its distance.
    near: Option<u32>,
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
        // (signature, index in `kept`) of kept items with enough words.
        let mut sigs: Vec<(u64, usize)> = Vec::new();
        for item in all {
            let keys = self.keys(&item);
            let sig = self
                .near
                .filter(|_| near_dup_has_evidence(&item.title, &item.text))
                .map(|_| near_dup_signature(&item.title, &item.text));
            let exact = keys.iter().find_map(|k| seen.get(k).copied());
            let near = match (exact, sig, self.near) {
                (None, Some(s), Some(max)) => sigs
                    .iter()
                    .filter(|(t, _)| near_dup_distance(s, *t) <= max)
                    .min_by_key(|(t, _)| near_dup_distance(s, *t))
                    .map(|(_, i)| *i),
                _ => None,
            };
            match exact.or(near) {
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
                    if let Some(s) = sig {
                        sigs.push((s, kept.len()));
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
