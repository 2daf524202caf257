//! Assignment throughput with many active sagas (embedding time excluded:
//! items carry no embedding; feature extraction is included).
//!
//! `cargo run -p agg-saga --release --example bench -- [SAGAS] [ITEMS] [--embeddings]`
//! (defaults: 10000 sagas, 50000 measured items; `--embeddings` gives every
//! item a precomputed 384-dim vector, so the embedding comparisons are timed
//! but computing embeddings is not).
//!
//! A synthetic stream: every story has six words of its own; titles mix five story words with two common
//! words drawn from a Zipf-like head, so the inverted index sees both rare and
//! very common terms. One seed item per story is assigned first (untimed),
//! then the measured items arrive one second apart. Seeds carry only story words
//! (so that each story starts its own saga); measured items add two common words, all within the dormancy
//! period, so every saga stays active and is a candidate.

use agg_saga::{SagaEngine, SagaItem, SagaStatus};
use chrono::{Duration, TimeZone, Utc};
use std::time::Instant;

/// xorshift64*: a tiny deterministic generator, enough for synthetic text.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A pronounceable pseudo-word for an index (never a stop word).
fn word(mut i: usize) -> String {
    const C: &[u8] = b"bcdfghjklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut s = String::from("q");
    loop {
        s.push(C[i % C.len()] as char);
        i /= C.len();
        s.push(V[i % V.len()] as char);
        i /= V.len();
        if i == 0 {
            break;
        }
    }
    s
}

fn main() {
    let with_emb = std::env::args().any(|a| a == "--embeddings");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sagas = args.first().copied().unwrap_or(10_000);
    let n = args.get(1).copied().unwrap_or(50_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Six words of its own per story, after the 5,000-word common head.
    let stories: Vec<Vec<usize>> = (0..sagas)
        .map(|s| (0..6).map(|j| 5_000 + s * 6 + j).collect())
        .collect();
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let make = |id: String, story: usize, secs: i64, common: usize, rng: &mut Rng| {
        let mut words: Vec<String> = Vec::new();
        for _ in 0..5 {
            words.push(word(stories[story][rng.below(6)]));
        }
        for _ in 0..common {
            // Zipf-like over a 5,000-word head: common but not dominant.
            let r = rng.below(5000);
            words.push(word(r * r / 5000));
        }
        // With --embeddings: a 384-dim unit vector near the story's own
        // direction (precomputed here: embedding time is excluded).
        let embedding = with_emb.then(|| {
            let mut own = Rng(0x1234_5678 ^ (story as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut v: Vec<f32> = (0..384)
                .map(|_| {
                    let base = (own.next() % 2001) as f32 / 1000.0 - 1.0;
                    base + 0.5 * ((rng.next() % 2001) as f32 / 1000.0 - 1.0)
                })
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
            v
        });
        SagaItem {
            id,
            time: Some(t0 + Duration::seconds(secs)),
            title: words.join(" "),
            text: String::new(),
            source: Some(format!("outlet{}", rng.below(50))),
            embedding,
            ..Default::default()
        }
    };
    let seeds: Vec<SagaItem> = (0..sagas)
        .map(|s| make(format!("seed{s}"), s, s as i64, 0, &mut rng))
        .collect();
    let items: Vec<SagaItem> = (0..n)
        .map(|i| {
            let s = rng.below(sagas);
            make(format!("it{i}"), s, (sagas + i) as i64, 2, &mut rng)
        })
        .collect();

    let mut e = SagaEngine::default();
    let warm = Instant::now();
    let (mut created, mut merged) = (0usize, 0usize);
    for it in &seeds {
        created += e.assign(it, it.time.unwrap()).created as usize;
        merged += e
            .take_events()
            .iter()
            .filter(|ev| matches!(ev, agg_saga::SagaEvent::Merged { .. }))
            .count();
    }
    eprintln!("seeding: {created} created, {merged} auto-merged");
    let seed_secs = warm.elapsed().as_secs_f64();
    let active = e.sagas().filter(|s| s.status == SagaStatus::Active).count();
    let start = Instant::now();
    for it in &items {
        e.assign(it, it.time.unwrap());
        e.take_events();
    }
    let secs = start.elapsed().as_secs_f64();
    let active_after = e.sagas().filter(|s| s.status == SagaStatus::Active).count();
    println!(
        "{}seeded {sagas} stories in {seed_secs:.2}s ({active} active sagas); \
         assigned {n} items in {secs:.2}s = {:.0} items/s ({active_after} active sagas after)",
        if with_emb { "[with embeddings] " } else { "" },
        n as f64 / secs
    );
}
