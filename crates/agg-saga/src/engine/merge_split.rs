//! Merging sagas (by the user or automatically), undoing a merge, and
//! splitting items out into a new saga.

use super::saga::{Recent, centroid_cosine};
use super::{Member, MergeRecord, Saga, SagaEngine, SagaError, SagaEvent, SagaId, SagaStatus};
use crate::vector::SparseVec;
use std::collections::{BTreeMap, BTreeSet, HashMap};

impl SagaEngine {
    /// Merge saga `from` into saga `into`: all items move, `from` becomes a
    /// tombstone that resolves to `into`. Returns `into`.
    pub fn merge(&mut self, into: SagaId, from: SagaId) -> Result<SagaId, SagaError> {
        self.merge_inner(into, from, false)
    }

    pub(super) fn merge_inner(
        &mut self,
        into: SagaId,
        from: SagaId,
        auto: bool,
    ) -> Result<SagaId, SagaError> {
        let a = self.live(into)?;
        let b = self.live(from)?;
        if a == b {
            return Err(SagaError::SameSaga(into));
        }
        let evidence = centroid_cosine(&self.sagas[a], &self.sagas[b]);
        let k = self.config.recent_items.max(1);
        let tomb = {
            let old = &self.sagas[b];
            Saga {
                // Keep the tombstone's title for display of old references.
                title: old.title.clone(),
                title_fixed: true,
                status: SagaStatus::Merged,
                merged_into: Some(into),
                split_from: old.split_from,
                ..Saga::empty(from, old.first_seen, old.last_seen)
            }
        };
        let bs = std::mem::replace(&mut self.sagas[b], tomb);
        self.active.remove(&(bs.last_seen.timestamp(), b as u32));
        let sa = &mut self.sagas[a];
        self.active.remove(&(sa.last_seen.timestamp(), a as u32));
        let bvec: SparseVec = bs.centroid.iter().map(|(k, w)| (*k, *w)).collect();
        let fresh = sa.add_vec(&bvec, 1.0);
        sa.first_seen = sa.first_seen.min(bs.first_seen);
        sa.last_seen = sa.last_seen.max(bs.last_seen);
        for (o, n) in &bs.outlets {
            *sa.outlets.entry(o.clone()).or_insert(0) += n;
        }
        for (o, n) in &bs.feeds {
            *sa.feeds.entry(o.clone()).or_insert(0) += n;
        }
        for (o, n) in &bs.langs {
            *sa.langs.entry(o.clone()).or_insert(0) += n;
        }
        let moved: Vec<String> = bs.members.iter().map(|m| m.item_id.clone()).collect();
        sa.members.extend(bs.members);
        sa.merges.extend(bs.merges);
        sa.merges.push(MergeRecord {
            from,
            from_title: bs.title.clone(),
            items: moved.clone(),
            at: self.clock,
            auto,
            evidence,
        });
        let mut rec: Vec<Recent> = sa.recent.drain(..).chain(bs.recent).collect();
        rec.sort_by_key(|r| r.time);
        let skip = rec.len().saturating_sub(k);
        sa.recent = rec.into_iter().skip(skip).collect();
        sa.followed |= bs.followed;
        if sa.status == SagaStatus::Dormant && bs.status == SagaStatus::Active {
            sa.status = SagaStatus::Active;
        }
        if sa.is_open() {
            self.active.insert((sa.last_seen.timestamp(), a as u32));
        }
        for id in &moved {
            if let Some(r) = self.items.get_mut(id) {
                r.saga = into;
            }
        }
        self.index_terms(a as u32, &fresh, false);
        let key = if into <= from {
            (into, from)
        } else {
            (from, into)
        };
        self.apart.remove(&key);
        self.recent_sagas.retain(|&s| s != b as u32);
        self.events.push(SagaEvent::Merged {
            into,
            from,
            auto,
            items: moved,
            evidence,
        });
        Ok(into)
    }

    /// Undo a merge of `from` into `into` (automatic or not): the items
    /// that came with `from` and are still in `into` are split out into a
    /// new saga (a [`SagaEvent::Split`]), and the two are kept apart from
    /// then on. Returns the new saga's id.
    pub fn unmerge(&mut self, into: SagaId, from: SagaId) -> Result<SagaId, SagaError> {
        let i = self.live(into)?;
        let Some(pos) = self.sagas[i].merges.iter().rposition(|m| m.from == from) else {
            return Err(SagaError::BadSplit(format!(
                "saga {from} was never merged into saga {into}"
            )));
        };
        let present: Vec<String> = self.sagas[i].merges[pos]
            .items
            .iter()
            .filter(|it| self.sagas[i].members.iter().any(|m| &m.item_id == *it))
            .cloned()
            .collect();
        // The record goes with the undo, whatever the split does with the
        // others (it moves records whose items all leave).
        let rec = self.sagas[i].merges.remove(pos);
        match self.split(into, &present) {
            Ok(new) => {
                self.sagas[new.index()].merges.retain(|m| m.from != from);
                Ok(new)
            }
            Err(e) => {
                self.sagas[i].merges.insert(pos, rec);
                Err(e)
            }
        }
    }

    /// Split `items` out of saga `id` into a new saga, and keep the two apart
    /// afterwards (recorded in [`SagaEngine::kept_apart`]; items already
    /// assigned stay where the user put them). Returns the new saga's id.
    pub fn split<S: AsRef<str>>(&mut self, id: SagaId, items: &[S]) -> Result<SagaId, SagaError> {
        let i = self.live(id)?;
        let wanted: BTreeSet<&str> = items.iter().map(|s| s.as_ref()).collect();
        if wanted.is_empty() {
            return Err(SagaError::BadSplit("no items given".into()));
        }
        for it in &wanted {
            if !self.sagas[i].members.iter().any(|m| m.item_id == *it) {
                return Err(SagaError::NotMember {
                    saga: id,
                    item: (*it).to_string(),
                });
            }
        }
        if wanted.len() >= self.sagas[i].members.len() {
            return Err(SagaError::BadSplit(
                "it would leave the saga empty; rename it instead".into(),
            ));
        }
        let k = self.config.recent_items.max(1);
        let old = &mut self.sagas[i];
        let (moved, kept): (Vec<Member>, Vec<Member>) = std::mem::take(&mut old.members)
            .into_iter()
            .partition(|m| wanted.contains(m.item_id.as_str()));
        let old_recent: HashMap<String, Option<Vec<half::f16>>> =
            old.recent.drain(..).map(|r| (r.item_id, r.emb)).collect();
        // Merge records that moved out entirely go with the split-off part.
        let old_merges = std::mem::take(&mut old.merges);
        let t0 = moved.iter().map(|m| m.time).min().unwrap_or(old.first_seen);
        let new_idx = self.new_saga(t0, Some(id));
        let new_id = SagaId::from_index(new_idx as usize);
        let (gone, stay): (Vec<MergeRecord>, Vec<MergeRecord>) = old_merges
            .into_iter()
            .partition(|r| r.items.iter().all(|it| wanted.contains(it.as_str())));
        self.sagas[i].merges = stay;
        self.sagas[new_idx as usize].merges = gone;
        self.sagas[i].members = kept;
        self.sagas[new_idx as usize].members = moved;
        for m in &self.sagas[new_idx as usize].members {
            if let Some(r) = self.items.get_mut(&m.item_id) {
                r.saga = new_id;
            }
        }
        let mut fresh_new = Vec::new();
        for idx in [i, new_idx as usize] {
            let fresh = self.rebuild_from_members(idx, &old_recent, k);
            if idx == new_idx as usize {
                fresh_new = fresh;
            }
        }
        self.index_terms(new_idx, &fresh_new, false);
        // The original keeps its (possibly user-chosen) title; the new saga
        // gets the most central of its headlines.
        self.settle_title(new_idx);
        self.apart.insert(if id <= new_id {
            (id, new_id)
        } else {
            (new_id, id)
        });
        self.events.push(SagaEvent::Split {
            from: id,
            into: new_id,
            items: wanted.iter().map(|s| s.to_string()).collect(),
        });
        Ok(new_id)
    }

    /// Recomputes saga `idx`'s aggregates from its members after a split:
    /// centroid, the `k` most recent items (with their embeddings from
    /// `old_recent`), outlet/feed/language counts, dates and its place in
    /// the active set. Returns the terms new to its centroid (for the index).
    fn rebuild_from_members(
        &mut self,
        idx: usize,
        old_recent: &HashMap<String, Option<Vec<half::f16>>>,
        k: usize,
    ) -> Vec<u32> {
        let s = &self.sagas[idx];
        if s.is_open() {
            self.active.remove(&(s.last_seen.timestamp(), idx as u32));
        }
        let mut centroid_vecs = Vec::new();
        let mut rec = Vec::new();
        let mut outlets = BTreeMap::new();
        let mut feeds = BTreeMap::new();
        let mut langs = BTreeMap::new();
        for m in &s.members {
            if let Some(r) = self.items.get(&m.item_id) {
                centroid_vecs.push(r.vec.clone());
                rec.push(Recent {
                    item_id: m.item_id.clone(),
                    time: m.time,
                    vec: r.vec.clone(),
                    emb: old_recent.get(&m.item_id).cloned().flatten(),
                    feed: r.feed.clone(),
                });
                if let Some(f) = &r.feed {
                    *feeds.entry(f.clone()).or_insert(0) += 1;
                }
                if let Some(l) = &r.lang {
                    *langs.entry(l.clone()).or_insert(0) += 1;
                }
            }
            if let Some(src) = &m.source {
                *outlets.entry(src.clone()).or_insert(0) += 1;
            }
        }
        rec.sort_by_key(|r| r.time);
        let skip = rec.len().saturating_sub(k);
        let first = s
            .members
            .iter()
            .map(|m| m.time)
            .min()
            .unwrap_or(s.first_seen);
        let last = s
            .members
            .iter()
            .map(|m| m.time)
            .max()
            .unwrap_or(s.last_seen);
        let s = &mut self.sagas[idx];
        s.centroid.clear();
        s.centroid_norm2 = 0.0;
        let mut fresh = Vec::new();
        for v in &centroid_vecs {
            fresh.extend(s.add_vec(v, 1.0));
        }
        s.recent = rec.into_iter().skip(skip).collect();
        s.outlets = outlets;
        s.feeds = feeds;
        s.langs = langs;
        s.first_seen = first;
        s.last_seen = last;
        if s.is_open() {
            self.active.insert((last.timestamp(), idx as u32));
        }
        fresh
    }
}
