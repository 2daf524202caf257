//! Candidate lookup and scoring: which sagas an item is compared with, the
//! score it gets against each, and the bar that score must clear.

#[cfg(doc)]
use super::SagaConfig;
use super::item::ItemCtx;
use super::saga::Recent;
use super::{FEED_MIN_DOCS, Saga, SagaEngine, SagaId, SagaItem, SagaStatus};
use crate::vector::{IdMap, SparseVec, dense_dot_half, dot, unit};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

impl SagaEngine {
    /// Why would this item go where it goes? The best-scoring open candidate
    /// sagas (best first, at most `n`) with their scores, computed without
    /// changing any state. `join_threshold` in [`SagaEngine::config`] is the
    /// bar a score must clear.
    pub fn explain(&self, item: &SagaItem, now: DateTime<Utc>, n: usize) -> Vec<(SagaId, f32)> {
        let t = self.effective_time(item.time, now);
        let ctx = self.item_ctx(item);
        let v = self.vocab.peek(&self.weighted_features(item, &ctx));
        // Re-normalised here so that a caller's rounding (or a model that
        // does not normalise) cannot skew cosines computed as dot products.
        let emb_unit = item.embedding.as_deref().and_then(unit);
        let emb = emb_unit.as_deref();
        let mut out: Vec<(SagaId, f32, f32, f32)> = self
            .scored_candidates(&v, emb, t, &ctx, &self.title_vec(item, &ctx))
            .into_iter()
            .map(|(i, sc, rank, bar)| (SagaId::from_index(i as usize), sc, rank, bar))
            .collect();
        // The order assignment uses: clearing the bar first, then rank.
        out.sort_by(|a, b| {
            (b.1 >= b.3)
                .cmp(&(a.1 >= a.3))
                .then(b.2.total_cmp(&a.2))
                .then(a.0.cmp(&b.0))
        });
        out.truncate(n);
        out.into_iter().map(|(id, sc, _, _)| (id, sc)).collect()
    }

    /// The score a saga must reach for this item to join it: the join
    /// threshold, or strong evidence (`strong_factor` times it) when the
    /// usual signals mislead (see [`SagaConfig::strong_factor`]); infinite
    /// when the item may not join at all (a solo item and a saga made only
    /// of its own feed).
    fn bar(&self, s: &Saga, ctx: &ItemCtx, t: DateTime<Utc>) -> f32 {
        let c = &self.config;
        let own_only = ctx
            .feed
            .as_ref()
            .is_some_and(|f| s.feeds.len() == 1 && s.feeds.contains_key(f));
        if own_only && ctx.solo {
            return f32::INFINITY;
        }
        // One outlet returning to a subject after a quiet week is not a
        // story going on: a saga of one feed ends when it goes dormant.
        let gap_days = (t - s.last_seen).num_seconds() as f32 / 86_400.0;
        if own_only && (s.status == SagaStatus::Dormant || gap_days > c.dormant_after_days) {
            return f32::INFINITY;
        }
        // An item whose language is not known (so neither are its function
        // words) groups with its own feed's items on strong evidence only
        // until the feed has shown its own vocabulary (see
        // `own_feed_title_match`).
        let young_feed = own_only
            && ctx.lang.is_none()
            && ctx
                .feed
                .as_ref()
                .and_then(|f| self.feed_stats.get(f))
                .is_none_or(|st| st.docs < FEED_MIN_DOCS);
        let other_lang = match (ctx.lang.as_deref(), s.main_language()) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        if young_feed || other_lang || self.is_quiet(s, t) {
            c.join_threshold * c.strong_factor.max(1.0)
        } else {
            c.join_threshold
        }
    }

    /// Open candidate sagas with their score, their ranking score (size
    /// prior and burst bonus included) and the bar the score must clear.
    pub(super) fn scored_candidates(
        &self,
        v: &SparseVec,
        emb: Option<&[f32]>,
        t: DateTime<Utc>,
        ctx: &ItemCtx,
        title: &SparseVec,
    ) -> Vec<(u32, f32, f32, f32)> {
        let c = &self.config;
        let (cands, ranked) = self.candidates(v);
        cands
            .into_iter()
            .enumerate()
            .filter(|&(_, i)| self.sagas[i as usize].is_open())
            .map(|(pos, idx)| {
                let s = &self.sagas[idx as usize];
                // Embedding comparisons are the costliest step: only the best
                // lexical candidates and the recently joined sagas get them.
                let use_emb = pos < c.max_embedding_candidates || pos >= ranked;
                let mut bar = self.bar(s, ctx, t);
                let own_only = ctx
                    .feed
                    .as_ref()
                    .is_some_and(|f| s.feeds.len() == 1 && s.feeds.contains_key(f));
                let empty = SparseVec::new();
                let tv = if own_only { title } else { &empty };
                let mut sc = if bar.is_finite() {
                    let (sc, strong) = self.score(s, v, tv, emb.filter(|_| use_emb), t, ctx);
                    if strong {
                        bar = bar.max(c.join_threshold * c.strong_factor.max(1.0));
                    }
                    sc
                } else {
                    0.0
                };
                if c.burst_boost > 0.0
                    && let Some(rank) = self.recent_sagas.iter().position(|&r| r == idx)
                {
                    let n = c.recent_sagas.max(1) as f32;
                    sc += c.burst_boost * (1.0 - rank as f32 / n);
                }
                let rank = sc * (1.0 + c.size_prior * (s.members.len().max(1) as f32).log10());
                (idx, sc, rank, bar)
            })
            .collect()
    }

    /// Score of an item against a saga (before the threshold), and whether
    /// the match needs strong evidence: a saga of the item's own feed whose
    /// headlines share fewer than two of the item's uncommon headline words
    /// (one word of one outlet's headlines is a subject, not a story).
    #[allow(clippy::too_many_arguments)]
    fn score(
        &self,
        s: &Saga,
        v: &SparseVec,
        title: &SparseVec,
        emb: Option<&[f32]>,
        t: DateTime<Utc>,
        ctx: &ItemCtx,
    ) -> (f32, bool) {
        let c = &self.config;
        // A solo item (aggregator, podcast, series instalment) is compared
        // only with other feeds' recent items: its own feed's items share
        // its show's words, which say nothing about the story.
        let other_feed = |r: &&Recent| !ctx.solo || r.feed.is_none() || r.feed != ctx.feed;
        if ctx.solo && ctx.feed.is_some() {
            let lex = s
                .recent
                .iter()
                .filter(other_feed)
                .map(|r| dot(v, &r.vec))
                .fold(0.0f32, f32::max);
            let cen = s.centroid_cos(v).min(lex);
            return (self.finish_score(s, v, emb, t, cen, 0.0, other_feed), false);
        }
        if ctx.feed.is_some()
            && s.feeds.len() == 1
            && s.feeds.contains_key(ctx.feed.as_deref().unwrap_or(""))
        {
            // A saga made only of the item's own feed: the feed's text
            // boilerplate ("Read more at…", show notes) is shared by all its
            // items, so only the headlines speak, without the words the
            // feed uses all the time; and no embedding: one outlet's
            // headlines share a style (and, in a language the model does
            // not know, look alike to it), not a story.
            let (mut lex, shared) = self.own_feed_title_match(s, title, ctx);
            // With an embedding, the two kinds of evidence must agree: two
            // headlines of one outlet that share a word or two by chance
            // ("human speech", "human rights") are far apart to the model.
            if let Some(e) = emb {
                let best = s
                    .recent
                    .iter()
                    .filter_map(|r| r.emb.as_deref())
                    .map(|re| dense_dot_half(e, re))
                    .fold(f32::NEG_INFINITY, f32::max);
                if best.is_finite() {
                    let c = &self.config;
                    let scaled =
                        ((best - c.embedding_floor) / (1.0 - c.embedding_floor)).clamp(0.0, 1.0);
                    lex = lex.min(scaled);
                }
            }
            return (
                self.finish_score(s, v, None, t, lex, 0.0, |_| true),
                shared < 2,
            );
        }
        let cen = s.centroid_cos(v);
        // The recent-item walk is the costliest part of scoring; skip it when
        // the configuration gives it no weight (the default).
        let rec = if c.centroid_weight < 1.0 || c.recent_match_weight > 0.0 {
            s.recent
                .iter()
                .map(|r| dot(v, &r.vec))
                .fold(0.0f32, f32::max)
        } else {
            0.0
        };
        (self.finish_score(s, v, emb, t, cen, rec, other_feed), false)
    }

    /// Best headline-to-headline cosine between the item and the saga's
    /// latest members (headlines re-vectorised with the current vocabulary),
    /// and how many distinct words of the item's headline that are not the
    /// feed's own vocabulary those headlines share with it.
    fn own_feed_title_match(&self, s: &Saga, title: &SparseVec, ctx: &ItemCtx) -> (f32, usize) {
        let k = self.config.recent_items.max(1);
        let heads: Vec<SparseVec> = s
            .members
            .iter()
            .rev()
            .take(k)
            .map(|m| {
                let it = SagaItem {
                    title: m.title.clone(),
                    ..Default::default()
                };
                let lang = self.items.get(&m.item_id).and_then(|r| r.lang.clone());
                let ctx = ItemCtx {
                    lang,
                    ..Default::default()
                };
                self.vocab.peek(&self.weighted_features(&it, &ctx))
            })
            .collect();
        // Words in more than `feed_word_share` of the feed's other headlines
        // are the feed's own vocabulary (its name, its column titles,
        // function words of a language the stop lists do not know): no
        // evidence. "Other": outside this saga's headlines, so that a story
        // that fills a small feed ("Climate summit opens…", "Climate summit:
        // negotiators split…" in a feed of four headlines) does not make its
        // own words the feed's.
        let stats = ctx.feed.as_ref().and_then(|f| self.feed_stats.get(f));
        let mut inside: IdMap<u32> = IdMap::default();
        for h in &heads {
            for (id, _) in h {
                *inside.entry(*id).or_insert(0) += 1;
            }
        }
        let common = |id: u32| {
            stats.is_some_and(|st| {
                let df = st.df.get(&id).copied().unwrap_or(0);
                let df = df.saturating_sub(inside.get(&id).copied().unwrap_or(0));
                let docs = st.docs.saturating_sub(heads.len() as u32);
                // Seen in two other headlines at least.
                df >= 2 && df as f32 > self.config.feed_word_share * docs as f32
            })
        };
        let keep = |v: &SparseVec| -> SparseVec {
            let v: SparseVec = v.iter().copied().filter(|(id, _)| !common(*id)).collect();
            let n = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if n > 0.0 {
                v.into_iter().map(|(id, w)| (id, w / n)).collect()
            } else {
                v
            }
        };
        let title = keep(title);
        let mut shared: BTreeSet<u32> = BTreeSet::new();
        let best = heads
            .iter()
            .map(|h| {
                let other = keep(h);
                for (id, _) in &other {
                    if self.vocab.is_word(*id) && title.binary_search_by_key(id, |x| x.0).is_ok() {
                        shared.insert(*id);
                    }
                }
                dot(&title, &other)
            })
            .fold(0.0f32, f32::max);
        (best, shared.len())
    }

    /// The rest of [`SagaEngine::score`]: the lexical mix, the embedding
    /// evidence from the recent items that `use_recent` admits, the
    /// single-word discount and the time factor.
    #[allow(clippy::too_many_arguments)]
    fn finish_score(
        &self,
        s: &Saga,
        v: &SparseVec,
        emb: Option<&[f32]>,
        t: DateTime<Utc>,
        cen: f32,
        rec: f32,
        use_recent: impl Fn(&&Recent) -> bool,
    ) -> f32 {
        let c = &self.config;
        let shared_words = if c.single_word_factor < 1.0 {
            v.iter()
                .filter(|(id, _)| self.vocab.is_word(*id) && s.centroid.contains_key(id))
                .take(2)
                .count()
        } else {
            2
        };
        let mut sim = (c.centroid_weight * cen + (1.0 - c.centroid_weight) * rec)
            .max(c.recent_match_weight * rec);
        if let Some(e) = emb {
            let best = s
                .recent
                .iter()
                .filter(use_recent)
                .filter_map(|r| r.emb.as_deref())
                // Both sides are unit length (normalised on entry).
                .map(|re| dense_dot_half(e, re))
                .fold(f32::NEG_INFINITY, f32::max);
            if best.is_finite() {
                let scaled =
                    ((best - c.embedding_floor) / (1.0 - c.embedding_floor)).clamp(0.0, 1.0);
                sim = if v.is_empty() {
                    scaled
                } else if c.embedding_additive {
                    sim + c.embedding_weight * scaled
                } else {
                    (1.0 - c.embedding_weight) * sim + c.embedding_weight * scaled
                };
            }
        }
        if shared_words < 2 {
            sim *= c.single_word_factor;
        }
        let gap = (t - s.last_seen).num_seconds().abs() as f32 / 86_400.0;
        let decay = c.time_decay_floor
            + (1.0 - c.time_decay_floor) * (-gap / c.time_decay_days.max(1e-3)).exp();
        sim * decay
    }

    /// Candidate saga indices: first those ranked by shared index weight,
    /// then the recently joined sagas; also returns how many are ranked.
    fn candidates(&self, v: &SparseVec) -> (Vec<u32>, usize) {
        let c = &self.config;
        let mut q: Vec<(u32, f32)> = v.clone();
        q.sort_by(|a, b| b.1.total_cmp(&a.1));
        q.truncate(c.max_query_terms);
        let mut acc: IdMap<f32> = IdMap::default();
        for (t, w) in q {
            if let Some(p) = self.postings.get(&t) {
                // Archived sagas stay in a list until it changes
                // (`packed::Postings`): skipped before they are ranked.
                for &s in p.iter().rev() {
                    if !self.sagas.is_archived(s as usize) {
                        *acc.entry(s).or_insert(0.0) += w;
                    }
                }
            }
        }
        let mut ranked: Vec<(u32, f32)> = acc.into_iter().collect();
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        // Only the best few are scored: partial selection, then sort those
        // (merged tombstones among them are resolved below, so keep spare).
        let keep = (c.max_candidates * 2).max(1);
        if ranked.len() > keep {
            ranked.select_nth_unstable_by(keep - 1, order);
            ranked.truncate(keep);
        }
        ranked.sort_by(order);
        let mut out: Vec<u32> = Vec::with_capacity(c.max_candidates + c.recent_sagas);
        let mut seen = BTreeSet::new();
        for (s, _) in ranked {
            if out.len() >= c.max_candidates {
                break;
            }
            let Some(r) = self.resolve(SagaId::from_index(s as usize)) else {
                continue;
            };
            let ri = r.index() as u32;
            if seen.insert(ri) {
                out.push(ri);
            }
        }
        let ranked_count = out.len();
        for &s in &self.recent_sagas {
            if let Some(r) = self.resolve(SagaId::from_index(s as usize)) {
                let ri = r.index() as u32;
                if seen.insert(ri) {
                    out.push(ri);
                }
            }
        }
        (out, ranked_count)
    }
}
