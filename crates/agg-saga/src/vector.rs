//! Sparse vectors and the online vocabulary with document frequencies.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

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
/// A year of items is ~630,000 terms. Saved in the engine's core they were
/// most of the ~20 MB that every daily run read and wrote (issue 23), so a
/// state saved in parts keeps them in the store's rows (`term → id, df`),
/// one per term ([`SagaEngine::to_parts`] writes the terms that changed);
/// its core keeps only how many ids were given and how many documents were
/// seen. Such a vocabulary holds only the terms put in from the rows
/// ([`Vocabulary::put_rows`]) and those added since: looking up a term that
/// was neither put in nor asked for is a bug, and panics, as reaching a
/// saga that was not loaded does.
///
/// [`SagaEngine::to_parts`]: crate::SagaEngine::to_parts
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "VocabForm")]
pub struct Vocabulary {
    /// Term → id of the terms held: all of them, or (`asked` is `Some`)
    /// those put in from the rows and those added since.
    ids: HashMap<String, u32>,
    /// By id, for every id given: document frequency.
    df: Vec<u32>,
    /// By id: the first byte of the term's key, its kind (`w`, `b`, `e`);
    /// 0 for a term kept in the rows and not put in.
    kinds: Vec<u8>,
    docs: u64,
    /// `None` while every term is held; otherwise the keys asked of the
    /// rows, found or not (a key asked and not found is a new term).
    asked: Option<HashSet<String>>,
    /// Whether the terms are saved in rows, not in the core.
    in_rows: bool,
    /// Ids added or counted since the last save in rows.
    changed: Vec<u32>,
    /// Serialise as a core saved in parts does (the terms are in rows),
    /// also when every term is held ([`Vocabulary::take_rows`] sets it,
    /// `SagaEngine::to_parts` clears it after writing the core).
    as_core: bool,
}

/// A term as the store keeps it: `(term, id, document frequency)`.
pub type TermRow = (String, u32, u32);

/// The saved forms of a [`Vocabulary`]:
/// - `in_rows` with `next` (ids given) and `docs`: the terms are in the
///   store's rows (a core saved in parts, since stop 31);
/// - `buf` (every term's UTF-8, in id order), `starts` (where each begins,
///   and the end) and `order` (the ids sorted by term), each base64,
///   little-endian `u32`s for the last two (stop 30, and a state saved
///   whole);
/// - `terms` (every term, in id order) as a JSON array, written before;
/// - `ids` (a map of term to id) with `df` as numbers, as earlier versions
///   wrote it.
///
/// `df` is base64 of little-endian `u32`s (or numbers). A term's kind is
/// its first byte, so `kinds` is derived.
#[derive(Deserialize)]
struct VocabForm {
    #[serde(default)]
    in_rows: bool,
    #[serde(default)]
    next: Option<u32>,
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
    #[serde(default)]
    df: Option<Counts>,
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
        if f.in_rows {
            let n = f
                .next
                .ok_or("a vocabulary in rows says not how many ids it gave")?
                as usize;
            return Ok(Vocabulary {
                ids: HashMap::new(),
                df: vec![0; n],
                kinds: vec![0; n],
                docs: f.docs,
                asked: Some(HashSet::new()),
                in_rows: true,
                changed: Vec::new(),
                as_core: false,
            });
        }
        let df = match f.df.ok_or("a vocabulary has no counts")? {
            Counts::Numbers(v) => v,
            Counts::Packed(s) => unpack::<4, serde::de::value::Error>(&s, "counts")
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(u32::from_le_bytes)
                .collect(),
        };
        let ids: HashMap<String, u32> = match (f.buf, f.starts, f.order, f.terms, f.ids) {
            (Some(buf), Some(starts), Some(order), _, _) => packed_terms(&buf, &starts, &order)?,
            (_, _, _, Some(terms), _) => terms.into_iter().zip(0..).collect(),
            (_, _, _, None, Some(ids)) => ids,
            _ => return Err("a vocabulary has neither terms nor ids".into()),
        };
        let mut kinds = vec![0u8; df.len()];
        for (t, &i) in &ids {
            match kinds.get_mut(i as usize) {
                Some(k) => *k = t.as_bytes().first().copied().unwrap_or(b'?'),
                None => return Err(format!("term id {i} has no count ({} counts)", df.len())),
            }
        }
        if ids.len() != df.len() {
            return Err(format!("{} terms but {} counts", ids.len(), df.len()));
        }
        Ok(Vocabulary {
            ids,
            df,
            kinds,
            docs: f.docs,
            asked: None,
            in_rows: false,
            changed: Vec::new(),
            as_core: false,
        })
    }
}

/// The terms of the `buf`/`starts`/`order` form by name, checked: a
/// damaged one is an error naming what is wrong, not a panic later.
fn packed_terms(buf: &str, starts: &str, order: &str) -> Result<HashMap<String, u32>, String> {
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
    let name = |i: u32| -> Option<&str> {
        let i = i as usize;
        buf.get(*starts.get(i)? as usize..*starts.get(i + 1)? as usize)
    };
    let ends_ok = starts.first() == Some(&0) && starts.last() == Some(&(buf.len() as u32));
    let names: Option<Vec<&str>> = (0..n as u32).map(name).collect();
    let order_ok = sorted.len() == n
        && sorted.iter().all(|&i| (i as usize) < n)
        && sorted.windows(2).all(|w| name(w[0]) < name(w[1]));
    match names {
        Some(names) if ends_ok && order_ok => {
            Ok(names.into_iter().map(str::to_string).zip(0..).collect())
        }
        _ => Err("the saved terms are damaged (bounds or order)".into()),
    }
}

impl Serialize for Vocabulary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        use serde::ser::SerializeStruct as _;
        // A vocabulary that does not hold every term cannot write them.
        if self.as_core || self.asked.is_some() {
            let mut st = s.serialize_struct("Vocabulary", 3)?;
            st.serialize_field("in_rows", &true)?;
            st.serialize_field("next", &(self.df.len() as u32))?;
            st.serialize_field("docs", &self.docs)?;
            return st.end();
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let u32s = |v: &[u32]| -> String {
            b64.encode(v.iter().flat_map(|c| c.to_le_bytes()).collect::<Vec<u8>>())
        };
        let mut by_id: Vec<&str> = vec![""; self.df.len()];
        for (t, &i) in &self.ids {
            by_id[i as usize] = t;
        }
        let mut starts = Vec::with_capacity(by_id.len() + 1);
        let mut buf = String::new();
        starts.push(0u32);
        for t in &by_id {
            buf.push_str(t);
            starts.push(buf.len() as u32);
        }
        let mut order: Vec<u32> = (0..by_id.len() as u32).collect();
        order.sort_unstable_by_key(|&i| by_id[i as usize]);
        let mut st = s.serialize_struct("Vocabulary", 5)?;
        st.serialize_field("buf", &b64.encode(buf.as_bytes()))?;
        st.serialize_field("starts", &u32s(&starts))?;
        st.serialize_field("order", &u32s(&order))?;
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

    /// The ids of the terms held (all of them, or those put in from the
    /// rows and added since).
    pub fn held_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ids.values().copied()
    }

    /// Number of distinct terms.
    pub fn len(&self) -> usize {
        self.df.len()
    }

    /// Whether no term has been seen.
    pub fn is_empty(&self) -> bool {
        self.df.is_empty()
    }

    /// The id of a term, `None` for a new one. Panics for a term kept in
    /// the rows that was not asked for (see [`Vocabulary::put_rows`]).
    fn id_of(&self, key: &str) -> Option<u32> {
        if let Some(&id) = self.ids.get(key) {
            return Some(id);
        }
        if let Some(asked) = &self.asked {
            assert!(
                asked.contains(key),
                "saga vocabulary: the term {key:?} was not read from the store's rows \
                 (SagaEngine::term_keys missed it)"
            );
        }
        None
    }

    /// The kind byte of a given id; panics for one kept in the rows and not
    /// put in.
    fn kind(&self, id: u32) -> u8 {
        let k = self.kinds.get(id as usize).copied().unwrap_or(b'?');
        assert!(
            k != 0,
            "saga vocabulary: term id {id} was not read from the store's rows"
        );
        k
    }

    /// Smoothed inverse document frequency of a term id.
    pub fn idf(&self, id: u32) -> f32 {
        let df = self.df(id) as f32;
        (((self.docs as f32) + 1.0) / (df + 1.0)).ln() + 1.0
    }

    /// Names of the given term ids held, in the given order (unknown ids,
    /// and ids kept in the rows and not put in, skipped).
    pub fn names(&self, ids: &[u32]) -> Vec<String> {
        let wanted: HashSet<u32> = ids.iter().copied().collect();
        let found: IdMap<&str> = self
            .ids
            .iter()
            .filter(|(_, i)| wanted.contains(i))
            .map(|(t, &i)| (i, t.as_str()))
            .collect();
        ids.iter()
            .filter_map(|i| found.get(i).map(|t| t.to_string()))
            .collect()
    }

    /// Whether a term id is a single word (key prefix `w:`).
    pub fn is_word(&self, id: u32) -> bool {
        self.kind(id) == b'w'
    }

    /// Document frequency of a term by key (0 when unknown).
    pub fn df_of(&self, key: &str) -> u32 {
        self.id_of(key).map_or(0, |id| self.df(id))
    }

    /// Document frequency of a term id (0 for an id not given yet).
    pub fn df(&self, id: u32) -> u32 {
        match self.df.get(id as usize) {
            Some(&d) => {
                self.kind(id);
                d
            }
            None => 0,
        }
    }

    /// Register one document made of weighted terms (`key`, kind weight) and
    /// return its L2-normalised TF-IDF vector. Each distinct key counts once
    /// towards its document frequency; repeated keys raise term frequency
    /// sub-linearly (1 + ln tf).
    pub fn vectorise(&mut self, terms: &[(String, f32)]) -> SparseVec {
        let counts = count_terms(terms, |key| match self.id_of(key) {
            Some(id) => id,
            None => {
                let id = self.df.len() as u32;
                self.ids.insert(key.to_string(), id);
                self.df.push(0);
                self.kinds
                    .push(key.as_bytes().first().copied().unwrap_or(b'?'));
                id
            }
        });
        self.docs += 1;
        for id in counts.keys() {
            self.df[*id as usize] += 1;
        }
        if self.in_rows {
            self.changed.extend(counts.keys());
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

    /// Of `keys`, those to ask of the store's rows: not held and not asked
    /// before (none while every term is held), each once.
    pub fn to_ask(&self, keys: impl IntoIterator<Item = String>) -> Vec<String> {
        not_asked(keys, self.asked.as_ref(), |k| self.ids.contains_key(k))
    }

    /// Put in the rows found for the keys `asked` (those not found are new
    /// terms). A row naming an id this vocabulary never gave is an error:
    /// the rows and the core were not saved together.
    pub fn put_rows(&mut self, asked: Vec<String>, rows: Vec<TermRow>) -> Result<(), String> {
        let Some(set) = self.asked.as_mut() else {
            return Ok(());
        };
        set.extend(asked);
        for (term, id, df) in rows {
            let i = id as usize;
            if i >= self.df.len() {
                return Err(format!(
                    "the stored term {term:?} has id {id}, but only {} were given",
                    self.df.len()
                ));
            }
            self.df[i] = df;
            self.kinds[i] = term.as_bytes().first().copied().unwrap_or(b'?');
            self.ids.insert(term, id);
        }
        Ok(())
    }

    /// The rows to save: every term while they are still saved in the
    /// core (`true`: the stored rows are replaced), else the terms added
    /// or counted since the last save; from now on the terms are saved in
    /// rows, and the next serialisation writes the core's form (then
    /// [`Vocabulary::done_core`]).
    pub fn take_rows(&mut self) -> (Vec<TermRow>, bool) {
        self.as_core = true;
        let whole = !self.in_rows;
        let changed: HashSet<u32> = self.changed.drain(..).collect();
        let mut rows: Vec<TermRow> = self
            .ids
            .iter()
            .filter(|(_, i)| whole || changed.contains(i))
            .map(|(t, &i)| (t.clone(), i, self.df[i as usize]))
            .collect();
        rows.sort_unstable_by_key(|r| r.1);
        self.in_rows = true;
        (rows, whole)
    }

    /// The core is written: serialise whole again where every term is held.
    pub fn done_core(&mut self) {
        self.as_core = false;
    }

    /// Hold every stored term (a state read whole from its parts).
    pub fn put_all(&mut self, rows: impl IntoIterator<Item = TermRow>) -> Result<(), String> {
        self.put_rows(Vec::new(), rows.into_iter().collect())?;
        let held = self.ids.len();
        if self.asked.is_some() && held != self.df.len() {
            return Err(format!(
                "{held} stored terms, but the vocabulary gave {} ids",
                self.df.len()
            ));
        }
        self.asked = None;
        Ok(())
    }
}

/// Of `keys`, those to ask of a store's rows, each once, in order: none
/// while everything is held (`asked` is `None`), else those neither held
/// nor asked before.
pub(crate) fn not_asked<K: Ord + std::hash::Hash>(
    keys: impl IntoIterator<Item = K>,
    asked: Option<&HashSet<K>>,
    held: impl Fn(&K) -> bool,
) -> Vec<K> {
    let Some(asked) = asked else {
        return Vec::new();
    };
    let mut out: Vec<K> = keys
        .into_iter()
        .filter(|k| !held(k) && !asked.contains(k))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A document's terms counted by id (`id_for` gives or makes a key's id):
/// `(occurrences, kind weight of the first)`.
fn count_terms(
    terms: &[(String, f32)],
    mut id_for: impl FnMut(&str) -> u32,
) -> HashMap<u32, (u32, f32)> {
    let mut counts: HashMap<u32, (u32, f32)> = HashMap::new();
    for (key, w) in terms {
        counts.entry(id_for(key)).or_insert((0, *w)).0 += 1;
    }
    counts
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
        self.new_ids
            .get(key)
            .copied()
            .or_else(|| self.base.id_of(key))
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
        let counts = count_terms(terms, |key| match self.id(key) {
            Some(id) => id,
            None => {
                let id = (self.base.df.len() + self.new_ids.len()) as u32;
                self.new_ids.insert(key.to_string(), id);
                id
            }
        });
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
            match self.id_of(key) {
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
    Ok(packed_bytes::<E>(s, N, what)?
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact gives N bytes"))
        .collect())
}

/// The bytes of the base64 `s`, checked to be whole records of `width`
/// bytes (an error names `what` otherwise).
pub(crate) fn packed_bytes<E: serde::de::Error>(
    s: &str,
    width: usize,
    what: &str,
) -> Result<Vec<u8>, E> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(E::custom)?;
    if bytes.len() % width != 0 {
        return Err(E::custom(format!(
            "{} packed bytes are not whole {what}",
            bytes.len()
        )));
    }
    Ok(bytes)
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

    #[test]
    fn a_vocabulary_in_rows_holds_what_it_was_given_and_writes_what_changed() {
        let mut v = Vocabulary::default();
        v.vectorise(&terms(&["w:strike", "w:port", "e:Harbour Board"]));
        v.vectorise(&terms(&["w:strike", "w:talks"]));
        // The first save in rows writes every term and replaces the rows.
        let (rows, whole) = v.take_rows();
        assert!(whole);
        assert_eq!(
            rows,
            [
                ("w:strike".to_string(), 0, 2),
                ("w:port".to_string(), 1, 1),
                ("e:Harbour Board".to_string(), 2, 1),
                ("w:talks".to_string(), 3, 1),
            ]
        );
        let core = serde_json::to_value(&v).unwrap();
        v.done_core();
        assert_eq!(
            core,
            serde_json::json!({"in_rows": true, "next": 4, "docs": 2})
        );
        // Still held whole in memory, it serialises whole elsewhere.
        assert!(serde_json::to_value(&v).unwrap()["buf"].is_string());
        // A later save writes the terms counted or added since, only.
        v.vectorise(&terms(&["w:talks", "w:ferry"]));
        let (rows, whole) = v.take_rows();
        v.done_core();
        assert!(!whole);
        assert_eq!(
            rows,
            [("w:talks".to_string(), 3, 2), ("w:ferry".to_string(), 4, 1)]
        );

        // Read back from the core: it holds only what it is given.
        let mut back: Vocabulary = serde_json::from_value(core).unwrap();
        assert_eq!((back.len(), back.docs()), (4, 2));
        let asked = back.to_ask(["w:strike", "w:new", "w:strike"].map(String::from));
        assert_eq!(asked, ["w:new", "w:strike"]);
        back.put_rows(asked, vec![("w:strike".into(), 0, 2)])
            .unwrap();
        assert!(
            back.to_ask(["w:strike".to_string(), "w:new".to_string()])
                .is_empty()
        );
        assert_eq!(back.df_of("w:strike"), 2);
        assert!(back.is_word(0));
        // As the whole vocabulary would: the same vector, the new term the
        // next id.
        let mut whole_v = Vocabulary::default();
        whole_v.vectorise(&terms(&["w:strike", "w:port", "e:Harbour Board"]));
        whole_v.vectorise(&terms(&["w:strike", "w:talks"]));
        let doc = terms(&["w:strike", "w:new"]);
        assert_eq!(back.vectorise(&doc), whole_v.vectorise(&doc));
        let (rows, whole) = back.take_rows();
        assert!(!whole);
        assert_eq!(
            rows,
            [("w:strike".to_string(), 0, 3), ("w:new".to_string(), 4, 1)]
        );
        // A term neither given nor asked for is a bug, not a new term.
        let missed = std::panic::catch_unwind(|| back.df_of("w:port"));
        assert!(missed.is_err());
        let missed = std::panic::catch_unwind(|| back.df(1));
        assert!(missed.is_err());
        // A row with an id the core never gave: rows and core disagree.
        let mut other: Vocabulary =
            serde_json::from_value(serde_json::json!({"in_rows": true, "next": 2, "docs": 1}))
                .unwrap();
        let err = other
            .put_rows(vec!["w:x".into()], vec![("w:x".into(), 7, 1)])
            .unwrap_err();
        assert!(err.contains("id 7"), "{err}");
        // Every row put in: held whole again, if every id has its term.
        assert!(other.clone().put_all(vec![("w:a".into(), 0, 1)]).is_err());
        other
            .put_all(vec![("w:a".into(), 0, 1), ("w:b".into(), 1, 1)])
            .unwrap();
        assert_eq!(
            other.df_of("w:zzz"),
            0,
            "held whole: an unknown term is new"
        );
    }
}
