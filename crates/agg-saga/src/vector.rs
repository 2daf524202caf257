//! Sparse vectors and the online vocabulary with document frequencies.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A small, fast, non-cryptographic hasher for `u32` term and saga ids (the
/// hot path looks up centroid weights and postings by id; SipHash's DoS
/// resistance buys nothing for ids the engine assigns itself).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A hash map keyed by engine-assigned ids.
pub type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A sparse vector: `(term id, weight)` pairs sorted by term id, L2-normalised
/// when built by [`Vocabulary::vectorise`].
pub type SparseVec = Vec<(u32, f32)>;

/// Dot product of two sorted sparse vectors (a merge walk).
pub fn dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0.0f32);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}

/// Dot product of two dense vectors of equal length, with eight independent
/// accumulators so the compiler can vectorise it (a plain iterator sum must
/// keep the sequential float order and cannot). 0 when the lengths differ.
pub fn dense_dot(a: &[f32], b: &[f32]) -> f32 {
    dot_as_f32(a, b, |y| y)
}

/// The one dense dot product: `b`'s values widened to `f32` by `wide`.
fn dot_as_f32<T: Copy>(a: &[f32], b: &[T], wide: impl Fn(T) -> f32) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * wide(y[k]);
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, &y)| x * wide(y)).sum();
    acc.iter().sum::<f32>() + tail
}

/// A unit-length copy of a dense vector; `None` for the zero vector or
/// non-finite values (such an embedding is ignored rather than trusted).
pub fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let n = dense_dot(v, v).sqrt();
    (n.is_finite() && n > 0.0).then(|| v.iter().map(|x| x / n).collect())
}

/// Term ids and document frequencies learned online, one document per item.
///
/// IDF is computed from the counts seen so far, so early items get flatter
/// weights; that is the price of never looking ahead, and it fades quickly.
///
/// Saved as its terms in id order and the packed counts (see
/// [`VocabForm`]): a year of items is ~630,000 terms, and read back as a
/// JSON map of term to id it was two thirds of the time a daily run spent
/// reading the engine's core (issue 23).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "VocabForm")]
pub struct Vocabulary {
    ids: Terms,
    df: Vec<u32>,
    /// First byte of each term's key: its kind prefix (`w`, `b`, `e`).
    kinds: Vec<u8>,
    docs: u64,
}

/// The terms of a [`Vocabulary`], by id, found by name without a hash map
/// of owned strings: every term's bytes in one buffer, in id order, and the
/// ids sorted by term for a binary search. A year's 630,000 terms read
/// back as a map took ~165 ms of every run (building the map, not reading
/// the JSON); as two packed blobs they are copied in, not rebuilt. Terms
/// added since the last save are also kept in a small map until the next.
#[derive(Debug, Clone, Default)]
struct Terms {
    buf: String,
    /// Where each term starts in `buf`, and where the last ends.
    starts: Vec<u32>,
    /// Ids of the terms saved, sorted by term.
    sorted: Vec<u32>,
    /// Terms added since, by name.
    fresh: HashMap<String, u32>,
}

impl Terms {
    fn from_id_order(terms: impl IntoIterator<Item = String>) -> Terms {
        let mut t = Terms {
            starts: vec![0],
            ..Terms::default()
        };
        for term in terms {
            t.buf.push_str(&term);
            t.starts.push(t.buf.len() as u32);
        }
        let mut sorted: Vec<u32> = (0..t.len() as u32).collect();
        sorted.sort_by(|&a, &b| t.name(a).cmp(&t.name(b)));
        t.sorted = sorted;
        t
    }

    fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    fn name(&self, id: u32) -> Option<&str> {
        let i = id as usize;
        let (a, b) = (*self.starts.get(i)?, *self.starts.get(i + 1)?);
        self.buf.get(a as usize..b as usize)
    }

    fn get(&self, key: &str) -> Option<u32> {
        if let Some(&id) = self.fresh.get(key) {
            return Some(id);
        }
        self.sorted
            .binary_search_by(|&id| self.name(id).unwrap_or("").cmp(key))
            .ok()
            .map(|p| self.sorted[p])
    }

    /// Adds a term not known yet; returns its id (the next one).
    fn push(&mut self, key: &str) -> u32 {
        let id = self.len() as u32;
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.buf.push_str(key);
        self.starts.push(self.buf.len() as u32);
        self.fresh.insert(key.to_string(), id);
        id
    }

    /// Every id sorted by term, the fresh ones merged in.
    fn order(&self) -> Vec<u32> {
        let mut fresh: Vec<u32> = self.fresh.values().copied().collect();
        fresh.sort_by(|&a, &b| self.name(a).cmp(&self.name(b)));
        let mut out = Vec::with_capacity(self.sorted.len() + fresh.len());
        let (mut i, mut j) = (0, 0);
        while i < self.sorted.len() || j < fresh.len() {
            let take_old = j >= fresh.len()
                || (i < self.sorted.len() && self.name(self.sorted[i]) <= self.name(fresh[j]));
            if take_old {
                out.push(self.sorted[i]);
                i += 1;
            } else {
                out.push(fresh[j]);
                j += 1;
            }
        }
        out
    }
}

/// The saved forms of a [`Vocabulary`]: `buf` (every term's UTF-8, in id
/// order), `starts` (where each begins, and the end) and `order` (the ids
/// sorted by term), each base64, little-endian `u32`s for the last two,
/// written since stop 30; `terms` (every term, in id order) as a JSON
/// array, written before; and `df` (base64 of little-endian `u32`s); or
/// `ids` (a map of term to id) and `df` as numbers, as earlier versions
/// wrote it. A term's kind is its first byte, so `kinds` is derived.
#[derive(Deserialize)]
struct VocabForm {
    /// Every term's bytes, in id order (base64), with `starts` and
    /// `order`: the form written since stop 30.
    #[serde(default)]
    buf: Option<String>,
    #[serde(default)]
    starts: Option<String>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    terms: Option<Vec<String>>,
    #[serde(default)]
    ids: Option<HashMap<String, u32>>,
    df: Counts,
    docs: u64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Counts {
    Packed(String),
    Numbers(Vec<u32>),
}

impl TryFrom<VocabForm> for Vocabulary {
    type Error = String;
    fn try_from(f: VocabForm) -> Result<Self, String> {
        let df = match f.df {
            Counts::Numbers(v) => v,
            Counts::Packed(s) => unpack::<4, serde::de::value::Error>(&s, "counts")
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(u32::from_le_bytes)
                .collect(),
        };
        let ids = match (f.buf, f.starts, f.order, f.terms, f.ids) {
            (Some(buf), Some(starts), Some(order), _, _) => packed_terms(&buf, &starts, &order)?,
            (_, _, _, Some(terms), _) => Terms::from_id_order(terms),
            (_, _, _, None, Some(ids)) => {
                let mut by_id: Vec<Option<String>> = vec![None; ids.len()];
                for (t, i) in ids {
                    match by_id.get_mut(i as usize) {
                        Some(slot) => *slot = Some(t),
                        None => {
                            return Err(format!("term id {i} has no count ({} counts)", df.len()));
                        }
                    }
                }
                Terms::from_id_order(by_id.into_iter().map(Option::unwrap_or_default))
            }
            _ => return Err("a vocabulary has neither terms nor ids".into()),
        };
        if ids.len() > df.len() {
            return Err(format!(
                "term id {} has no count ({} counts)",
                df.len(),
                df.len()
            ));
        }
        if ids.len() != df.len() {
            return Err(format!("{} terms but {} counts", ids.len(), df.len()));
        }
        let kinds = (0..ids.len() as u32)
            .map(|i| {
                ids.name(i)
                    .and_then(|t| t.as_bytes().first().copied())
                    .unwrap_or(b'?')
            })
            .collect();
        Ok(Vocabulary {
            ids,
            df,
            kinds,
            docs: f.docs,
        })
    }
}

/// The terms of the `buf`/`starts`/`order` form, checked: a damaged one
/// is an error naming what is wrong, not a panic later.
fn packed_terms(buf: &str, starts: &str, order: &str) -> Result<Terms, String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let buf = String::from_utf8(b64.decode(buf).map_err(|e| format!("terms: {e}"))?)
        .map_err(|_| "terms are not UTF-8".to_string())?;
    let u32s = |what: &str| -> Result<Vec<u32>, String> {
        unpack::<4, serde::de::value::Error>(what, "u32s")
            .map(|v| v.into_iter().map(u32::from_le_bytes).collect())
            .map_err(|e| e.to_string())
    };
    let (starts, sorted) = (u32s(starts)?, u32s(order)?);
    let n = starts.len().saturating_sub(1);
    let ends_ok = starts.first() == Some(&0) && starts.last() == Some(&(buf.len() as u32));
    let t = Terms {
        buf,
        starts,
        sorted,
        fresh: HashMap::new(),
    };
    let bounds_ok = (0..n as u32).all(|i| t.name(i).is_some());
    let order_ok = t.sorted.len() == n
        && t.sorted.iter().all(|&i| (i as usize) < n)
        && t.sorted.windows(2).all(|w| t.name(w[0]) < t.name(w[1]));
    if !(ends_ok && bounds_ok && order_ok) {
        return Err("the saved terms are damaged (bounds or order)".into());
    }
    Ok(t)
}

impl Serialize for Vocabulary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        use serde::ser::SerializeStruct as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let u32s = |v: &[u32]| -> String {
            b64.encode(v.iter().flat_map(|c| c.to_le_bytes()).collect::<Vec<u8>>())
        };
        let starts: &[u32] = if self.ids.starts.is_empty() {
            &[0]
        } else {
            &self.ids.starts
        };
        let mut st = s.serialize_struct("Vocabulary", 5)?;
        st.serialize_field("buf", &b64.encode(self.ids.buf.as_bytes()))?;
        st.serialize_field("starts", &u32s(starts))?;
        st.serialize_field("order", &u32s(&self.ids.order()))?;
        st.serialize_field("df", &u32s(&self.df))?;
        st.serialize_field("docs", &self.docs)?;
        st.end()
    }
}

impl Vocabulary {
    /// Number of documents seen.
    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Number of distinct terms.
    pub fn len(&self) -> usize {
        self.df.len()
    }

    /// Whether no term has been seen.
    pub fn is_empty(&self) -> bool {
        self.df.is_empty()
    }

    /// Smoothed inverse document frequency of a term id.
    pub fn idf(&self, id: u32) -> f32 {
        let df = self.df.get(id as usize).copied().unwrap_or(0) as f32;
        (((self.docs as f32) + 1.0) / (df + 1.0)).ln() + 1.0
    }

    /// Names of the given term ids, in the given order (unknown ids skipped).
    pub fn names(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .filter_map(|&i| self.ids.name(i).map(str::to_string))
            .collect()
    }

    /// Whether a term id is a single word (key prefix `w:`).
    pub fn is_word(&self, id: u32) -> bool {
        self.kinds.get(id as usize) == Some(&b'w')
    }

    /// Document frequency of a term by key (0 when unknown).
    pub fn df_of(&self, key: &str) -> u32 {
        self.ids.get(key).map_or(0, |id| self.df(id))
    }

    /// Document frequency of a term id.
    pub fn df(&self, id: u32) -> u32 {
        self.df.get(id as usize).copied().unwrap_or(0)
    }

    /// Register one document made of weighted terms (`key`, kind weight) and
    /// return its L2-normalised TF-IDF vector. Each distinct key counts once
    /// towards its document frequency; repeated keys raise term frequency
    /// sub-linearly (1 + ln tf).
    pub fn vectorise(&mut self, terms: &[(String, f32)]) -> SparseVec {
        let mut counts: HashMap<u32, (u32, f32)> = HashMap::new();
        for (key, w) in terms {
            let id = match self.ids.get(key) {
                Some(id) => id,
                None => {
                    let id = self.ids.push(key);
                    debug_assert_eq!(id as usize, self.df.len());
                    self.df.push(0);
                    self.kinds
                        .push(key.as_bytes().first().copied().unwrap_or(b'?'));
                    id
                }
            };
            let e = counts.entry(id).or_insert((0, *w));
            e.0 += 1;
        }
        self.docs += 1;
        for id in counts.keys() {
            self.df[*id as usize] += 1;
        }
        tf_idf(counts, |id| self.idf(id))
    }

    /// A view of this vocabulary that documents can be registered in
    /// without changing it ([`VocabOverlay`]).
    pub fn overlay(&self) -> VocabOverlay<'_> {
        VocabOverlay {
            base: self,
            new_ids: HashMap::new(),
            df: HashMap::new(),
            docs: 0,
        }
    }
}

/// The L2-normalised TF-IDF vector of term counts `(tf, kind weight)` by id.
fn tf_idf(counts: HashMap<u32, (u32, f32)>, idf: impl Fn(u32) -> f32) -> SparseVec {
    let mut v: SparseVec = counts
        .into_iter()
        .map(|(id, (tf, w))| (id, w * (1.0 + (tf as f32).ln()) * idf(id)))
        .collect();
    v.sort_unstable_by_key(|x| x.0);
    normalise(&mut v);
    v
}

/// A [`Vocabulary`] with documents registered on top of it, the vocabulary
/// itself unchanged: [`VocabOverlay::vectorise`] returns exactly what
/// [`Vocabulary::vectorise`] would have for the same documents in the same
/// order (new terms get the ids the vocabulary would give them). The saga
/// step looks ahead with it to know which sagas a batch can reach before
/// it loads them (`SagaEngine::needs`).
pub struct VocabOverlay<'a> {
    base: &'a Vocabulary,
    new_ids: HashMap<String, u32>,
    /// Counts added to document frequencies, by id.
    df: HashMap<u32, u32>,
    docs: u64,
}

impl VocabOverlay<'_> {
    fn id(&self, key: &str) -> Option<u32> {
        self.base
            .ids
            .get(key)
            .or_else(|| self.new_ids.get(key).copied())
    }

    fn df(&self, id: u32) -> u32 {
        self.base.df(id) + self.df.get(&id).copied().unwrap_or(0)
    }

    /// Document frequency of a term by key, as the vocabulary would have it.
    pub fn df_of(&self, key: &str) -> u32 {
        self.id(key).map_or(0, |id| self.df(id))
    }

    /// [`Vocabulary::vectorise`], registered in the overlay.
    pub fn vectorise(&mut self, terms: &[(String, f32)]) -> SparseVec {
        let mut counts: HashMap<u32, (u32, f32)> = HashMap::new();
        for (key, w) in terms {
            let id = match self.id(key) {
                Some(id) => id,
                None => {
                    let id = (self.base.df.len() + self.new_ids.len()) as u32;
                    self.new_ids.insert(key.clone(), id);
                    id
                }
            };
            counts.entry(id).or_insert((0, *w)).0 += 1;
        }
        self.docs += 1;
        for id in counts.keys() {
            *self.df.entry(*id).or_insert(0) += 1;
        }
        let docs = self.base.docs + self.docs;
        tf_idf(counts, |id| {
            (((docs as f32) + 1.0) / (self.df(id) as f32 + 1.0)).ln() + 1.0
        })
    }
}

impl Vocabulary {
    /// The vector a document would get, without registering it (for
    /// explanations): unknown terms count as seen once.
    pub fn peek(&self, terms: &[(String, f32)]) -> SparseVec {
        let mut counts: HashMap<u32, (u32, f32)> = HashMap::new();
        let mut unknown = 0.0f32;
        for (key, w) in terms {
            match self.ids.get(key) {
                Some(id) => counts.entry(id).or_insert((0, *w)).0 += 1,
                None => {
                    let idf = ((self.docs as f32 + 2.0) / 2.0).ln() + 1.0;
                    unknown += (w * idf) * (w * idf);
                }
            }
        }
        let docs = self.docs as f32 + 1.0;
        let mut v: SparseVec = counts
            .into_iter()
            .map(|(id, (tf, w))| {
                let df = self.df(id) as f32 + 1.0;
                let idf = ((docs + 1.0) / (df + 1.0)).ln() + 1.0;
                (id, w * (1.0 + (tf as f32).ln()) * idf)
            })
            .collect();
        v.sort_unstable_by_key(|x| x.0);
        let n = (v.iter().map(|x| x.1 * x.1).sum::<f32>() + unknown).sqrt();
        if n > 0.0 {
            for x in v.iter_mut() {
                x.1 /= n;
            }
        }
        v
    }
}

/// Scale a sparse vector to unit length (no-op for the zero vector).
pub fn normalise(v: &mut SparseVec) {
    let n: f32 = v.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt();
    if n > 0.0 {
        for x in v.iter_mut() {
            x.1 /= n;
        }
    }
}

/// The base64 `s` as little-endian records of `N` bytes, for the packed
/// forms below; an error names `what` when the bytes are not whole records.
pub(crate) fn unpack<const N: usize, E: serde::de::Error>(
    s: &str,
    what: &str,
) -> Result<Vec<[u8; N]>, E> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(E::custom)?;
    if bytes.len() % N != 0 {
        return Err(E::custom(format!(
            "{} packed bytes are not whole {what}",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact gives N bytes"))
        .collect())
}

/// A sentence vector as the engine keeps it: IEEE half precision, half the
/// bytes in memory and in the saved state (see [`packed_half`]). The
/// engine rounds a vector when it keeps it, so a reloaded engine compares
/// against the very values the running one did.
pub fn to_half(v: &[f32]) -> Vec<half::f16> {
    v.iter().map(|&x| half::f16::from_f32(x)).collect()
}

/// [`dense_dot`] of a full-precision vector with a kept (half-precision)
/// one, accumulated in `f32`. 0 when the lengths differ.
pub fn dense_dot_half(a: &[f32], b: &[half::f16]) -> f32 {
    dot_as_f32(a, b, half::f16::to_f32)
}

/// Serde for the sentence vectors the engine's state keeps
/// (`Option<Vec<f16>>`): written as `h:` and the base64 of the little-endian
/// half-precision values; read from that, from the base64 of `f32`s an
/// earlier version wrote, or from the JSON array of numbers older states
/// hold (both rounded to half precision on load).
///
/// Why: those vectors are most of a saved state (on the history benchmark
/// at 2,740 items a day, 160 of 163 MB), which every run with new items
/// reads and writes whole, and most of the engine's memory. Decimal text was
/// ~11 bytes per float, base64 of `f32` 2.7, of `f16` 1.3. Half precision
/// moves a unit vector's cosines by about 1e-4, far below any threshold
/// the engine uses; the dev streams' figures are measured with it (the
/// engine rounds on entry, so evaluation sees what a saved store sees).
pub(crate) mod packed_half {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use half::f16;
    use serde::{Deserialize, Deserializer, Serializer};

    const HALF: &str = "h:";

    pub(crate) fn serialize<S: Serializer>(v: &Option<Vec<f16>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(v) => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                s.serialize_some(&format!("{HALF}{}", STANDARD.encode(bytes)))
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Packed(String),
        Numbers(Vec<f32>),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<f16>>, D::Error> {
        match Option::<Stored>::deserialize(d)? {
            None => Ok(None),
            Some(Stored::Numbers(v)) => Ok(Some(super::to_half(&v))),
            Some(Stored::Packed(s)) => Ok(Some(match s.strip_prefix(HALF) {
                Some(h) => super::unpack::<2, D::Error>(h, "halves")?
                    .into_iter()
                    .map(f16::from_le_bytes)
                    .collect(),
                None => super::unpack::<4, D::Error>(&s, "f32s")?
                    .into_iter()
                    .map(|b| f16::from_f32(f32::from_le_bytes(b)))
                    .collect(),
            })),
        }
    }
}

/// Serde for sparse vectors ([`SparseVec`], and a saga's centroid as an
/// [`IdMap`]) in the engine's state: base64 of `(u32 id, f32 weight)` pairs,
/// little-endian, sorted by id; read from that or from the JSON arrays of
/// pairs (and the centroid's JSON object) older states hold. The term
/// vectors and centroids were a third of a real state document, at ~16
/// bytes of text per pair against 10.7 packed; the bits are kept exactly.
pub(crate) mod packed_pairs {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{IdMap, SparseVec};

    fn encode(pairs: impl Iterator<Item = (u32, f32)>) -> String {
        let bytes: Vec<u8> = pairs
            .flat_map(|(id, w)| {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&id.to_le_bytes());
                b[4..].copy_from_slice(&w.to_le_bytes());
                b
            })
            .collect();
        STANDARD.encode(bytes)
    }

    fn decode<E: serde::de::Error>(s: &str) -> Result<SparseVec, E> {
        Ok(super::unpack::<8, E>(s, "(u32, f32) pairs")?
            .into_iter()
            .map(|b| {
                let [i0, i1, i2, i3, w0, w1, w2, w3] = b;
                (
                    u32::from_le_bytes([i0, i1, i2, i3]),
                    f32::from_le_bytes([w0, w1, w2, w3]),
                )
            })
            .collect())
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Packed(String),
        Pairs(Vec<(u32, f32)>),
        /// A centroid before packing: `{"<id>": weight}`.
        Object(std::collections::HashMap<String, f32>),
    }

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<SparseVec, D::Error> {
        match Stored::deserialize(d)? {
            Stored::Packed(s) => decode(&s),
            Stored::Pairs(v) => Ok(v),
            Stored::Object(m) => m
                .into_iter()
                .map(|(k, w)| {
                    k.parse::<u32>()
                        .map(|id| (id, w))
                        .map_err(|_| D::Error::custom(format!("`{k}` is not a term id")))
                })
                .collect(),
        }
    }

    /// For a [`SparseVec`] field.
    pub(crate) mod vec {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &SparseVec, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&encode(v.iter().copied()))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SparseVec, D::Error> {
            read(d)
        }
    }

    /// For a centroid, an [`IdMap`] of weights: written sorted by id, so
    /// that the same centroid always saves the same bytes.
    pub(crate) mod map {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(m: &IdMap<f32>, s: S) -> Result<S::Ok, S::Error> {
            let mut pairs: SparseVec = m.iter().map(|(k, w)| (*k, *w)).collect();
            pairs.sort_unstable_by_key(|p| p.0);
            s.serialize_str(&encode(pairs.into_iter()))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IdMap<f32>, D::Error> {
            Ok(read(d)?.into_iter().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_registers_documents_as_the_vocabulary_would() {
        let doc = |ws: &[&str]| -> Vec<(String, f32)> {
            ws.iter().map(|w| (format!("w:{w}"), 1.0)).collect()
        };
        let docs = [
            doc(&["harbour", "strike", "talks"]),
            doc(&["strike", "ends", "strike"]),
            doc(&["new", "harbour", "pilots"]),
        ];
        let mut base = Vocabulary::default();
        base.vectorise(&doc(&["harbour", "council"]));
        let before = serde_json::to_string(&base).unwrap();
        let mut ov = base.overlay();
        let seen: Vec<SparseVec> = docs.iter().map(|d| ov.vectorise(d)).collect();
        assert_eq!(ov.df_of("w:strike"), 2);
        assert_eq!(ov.df_of("w:harbour"), 3);
        assert_eq!(ov.df_of("w:none"), 0);
        drop(ov);
        assert_eq!(serde_json::to_string(&base).unwrap(), before, "unchanged");
        let mut real = base.clone();
        let want: Vec<SparseVec> = docs.iter().map(|d| real.vectorise(d)).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn half_precision_moves_a_cosine_by_far_less_than_any_threshold() {
        // Two unit vectors of the model's size, not aligned to any axis.
        let a: Vec<f32> = (0..384).map(|i| ((i * 7919) % 97) as f32 - 48.0).collect();
        let b: Vec<f32> = (0..384)
            .map(|i| ((i * 104_729) % 89) as f32 - 44.0)
            .collect();
        let (a, b) = (unit(&a).unwrap(), unit(&b).unwrap());
        let exact = dense_dot(&a, &b);
        let kept = dense_dot_half(&a, &to_half(&b));
        assert!((exact - kept).abs() < 1e-3, "{exact} vs {kept}");
        assert!((dense_dot_half(&a, &to_half(&a)) - 1.0).abs() < 1e-3);
        assert_eq!(dense_dot_half(&a, &to_half(&b[..383])), 0.0);
    }

    fn terms(words: &[&str]) -> Vec<(String, f32)> {
        words.iter().map(|w| (w.to_string(), 1.0)).collect()
    }

    #[test]
    fn a_vocabulary_saves_its_terms_in_id_order_and_reads_the_older_map() {
        let mut v = Vocabulary::default();
        v.vectorise(&terms(&["w:strike", "e:Harbour Board", "w:port"]));
        v.vectorise(&terms(&["w:strike", "b:strike \"ends\""]));
        let saved = serde_json::to_value(&v).unwrap();
        assert!(saved["buf"].is_string() && saved["order"].is_string());
        assert!(
            saved["df"].is_string() && saved.get("ids").is_none() && saved.get("terms").is_none()
        );
        let in_order = ["w:strike", "e:Harbour Board", "w:port", "b:strike \"ends\""];
        assert_eq!(v.names(&[0, 1, 2, 3]), in_order);
        let back: Vocabulary = serde_json::from_value(saved.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), saved);
        for (term, df) in [
            ("w:strike", 2),
            ("e:Harbour Board", 1),
            ("b:strike \"ends\"", 1),
        ] {
            assert_eq!(back.df_of(term), df, "{term}");
        }
        assert!(back.is_word(0) && !back.is_word(1) && back.is_word(2) && !back.is_word(3));
        assert_eq!(back.docs(), 2);
        // The form earlier versions wrote: a map of term to id, counts and
        // kinds as numbers.
        let old = serde_json::json!({
            "ids": {"w:strike": 0, "e:Harbour Board": 1, "w:port": 2, "b:strike \"ends\"": 3},
            "df": [2, 1, 1, 1], "kinds": [119, 101, 119, 98], "docs": 2
        });
        let read: Vocabulary = serde_json::from_value(old).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), saved);
        assert!(read.is_word(2) && !read.is_word(3));
        // The form written before stop 30: the terms as an array.
        let array = serde_json::json!({
            "terms": in_order, "df": saved["df"].clone(), "docs": 2
        });
        let read: Vocabulary = serde_json::from_value(array).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), saved);
        // Terms added after a load are found, and saved in order with the
        // rest.
        let mut more: Vocabulary = serde_json::from_value(saved.clone()).unwrap();
        more.vectorise(&terms(&["w:apple", "w:zebra", "w:strike"]));
        assert_eq!(more.df_of("w:apple"), 1);
        assert_eq!(more.df_of("w:strike"), 3);
        let again: Vocabulary =
            serde_json::from_value(serde_json::to_value(&more).unwrap()).unwrap();
        for t in ["w:apple", "w:zebra", "w:port", "b:strike \"ends\""] {
            assert_eq!(again.df_of(t), more.df_of(t), "{t}");
        }
        assert_eq!(again.names(&[4, 5]), ["w:apple", "w:zebra"]);
        // A damaged saved form is an error, not a panic later.
        let mut bad = saved.clone();
        bad["order"] = serde_json::json!("AAAAAAAAAAA=");
        let err = serde_json::from_value::<Vocabulary>(bad).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        // Counts that do not match the terms are an error, not a panic later.
        let short = serde_json::json!({"terms": ["w:a", "w:b"], "df": [1], "docs": 1});
        let err = serde_json::from_value::<Vocabulary>(short).unwrap_err();
        assert!(err.to_string().contains("term id 1 has no count"), "{err}");
    }
}
