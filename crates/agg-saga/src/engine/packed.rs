//! Packed saved forms of the core's indexes: the inverted index and what a
//! run can reach. A daily run reads and writes the core whole; at a year of
//! items these were ~1.2 MB of JSON maps (38,000 posting lists, 19,000 due
//! times), parsed key by key. As base64 of little-endian numbers they are
//! read and written in one pass. The JSON maps written before still read.

use crate::vector::{IdMap, unpack};
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serializer};
use std::collections::BTreeMap;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A saved map: packed (since stop 31) or a JSON map (before), whose
/// numeric keys JSON writes as strings (read as strings here: an untagged
/// form buffers them, and a buffered string does not read as a number).
#[derive(Deserialize)]
#[serde(untagged)]
enum Form<V> {
    Packed(String),
    Map(std::collections::HashMap<String, V>),
}

impl<V> Form<V> {
    /// The JSON map's entries with their keys read as numbers.
    fn entries<K: std::str::FromStr, E: serde::de::Error>(
        m: std::collections::HashMap<String, V>,
    ) -> Result<impl Iterator<Item = (K, V)>, E> {
        m.into_iter()
            .map(|(k, v)| {
                k.parse()
                    .map(|k| (k, v))
                    .map_err(|_| E::custom(format!("{k:?} is not an index")))
            })
            .collect::<Result<Vec<_>, E>>()
            .map(Vec::into_iter)
    }
}

/// A posting list as the store keeps it: `(term id, saga indices)`, an
/// empty list for one that is gone.
pub type PostingRow = (u32, Vec<u32>);

/// The inverted index: term → saga indices, oldest first. Saved as
/// `u32`s, list after list in term order: term, count, then the indices.
///
/// A run reads a few dozen of its ~38,000 lists (at a year of items), so
/// the saved form is kept as read, with an offset per term for a binary
/// search; a list is copied out only when it changes. Building a vector
/// per list on every load was most of the time the core took to parse.
///
/// Since stop 32 a state saved in parts keeps the lists in the store's
/// rows (`saga_postings`), not in the core: the core was still ~1 MB at a
/// year of items, two thirds of it these lists, read, parsed, rewritten
/// and written by every run. A run then reads the lists of its items'
/// terms ([`Postings::to_ask`]), as the vocabulary reads their terms.
///
/// Archived sagas leave a list lazily: an archived index stays in the
/// lists it was in, readers skip it ([`SagaEngine::candidates`], `needs`),
/// and a list drops its archived indices whenever it changes, before its
/// cap is applied. Its live indices are then those the eager removal from
/// every list (before stop 32) left, in the same order, so candidates and
/// assignments are unchanged; removing eagerly would mean reading every
/// list an archived saga is in.
///
/// [`SagaEngine::candidates`]: super::SagaEngine
#[derive(Debug, Clone, Default)]
pub(super) struct Postings {
    /// The lists as read from a core, in the saved form.
    packed: Vec<u32>,
    /// `(term, where its count is in packed)`, in term order.
    at: Vec<(u32, u32)>,
    /// Lists read from the store's rows and not changed since.
    held: IdMap<Vec<u32>>,
    /// Lists changed since they were read, or new; an empty one is gone.
    changed: IdMap<Vec<u32>>,
    /// Whether the lists are saved in rows, not in the core.
    in_rows: bool,
    /// `None` while every list is held; otherwise the terms whose stored
    /// lists were read (found or not).
    asked: Option<std::collections::HashSet<u32>>,
    /// Term ids from this one on were given after the core was read: they
    /// have no stored list.
    fresh_from: u32,
    /// Pushes to lists not read (a merge, a split or a restore lists a
    /// saga under terms no item of the run has): `(term, saga, whether
    /// the saga's earlier entries go)`, in order, applied when their lists
    /// are read ([`Postings::put_rows`]).
    pending: Vec<(u32, u32, bool)>,
}

impl Postings {
    /// A core's index whose lists are in rows, none read yet; ids from
    /// `given` on are new.
    pub(super) fn rows_only(given: u32) -> Self {
        Postings {
            in_rows: true,
            asked: Some(Default::default()),
            fresh_from: given,
            ..Default::default()
        }
    }

    /// Whether no list is held (none, or all in rows and none read).
    pub(super) fn is_empty(&self) -> bool {
        self.at.is_empty() && self.held.is_empty() && self.changed.is_empty()
    }

    fn packed_list(&self, t: u32) -> Option<&[u32]> {
        let k = self.at.binary_search_by_key(&t, |e| e.0).ok()?;
        let at = self.at[k].1 as usize;
        let n = self.packed[at] as usize;
        Some(&self.packed[at + 1..at + 1 + n])
    }

    /// Whether the list of `t` is here to read or change (held, read
    /// from the rows, or new since the core was read).
    fn here(&self, t: u32) -> bool {
        match &self.asked {
            None => true,
            Some(a) => t >= self.fresh_from || a.contains(&t) || self.changed.contains_key(&t),
        }
    }

    /// The sagas listed under term `t`, oldest first, archived ones
    /// included (readers skip them). Panics for a list kept in the rows
    /// and not read: a run that reads a list it did not ask for would
    /// rank candidates without it.
    pub(super) fn get(&self, t: &u32) -> Option<&[u32]> {
        assert!(
            self.here(*t),
            "saga inverted index: the list of term {t} was not read from the store's rows"
        );
        match self.changed.get(t) {
            Some(l) => (!l.is_empty()).then_some(&l[..]),
            None => match self.held.get(t) {
                Some(l) => Some(&l[..]),
                None => self.packed_list(*t),
            },
        }
    }

    /// Lists saga `idx` under `t`, the list's archived sagas dropped first
    /// (`live` tells), and with them `idx`'s own earlier entries when
    /// `again` (a restored saga, whose entries from before its archive
    /// are still there); past `cap` entries the oldest quarter goes. A
    /// list not read is changed when it is ([`Postings::put_rows`]).
    pub(super) fn push(
        &mut self,
        t: u32,
        idx: u32,
        cap: usize,
        again: bool,
        live: impl Fn(u32) -> bool,
    ) {
        if !self.here(t) {
            self.pending.push((t, idx, again));
            return;
        }
        if !self.changed.contains_key(&t) {
            let l = match self.held.remove(&t) {
                Some(l) => l,
                None => self.packed_list(t).map(<[u32]>::to_vec).unwrap_or_default(),
            };
            self.changed.insert(t, l);
        }
        let p = self.changed.get_mut(&t).expect("just inserted");
        p.retain(|&i| live(i) && !(again && i == idx));
        p.push(idx);
        if p.len() > cap {
            p.drain(0..cap / 4);
        }
    }

    /// Of `terms`, those whose stored lists are to be read (not held,
    /// not asked, not new), each once.
    pub(super) fn to_ask(&self, terms: impl IntoIterator<Item = u32>) -> Vec<u32> {
        crate::vector::not_asked(terms, self.asked.as_ref(), |t| {
            *t >= self.fresh_from || self.changed.contains_key(t)
        })
    }

    /// The terms of pushes waiting for their lists, each once.
    pub(super) fn pending_terms(&self) -> Vec<u32> {
        self.to_ask(self.pending.iter().map(|p| p.0))
    }

    /// Put in the stored lists found for the terms `asked`, and apply the
    /// pushes that waited for them, in order.
    pub(super) fn put_rows(
        &mut self,
        asked: Vec<u32>,
        rows: Vec<PostingRow>,
        cap: usize,
        live: impl Fn(u32) -> bool,
    ) {
        let Some(set) = self.asked.as_mut() else {
            return;
        };
        set.extend(asked);
        for (t, l) in rows {
            if !self.changed.contains_key(&t) {
                self.held.insert(t, l);
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for (t, idx, again) in pending {
            self.push(t, idx, cap, again, &live);
        }
    }

    /// Hold every stored list (a state read whole from its parts).
    pub(super) fn put_all(&mut self, rows: Vec<PostingRow>) {
        for (t, l) in rows {
            if !self.changed.contains_key(&t) {
                self.held.insert(t, l);
            }
        }
        self.asked = None;
    }

    /// The rows to save: every list while they are still saved in the
    /// core (`true`: the stored rows are replaced), else the lists changed
    /// since the last save; from now on the lists are saved in rows.
    /// Pushes still waiting for their lists are a bug and panic.
    pub(super) fn take_rows(&mut self) -> (Vec<PostingRow>, bool) {
        assert!(
            self.pending.is_empty(),
            "saga inverted index: {} pushes wait for lists not read (SagaEngine::pending_posting_terms)",
            self.pending.len()
        );
        let whole = !self.in_rows;
        let mut rows: Vec<PostingRow> = if whole {
            self.lists()
                .into_iter()
                .map(|(t, l)| (t, l.to_vec()))
                .collect()
        } else {
            let changed = std::mem::take(&mut self.changed);
            let rows: Vec<PostingRow> = changed.iter().map(|(t, l)| (*t, l.clone())).collect();
            self.held
                .extend(changed.into_iter().filter(|(_, l)| !l.is_empty()));
            rows
        };
        rows.sort_unstable_by_key(|r| r.0);
        self.in_rows = true;
        (rows, whole)
    }

    /// Every list, in term order.
    fn lists(&self) -> Vec<(u32, &[u32])> {
        let mut terms: Vec<u32> = self.at.iter().map(|e| e.0).collect();
        terms.extend(self.held.keys().chain(self.changed.keys()));
        terms.sort_unstable();
        terms.dedup();
        terms
            .into_iter()
            .filter_map(|t| Some((t, self.get(&t)?)))
            .collect()
    }

    /// Reads the saved form: every list's bounds checked once, no list
    /// copied.
    fn from_packed(packed: Vec<u32>) -> Result<Self, String> {
        let mut at = Vec::new();
        let mut k = 0usize;
        while k < packed.len() {
            let (t, n) = match packed.get(k..k + 2) {
                Some(&[t, n]) => (t, n as usize),
                _ => return Err("the packed inverted index is cut short".into()),
            };
            if packed.len() < k + 2 + n || at.last().is_some_and(|&(p, _)| p >= t) {
                return Err("the packed inverted index is cut short or out of order".into());
            }
            at.push((t, (k + 1) as u32));
            k += 2 + n;
        }
        Ok(Postings {
            packed,
            at,
            ..Default::default()
        })
    }
}

impl serde::Serialize for Postings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = Vec::with_capacity(self.packed.len() * 4 + self.changed.len() * 16);
        for (t, list) in self.lists() {
            out.extend(t.to_le_bytes());
            out.extend((list.len() as u32).to_le_bytes());
            for i in list {
                out.extend(i.to_le_bytes());
            }
        }
        s.serialize_str(&b64().encode(out))
    }
}

impl<'de> Deserialize<'de> for Postings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Form::<Vec<u32>>::deserialize(d)? {
            Form::Map(m) => Ok(Postings {
                changed: Form::entries::<u32, D::Error>(m)?
                    .filter(|(_, l)| !l.is_empty())
                    .collect(),
                ..Default::default()
            }),
            Form::Packed(s) => {
                let words = unpack::<4, D::Error>(&s, "u32s")?
                    .into_iter()
                    .map(u32::from_le_bytes)
                    .collect();
                Postings::from_packed(words).map_err(serde::de::Error::custom)
            }
        }
    }
}

/// A fixed-width little-endian number of a packed pair.
pub(super) trait Le: Copy {
    const N: usize;
    fn put(self, out: &mut Vec<u8>);
    /// From exactly `N` bytes.
    fn get(b: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const N: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend(self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().expect("N bytes"))
            }
        }
    )*};
}
le!(u32, u64, i64);

/// Pairs as base64 of their little-endian bytes, one pair after another.
pub(super) fn encode_pairs<K: Le, V: Le>(pairs: impl Iterator<Item = (K, V)>) -> String {
    let mut out = Vec::new();
    for (k, v) in pairs {
        k.put(&mut out);
        v.put(&mut out);
    }
    b64().encode(out)
}

/// The pairs of [`encode_pairs`]; bytes that are not whole pairs are an
/// error.
pub(super) fn decode_pairs<K: Le, V: Le, E: serde::de::Error>(
    s: &str,
    what: &str,
) -> Result<Vec<(K, V)>, E> {
    let w = K::N + V::N;
    Ok(crate::vector::packed_bytes::<E>(s, w, what)?
        .chunks_exact(w)
        .map(|c| (K::get(&c[..K::N]), V::get(&c[K::N..])))
        .collect())
}

/// Saga index → a number (a due second, a saga index), as packed pairs;
/// the JSON map written before still reads.
pub(super) mod pairs {
    use super::*;

    pub(in crate::engine) fn serialize<V: Le, S: Serializer>(
        m: &BTreeMap<u32, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode_pairs(m.iter().map(|(k, v)| (*k, *v))))
    }

    pub(in crate::engine) fn deserialize<'de, V, D>(d: D) -> Result<BTreeMap<u32, V>, D::Error>
    where
        V: Le + Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(match Form::<V>::deserialize(d)? {
            Form::Map(m) => Form::entries::<u32, D::Error>(m)?.collect(),
            Form::Packed(s) => decode_pairs::<u32, V, D::Error>(&s, "index pairs")?
                .into_iter()
                .collect(),
        })
    }
}

/// A set of slot indices as a bitmap (`u64` words).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    pub(super) fn get(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(super) fn set(&mut self, i: u32, on: bool) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if w >= self.0.len() {
            if !on {
                return;
            }
            self.0.resize(w + 1, 0);
        }
        if on {
            self.0[w] |= 1 << b;
        } else {
            self.0[w] &= !(1 << b);
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            (0..64u32)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w as u32 * 64 + b)
        })
    }
}

impl FromIterator<u32> for Bits {
    fn from_iter<I: IntoIterator<Item = u32>>(it: I) -> Self {
        let mut b = Bits::default();
        for i in it {
            b.set(i, true);
        }
        b
    }
}

impl serde::Serialize for Bits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let out: Vec<u8> = self.0.iter().flat_map(|w| w.to_le_bytes()).collect();
        s.serialize_str(&b64().encode(out))
    }
}

impl<'de> Deserialize<'de> for Bits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Bits(
            unpack::<8, D::Error>(&s, "bitmap words")?
                .into_iter()
                .map(u64::from_le_bytes)
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl PartialEq for Postings {
        fn eq(&self, o: &Self) -> bool {
            self.lists() == o.lists()
        }
    }

    #[derive(serde::Serialize, Deserialize, PartialEq, Debug, Default)]
    struct Core {
        p: Postings,
        #[serde(with = "pairs")]
        d: BTreeMap<u32, i64>,
        #[serde(with = "pairs")]
        m: BTreeMap<u32, u32>,
        b: Bits,
    }

    #[test]
    fn the_core_indexes_pack_and_read_back_as_did_their_maps() {
        let mut c = Core::default();
        for (t, l) in [(7, &[3, 1, 2][..]), (u32::MAX, &[9])] {
            for &i in l {
                c.p.push(t, i, 256, false, |_| true);
            }
        }
        c.d.insert(4, -1_700_000_000);
        c.d.insert(0, i64::MAX);
        c.m.insert(5, 4);
        c.b = [0, 63, 64, 200].into_iter().collect();
        let json = serde_json::to_string(&c).unwrap();
        let back: Core = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        // Read back, lists change as a map of vectors would.
        let mut p = back.p.clone();
        assert_eq!(p.get(&7), Some(&[3, 1, 2][..]));
        assert_eq!(p.get(&8), None);
        for i in 10..14 {
            p.push(7, i, 4, false, |_| true);
        }
        assert_eq!(p.get(&7), Some(&[10, 11, 12, 13][..]), "the oldest go");
        // An archived saga leaves a list when the list next changes, before
        // the cap counts it.
        p.push(7, 14, 4, false, |i| i != 12);
        assert_eq!(p.get(&7), Some(&[10, 11, 13, 14][..]));
        // A restored saga's earlier entry goes with its push.
        p.push(7, 11, 8, true, |_| true);
        assert_eq!(p.get(&7), Some(&[10, 13, 14, 11][..]));
        p.push(1, 5, 4, false, |_| true);
        let again: Postings = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(
            again.lists(),
            vec![
                (1, &[5u32][..]),
                (7, &[10, 13, 14, 11][..]),
                (u32::MAX, &[9][..])
            ]
        );
        assert_eq!(back.b.iter().collect::<Vec<_>>(), [0, 63, 64, 200]);
        let mut b = back.b.clone();
        b.set(63, false);
        b.set(9_999, false);
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 64, 200]);
        // The maps written before still read.
        let old = serde_json::json!({
            "p": {"7": [3, 1, 2], "2": [], "4294967295": [9]},
            "d": {"4": -1_700_000_000i64, "0": i64::MAX},
            "m": {"5": 4},
            "b": serde_json::to_value(&c.b).unwrap(),
        });
        assert_eq!(serde_json::from_value::<Core>(old.clone()).unwrap(), c);
        assert_eq!(serde_json::from_str::<Core>(&old.to_string()).unwrap(), c);
        // A list cut short is an error, not a panic.
        let mut cut = serde_json::to_value(&c).unwrap();
        let words: Vec<u8> = [7u32, 3, 1].iter().flat_map(|w| w.to_le_bytes()).collect();
        cut["p"] = b64().encode(words).into();
        let err = serde_json::from_value::<Core>(cut).unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
    }

    #[test]
    fn lists_in_rows_are_read_when_asked_and_written_when_changed() {
        // Saved whole first: every list is a row, the stored ones replaced.
        let mut whole = Postings::default();
        whole.push(3, 1, 8, false, |_| true);
        whole.push(5, 2, 8, false, |_| true);
        let (rows, replace) = whole.take_rows();
        assert!(replace);
        assert_eq!(rows, vec![(3, vec![1]), (5, vec![2])]);
        // A core read later: ids from 10 on are new this run.
        let mut p = Postings::rows_only(10);
        assert_eq!(p.to_ask([5, 3, 5, 12]), [3, 5], "new ids have no row");
        assert!(std::panic::catch_unwind(|| p.get(&3)).is_err(), "not read");
        // Pushes to lists not read wait for them, in order.
        p.push(3, 7, 8, false, |_| true);
        p.push(3, 8, 8, false, |_| true);
        p.push(12, 7, 8, false, |_| true);
        assert_eq!(p.get(&12), Some(&[7u32][..]));
        assert_eq!(p.pending_terms(), [3]);
        // Saga 1 was archived since: it leaves the list as it changes.
        p.put_rows(vec![3, 5], vec![(3, vec![1]), (5, vec![2])], 8, |i| i != 1);
        assert!(p.pending_terms().is_empty());
        assert_eq!(p.get(&3), Some(&[7u32, 8][..]));
        assert_eq!(p.get(&5), Some(&[2u32][..]), "read, unchanged");
        let (rows, replace) = p.take_rows();
        assert!(!replace);
        assert_eq!(
            rows,
            vec![(3, vec![7, 8]), (12, vec![7])],
            "only what changed"
        );
        assert_eq!(p.get(&3), Some(&[7u32, 8][..]), "still held after a save");
        assert!(p.take_rows().0.is_empty());
        // A save with pushes still waiting is a bug.
        p.push(4, 1, 8, false, |_| true);
        assert!(std::panic::catch_unwind(move || p.take_rows()).is_err());
    }
}
