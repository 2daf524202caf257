//! The archive: long-quiet sagas leave the live engine.
//!
//! The engine's state is what every run with new items loads and saves, so
//! its size is the daily cost. Left alone it grows with history: every
//! saga ever seen keeps its centroid, its recent items' vectors, its
//! members' term vectors and its place in the inverted index. A saga that
//! has been quiet for [`SagaConfig::archive_after_days`] (and for
//! `quiet_pace_factor` times its own pace) and that the user neither
//! follows nor muted is moved out whole, as an [`ArchivedSaga`] the caller stores
//! elsewhere. Its id stays taken and keeps one empty slot, so ids are never
//! reused, but nothing else of it stays: the live state follows the stream's
//! recent weeks, not its years.
//!
//! What this gives up: an item matching only an archived saga starts a new
//! one. A follow or a mute keeps a story live for good, so a story the
//! person marked is still recognised (and still followed or muted) when it
//! resumes after months. A person's control on an
//! archived saga [`restores`](SagaEngine::restore) it first; the archived
//! copy keeps everything but its recent items' sentence vectors.

#[cfg(doc)]
use super::SagaConfig;
use super::{ItemRecord, Saga, SagaEngine, SagaEvent, SagaId, SagaItem, SagaStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A saga moved out of the live engine, with what it takes to put it back:
/// its members' item records. Serialise it with serde to store it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedSaga {
    /// The saga as it was when archived.
    pub saga: Saga,
    records: Vec<(String, ItemRecord)>,
}

impl ArchivedSaga {
    /// The saga's id.
    pub fn id(&self) -> SagaId {
        self.saga.id
    }
}

/// The engine's sagas by index: `None` for an archived one. Indexing an
/// archived slot is a bug (nothing live points at it) and panics. Every
/// slot reached mutably is remembered as changed, so that a save can write
/// only those ([`SagaEngine::to_parts`]).
///
/// A slot may also be live but not loaded (a run that loaded only the
/// sagas it can reach: [`SagaEngine::needs`]); reaching one is a bug too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct Slots(
    Vec<Option<Box<Saga>>>,
    #[serde(skip)] BTreeSet<u32>,
    #[serde(skip)] BTreeSet<u32>,
);

impl Slots {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
    pub(super) fn push(&mut self, s: Saga) {
        self.1.insert(self.0.len() as u32);
        self.0.push(Some(Box::new(s)));
    }
    pub(super) fn get(&self, i: usize) -> Option<&Saga> {
        self.0.get(i).and_then(|s| s.as_deref())
    }
    pub(super) fn iter(&self) -> impl Iterator<Item = &Saga> {
        self.0.iter().filter_map(|s| s.as_deref())
    }
    /// Count slot `i` as changed.
    pub(super) fn touch(&mut self, i: usize) {
        self.1.insert(i as u32);
    }
    /// Count every slot as changed (a state read whole: a save in parts
    /// writes every saga).
    pub(super) fn touch_all(&mut self) {
        self.1 = (0..self.0.len() as u32).collect();
    }
    pub(super) fn is_archived(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(None)) && !self.2.contains(&(i as u32))
    }
    /// Whether some live sagas are not loaded.
    pub(super) fn is_partial(&self) -> bool {
        !self.2.is_empty()
    }
    fn missing(&self, i: usize) -> String {
        if self.2.contains(&(i as u32)) {
            format!("saga {} is not loaded", i + 1)
        } else {
            format!("saga {} is archived", i + 1)
        }
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Saga;
    fn index(&self, i: usize) -> &Saga {
        self.0[i]
            .as_deref()
            .unwrap_or_else(|| panic!("{}", self.missing(i)))
    }
}

impl std::ops::IndexMut<usize> for Slots {
    fn index_mut(&mut self, i: usize) -> &mut Saga {
        if self.0[i].is_none() {
            panic!("{}", self.missing(i));
        }
        self.1.insert(i as u32);
        self.0[i].as_deref_mut().expect("checked above")
    }
}

impl<'a> IntoIterator for &'a Slots {
    type Item = &'a Saga;
    type IntoIter = std::iter::FilterMap<
        std::slice::Iter<'a, Option<Box<Saga>>>,
        fn(&'a Option<Box<Saga>>) -> Option<&'a Saga>,
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().filter_map(|s| s.as_deref())
    }
}

impl SagaEngine {
    /// Whether the saga with this id was archived (and not restored).
    pub fn is_archived(&self, id: SagaId) -> bool {
        self.sagas.is_archived(id.index())
    }

    /// Whether `s` has been quiet long enough to leave the live engine.
    fn archivable(&self, s: &Saga, now: DateTime<Utc>) -> bool {
        let c = &self.config;
        if c.archive_after_days <= 0.0
            || s.followed
            || s.muted
            || s.merged_into.is_some()
            || !matches!(s.status, SagaStatus::Dormant | SagaStatus::Closed)
        {
            return false;
        }
        let gap_h = (now - s.last_seen).num_seconds() as f32 / 3600.0;
        if gap_h <= c.archive_after_days * 24.0 {
            return false;
        }
        let n = s.members.len();
        if n < 2 || c.quiet_pace_factor <= 0.0 {
            return true;
        }
        let span_h = (s.last_seen - s.first_seen).num_seconds() as f32 / 3600.0;
        let pace_h = (span_h + c.quiet_prior_hours) / (n - 1) as f32;
        gap_h > c.quiet_pace_factor * pace_h
    }

    /// Move every saga quiet for long enough (relative to `now`; see
    /// [`SagaConfig::archive_after_days`]) out of the live engine, with the
    /// merged tombstones that lead to it. Returns how many sagas left; take
    /// them with [`SagaEngine::take_archived`] and store them before the
    /// engine's state, or they are lost. Sweeps first, so a saga quiet for
    /// weeks is dormant before it is judged.
    pub fn archive(&mut self, now: DateTime<Utc>) -> usize {
        self.sweep(now);
        let mut gone: BTreeSet<u32> = self
            .sagas
            .iter()
            .filter(|s| self.archivable(s, now))
            .map(|s| s.id.index() as u32)
            .collect();
        if gone.is_empty() {
            return 0;
        }
        // Tombstones whose chain ends in a leaving saga go with it, so that
        // no live id resolves to an empty slot.
        let tombs: Vec<u32> = self
            .sagas
            .iter()
            .filter(|s| s.merged_into.is_some())
            .filter(|s| {
                self.resolve(s.id)
                    .is_some_and(|r| gone.contains(&(r.index() as u32)))
            })
            .map(|s| s.id.index() as u32)
            .collect();
        gone.extend(tombs);
        let mut records: BTreeMap<u32, Vec<(String, ItemRecord)>> = BTreeMap::new();
        let keys: Vec<String> = self
            .items
            .iter()
            .filter(|(_, r)| gone.contains(&(r.saga.index() as u32)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.item_index.remove(item_hash(&k));
            if let Some(r) = self.items.remove(&k) {
                records
                    .entry(r.saga.index() as u32)
                    .or_default()
                    .push((k, r));
            }
        }
        // The inverted index drops them lazily (`packed::Postings`).
        self.recent_sagas.retain(|i| !gone.contains(i));
        self.active.retain(|(_, i)| !gone.contains(i));
        for &i in &gone {
            self.sagas.1.insert(i);
            let mut saga = *self.sagas.0[i as usize]
                .take()
                .expect("archived sagas are live until now");
            // Compacted: the recent items' sentence vectors are most of an
            // archived saga's bytes (1.5 KB each) and the store keeps them
            // anyway. A restored saga is matched by its words until an item
            // joins it again.
            for r in &mut saga.recent {
                r.emb = None;
            }
            let mut recs = records.remove(&i).unwrap_or_default();
            // Stored in a stable order: the same saga archives to the same
            // bytes whatever the hash map's order.
            recs.sort_by(|a, b| a.0.cmp(&b.0));
            if saga.merged_into.is_none() {
                self.events.push(SagaEvent::Archived {
                    saga: saga.id,
                    at: now,
                });
            }
            self.archived.push(ArchivedSaga {
                saga,
                records: recs,
            });
        }
        gone.len()
    }

    /// The sagas archived since the last call, for the caller to store.
    pub fn take_archived(&mut self) -> Vec<ArchivedSaga> {
        std::mem::take(&mut self.archived)
    }

    /// Put an archived saga back into the live engine (a person's control
    /// on it, or a merged tombstone on the way to one). Its terms go back
    /// into the inverted index; it stays dormant until an item joins it, and
    /// leaves again at the next [`SagaEngine::archive`] unless something
    /// changed. A saga that is live already, or an id the engine never gave,
    /// is left alone (returns false).
    pub fn restore(&mut self, a: ArchivedSaga) -> bool {
        let i = a.saga.id.index();
        if !self.sagas.is_archived(i) {
            return false;
        }
        let idx = i as u32;
        let mut terms: Vec<u32> = a.saga.centroid.keys().copied().collect();
        terms.sort_unstable();
        if a.saga.status == SagaStatus::Active {
            self.active.insert((a.saga.last_seen.timestamp(), idx));
        }
        self.sagas.0[i] = Some(Box::new(a.saga));
        self.sagas.1.insert(idx);
        for (k, r) in a.records {
            self.items.insert(k, r);
        }
        self.index_terms(idx, &terms, true);
        true
    }
}

/// The engine's state as the store keeps it: the core (everything but the
/// sagas) and one row per live saga, of which a save writes only the
/// changed ones ([`SagaEngine::to_parts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StateParts {
    /// The engine without its sagas (JSON), with how many ids were given.
    pub core: String,
    /// Live sagas changed since the last save or load: `(id, JSON)`.
    pub sagas: Vec<(u64, String)>,
    /// Sagas no longer live (archived since): their rows go.
    pub gone: Vec<u64>,
    /// Feeds whose headline counts changed: `(feed key, JSON)`.
    pub feeds: Vec<(String, String)>,
    /// Vocabulary terms added or counted since the last save, or every
    /// term when `terms_whole` (the stored terms are then replaced: the
    /// first save in rows of a vocabulary held in the core).
    pub terms: Vec<crate::vector::TermRow>,
    pub terms_whole: bool,
    /// Item index entries set or removed since the last save, or every
    /// entry when `items_whole` (the stored ones are then replaced).
    pub items: Vec<ItemRow>,
    pub items_whole: bool,
    /// Inverted index lists changed since the last save (an empty one is
    /// gone), or every list when `postings_whole` (the stored ones are
    /// then replaced: the first save in rows of lists held in the core).
    pub postings: Vec<super::PostingRow>,
    pub postings_whole: bool,
    /// The archive due time of each saga row written (`None`: never, as
    /// things stand), or of every live saga when `dues_whole` (the stored
    /// ones are then cleared first): what [`SagaEngine::put_due`] is
    /// answered from.
    pub dues: Vec<(u64, Option<i64>)>,
    pub dues_whole: bool,
}

impl SagaEngine {
    /// The state in parts: the core and the sagas changed since the last
    /// call (or since [`SagaEngine::from_parts`]; all of them after
    /// [`SagaEngine::from_json`] or for a new engine). A run that places a
    /// few items writes their sagas, not every live one.
    pub fn to_parts(&mut self) -> serde_json::Result<StateParts> {
        let changed = std::mem::take(&mut self.sagas.1);
        let mut sagas = Vec::new();
        let mut gone = Vec::new();
        let mut reach = self.reach.take();
        let mut dues = Vec::new();
        for i in changed {
            let s = self.sagas.get(i as usize);
            let due = self.archive_due(s);
            if let Some(r) = reach.as_mut() {
                r.update(i, s, due);
            }
            if let Some(s) = s {
                dues.push((s.id.0, due));
            }
            match s {
                Some(s) => {
                    let records: Vec<(&String, &ItemRecord)> = s
                        .members
                        .iter()
                        .filter_map(|m| self.items.get_key_value(&m.item_id))
                        .collect();
                    for (k, _) in &records {
                        self.item_index.set(item_hash(k), i);
                    }
                    let row = RowOut { records, saga: s };
                    sagas.push((s.id.0, serde_json::to_string(&row)?));
                }
                None => gone.push(u64::from(i) + 1),
            }
        }
        // The due times move into the rows with the first save since they
        // are kept there: every live saga's, from the map.
        let dues_whole = reach.as_ref().is_some_and(|r| !r.due_in_rows);
        if let Some(r) = reach.as_mut().filter(|r| !r.due_in_rows) {
            dues = std::mem::take(&mut r.due)
                .into_iter()
                .map(|(i, d)| (u64::from(i) + 1, Some(d)))
                .collect();
            r.due_in_rows = true;
        }
        self.reach = reach;
        let (terms, terms_whole) = self.vocab.take_rows();
        let (item_rows, items_whole) = self.item_index.take_rows();
        self.items_in_rows = true;
        let (postings, postings_whole) = self.postings.take_rows();
        let changed_feeds = std::mem::take(&mut self.feed_stats.1);
        let mut feeds = Vec::with_capacity(changed_feeds.len());
        for f in changed_feeds {
            if let Some(st) = self.feed_stats.get(&f) {
                feeds.push((f, serde_json::to_string(st)?));
            }
        }
        let slots = std::mem::take(&mut self.sagas);
        let feed_table = std::mem::take(&mut self.feed_stats);
        let items = std::mem::take(&mut self.items);
        let lists = std::mem::take(&mut self.postings);
        self.saga_slots = slots.len();
        self.postings_in_rows = true;
        let core = serde_json::to_string(self);
        self.vocab.done_core();
        self.saga_slots = 0;
        self.postings_in_rows = false;
        self.postings = lists;
        self.sagas = slots;
        self.feed_stats = feed_table;
        self.items = items;
        Ok(StateParts {
            core: core?,
            sagas,
            gone,
            feeds,
            terms,
            terms_whole,
            items: item_rows,
            items_whole,
            postings,
            postings_whole,
            dues,
            dues_whole,
        })
    }

    /// The engine saved by [`SagaEngine::to_parts`]: its core, the rows
    /// of every live saga and feed, every vocabulary term and every
    /// inverted index list. A slot without a row is an archived saga.
    pub fn from_parts(
        core: &str,
        sagas: impl IntoIterator<Item = String>,
        feeds: impl IntoIterator<Item = (String, String)>,
        terms: impl IntoIterator<Item = crate::vector::TermRow>,
        postings: impl IntoIterator<Item = super::PostingRow>,
    ) -> serde_json::Result<Self> {
        let mut e = SagaEngine::from_stored(core)?;
        e.fill(sagas, feeds)?;
        e.vocab
            .put_all(terms)
            .map_err(<serde_json::Error as serde::de::Error>::custom)?;
        e.put_all_postings(postings.into_iter().collect());
        Ok(e)
    }

    /// Read what a store keeps under the engine's key: a whole state
    /// ([`SagaEngine::to_json`], an earlier version's) or a core
    /// ([`SagaEngine::to_parts`]), which then [`needs_sagas`] from their rows.
    ///
    /// [`needs_sagas`]: SagaEngine::needs_sagas
    pub fn from_stored(s: &str) -> serde_json::Result<Self> {
        let mut e: SagaEngine = serde_json::from_str(s)?;
        if e.items_in_rows {
            e.item_index = ItemIndex::rows_only();
        }
        if e.postings_in_rows {
            e.postings = super::packed::Postings::rows_only(e.vocab.len() as u32);
            // Written by `to_parts` only: the lists know where they are.
            e.postings_in_rows = false;
        }
        if e.saga_slots == 0 {
            // Whole: its first save in parts writes every saga and feed.
            e.touch_all();
        }
        Ok(e)
    }

    /// Whether this is a core read by [`SagaEngine::from_stored`] whose
    /// sagas and feed counts are still to be put in ([`SagaEngine::fill`]).
    pub fn needs_sagas(&self) -> bool {
        self.saga_slots > 0
    }

    /// Put in a core's live sagas and per-feed counts (their rows, as
    /// [`SagaEngine::to_parts`] wrote them); slots without a row are
    /// archived sagas.
    pub fn fill(
        &mut self,
        sagas: impl IntoIterator<Item = String>,
        feeds: impl IntoIterator<Item = (String, String)>,
    ) -> serde_json::Result<()> {
        self.fill_rows(sagas, feeds)?;
        let slots = &self.sagas.0;
        if let Some(r) = self.reach.as_mut() {
            // Every live saga is here: the rows say which slots are live.
            r.live = Some(
                (0..slots.len() as u32)
                    .filter(|&i| slots[i as usize].is_some())
                    .collect(),
            );
        }
        Ok(())
    }

    /// Put in rows of live sagas and per-feed counts.
    fn fill_rows(
        &mut self,
        sagas: impl IntoIterator<Item = String>,
        feeds: impl IntoIterator<Item = (String, String)>,
    ) -> serde_json::Result<()> {
        for (f, body) in feeds {
            self.feed_stats.0.insert(f, serde_json::from_str(&body)?);
        }
        let records_in_core = !self.items.is_empty();
        let mut slots: Vec<Option<Box<Saga>>> = vec![None; self.saga_slots];
        for body in sagas {
            let s = if body.starts_with(ROW_PREFIX) {
                let row: RowIn = serde_json::from_str(&body)?;
                // As stored: the item index's entries of these records
                // say this saga (a save writes only entries that change).
                for (k, r) in &row.records {
                    self.item_index.known(item_hash(k), r.saga.index() as u32);
                }
                self.items.extend(row.records);
                row.saga
            } else {
                // A row written before item records moved into rows: they
                // are in the core.
                serde_json::from_str::<Saga>(&body)?
            };
            let i = s.id.index();
            if i >= slots.len() {
                slots.resize(i + 1, None);
            }
            slots[i] = Some(Box::new(s));
        }
        // A core saved before it kept what a run can reach, or with the
        // item records in it: the next save writes every saga (with its
        // records), which computes what it reaches.
        let changed = if self.reach.is_none() || records_in_core {
            self.reach.get_or_insert_with(Reach::default);
            (0..slots.len() as u32)
                .filter(|&i| slots[i as usize].is_some())
                .collect()
        } else {
            BTreeSet::new()
        };
        self.sagas = Slots(slots, changed, BTreeSet::new());
        self.saga_slots = 0;
        Ok(())
    }
}

/// How a saga row written since item records moved into rows begins
/// (`RowOut` serialises its records first): rows are told apart by it
/// without parsing them twice.
const ROW_PREFIX: &str = "{\"records\":";

/// A live saga's row: the saga and its items' records.
#[derive(Serialize)]
struct RowOut<'a> {
    records: Vec<(&'a String, &'a ItemRecord)>,
    saga: &'a Saga,
}

#[derive(Deserialize)]
struct RowIn {
    records: Vec<(String, ItemRecord)>,
    saga: Saga,
}

/// A stable 64-bit hash of an item key (FNV-1a): the same in every
/// process and version, unlike the standard library's.
pub(super) fn item_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An item index entry as the store keeps it: `(key hash, saga index)`,
/// or `None` for an entry removed.
pub type ItemRow = (u64, Option<u32>);

/// Item key hash → saga index, for the items of a state saved in parts
/// (see `SagaEngine::item_index`): what tells an item offered again
/// without its saga's row. One entry per live item (61,000 at a year of
/// items, ~1 MB packed, where their records were 40 MB); kept in the
/// store's rows since stop 31, as the vocabulary is, so that a run reads
/// the entries of its own items and writes those it changed. The packed
/// form in the core written before still reads.
#[derive(Debug, Clone, Default)]
pub(super) struct ItemIndex {
    /// Entries held: all of them (`asked` is `None`), or those read for
    /// the hashes asked and set since.
    map: HashMap<u64, u32>,
    /// Whether the entries are saved in rows, not in the core.
    in_rows: bool,
    /// Hashes asked of the rows (found or not); `None` while every entry
    /// is held.
    asked: Option<HashSet<u64>>,
    /// Entries set or removed since the last save in rows.
    changed: HashMap<u64, Option<u32>>,
}

impl ItemIndex {
    /// Whether the core holds no entry (none, or all in rows).
    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty() || self.in_rows
    }

    /// A core's index whose entries are in rows, none read yet.
    pub(super) fn rows_only() -> Self {
        ItemIndex {
            in_rows: true,
            asked: Some(HashSet::new()),
            ..Default::default()
        }
    }

    fn get(&self, h: u64) -> Option<u32> {
        if let Some(&i) = self.map.get(&h) {
            return Some(i);
        }
        if let Some(asked) = &self.asked {
            assert!(
                asked.contains(&h),
                "saga item index: hash {h:#x} was not read from the store's rows"
            );
        }
        None
    }

    /// An entry as the rows hold it (read with its saga's row).
    fn known(&mut self, h: u64, i: u32) {
        if self.in_rows {
            self.map.insert(h, i);
        }
    }

    fn set(&mut self, h: u64, i: u32) {
        if self.map.insert(h, i) != Some(i) && self.in_rows {
            self.changed.insert(h, Some(i));
        }
    }

    fn remove(&mut self, h: u64) {
        self.map.remove(&h);
        if self.in_rows {
            self.changed.insert(h, None);
        }
    }

    /// Of `hashes`, those to ask of the rows (not held, not asked).
    pub(super) fn to_ask(&self, hashes: impl IntoIterator<Item = u64>) -> Vec<u64> {
        crate::vector::not_asked(hashes, self.asked.as_ref(), |h| self.map.contains_key(h))
    }

    pub(super) fn put_rows(&mut self, asked: Vec<u64>, rows: Vec<(u64, u32)>) {
        if let Some(set) = self.asked.as_mut() {
            set.extend(asked);
            self.map.extend(rows);
        }
    }

    /// The rows to save (every entry while they are still saved in the
    /// core: `true`, the stored rows replaced), and from now on in rows.
    pub(super) fn take_rows(&mut self) -> (Vec<ItemRow>, bool) {
        let whole = !self.in_rows;
        let mut rows: Vec<ItemRow> = if whole {
            self.map.iter().map(|(&h, &i)| (h, Some(i))).collect()
        } else {
            self.changed.drain().collect()
        };
        rows.sort_unstable();
        self.in_rows = true;
        (rows, whole)
    }
}

impl Serialize for ItemIndex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut pairs: Vec<(u64, u32)> = self.map.iter().map(|(h, i)| (*h, *i)).collect();
        pairs.sort_unstable();
        s.serialize_str(&super::packed::encode_pairs(pairs.into_iter()))
    }
}

impl<'de> Deserialize<'de> for ItemIndex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ItemIndex {
            map: super::packed::decode_pairs::<u64, u32, D::Error>(&s, "item index pairs")?
                .into_iter()
                .collect(),
            ..Default::default()
        })
    }
}

/// What a run can reach of the sagas without loading them, kept by every
/// save in parts from the sagas it writes: when each live saga may next be
/// archived if nothing joins it, and where each merged tombstone leads.
/// Together with the core's inverted index, recent sagas and active set,
/// it tells which sagas a batch of items can read or change
/// ([`SagaEngine::needs`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Reach {
    /// Saga index → the second from which it may be archived (absent:
    /// never, as things stand: followed, muted or merged).
    /// Kept here until the first save since stop 32; since then in the
    /// store's `saga_due` rows (`due_in_rows`): at a year of items this
    /// map was 307 KB of the core, read and rewritten by every run.
    #[serde(default, with = "super::packed::pairs")]
    due: BTreeMap<u32, i64>,
    /// Whether the due times are in the store's rows (each written with
    /// its saga's row), not in `due`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    due_in_rows: bool,
    /// Of a core whose due times are in rows: the sagas due at the run's
    /// time, as the store answered ([`SagaEngine::put_due`]).
    #[serde(skip)]
    due_now: Option<BTreeSet<u32>>,
    /// Merged tombstone index → the index it was merged into.
    #[serde(default, with = "super::packed::pairs")]
    merged: BTreeMap<u32, u32>,
    /// The slots that have a live row: a run tells a saga it did not load
    /// from an archived one without reading every live row's id (at a
    /// year of items that read was the largest part of a run's load).
    /// `None` in a core saved before it was kept: the store's ids are read
    /// once ([`SagaEngine::knows_live`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    live: Option<super::packed::Bits>,
}

impl Default for Reach {
    fn default() -> Self {
        Reach {
            due: BTreeMap::new(),
            due_in_rows: false,
            due_now: None,
            merged: BTreeMap::new(),
            live: Some(super::packed::Bits::default()),
        }
    }
}

impl Reach {
    fn update(&mut self, i: u32, s: Option<&Saga>, due: Option<i64>) {
        if let Some(live) = self.live.as_mut() {
            live.set(i, s.is_some());
        }
        if !self.due_in_rows {
            match due {
                Some(d) => self.due.insert(i, d),
                None => self.due.remove(&i),
            };
        }
        match s.and_then(|s| s.merged_into) {
            Some(into) => self.merged.insert(i, into.index() as u32),
            None => self.merged.remove(&i),
        };
    }

    /// `i` and the sagas its merges lead to.
    fn chain(&self, i: u32) -> impl Iterator<Item = u32> + '_ {
        // A chain is short; the bound only stops a damaged state looping.
        std::iter::successors(Some(i), |c| self.merged.get(c).copied()).take(64)
    }
}

/// What placing a batch of items needs loaded of a state saved in parts:
/// the ids of the sagas it can read or change, and the feeds whose
/// headline counts it reads ([`SagaEngine::needs`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    pub sagas: BTreeSet<u64>,
    pub feeds: BTreeSet<String>,
}

impl SagaEngine {
    /// The second from which `s` may be archived if nothing joins it
    /// (what [`SagaEngine::archivable`] requires of its quiet), `None` when
    /// it may not be as things stand.
    fn archive_due(&self, s: Option<&Saga>) -> Option<i64> {
        let s = s?;
        let c = &self.config;
        if c.archive_after_days <= 0.0 || s.followed || s.muted || s.merged_into.is_some() {
            return None;
        }
        let mut quiet_h = c.archive_after_days * 24.0;
        let n = s.members.len();
        if n >= 2 && c.quiet_pace_factor > 0.0 {
            let span_h = (s.last_seen - s.first_seen).num_seconds() as f32 / 3600.0;
            let pace_h = (span_h + c.quiet_prior_hours) / (n - 1) as f32;
            quiet_h = quiet_h.max(c.quiet_pace_factor * pace_h);
        }
        // Rounded down: a saga is loaded a second early rather than late.
        Some(s.last_seen.timestamp() + (quiet_h as f64 * 3600.0).floor() as i64 - 1)
    }

    /// Which sagas and feeds placing `items` (in this order, each at `now`
    /// as [`SagaEngine::assign`] takes them) and then archiving at `now`
    /// can read or change: a run loads only those of a state saved in parts
    /// ([`SagaEngine::fill_some`]) and places its items exactly as the whole
    /// engine would. `None` when this state cannot tell (read whole, or
    /// saved before it kept what it needs): load every saga.
    ///
    /// It is exact, not a guess: the items are vectorised ahead on a
    /// [`crate::vector::VocabOverlay`], so each one's query terms are those
    /// assignment will use, and every saga those terms' postings name is
    /// loaded (a run only adds postings to sagas it has loaded), with the
    /// recently joined sagas, the sagas of items already placed, those a
    /// dormancy sweep up to the batch's latest time or `now` reaches, those
    /// due for the archive at `now`, and the merged tombstones that lead to
    /// any of them.
    pub fn needs(&self, items: &[SagaItem], now: DateTime<Utc>) -> Option<Needs> {
        let reach = self.reach.as_ref()?;
        // Item records in the core: saved before they moved into the
        // rows. Its first save must write every saga's row with them.
        if self.saga_slots == 0 || !self.items.is_empty() {
            return None;
        }
        let mut want: BTreeSet<u32> = self.recent_sagas.iter().copied().collect();
        let mut feeds = BTreeSet::new();
        let mut overlay = self.vocab.overlay();
        let mut placed = std::collections::HashSet::new();
        let mut clock = self.clock.unwrap_or(now);
        for item in items {
            // Placed already: assignment only reads its saga. (By a 64-bit
            // hash of the key: two live keys of one hash, about one chance
            // in 10^13 a run at 80,000 live items, would take a new item
            // for a known one here.)
            let known = match self.items.get(&item.id) {
                Some(r) => Some(r.saga.index() as u32),
                None => self.item_index.get(item_hash(&item.id)),
            };
            if let Some(i) = known {
                want.insert(i);
                continue;
            }
            if !placed.insert(item.id.as_str()) {
                continue;
            }
            clock = clock.max(self.effective_time(item.time, now));
            let ctx = self.item_ctx(item);
            if let Some(f) = &ctx.feed {
                feeds.insert(f.clone());
            }
            let feats = self.weighted_features_by(item, &ctx, &|k| overlay.df_of(k));
            let mut q = overlay.vectorise(&feats);
            q.sort_by(|a, b| b.1.total_cmp(&a.1));
            q.truncate(self.config.max_query_terms);
            for (t, _) in q {
                if let Some(p) = self.postings.get(&t) {
                    // Archived sagas stay in lists until they change.
                    let live = reach.live.as_ref();
                    want.extend(p.iter().copied().filter(|&i| live.is_none_or(|l| l.get(i))));
                }
            }
        }
        let limit = clock.max(now)
            - chrono::Duration::seconds((self.config.dormant_after_days as f64 * 86_400.0) as i64);
        want.extend(
            self.active
                .iter()
                .take_while(|(ts, _)| *ts < limit.timestamp())
                .map(|(_, i)| *i),
        );
        let due: BTreeSet<u32> = if reach.due_in_rows {
            reach.due_now.clone().expect(
                "saga archive: the sagas due were not read from the store's rows \
                 (SagaEngine::put_due)",
            )
        } else {
            reach
                .due
                .iter()
                .filter(|(_, d)| **d <= now.timestamp())
                .map(|(i, _)| *i)
                .collect()
        };
        // Tombstones leading to a saga that may leave go with it.
        for &t in reach.merged.keys() {
            if reach.chain(t).any(|c| due.contains(&c)) {
                want.insert(t);
            }
        }
        want.extend(due);
        let mut sagas = BTreeSet::new();
        for i in want {
            sagas.extend(reach.chain(i).map(|c| u64::from(c) + 1));
        }
        Some(Needs { sagas, feeds })
    }

    /// Whether this core's archive due times are in the store's rows: the
    /// caller then reads the ids of the sagas due at the run's time and
    /// [`SagaEngine::put_due`]s them before [`SagaEngine::needs`].
    pub fn due_in_rows(&self) -> bool {
        self.reach.as_ref().is_some_and(|r| r.due_in_rows)
    }

    /// Put in the ids of the sagas whose stored due time is at or before
    /// the run's time ([`SagaEngine::due_in_rows`]).
    pub fn put_due(&mut self, ids: impl IntoIterator<Item = u64>) {
        if let Some(r) = self.reach.as_mut() {
            r.due_now = Some(
                ids.into_iter()
                    .map(|id| SagaId(id).index() as u32)
                    .collect(),
            );
        }
    }

    /// Whether this core knows which sagas are live (else the caller
    /// passes the store's live ids to [`SagaEngine::fill_some`]).
    pub fn knows_live(&self) -> bool {
        self.reach.as_ref().is_some_and(|r| r.live.is_some())
    }

    /// Put in some of a core's live sagas and per-feed counts (the rows
    /// [`SagaEngine::needs`] named, as [`SagaEngine::to_parts`] wrote
    /// them); `live` lists every live saga's id where the core does not
    /// know them ([`SagaEngine::knows_live`]), so that the others count as
    /// not loaded rather than archived. Reaching a saga not loaded is a
    /// bug and panics.
    pub fn fill_some(
        &mut self,
        live: Option<Vec<u64>>,
        sagas: impl IntoIterator<Item = String>,
        feeds: impl IntoIterator<Item = (String, String)>,
    ) -> serde_json::Result<()> {
        self.fill_rows(sagas, feeds)?;
        if let (Some(ids), Some(r)) = (live, self.reach.as_mut()) {
            r.live = Some(ids.iter().map(|&id| SagaId(id).index() as u32).collect());
        }
        let live = self.reach.as_ref().and_then(|r| r.live.as_ref());
        for i in live.into_iter().flat_map(|l| l.iter()) {
            if self.sagas.0.get(i as usize).is_some_and(|s| s.is_none()) {
                self.sagas.2.insert(i);
            }
        }
        Ok(())
    }

    /// Whether some live sagas were not loaded ([`SagaEngine::fill_some`]):
    /// listing every saga needs them all.
    pub fn is_partial(&self) -> bool {
        self.sagas.is_partial()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archived_slot_is_neither_listed_nor_indexable() {
        let t = Utc::now();
        let mut slots = Slots::default();
        slots.push(Saga::empty(SagaId(1), t, t));
        slots.push(Saga::empty(SagaId(2), t, t));
        slots.0[0] = None;
        assert!(slots.is_archived(0));
        assert!(!slots.is_archived(1));
        assert!(!slots.is_archived(2), "an id never given is not archived");
        assert_eq!(slots.iter().map(|s| s.id).collect::<Vec<_>>(), [SagaId(2)]);
        assert!(slots.get(0).is_none());
        assert!(std::panic::catch_unwind(|| slots[0].id).is_err());
        let json = serde_json::to_string(&slots).unwrap();
        assert!(json.starts_with("[null,{"), "{json}");
    }
}
