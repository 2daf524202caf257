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

/// The inverted index: term → saga indices, oldest first. Saved as
/// `u32`s, list after list in term order: term, count, then the indices.
///
/// A run reads a few dozen of its ~38,000 lists (at a year of items), so
/// the saved form is kept as read, with an offset per term for a binary
/// search; a list is copied out only when it changes. Building a vector
/// per list on every load was most of the time the core took to parse.
#[derive(Debug, Clone, Default)]
pub(super) struct Postings {
    /// The lists as read, in the saved form.
    packed: Vec<u32>,
    /// `(term, where its count is in packed)`, in term order.
    at: Vec<(u32, u32)>,
    /// Lists changed since they were read, or new; an empty one is gone.
    changed: IdMap<Vec<u32>>,
}

impl Postings {
    fn packed_list(&self, t: u32) -> Option<&[u32]> {
        let k = self.at.binary_search_by_key(&t, |e| e.0).ok()?;
        let at = self.at[k].1 as usize;
        let n = self.packed[at] as usize;
        Some(&self.packed[at + 1..at + 1 + n])
    }

    /// The sagas listed under term `t`, oldest first.
    pub(super) fn get(&self, t: &u32) -> Option<&[u32]> {
        match self.changed.get(t) {
            Some(l) => (!l.is_empty()).then_some(&l[..]),
            None => self.packed_list(*t),
        }
    }

    /// The list of `t` to change (copied out of the saved form once).
    fn list_mut(&mut self, t: u32) -> &mut Vec<u32> {
        if !self.changed.contains_key(&t) {
            let l = self.packed_list(t).map(<[u32]>::to_vec).unwrap_or_default();
            self.changed.insert(t, l);
        }
        self.changed.get_mut(&t).expect("just inserted")
    }

    /// Lists saga `idx` under `t`; past `cap` entries the oldest quarter
    /// goes.
    pub(super) fn push(&mut self, t: u32, idx: u32, cap: usize) {
        let p = self.list_mut(t);
        p.push(idx);
        if p.len() > cap {
            p.drain(0..cap / 4);
        }
    }

    /// Drops the sagas `gone` from every list (a list left empty goes).
    pub(super) fn remove_sagas(&mut self, gone: &std::collections::BTreeSet<u32>) {
        let hit: Vec<u32> = self
            .at
            .iter()
            .filter(|(t, _)| !self.changed.contains_key(t))
            .filter(|(t, _)| {
                self.packed_list(*t)
                    .is_some_and(|l| l.iter().any(|i| gone.contains(i)))
            })
            .map(|(t, _)| *t)
            .collect();
        for t in hit {
            self.list_mut(t);
        }
        for l in self.changed.values_mut() {
            l.retain(|i| !gone.contains(i));
        }
    }

    /// Every list, in term order.
    fn lists(&self) -> Vec<(u32, &[u32])> {
        let mut terms: Vec<u32> = self.at.iter().map(|e| e.0).collect();
        terms.extend(
            self.changed
                .keys()
                .filter(|t| self.packed_list(**t).is_none()),
        );
        terms.sort_unstable();
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
            changed: IdMap::default(),
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
                c.p.push(t, i, 256);
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
            p.push(7, i, 4);
        }
        assert_eq!(p.get(&7), Some(&[10, 11, 12, 13][..]), "the oldest go");
        p.remove_sagas(&[9, 12].into_iter().collect());
        assert_eq!(p.get(&u32::MAX), None, "left empty: gone");
        assert_eq!(p.get(&7), Some(&[10, 11, 13][..]));
        p.push(1, 5, 4);
        let again: Postings = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(
            again.lists(),
            vec![(1, &[5u32][..]), (7, &[10, 11, 13][..])]
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
}
