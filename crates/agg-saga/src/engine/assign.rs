//! Online assignment: placing an item in the best matching saga or a new
//! one, automatic merges of fragments it bridges, and keeping a saga's
//! aggregates and title up to date as items join.

use super::item::ItemCtx;
use super::saga::{Recent, centroid_cosine};
use super::{
    FEED_TERMS, ItemRecord, Member, Saga, SagaEngine, SagaEvent, SagaId, SagaItem, SagaStatus,
    truncate_chars,
};
use crate::vector::{SparseVec, to_half, unit};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an item went, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The saga the item belongs to.
    pub saga: SagaId,
    /// The score that placed it (0 when it started the saga).
    pub score: f32,
    /// The item started a new saga.
    pub created: bool,
    /// The item woke a dormant saga.
    pub revived: bool,
    /// The id was already known; nothing changed.
    pub duplicate: bool,
    /// The saga is muted by the user (the digest should rank it low).
    pub muted: bool,
    /// The saga is followed by the user.
    pub followed: bool,
    /// The time used for the item after the clamping rule.
    pub time: DateTime<Utc>,
}

impl SagaEngine {
    /// Assign one item: join the best matching open saga or start a new one.
    ///
    /// `now` is the fetch time: it replaces a missing or implausible date (see
    /// [`SagaEngine::effective_time`]) and drives dormancy. Items should come in
    /// time order; late items are accepted (gaps are taken as absolute values).
    pub fn assign(&mut self, item: &SagaItem, now: DateTime<Utc>) -> Assignment {
        let t = self.effective_time(item.time, now);
        if let Some(rec) = self.items.get(&item.id) {
            let sid = self.resolve(rec.saga).unwrap_or(rec.saga);
            let s = &self.sagas[sid.index()];
            return Assignment {
                saga: sid,
                score: 0.0,
                created: false,
                revived: false,
                duplicate: true,
                muted: s.muted,
                followed: s.followed,
                time: t,
            };
        }
        if self.clock.is_none_or(|c| t > c) {
            self.clock = Some(t);
        }
        let clock = self.clock.unwrap_or(t);
        self.sweep(clock);

        let ctx = self.item_ctx(item);
        let v = self.vectorise(item, &ctx);
        let title_v = self.title_vec(item, &ctx);
        // Re-normalised here so that a caller's rounding (or a model that
        // does not normalise) cannot skew cosines computed as dot products.
        let emb_unit = item.embedding.as_deref().and_then(unit);
        let emb = emb_unit.as_deref();
        let mut best: Option<(u32, f32, f32)> = None;
        let mut second: Option<(u32, f32, f32)> = None;
        // Only candidates whose own score clears their bar compete; among
        // those the ranking score (size prior included) picks the winner.
        for (idx, raw, rank, bar) in self.scored_candidates(&v, emb, t, &ctx, &title_v) {
            if raw < bar {
                continue;
            }
            if best.is_none_or(|(_, _, b)| rank > b) {
                second = best;
                best = Some((idx, raw, rank));
            } else if second.is_none_or(|(_, _, b)| rank > b) {
                second = Some((idx, raw, rank));
            }
        }
        let (idx, score, created) = match best {
            Some((idx, raw, _)) => (idx, raw, false),
            None => (self.new_saga(t, None), 0.0, true),
        };
        let revived = self.sagas[idx as usize].status == SagaStatus::Dormant;
        // A saga that had gone quiet (or dormant) by the item's time is an
        // old story: an item that matches it and a current one may revive
        // it, but is no evidence that the two are one story (the old one and
        // the new one bridged by one item stay apart; a person may still
        // merge them).
        let across_gap = !created
            && second.is_some_and(|(other, _, _)| {
                self.is_quiet(&self.sagas[idx as usize], t)
                    || self.is_quiet(&self.sagas[other as usize], t)
            });
        self.attach(idx, item, t, score, v, &title_v, emb_unit, &ctx);
        let mut idx = idx;
        let strong = self.config.join_threshold * self.config.strong_factor.max(1.0);
        // Automatic merges need strong evidence: the bridging item must
        // match both sagas strongly, not merely clear the bar for one.
        if let Some((other, raw2, _)) = second
            && !created
            && !across_gap
            && (!self.config.auto_merge_strong || (score >= strong && raw2 >= strong))
        {
            idx = self.maybe_auto_merge(idx, other);
        }
        let s = &mut self.sagas[idx as usize];
        if revived {
            s.status = SagaStatus::Active;
            self.events.push(SagaEvent::Revived {
                saga: s.id,
                item: item.id.clone(),
                at: t,
            });
        }
        let s = &self.sagas[idx as usize];
        self.events.push(if created {
            SagaEvent::Created {
                saga: s.id,
                item: item.id.clone(),
                at: t,
            }
        } else {
            SagaEvent::Joined {
                saga: s.id,
                item: item.id.clone(),
                score,
                at: t,
            }
        });
        Assignment {
            saga: s.id,
            score,
            created,
            revived,
            duplicate: false,
            muted: s.muted,
            followed: s.followed,
            time: t,
        }
    }

    /// Merge two sagas that both matched one item when their centroids agree.
    /// The bigger one survives (its id and title are what users have seen).
    /// Returns the surviving index.
    ///
    /// Only on strong evidence, and capped: the smaller saga holds at most
    /// `auto_merge_max_items`; two sagas of one single feed, or of two
    /// languages, are never merged automatically, nor are two sagas one of
    /// which had gone quiet by the bridging item's time (checked by
    /// `assign`); when one is followed, the centroids must agree at
    /// `followed_merge_threshold` and the followed saga survives (a follow
    /// never moves onto another story's saga).
    fn maybe_auto_merge(&mut self, a: u32, b: u32) -> u32 {
        let c = &self.config;
        let (sa, sb) = (&self.sagas[a as usize], &self.sagas[b as usize]);
        if a == b || !sa.is_open() || !sb.is_open() || self.kept_apart(sa.id, sb.id) {
            return a;
        }
        if sa.members.len().min(sb.members.len()) > c.auto_merge_max_items {
            return a;
        }
        let one_feed = sa.feeds.len() == 1 && sa.feeds.keys().eq(sb.feeds.keys());
        let langs_differ =
            matches!((sa.main_language(), sb.main_language()), (Some(x), Some(y)) if x != y);
        if one_feed || langs_differ {
            return a;
        }
        let cos = centroid_cosine(sa, sb);
        let followed = sa.followed || sb.followed;
        let need = if followed {
            c.merge_threshold.max(c.followed_merge_threshold)
        } else {
            c.merge_threshold
        };
        if cos < need {
            return a;
        }
        let key = |s: &Saga| (s.followed, s.members.len());
        let (keep, gone) = if key(sa) >= key(sb) { (a, b) } else { (b, a) };
        let (kid, gid) = (
            SagaId::from_index(keep as usize),
            SagaId::from_index(gone as usize),
        );
        match self.merge_inner(kid, gid, true) {
            Ok(_) => keep,
            Err(_) => a,
        }
    }

    /// Assign a batch (e.g. one pipeline run's new items) in time order:
    /// items are sorted by effective time (stable, so ties keep their batch
    /// order) before assignment. Returns the assignments in the input order.
    pub fn assign_batch(&mut self, items: &[SagaItem], now: DateTime<Utc>) -> Vec<Assignment> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| self.effective_time(items[i].time, now));
        let mut out: Vec<Option<Assignment>> = vec![None; items.len()];
        for i in order {
            out[i] = Some(self.assign(&items[i], now));
        }
        // An auto-merge later in the batch may have retired an earlier saga.
        out.into_iter()
            .flatten()
            .map(|mut a| {
                a.saga = self.resolve(a.saga).unwrap_or(a.saga);
                a
            })
            .collect()
    }

    pub(super) fn new_saga(&mut self, t: DateTime<Utc>, split_from: Option<SagaId>) -> u32 {
        let idx = self.sagas.len();
        self.sagas.push(Saga {
            split_from,
            ..Saga::empty(SagaId::from_index(idx), t, t)
        });
        self.active.insert((t.timestamp(), idx as u32));
        idx as u32
    }

    fn touch_recent(&mut self, idx: u32) {
        self.recent_sagas.retain(|&s| s != idx);
        self.recent_sagas.push_front(idx);
        self.recent_sagas.truncate(self.config.recent_sagas);
    }

    /// Lists saga `idx` under `terms`; `again` for a restored saga (its
    /// entries from before it was archived go: see `packed::Postings`).
    pub(super) fn index_terms(&mut self, idx: u32, terms: &[u32], again: bool) {
        let cap = self.posting_cap();
        let sagas = &self.sagas;
        for &t in terms {
            self.postings
                .push(t, idx, cap, again, |i| !sagas.is_archived(i as usize));
        }
    }

    /// How many sagas a posting list holds at most.
    pub(super) fn posting_cap(&self) -> usize {
        self.config.max_posting.max(4)
    }

    #[allow(clippy::too_many_arguments)]
    fn attach(
        &mut self,
        idx: u32,
        item: &SagaItem,
        t: DateTime<Utc>,
        score: f32,
        v: SparseVec,
        title_v: &SparseVec,
        emb: Option<Vec<f32>>,
        ctx: &ItemCtx,
    ) {
        if let Some(f) = &ctx.feed {
            // Counted over headlines only, the text the one-feed match reads:
            // counted over bodies too, a story's own words that its follow-ups
            // repeat in their text became "the feed's vocabulary" and split it.
            let st = self.feed_stats.entry(f);
            st.docs += 1;
            for &(id, _) in title_v {
                if let Some(n) = st.df.get_mut(&id) {
                    *n += 1;
                } else if st.df.len() < FEED_TERMS {
                    st.df.insert(id, 1);
                }
            }
        }
        let k = self.config.recent_items.max(1);
        let s = &mut self.sagas[idx as usize];
        if s.status == SagaStatus::Active {
            self.active.remove(&(s.last_seen.timestamp(), idx));
        }
        if s.members.is_empty() {
            s.first_seen = t;
            s.last_seen = t;
        }
        s.first_seen = s.first_seen.min(t);
        s.last_seen = s.last_seen.max(t);
        s.members.push(Member {
            item_id: item.id.clone(),
            time: t,
            score,
            source: item.source.clone(),
            // Bounded: a member title is for timelines, not storage of bodies.
            title: truncate_chars(item.title.trim(), 300),
        });
        if let Some(src) = item.source.as_ref().filter(|x| !x.trim().is_empty()) {
            *s.outlets.entry(src.trim().to_string()).or_insert(0) += 1;
        }
        if let Some(f) = &ctx.feed {
            *s.feeds.entry(f.clone()).or_insert(0) += 1;
        }
        if let Some(l) = &ctx.lang {
            *s.langs.entry(l.clone()).or_insert(0) += 1;
        }
        let fresh = s.add_vec(&v, 1.0);
        s.recent.push_back(Recent {
            item_id: item.id.clone(),
            time: t,
            vec: v.clone(),
            // Kept at the precision the state saves (half the bytes), so a
            // reloaded engine compares against exactly these values.
            emb: emb.as_deref().map(to_half),
            feed: ctx.feed.clone(),
        });
        while s.recent.len() > k {
            s.recent.pop_front();
        }
        if matches!(s.status, SagaStatus::Active | SagaStatus::Dormant) {
            self.active.insert((s.last_seen.timestamp(), idx));
        }
        self.items.insert(
            item.id.clone(),
            ItemRecord {
                saga: SagaId::from_index(idx as usize),
                vec: v,
                feed: ctx.feed.clone(),
                lang: ctx.lang.clone(),
            },
        );
        self.index_terms(idx, &fresh, false);
        self.touch_recent(idx);
        self.settle_title(idx);
    }

    /// While a saga is young, its title is its most central headline; once it
    /// has `title_settle_items` items the title is fixed, so a title the user
    /// has seen does not keep changing.
    pub(super) fn settle_title(&mut self, idx: u32) {
        let settle = self.config.title_settle_items;
        let s = &self.sagas[idx as usize];
        if s.title_fixed {
            return;
        }
        let mut best: Option<(f32, &str)> = None;
        for m in &s.members {
            if m.title.is_empty() {
                continue;
            }
            let c = self
                .items
                .get(&m.item_id)
                .map(|r| s.centroid_cos(&r.vec))
                .unwrap_or(0.0);
            if best.is_none_or(|(b, _)| c > b + 1e-6) {
                best = Some((c, &m.title));
            }
        }
        let title = best
            .map(|b| b.1.to_string())
            .unwrap_or_else(|| format!("Saga {}", s.id));
        let fix = s.members.len() >= settle;
        let s = &mut self.sagas[idx as usize];
        s.title = truncate_chars(&title, 160);
        s.title_fixed = fix;
    }
}
