//! Which vocabulary terms and item index entries a run reads, for a state
//! that keeps them in the store's rows (see [`crate::vector::Vocabulary`]
//! and `archive::ItemIndex`): the saga step asks the store for exactly
//! these before it places its items, so that a run reads a few thousand
//! terms, not the ~630,000 a year of items brings, and its own items'
//! entries, not the 61,000 of every live item.

use super::item::ItemCtx;
use super::{SagaEngine, SagaItem};
use crate::vector::TermRow;

impl SagaEngine {
    /// The terms placing `items` can look up that this engine does not hold
    /// yet: every key of each item's features and of its headline alone,
    /// whatever the counts (a learned entity `e:word` for every word), so
    /// that [`SagaEngine::needs`] and assignment find every term they ask
    /// for. Empty while the vocabulary is held whole.
    pub fn term_keys(&self, items: &[SagaItem]) -> Vec<String> {
        let mut keys = Vec::new();
        for item in items {
            let ctx = self.item_ctx(item);
            keys.extend(self.all_keys(item, &ctx));
            let title = SagaItem {
                title: item.title.clone(),
                ..Default::default()
            };
            keys.extend(self.all_keys(&title, &ctx));
        }
        self.vocab.to_ask(keys)
    }

    /// The terms of the headlines that the one-feed match re-vectorises
    /// (the latest `recent_items` members of each loaded saga; a merge
    /// during the run puts two loaded sagas' members together, and the
    /// latest of those are among the latest of each) that this engine does
    /// not hold yet.
    pub fn member_term_keys(&self) -> Vec<String> {
        let k = self.config.recent_items.max(1);
        let mut keys = Vec::new();
        for s in self.sagas.iter() {
            for m in s.members.iter().rev().take(k) {
                let it = SagaItem {
                    title: m.title.clone(),
                    ..Default::default()
                };
                let ctx = ItemCtx {
                    lang: self.items.get(&m.item_id).and_then(|r| r.lang.clone()),
                    ..Default::default()
                };
                keys.extend(self.all_keys(&it, &ctx));
            }
        }
        self.vocab.to_ask(keys)
    }

    /// Put in the stored rows found for `asked` (from
    /// [`SagaEngine::term_keys`] or [`SagaEngine::member_term_keys`]).
    pub fn put_terms(&mut self, asked: Vec<String>, rows: Vec<TermRow>) -> Result<(), String> {
        self.vocab.put_rows(asked, rows)
    }

    /// The item index entries [`SagaEngine::needs`] reads for `items` (by
    /// key hash) that this engine does not hold yet.
    pub fn item_hashes(&self, items: &[SagaItem]) -> Vec<u64> {
        self.item_index
            .to_ask(items.iter().map(|it| super::archive::item_hash(&it.id)))
    }

    /// Put in the stored entries found for `asked`: `(hash, saga index)`.
    pub fn put_item_rows(&mut self, asked: Vec<u64>, rows: Vec<(u64, u32)>) {
        self.item_index.put_rows(asked, rows);
    }

    /// The inverted index lists placing items can read that this engine
    /// does not hold yet: those of every vocabulary term it holds (read
    /// for the items by [`SagaEngine::term_keys`]; assignment and
    /// [`SagaEngine::needs`] look up lists of their items' terms only).
    pub fn posting_terms(&self) -> Vec<u32> {
        self.postings.to_ask(self.vocab.held_ids())
    }

    /// The lists that pushes made during the run wait for (a merge, a
    /// split or a restore lists a saga under terms no item had): read
    /// them and [`SagaEngine::put_postings`] before
    /// [`SagaEngine::archive`] and [`SagaEngine::to_parts`], which panics
    /// while some wait.
    pub fn pending_posting_terms(&self) -> Vec<u32> {
        self.postings.pending_terms()
    }

    /// Put in the stored lists found for `asked` (from
    /// [`SagaEngine::posting_terms`] or
    /// [`SagaEngine::pending_posting_terms`]).
    pub fn put_postings(&mut self, asked: Vec<u32>, rows: Vec<super::PostingRow>) {
        let cap = self.posting_cap();
        let sagas = &self.sagas;
        self.postings
            .put_rows(asked, rows, cap, |i| !sagas.is_archived(i as usize));
    }

    /// Put in every stored list (with [`SagaEngine::put_all_terms`]).
    pub fn put_all_postings(&mut self, rows: Vec<super::PostingRow>) {
        self.postings.put_all(rows);
    }

    /// Put in every stored term: an engine that places items of any time
    /// and any saga (a tool that grows a store), not one run's.
    pub fn put_all_terms(&mut self, rows: Vec<TermRow>) -> Result<(), String> {
        self.vocab.put_all(rows)
    }

    /// Every key `weighted_features` can give for `item`, whatever the
    /// document frequencies: the only count it reads admits a learned
    /// entity, admitted here for every word.
    fn all_keys(&self, item: &SagaItem, ctx: &ItemCtx) -> impl Iterator<Item = String> + use<> {
        self.weighted_features_by(item, ctx, &|_| u32::MAX)
            .into_iter()
            .map(|(k, _)| k)
    }
}
