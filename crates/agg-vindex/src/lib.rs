//! The vector index search uses: every stored sentence vector as one bit
//! per dimension (its signs), held in memory, searched in two steps.
//!
//! Why not the vectors themselves: 1M items' 384-dimension vectors are
//! 1.5 GB as stored; their sign codes are 48 MB, which a server keeps and a
//! one-off command reads in a fraction of a second. Why not a graph index
//! (HNSW): it must be built and kept in step with inserts and deletions, and
//! its memory is the vectors' plus the graph's; a linear scan of codes is
//! ~5 ms at 1M, has nothing to keep in step but an append, and its recall
//! is measured (`examples/search_recall.rs`, `benches/history/run.sh`).
//!
//! The two steps, both over codes only:
//! 1. Hamming distance between the query's code and every code: the
//!    `shortlist` closest (a counting pass: distances are small integers).
//! 2. The query's own values against the shortlist's signs (an asymmetric
//!    estimate: `Σ qᵢ·sᵢ`, through one 256-entry table per code byte),
//!    which orders the shortlist far better than Hamming distance does.
//!
//! The caller then reads the exact vectors of the best few and ranks them
//! by cosine (`agg_app::search`), so the index only has to find the
//! neighbours, never to score them.

/// The code of a vector: bit `i` (byte `i / 8`, bit `i % 8`) is set when
/// dimension `i` is positive. What the store keeps beside each vector.
pub fn sign_code(v: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; v.len().div_ceil(8)];
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// A code that does not fit the index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a vector code of {got} bytes in an index of {want}-byte codes (another model's?)")]
pub struct CodeLength {
    pub got: usize,
    pub want: usize,
}

/// The codes of many vectors with their ids, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct SignIndex {
    bytes: usize,
    words: usize,
    ids: Vec<i64>,
    /// `words` little-endian u64s per vector, padded with zero bits.
    codes: Vec<u64>,
}

impl SignIndex {
    /// An empty index of codes of `bytes` bytes (vectors of `bytes * 8`
    /// dimensions at most).
    pub fn new(bytes: usize) -> SignIndex {
        SignIndex {
            bytes,
            words: bytes.div_ceil(8),
            ids: Vec::new(),
            codes: Vec::new(),
        }
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
        self.codes.truncate(keep * self.words);
    }

    /// Gives back spare capacity once reading is done.
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.codes.shrink_to_fit();
    }

    /// The ids, in the order they were added.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// Memory held, in bytes (for logs).
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 8 + self.codes.capacity() * 8
    }

    /// Adds one vector's code (as [`sign_code`] made it).
    pub fn push(&mut self, id: i64, code: &[u8]) -> Result<(), CodeLength> {
        if code.len() != self.bytes {
            return Err(CodeLength {
                got: code.len(),
                want: self.bytes,
            });
        }
        self.codes.extend(words(code));
        self.ids.push(id);
        Ok(())
    }

    /// The ids of (about) the `n` vectors nearest to `query` by cosine:
    /// the `shortlist` closest codes by Hamming distance, ordered by the
    /// query's values against their signs; best first. `shortlist` is
    /// raised to `n` at least.
    pub fn nearest(&self, query: &[f32], shortlist: usize, n: usize) -> Vec<i64> {
        if self.ids.is_empty() || n == 0 {
            return Vec::new();
        }
        let shortlist = shortlist.max(n);
        let q = self.fit(query);
        let mut qc = sign_code(&q);
        qc.resize(self.bytes, 0);
        let qw: Vec<u64> = words(&qc).collect();
        let short = self.hamming_shortlist(&qw, shortlist);
        let table = ByteTable::new(&q);
        let mut scored: Vec<(f32, usize)> = in_parts(short.len(), |part| {
            short[part]
                .iter()
                .map(|&i| {
                    (
                        table.score(&self.codes[i * self.words..(i + 1) * self.words]),
                        i,
                    )
                })
                .collect()
        });
        let by_score = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if scored.len() > n {
            scored.select_nth_unstable_by(n - 1, by_score);
            scored.truncate(n);
        }
        scored.sort_by(by_score);
        scored.into_iter().map(|(_, i)| self.ids[i]).collect()
    }

    /// The query cut or padded to the index's dimensions.
    fn fit(&self, query: &[f32]) -> Vec<f32> {
        let mut q: Vec<f32> = query.iter().copied().take(self.bytes * 8).collect();
        q.resize(self.bytes * 8, 0.0);
        q
    }

    /// Positions of the `k` codes nearest to `qw` in Hamming distance (ties
    /// at the cut broken by position): one pass to count distances, one to
    /// collect, whatever the index's size.
    fn hamming_shortlist(&self, qw: &[u64], k: usize) -> Vec<usize> {
        let n = self.ids.len();
        if k >= n {
            return (0..n).collect();
        }
        let w = self.words;
        let dist = in_parts(n, |part| {
            distances(&self.codes[part.start * w..part.end * w], qw, w)
        });
        let mut hist = vec![0usize; self.words * 64 + 1];
        for &d in &dist {
            hist[d as usize] += 1;
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
        for (i, &d) in dist.iter().enumerate() {
            let d = d as usize;
            if d < cut {
                out.push(i);
            } else if d == cut && at_cut > 0 {
                out.push(i);
                at_cut -= 1;
            }
        }
        out
    }
}

/// `f` over `0..n` in contiguous parts, one per core (at most 4; one part
/// below 65,536 positions), each on its own thread, the results in order.
/// A query's two passes over a million codes took ~32 ms on one core of
/// the dev machine: most of a search's time after the exact reads.
fn in_parts<R: Send>(n: usize, f: impl Fn(std::ops::Range<usize>) -> Vec<R> + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let parts = if n < 65_536 { 1 } else { cores.min(4) };
    if parts <= 1 {
        return f(0..n);
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
            .flat_map(|h| h.join().expect("a part of an index scan panicked"))
            .collect()
    })
}

/// Hamming distances from `qw` to each code of `words` words in `codes`.
/// (Memory-bound: ~9 ms for 1M codes whether `count_ones` is the POPCNT
/// instruction or not, measured with `examples/search_recall.rs`.)
fn distances(codes: &[u64], qw: &[u64], words: usize) -> Vec<u16> {
    codes
        .chunks_exact(words)
        .map(|c| {
            c.iter()
                .zip(qw)
                .map(|(a, b)| (a ^ b).count_ones() as u16)
                .sum()
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
/// of the 256 byte values: a code's estimate is then one lookup per byte.
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

    /// `Σ qᵢ·sᵢ` with `sᵢ = ±1` the code's signs: twice the sum over set
    /// bits, less the sum over all.
    fn score(&self, code: &[u64]) -> f32 {
        // Four sums, not one: a single chain of 48 dependent additions was
        // most of the cost of ordering a 100,000-code shortlist.
        let mut acc = [0f32; 4];
        for (j, t) in self.sums.iter().enumerate() {
            let byte = (code[j / 8] >> ((j % 8) * 8)) as u8;
            acc[j % 4] += t[byte as usize];
        }
        2.0 * (acc[0] + acc[1] + acc[2] + acc[3]) - self.total
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
    fn a_code_is_the_signs_bit_by_bit() {
        assert_eq!(sign_code(&[1.0, -1.0, 0.0, 2.0]), vec![0b1001]);
        let v: Vec<f32> = (0..10).map(|i| if i == 9 { 1.0 } else { -1.0 }).collect();
        assert_eq!(sign_code(&v), vec![0, 0b10]);
    }

    #[test]
    fn a_page_read_again_replaces_its_tail() {
        let mut ix = SignIndex::new(1);
        for id in [1, 5, 4096, 4100] {
            ix.push(id, &[id as u8]).unwrap();
        }
        ix.truncate_from(4096);
        assert_eq!(ix.ids(), [1, 5]);
        assert_eq!(ix.max_id(), Some(5));
        ix.push(4096, &[9]).unwrap();
        assert_eq!(
            ix.nearest(&[1.0, -1.0, -1.0, 1.0, -1.0, -1.0, -1.0, -1.0], 10, 1),
            [4096]
        );
    }

    #[test]
    fn a_code_of_another_length_is_refused() {
        let mut ix = SignIndex::new(48);
        assert_eq!(
            ix.push(1, &[0u8; 32]),
            Err(CodeLength { got: 32, want: 48 })
        );
        assert!(ix.is_empty());
    }

    #[test]
    fn the_shortlist_keeps_exactly_k_nearest_in_hamming_distance() {
        let mut ix = SignIndex::new(1);
        // Distances to code 0: 0, 1, 1, 2, 8.
        for (id, c) in [(10, 0u8), (11, 1), (12, 2), (13, 3), (14, 255)] {
            ix.push(id, &[c]).unwrap();
        }
        let mut got = ix.hamming_shortlist(&[0], 2);
        got.sort();
        assert_eq!(got, vec![0, 1], "ties at the cut go by position");
        let mut got = ix.hamming_shortlist(&[0], 4);
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3]);
    }

    #[test]
    fn the_estimate_orders_like_the_dot_product_with_the_signs() {
        let mut r = Lcg(7);
        let q = r.vector(16);
        let table = ByteTable::new(&q);
        for _ in 0..20 {
            let v = r.vector(16);
            let signs: Vec<f32> = v
                .iter()
                .map(|x| if *x > 0.0 { 1.0 } else { -1.0 })
                .collect();
            let code = sign_code(&v);
            let w = u64::from(code[0]) | (u64::from(code[1]) << 8);
            assert!((table.score(&[w]) - dot(&q, &signs)).abs() < 1e-4);
        }
    }

    /// Recall@10 against an exact scan on clustered random vectors, the
    /// shape of a news store (stories are tight groups): the shortlists
    /// search uses find nearly all true neighbours; a shortlist of ten
    /// (the estimate alone, no room to reorder) finds far fewer, so this
    /// fails if the two steps stop working together.
    #[test]
    fn the_nearest_are_found_among_clustered_vectors() {
        let d = 384;
        let mut r = Lcg(42);
        let centres: Vec<Vec<f32>> = (0..300).map(|_| r.vector(d)).collect();
        let mut ix = SignIndex::new(d / 8);
        let mut all = Vec::new();
        for i in 0..20_000i64 {
            let c = &centres[(i as usize * 7919) % centres.len()];
            let noise = r.vector(d);
            let v: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.9 * b).collect();
            ix.push(i, &sign_code(&v)).unwrap();
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
        let poor = recall(10, 10);
        assert!(poor < good - 0.1, "a ten-code shortlist {poor} vs {good}");
    }

    #[test]
    fn a_scan_in_parts_finds_what_one_pass_over_every_code_finds() {
        // Enough codes for the scan to run in parts (where there is more
        // than one core), with many ties at the shortlist's cut.
        let mut g = Lcg(7);
        let mut ix = SignIndex::new(8);
        for i in 0..100_000i64 {
            ix.push(i * 3, &sign_code(&g.vector(64))).unwrap();
        }
        let q = g.vector(64);
        let got = ix.nearest(&q, 5_000, 50);
        // One pass: every distance, the shortlist by distance then
        // position, scored, best first.
        let fitted = ix.fit(&q);
        let qw: Vec<u64> = words(&sign_code(&fitted)).collect();
        let dist = distances(&ix.codes, &qw, ix.words);
        let mut short: Vec<usize> = (0..dist.len()).collect();
        short.sort_by_key(|&i| (dist[i], i));
        short.truncate(5_000);
        let table = ByteTable::new(&fitted);
        let mut scored: Vec<(f32, usize)> = short
            .iter()
            .map(|&i| (table.score(&ix.codes[i * ix.words..(i + 1) * ix.words]), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let want: Vec<i64> = scored.iter().take(50).map(|&(_, i)| ix.ids[i]).collect();
        assert_eq!(got, want);
    }
}
