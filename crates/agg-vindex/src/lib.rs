//! The vector index search uses: every stored sentence vector as two bits
//! per dimension (its sign, and whether it is large), held in memory,
//! searched in two steps.
//!
//! Why not the vectors themselves: 1M items' 384-dimension vectors are
//! 1.5 GB as stored; their codes are 96 MB, which a server keeps and a
//! one-off command reads in a fraction of a second. Why not a graph index
//! (HNSW): it must be built and kept in step with inserts and deletions, and
//! its memory is the vectors' plus the graph's; a linear scan of the signs
//! is ~8 ms at 1M, has nothing to keep in step but an append, and its recall
//! is measured (`examples/search_recall.rs`, `benches/history/run.sh`).
//!
//! The two steps, both over codes only:
//! 1. Hamming distance between the query's signs and every code's signs:
//!    the `shortlist` closest (a counting pass: distances are small
//!    integers). Only the sign plane is read, half the codes' memory.
//! 2. The query's own values against the shortlist's codes read back as
//!    two levels a dimension (an asymmetric estimate: `Σ qᵢ·x̂ᵢ`, through
//!    one 256-entry table per code byte), which orders the shortlist far
//!    better than Hamming distance does.
//!
//! The caller then reads the exact vectors of the best few and ranks them
//! by cosine (`agg_app::search`), so the index only has to find the
//! neighbours, never to score them. Why the second bit: with signs alone,
//! recall@10 at 1M items needed 3,000 exact reads (half of a search's
//! time) for 0.96; with the magnitude bit 500 reach 0.98 behind the
//! Hamming shortlist, 0.99 scoring every code
//! (`examples/search_recall.rs`, `examples/estimate_recall.rs`).

mod compact;
pub use compact::{compact, expand};

/// The median of `|z|` for a standard normal `z`: a unit vector's
/// coordinates are about `N(0, 1/d)`, so the magnitude bit splits them in
/// halves whatever the model's dimension.
const MEDIAN: f32 = 0.6745;
/// A coordinate below the median, read back: the mean of `|z|` under it
/// (in units of `‖x‖/√d`).
const LOW: f32 = 0.3247;
/// A coordinate above the median, read back: the mean of `|z|` over it.
const HIGH: f32 = 1.2711;

/// The code of a vector: two planes of `⌈d/8⌉` bytes. In the first, bit
/// `i` (byte `i / 8`, bit `i % 8`) is set when dimension `i` is positive;
/// in the second, when `|xᵢ|` is above the median magnitude of a unit
/// vector's coordinates (`0.6745·‖x‖/√d`). What the store keeps beside
/// each vector.
pub fn code(v: &[f32]) -> Vec<u8> {
    let plane = v.len().div_ceil(8);
    let mut out = vec![0u8; 2 * plane];
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cut = MEDIAN * norm / (v.len().max(1) as f32).sqrt();
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            out[i / 8] |= 1 << (i % 8);
        }
        if x.abs() > cut {
            out[plane + i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// A code that does not fit the index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a vector code of {got} bytes in an index of {want}-byte codes (another model's, or an older format?)"
)]
pub struct CodeLength {
    pub got: usize,
    pub want: usize,
}

/// The codes of many vectors with their ids, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct CodeIndex {
    /// Bytes of one plane of a code (`⌈d/8⌉`).
    plane: usize,
    /// u64 words of one plane.
    words: usize,
    ids: Vec<i64>,
    /// The sign planes, `words` little-endian u64s per vector, padded with
    /// zero bits: what the Hamming pass reads, apart from the magnitudes
    /// so that it reads half the memory.
    signs: Vec<u64>,
    /// The magnitude planes, laid out as `signs`.
    mags: Vec<u64>,
}

impl CodeIndex {
    /// An empty index of codes of `bytes` bytes (two planes: vectors of
    /// `bytes * 4` dimensions at most; an odd `bytes` is rounded up).
    pub fn new(bytes: usize) -> CodeIndex {
        let plane = bytes.div_ceil(2);
        CodeIndex {
            plane,
            words: plane.div_ceil(8),
            ..CodeIndex::default()
        }
    }

    /// The dimensions its codes were made from (padded to a multiple of
    /// eight): a query of other dimensions is another model's.
    pub fn dims(&self) -> usize {
        self.plane * 8
    }

    /// How many vectors it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The last id added: the highest when ids are added in ascending
    /// order, as the store's pages give them (so a refresh reads only what
    /// comes after it).
    pub fn max_id(&self) -> Option<i64> {
        self.ids.last().copied()
    }

    /// Drops the codes of ids from `start` on (ids added in ascending
    /// order): a page about to be read again whole.
    pub fn truncate_from(&mut self, start: i64) {
        let keep = self.ids.partition_point(|&id| id < start);
        self.ids.truncate(keep);
        self.signs.truncate(keep * self.words);
        self.mags.truncate(keep * self.words);
    }

    /// Gives back spare capacity once reading is done.
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.signs.shrink_to_fit();
        self.mags.shrink_to_fit();
    }

    /// The ids, in the order they were added.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// Memory held, in bytes (for logs).
    pub fn heap_bytes(&self) -> usize {
        (self.ids.capacity() + self.signs.capacity() + self.mags.capacity()) * 8
    }

    /// Adds one vector's code (as [`code`] made it).
    pub fn push(&mut self, id: i64, code: &[u8]) -> Result<(), CodeLength> {
        let want = 2 * self.plane;
        if code.len() != want {
            return Err(CodeLength {
                got: code.len(),
                want,
            });
        }
        let (signs, mags) = code.split_at(self.plane);
        self.signs.extend(words(signs));
        self.mags.extend(words(mags));
        self.ids.push(id);
        Ok(())
    }

    /// The ids of (about) the `n` vectors nearest to `query` by cosine:
    /// the `shortlist` closest signs by Hamming distance, ordered by the
    /// query's values against their codes; best first. `shortlist` is
    /// raised to `n` at least.
    pub fn nearest(&self, query: &[f32], shortlist: usize, n: usize) -> Vec<i64> {
        if self.ids.is_empty() || n == 0 {
            return Vec::new();
        }
        let shortlist = shortlist.max(n);
        let q = self.fit(query);
        let qw: Vec<u64> = words(&code(&q)[..self.plane]).collect();
        let short = self.hamming_shortlist(&qw, shortlist);
        let table = ByteTable::new(&q);
        let mut scored: Vec<(f32, usize)> = in_parts(short.len(), |part| {
            short[part]
                .iter()
                .map(|&i| (table.score(self.signs_of(i), self.mags_of(i)), i))
                .collect::<Vec<_>>()
        })
        .concat();
        let by_score = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if scored.len() > n {
            scored.select_nth_unstable_by(n - 1, by_score);
            scored.truncate(n);
        }
        scored.sort_by(by_score);
        scored.into_iter().map(|(_, i)| self.ids[i]).collect()
    }

    fn signs_of(&self, i: usize) -> &[u64] {
        &self.signs[i * self.words..(i + 1) * self.words]
    }

    fn mags_of(&self, i: usize) -> &[u64] {
        &self.mags[i * self.words..(i + 1) * self.words]
    }

    /// The query cut or padded to the index's dimensions.
    fn fit(&self, query: &[f32]) -> Vec<f32> {
        let mut q: Vec<f32> = query.iter().copied().take(self.dims()).collect();
        q.resize(self.dims(), 0.0);
        q
    }

    /// Positions of the `k` codes nearest to `qw` in Hamming distance of
    /// their signs (ties at the cut broken by position): one pass to count
    /// distances, one to collect, whatever the index's size.
    fn hamming_shortlist(&self, qw: &[u64], k: usize) -> Vec<usize> {
        let n = self.ids.len();
        if k >= n {
            return (0..n).collect();
        }
        let w = self.words;
        // Each part counts its own distances, so that the one pass over
        // every code is in parts too.
        let parts = in_parts(n, |part| {
            let dist = distances(&self.signs[part.start * w..part.end * w], qw, w);
            let mut hist = vec![0usize; w * 64 + 1];
            for &d in &dist {
                hist[d as usize] += 1;
            }
            (part.start, dist, hist)
        });
        let mut hist = vec![0usize; w * 64 + 1];
        for (_, _, h) in &parts {
            hist.iter_mut().zip(h).for_each(|(a, b)| *a += b);
        }
        // The largest distance kept, and how many at it may be taken.
        let (mut cut, mut below) = (0usize, 0usize);
        for (d, &c) in hist.iter().enumerate() {
            if below + c >= k {
                cut = d;
                break;
            }
            below += c;
        }
        let mut at_cut = k - below;
        let mut out = Vec::with_capacity(k);
        for (start, dist, _) in &parts {
            for (i, &d) in dist.iter().enumerate() {
                let d = d as usize;
                if d < cut {
                    out.push(start + i);
                } else if d == cut && at_cut > 0 {
                    out.push(start + i);
                    at_cut -= 1;
                }
            }
        }
        out
    }
}

/// `f` over `0..n` in contiguous parts, one per core (at most 4; one part
/// below 65,536 positions), each on its own thread: each part's result, in
/// order. A query's two passes over a million codes took ~32 ms on one
/// core of the dev machine: most of a search's time after the exact reads.
fn in_parts<T: Send>(n: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> Vec<T> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let parts = if n < 65_536 { 1 } else { cores.min(4) };
    if parts <= 1 {
        return vec![f(0..n)];
    }
    let size = n.div_ceil(parts);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..parts)
            .map(|p| {
                let range = (p * size).min(n)..((p + 1) * size).min(n);
                s.spawn(move || f(range))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a part of an index scan panicked"))
            .collect()
    })
}

/// Hamming distances from `qw` to each code of `words` words in `codes`.
///
/// Most of a query's time at 1M codes. Two things made it ~40% faster
/// than a plain loop over any width (measured on 1M 384-dimension codes,
/// one core: 13–15 ms, then 8 ms): the POPCNT instruction where the CPU
/// has it (a portable build may not assume it, so it is chosen at run
/// time), and a loop of the code's width known at compile time for the
/// usual model sizes (256 to 1,024 dimensions), which the compiler
/// unrolls.
fn distances(codes: &[u64], qw: &[u64], words: usize) -> Vec<u16> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has the one feature `distances_popcnt` is
        // compiled for, checked just above.
        return unsafe { distances_popcnt(codes, qw, words) };
    }
    distances_of_width(codes, qw, words)
}

/// [`distances`] compiled with POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn distances_popcnt(codes: &[u64], qw: &[u64], words: usize) -> Vec<u16> {
    distances_of_width(codes, qw, words)
}

/// [`distances`] by a loop of fixed width where the width is a usual one.
#[inline(always)]
fn distances_of_width(codes: &[u64], qw: &[u64], words: usize) -> Vec<u16> {
    match words {
        4 => fixed::<4>(codes, qw),
        6 => fixed::<6>(codes, qw),
        8 => fixed::<8>(codes, qw),
        12 => fixed::<12>(codes, qw),
        16 => fixed::<16>(codes, qw),
        _ => codes
            .chunks_exact(words)
            .map(|c| {
                c.iter()
                    .zip(qw)
                    .map(|(a, b)| (a ^ b).count_ones() as u16)
                    .sum()
            })
            .collect(),
    }
}

#[inline(always)]
fn fixed<const W: usize>(codes: &[u64], qw: &[u64]) -> Vec<u16> {
    let q: [u64; W] = qw.try_into().expect("a query of the index's width");
    codes
        .chunks_exact(W)
        .map(|c| {
            let mut d = 0u32;
            for k in 0..W {
                d += (c[k] ^ q[k]).count_ones();
            }
            d as u16
        })
        .collect()
}

/// A code as little-endian u64 words, the last padded with zero bits.
fn words(code: &[u8]) -> impl Iterator<Item = u64> + '_ {
    code.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}

/// Per code byte, the sum of the query's values over the bits set in each
/// of the 256 byte values: a code's estimate is then three lookups per
/// byte, in the same table (48 KB for 384 dimensions). Tried and not
/// faster on the dev machine: one lookup per four dimensions in a table of
/// every sign and magnitude nibble pair (96 KB, out of the L1 cache), and
/// this table in 16-bit fixed point (24 KB).
struct ByteTable {
    sums: Vec<[f32; 256]>,
    total: f32,
}

impl ByteTable {
    fn new(q: &[f32]) -> ByteTable {
        let sums = q
            .chunks(8)
            .map(|dims| {
                let mut t = [0f32; 256];
                for (b, slot) in t.iter_mut().enumerate() {
                    *slot = dims
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| b & (1 << k) != 0)
                        .map(|(_, x)| *x)
                        .sum();
                }
                t
            })
            .collect();
        ByteTable {
            sums,
            total: q.iter().sum(),
        }
    }

    /// `Σ qᵢ·x̂ᵢ` with `x̂ᵢ = sᵢ·(LOW or HIGH)`, `sᵢ = ±1` the sign and
    /// the level by the magnitude bit `mᵢ`. As sums over set bits (`S(b)`
    /// the table's entry for byte `b`): `Σ qᵢsᵢ = 2·S(s) − Σq` and
    /// `Σ qᵢsᵢmᵢ = 2·S(s∧m) − S(m)`, so the estimate is
    /// `LOW·(2·S(s) − Σq) + (HIGH − LOW)·(2·S(s∧m) − S(m))`.
    fn score(&self, signs: &[u64], mags: &[u64]) -> f32 {
        const GAP: f32 = HIGH - LOW;
        // Four sums, not one: a single chain of dependent additions was
        // most of the cost of ordering a 100,000-code shortlist.
        let mut acc = [0f32; 4];
        for (j, t) in self.sums.iter().enumerate() {
            let shift = (j % 8) * 8;
            let s = (signs[j / 8] >> shift) as u8;
            let m = (mags[j / 8] >> shift) as u8;
            acc[j % 4] +=
                2.0 * LOW * t[s as usize] + GAP * (2.0 * t[(s & m) as usize] - t[m as usize]);
        }
        acc[0] + acc[1] + acc[2] + acc[3] - LOW * self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator (no dependency for a test's noise).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        }
        fn vector(&mut self, d: usize) -> Vec<f32> {
            let v: Vec<f32> = (0..d).map(|_| self.next()).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect()
        }
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn a_code_is_the_signs_then_the_large_magnitudes_bit_by_bit() {
        // ‖v‖ = √6, d = 4: the cut is 0.6745·√6/2 ≈ 0.83.
        assert_eq!(code(&[1.0, -1.0, 0.0, 2.0]), vec![0b1001, 0b1011]);
        assert_eq!(code(&[0.5, -0.1, -0.2, 3.0]), vec![0b1001, 0b1000]);
        // Ten dimensions: two bytes a plane, the last padded.
        let v: Vec<f32> = (0..10).map(|i| if i == 9 { 1.0 } else { -1.0 }).collect();
        assert_eq!(code(&v), vec![0, 0b10, 0xff, 0b11]);
        assert_eq!(code(&[0.0; 8]), vec![0, 0], "a zero vector has no bit set");
    }

    #[test]
    fn a_page_read_again_replaces_its_tail() {
        let mut ix = CodeIndex::new(2);
        for id in [1, 5, 4096, 4100] {
            ix.push(id, &[id as u8, 0]).unwrap();
        }
        ix.truncate_from(4096);
        assert_eq!(ix.ids(), [1, 5]);
        assert_eq!(ix.max_id(), Some(5));
        ix.push(4096, &[9, 0]).unwrap();
        assert_eq!(
            ix.nearest(&[1.0, -1.0, -1.0, 1.0, -1.0, -1.0, -1.0, -1.0], 10, 1),
            [4096]
        );
    }

    #[test]
    fn a_code_of_another_length_is_refused() {
        let mut ix = CodeIndex::new(96);
        assert_eq!(ix.dims(), 384);
        // A sign-only code of an older store: half the width.
        assert_eq!(
            ix.push(1, &[0u8; 48]),
            Err(CodeLength { got: 48, want: 96 })
        );
        assert!(ix.is_empty());
        let mut odd = CodeIndex::new(47);
        assert_eq!(
            odd.push(1, &[0u8; 47]),
            Err(CodeLength { got: 47, want: 48 })
        );
    }

    #[test]
    fn distances_are_the_same_at_every_width() {
        // The fixed-width loops (4, 6, 8, 12, 16 words) and the plain one
        // against a count bit by bit.
        let mut g = Lcg(3);
        for words in 1..=17 {
            let codes: Vec<u64> = (0..50 * words)
                .map(|_| (g.next().to_bits() as u64) << 32 | g.next().to_bits() as u64)
                .collect();
            let qw: Vec<u64> = codes[..words].iter().map(|w| w.rotate_left(7)).collect();
            let want: Vec<u16> = codes
                .chunks(words)
                .map(|c| {
                    (0..words * 64)
                        .filter(|&b| (c[b / 64] ^ qw[b / 64]) >> (b % 64) & 1 == 1)
                        .count() as u16
                })
                .collect();
            assert_eq!(distances(&codes, &qw, words), want, "{words} words");
            assert_eq!(
                distances_of_width(&codes, &qw, words),
                want,
                "{words} words"
            );
        }
    }

    #[test]
    fn the_shortlist_keeps_exactly_k_nearest_in_hamming_distance() {
        let mut ix = CodeIndex::new(2);
        // Distances of the signs to 0: 0, 1, 1, 2, 8 (magnitudes apart).
        for (id, c) in [(10, 0u8), (11, 1), (12, 2), (13, 3), (14, 255)] {
            ix.push(id, &[c, 255 - c]).unwrap();
        }
        let mut got = ix.hamming_shortlist(&[0], 2);
        got.sort();
        assert_eq!(got, vec![0, 1], "ties at the cut go by position");
        let mut got = ix.hamming_shortlist(&[0], 4);
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3]);
    }

    #[test]
    fn the_estimate_is_the_dot_product_with_the_code_read_back() {
        let mut r = Lcg(7);
        let q = r.vector(16);
        let table = ByteTable::new(&q);
        for _ in 0..20 {
            let v = r.vector(16);
            let cut = MEDIAN / 4.0; // ‖v‖ = 1, √d = 4
            let back: Vec<f32> = v
                .iter()
                .map(|x| {
                    let level = if x.abs() > cut { HIGH } else { LOW };
                    if *x > 0.0 { level } else { -level }
                })
                .collect();
            let c = code(&v);
            let signs = u64::from(c[0]) | (u64::from(c[1]) << 8);
            let mags = u64::from(c[2]) | (u64::from(c[3]) << 8);
            let got = table.score(&[signs], &[mags]);
            assert!(
                (got - dot(&q, &back)).abs() < 1e-4,
                "{got} vs {}",
                dot(&q, &back)
            );
        }
    }

    /// Recall@10 against an exact scan on clustered random vectors, the
    /// shape of a news store (stories are tight groups): the shortlists
    /// search uses find nearly all true neighbours; few guesses still find
    /// most if the estimate reads the magnitudes; a shortlist of ten (the
    /// estimate alone, no room to reorder) finds far fewer, so this fails
    /// if the two steps stop working together.
    #[test]
    fn the_nearest_are_found_among_clustered_vectors() {
        let d = 384;
        let mut r = Lcg(42);
        let centres: Vec<Vec<f32>> = (0..300).map(|_| r.vector(d)).collect();
        let mut ix = CodeIndex::new(d / 4);
        let mut all = Vec::new();
        for i in 0..20_000i64 {
            let c = &centres[(i as usize * 7919) % centres.len()];
            let noise = r.vector(d);
            let v: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.9 * b).collect();
            ix.push(i, &code(&v)).unwrap();
            all.push(v);
        }
        let recall = |shortlist: usize, rerank: usize| {
            let mut hit = 0;
            let queries = 40;
            for qi in 0..queries {
                let q = &all[qi * 97];
                let mut exact: Vec<(f32, i64)> = all
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (dot(q, v) / dot(v, v).sqrt(), i as i64))
                    .collect();
                exact.sort_by(|a, b| b.0.total_cmp(&a.0));
                let truth: Vec<i64> = exact.iter().take(10).map(|x| x.1).collect();
                let found = ix.nearest(q, shortlist, rerank);
                hit += truth.iter().filter(|t| found.contains(t)).count();
            }
            hit as f32 / (queries * 10) as f32
        };
        let good = recall(2_000, 200);
        assert!(good >= 0.95, "recall@10 {good}");
        // Twenty guesses for ten neighbours: the magnitudes' work (0.89
        // here; 0.76 with the signs alone, the estimate before them).
        let tight = recall(2_000, 20);
        assert!(tight >= 0.85, "recall@10 from 20 guesses {tight}");
        let poor = recall(10, 10);
        assert!(poor < good - 0.1, "a ten-code shortlist {poor} vs {good}");
    }

    #[test]
    fn a_scan_in_parts_finds_what_one_pass_over_every_code_finds() {
        // Enough codes for the scan to run in parts (where there is more
        // than one core), with many ties at the shortlist's cut.
        let mut g = Lcg(7);
        let mut ix = CodeIndex::new(16);
        for i in 0..100_000i64 {
            ix.push(i * 3, &code(&g.vector(64))).unwrap();
        }
        let q = g.vector(64);
        let got = ix.nearest(&q, 5_000, 50);
        // One pass: every distance, the shortlist by distance then
        // position, scored, best first.
        let fitted = ix.fit(&q);
        let qw: Vec<u64> = words(&code(&fitted)[..8]).collect();
        let dist = distances(&ix.signs, &qw, ix.words);
        let mut short: Vec<usize> = (0..dist.len()).collect();
        short.sort_by_key(|&i| (dist[i], i));
        short.truncate(5_000);
        let table = ByteTable::new(&fitted);
        let mut scored: Vec<(f32, usize)> = short
            .iter()
            .map(|&i| (table.score(ix.signs_of(i), ix.mags_of(i)), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let want: Vec<i64> = scored.iter().take(50).map(|&(_, i)| ix.ids[i]).collect();
        assert_eq!(got, want);
    }
}
