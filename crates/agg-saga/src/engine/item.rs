//! An item as the engine sees it: the input type, what the evidence rules
//! need to know of it (feed, language, solo origin), and its weighted
//! features and vectors.

#[cfg(doc)]
use super::SagaConfig;
use super::SagaEngine;
use crate::text::{FeatureKind, features_in};
use crate::vector::SparseVec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One item offered to the engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SagaItem {
    /// Stable item key (the store's item key). Re-offering a known id returns
    /// its current saga and changes nothing.
    pub id: String,
    /// Publication time; `None` means unknown (the caller's `now` is used).
    pub time: Option<DateTime<Utc>>,
    /// Headline.
    pub title: String,
    /// Body or summary; may be empty.
    pub text: String,
    /// Outlet or feed name, for outlet counts.
    pub source: Option<String>,
    /// Sentence embedding (L2-normalised), when the score stage computed one.
    pub embedding: Option<Vec<f32>>,
    /// The feed the item came from (its URL, or a name). Items of one feed
    /// are no evidence for each other (see [`SagaConfig::strong_factor`]);
    /// `None` falls back to `source`.
    #[serde(default)]
    pub feed: Option<String>,
    /// What kind of feed the item came from.
    #[serde(default)]
    pub origin: Origin,
    /// Language code ("en", "pt") when the caller knows it; otherwise it is
    /// detected from function words ([`crate::text::detect_language`]).
    #[serde(default)]
    pub lang: Option<String>,
}

/// What kind of feed an item came from. Items of aggregators and podcasts
/// (and instalments of a series, see [`crate::text::is_series_title`]) never
/// form a saga out of their own feed's items: a front page lists unrelated
/// links, and a podcast's episodes share their show's words, not a story.
/// They may still join a saga that other feeds carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// An article of a news site or blog.
    #[default]
    Article,
    /// A link aggregator's front page or listing (Hacker News, Reddit).
    Aggregator,
    /// A podcast episode (an item with an audio enclosure).
    Podcast,
}

/// What the rules about evidence need to know of the item being placed.
#[derive(Debug, Clone, Default)]
pub(super) struct ItemCtx {
    /// Feed key (`SagaItem::feed`, else `source`).
    pub(super) feed: Option<String>,
    /// Given or detected language.
    pub(super) lang: Option<String>,
    /// An aggregator's or podcast's item, or a series instalment: its own
    /// feed's items are never evidence for it.
    pub(super) solo: bool,
}

fn feed_key(item: &SagaItem) -> Option<String> {
    item.feed
        .as_deref()
        .or(item.source.as_deref())
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
}

impl SagaEngine {
    pub(super) fn vectorise(&mut self, item: &SagaItem, ctx: &ItemCtx) -> SparseVec {
        let feats = self.weighted_features(item, ctx);
        self.vocab.vectorise(&feats)
    }

    /// The item's headline alone, as a vector over the current vocabulary
    /// (for its own feed: the per-feed vocabulary and the one-feed match);
    /// empty when the item has no feed.
    pub(super) fn title_vec(&self, item: &SagaItem, ctx: &ItemCtx) -> SparseVec {
        if ctx.feed.is_none() {
            return SparseVec::new();
        }
        let it = SagaItem {
            title: item.title.clone(),
            ..Default::default()
        };
        self.vocab.peek(&self.weighted_features(&it, ctx))
    }

    pub(super) fn item_ctx(&self, item: &SagaItem) -> ItemCtx {
        let c = &self.config;
        let cut = |s: &str| -> String { s.chars().take(c.max_text_chars.min(600)).collect() };
        let lang = item
            .lang
            .as_deref()
            .map(|l| l.trim().to_ascii_lowercase())
            .map(|l| l.split(['-', '_']).next().unwrap_or("").to_string())
            .filter(|l| !l.is_empty())
            .or_else(|| {
                crate::text::detect_language(&cut(&item.title), &cut(&item.text))
                    .map(str::to_string)
            });
        ItemCtx {
            feed: feed_key(item),
            lang,
            solo: item.origin != Origin::Article || crate::text::is_series_title(&item.title),
        }
    }

    pub(super) fn weighted_features(&self, item: &SagaItem, ctx: &ItemCtx) -> Vec<(String, f32)> {
        self.weighted_features_by(item, ctx, &|k| self.vocab.df_of(k))
    }

    /// [`Self::weighted_features`] with document frequencies from `df_of`
    /// (a look-ahead's vocabulary: `SagaEngine::needs`).
    pub(super) fn weighted_features_by(
        &self,
        item: &SagaItem,
        ctx: &ItemCtx,
        df_of: &dyn Fn(&str) -> u32,
    ) -> Vec<(String, f32)> {
        let c = &self.config;
        // An aggregator's or podcast's text is its own boilerplate ("Comments",
        // show notes): only the title speaks for the story.
        let text = if item.origin != Origin::Article {
            ""
        } else {
            match item.text.char_indices().nth(c.max_text_chars) {
                Some((cut, _)) => &item.text[..cut],
                None => &item.text,
            }
        };
        let title = match item.title.char_indices().nth(c.max_text_chars) {
            Some((cut, _)) => &item.title[..cut],
            None => &item.title,
        };
        let feats = features_in(title, text, ctx.lang.as_deref());
        let mut out: Vec<(String, f32)> = Vec::with_capacity(feats.len() + 4);
        if c.learned_entities && c.entity_weight > 0.0 {
            // Outlets write the same headline in sentence case ("Bieber
            // surprises fans") and in Title Case ("Bieber Surprises Fans"),
            // where capitals say nothing; lower-cased feeds have none. A word
            // seen as a name in at least two earlier items is a name here too,
            // so the entity evidence does not depend on the outlet's style.
            let have: BTreeSet<&str> = feats
                .iter()
                .filter(|f| f.kind == FeatureKind::Entity)
                .map(|f| f.key.as_str())
                .collect();
            let mut added = BTreeSet::new();
            for f in &feats {
                if f.kind == FeatureKind::Word && !have.contains(f.key.as_str()) {
                    let key = format!("e:{}", f.key);
                    if df_of(&key) >= 2 && added.insert(key.clone()) {
                        out.push((key, c.entity_weight));
                    }
                }
            }
        }
        out.extend(feats.into_iter().filter_map(|f| match f.kind {
            FeatureKind::Word if c.word_weight > 0.0 && crate::text::is_generic(&f.key) => {
                Some((format!("w:{}", f.key), c.word_weight * c.generic_weight))
            }
            FeatureKind::Word if c.word_weight > 0.0 => {
                Some((format!("w:{}", f.key), c.word_weight))
            }
            FeatureKind::Bigram if c.bigram_weight > 0.0 => {
                Some((format!("b:{}", f.key), c.bigram_weight))
            }
            FeatureKind::Entity if c.entity_weight > 0.0 => {
                Some((format!("e:{}", f.key), c.entity_weight))
            }
            _ => None,
        }));
        out
    }
}
