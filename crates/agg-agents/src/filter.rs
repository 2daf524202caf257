//! `filter`: keep or drop items by keyword, regex, source and age.

use agg_core::{
    Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;

use crate::util::parse_duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Keep only items whose title or text contains one of these words
    /// (case-insensitive).
    #[serde(default)]
    include: Vec<String>,
    /// Drop items whose title or text contains one of these words.
    #[serde(default)]
    exclude: Vec<String>,
    /// Keep only items whose title or text matches this regex.
    #[serde(default)]
    include_regex: Option<String>,
    /// Drop items whose title or text matches this regex.
    #[serde(default)]
    exclude_regex: Option<String>,
    /// Keep only items from these agents or feed titles.
    #[serde(default)]
    sources: Vec<String>,
    /// Drop items older than this (`36h`, `7d`, `2w`).
    #[serde(default)]
    max_age: Option<String>,
}

pub const KIND: KindDef = KindDef {
    name: "filter",
    role: Role::Transform,
    summary: "keep or drop items by keyword, regex, source and age",
    build,
};

fn regex(opt: &Option<String>, name: &str) -> Result<Option<Regex>, OptionsError> {
    opt.as_deref()
        .map(|r| {
            regex::RegexBuilder::new(r)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    // The regex crate's message spans several lines with its
                    // own caret; keep its last line, the reason.
                    let msg = e.to_string();
                    let reason = msg.lines().last().unwrap_or(&msg).trim();
                    let reason = reason.trim_start_matches("error: ");
                    OptionsError::at(&[name], format!("invalid regex: {reason}"))
                })
        })
        .transpose()
}

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    let max_age = o
        .max_age
        .as_deref()
        .map(|s| {
            parse_duration(s).ok_or_else(|| {
                OptionsError::at(&["max_age"], format!("`{s}` is not a duration"))
                    .with_hint("use a number and a unit: 90m, 36h, 7d, 2w")
            })
        })
        .transpose()?;
    Ok(Box::new(Filter {
        include: o.include.iter().map(|s| s.to_lowercase()).collect(),
        exclude: o.exclude.iter().map(|s| s.to_lowercase()).collect(),
        include_regex: regex(&o.include_regex, "include_regex")?,
        exclude_regex: regex(&o.exclude_regex, "exclude_regex")?,
        sources: o.sources,
        max_age,
    }))
}

struct Filter {
    include: Vec<String>,
    exclude: Vec<String>,
    include_regex: Option<Regex>,
    exclude_regex: Option<Regex>,
    sources: Vec<String>,
    max_age: Option<chrono::Duration>,
}

impl Filter {
    fn keep(&self, item: &Item, now: chrono::DateTime<chrono::Utc>) -> bool {
        let hay = format!("{}\n{}", item.title, item.text);
        let lower = hay.to_lowercase();
        if !self.include.is_empty() && !self.include.iter().any(|w| lower.contains(w)) {
            return false;
        }
        if self.exclude.iter().any(|w| lower.contains(w)) {
            return false;
        }
        if self
            .include_regex
            .as_ref()
            .is_some_and(|r| !r.is_match(&hay))
        {
            return false;
        }
        if self
            .exclude_regex
            .as_ref()
            .is_some_and(|r| r.is_match(&hay))
        {
            return false;
        }
        if !self.sources.is_empty()
            && !self
                .sources
                .iter()
                .any(|s| *s == item.source || item.feed_title.as_deref() == Some(s.as_str()))
        {
            return false;
        }
        if let Some(age) = self.max_age
            && now - item.when() > age
        {
            return false;
        }
        true
    }
}

#[async_trait]
impl Agent for Filter {
    async fn run(
        &self,
        _ctx: &RunCtx,
        input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let now = chrono::Utc::now();
        while let Some(batch) = input.next().await {
            let kept: Vec<Item> = batch.into_iter().filter(|i| self.keep(i, now)).collect();
            output.send(kept).await?;
        }
        Ok(())
    }
}
