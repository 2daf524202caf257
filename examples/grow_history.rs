//! Grows a store to a given number of synthetic items, as a year of daily
//! runs would leave it, for `benches/history/run.sh`.
//!
//! Items come in stories (a few shared title words and a shared direction
//! in vector space, plus noise), published over the 365 days before `--now`
//! minus 8 days, so that none is in a pipeline's default 7-day backlog
//! window: the benchmark's runs see only what they fetch. Each item gets a
//! random unit vector of the model's dimension (cost, not quality, is
//! measured) and goes through the real saga engine in time order, so the
//! engine's state, its event log and the items' saga memberships grow as a
//! real store's do.
//!
//! With a sixth argument PER_DAY, items arrive at that many a day instead,
//! the newest at the end of the span (so a larger store is a longer
//! history at the same daily volume, as one person's store grows), and a
//! story's words are its own (one story in forty has a common topic word),
//! so that stories end as real ones do: real feeds make about one saga per
//! two items, the year layout a few dozen endless ones. The
//! engine archives long-quiet sagas after every batch and at `--now`, as
//! the saga agent does after every run.
//!
//!   cargo run --example grow_history -- DB N [MODEL] [DIM] [NOW]
//!
//! MODEL is the embedder's model id (`agg search` prints it) so that
//! searches and the saga step read these vectors as the real model's.
//!
//! Growing is incremental: a store holding some synthetic items gets the
//! rest, so 20k -> 100k -> 200k reuses the work.

use std::time::Instant;

use agg_core::Item;
use chrono::{DateTime, Duration, Utc};

/// State key: how many synthetic items this store was given.
const GROWN_KEY: &str = "bench:grown";

/// A small deterministic generator (xorshift64*): the benchmark's store is
/// the same on every machine, and no crate is needed for it.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A roughly normal value (sum of uniforms).
    fn gauss(&mut self) -> f32 {
        (0..4).map(|_| self.unit()).sum::<f32>() - 2.0
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= n);
}

const WORDS: &[&str] = &[
    "election",
    "court",
    "rocket",
    "storm",
    "merger",
    "strike",
    "vaccine",
    "budget",
    "summit",
    "outage",
    "trial",
    "launch",
    "drought",
    "tariff",
    "protest",
    "earthquake",
    "satellite",
    "breach",
    "recall",
    "reform",
    "festival",
    "census",
    "pipeline",
    "reactor",
    "glacier",
    "railway",
    "harbour",
    "museum",
    "senate",
    "council",
    "virus",
    "chip",
    "battery",
    "bridge",
    "airport",
    "wildfire",
    "lawsuit",
    "treaty",
    "ceasefire",
    "inflation",
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 2,
        "usage: grow_history DB N [MODEL] [DIM] [NOW] [PER_DAY]"
    );
    let db = &args[0];
    let target: u64 = args[1].parse()?;
    let dim: usize = args.get(3).map_or(Ok(384), |s| s.parse())?;
    let model = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("bench-random-{dim}@1"));
    let now: DateTime<Utc> = args
        .get(4)
        .map_or("2026-11-26T07:00:00Z", String::as_str)
        .parse()?;
    let per_day: Option<f64> = args.get(5).map(|s| s.parse()).transpose()?;
    let store = agg_store::open(db).await?;
    // How many items were grown: noted at the end of each growth, since
    // retention (`benches/history/year.sh`) deletes some; a store grown by
    // an older version has no note and has all it was given.
    let have = match store.load_state(GROWN_KEY).await? {
        Some(n) => n.parse()?,
        None => {
            store
                .count_items(&agg_core::ItemQuery {
                    source: Some("synthetic".into()),
                    ..Default::default()
                })
                .await?
        }
    };
    if have >= target {
        eprintln!("{db}: {have} synthetic items already");
        return Ok(());
    }
    let t0 = Instant::now();
    let end = now - Duration::days(8);
    let start = end - Duration::days(365);
    let span = (end - start).num_seconds();
    // One batch is one slice of the year, in time order, continuing where
    // the last growth stopped (the seed depends on the position).
    let mut engine = agg_agents::saga::load_engine_whole(store.as_ref()).await?;
    let lease = agg_agents::saga::lock_engine(store.as_ref()).await?;
    let mut n = have;
    const BATCH: u64 = 2000;
    while n < target {
        let upto = (n + BATCH).min(target);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n.wrapping_mul(0x1000_0001));
        // Each story: a common word, a made-up name and a direction; ~3
        // items each, so that most sagas are small, as on real feeds.
        let stories = ((upto - n) / 3).max(1) as usize;
        let mut dirs = Vec::with_capacity(stories);
        let mut names = Vec::with_capacity(stories);
        for _ in 0..stories {
            let mut d: Vec<f32> = (0..dim).map(|_| rng.gauss()).collect();
            normalise(&mut d);
            dirs.push(d);
            let w: Vec<&str> = (0..1)
                .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                .collect();
            let mut word = || -> String {
                (0..7)
                    .map(|_| (b'a' + rng.below(26) as u8) as char)
                    .collect()
            };
            let name = word();
            if per_day.is_some() {
                // Stories that begin and end: two words of their own, and
                // one of the common topic words in one story of forty only
                // (shared by every story, they made a few endless sagas).
                let second = word();
                if rng.below(WORDS.len() as u64) == 0 {
                    names.push(format!("{name} {second} {}", w[0]));
                } else {
                    names.push(format!("{name} {second}"));
                }
            } else {
                names.push(format!("{name} {}", w[0]));
            }
        }
        let mut items = Vec::with_capacity((upto - n) as usize);
        let mut vecs = Vec::with_capacity(items.capacity());
        for k in n..upto {
            // Time grows with k: the store is filled oldest first, up to a
            // full year at `target`… and beyond it for the largest sizes
            // (positions wrap onto the year; order is still by k).
            let at = match per_day {
                Some(d) => end - Duration::seconds(((target - k) as f64 * 86_400.0 / d) as i64),
                None => start + Duration::seconds(span * (k as i64 % 200_000) / 200_000),
            };
            let s = rng.below(stories as u64) as usize;
            let mut v: Vec<f32> = dirs[s]
                .iter()
                .map(|x| x + 0.6 * rng.gauss() / (dim as f32).sqrt() * 4.0)
                .collect();
            normalise(&mut v);
            let feed = format!("https://feed{}.example/rss", k % 500);
            let mut it = Item {
                source: "synthetic".into(),
                title: format!("{} update {k}", names[s]),
                ..Default::default()
            };
            it.key = format!("synthetic:{k}");
            it.feed = Some(feed.clone());
            it.feed_title = Some(format!("Feed {}", k % 500));
            it.url = Some(format!("https://feed{}.example/{k}", k % 500));
            it.text = format!("{} — what happened, and what follows from it.", names[s]);
            it.published = Some(at);
            it.fetched = at;
            items.push(it);
            vecs.push(v);
        }
        store.upsert_items(&mut items).await?;
        let rows: Vec<(i64, Vec<f32>)> = items
            .iter()
            .zip(&vecs)
            .filter_map(|(i, v)| Some((i.id?, v.clone())))
            .collect();
        store.put_embeddings(&model, &rows).await?;
        let mut membership = Vec::with_capacity(items.len());
        for (it, v) in items.iter().zip(vecs) {
            let si = agg_saga::SagaItem {
                id: it.key.clone(),
                time: it.published,
                title: it.title.clone(),
                text: it.text.clone(),
                source: it.feed_title.clone(),
                embedding: Some(v),
                feed: it.feed.clone(),
                origin: agg_saga::Origin::Article,
                lang: Some("en".into()),
            };
            let a = engine.assign(&si, it.fetched);
            membership.push((it.key.clone(), a.saga, a.score));
        }
        let rows: Vec<_> = membership
            .into_iter()
            .filter_map(|(key, id, score)| {
                let r = engine.resolve(id).and_then(|r| engine.saga(r))?;
                Some((
                    key,
                    agg_core::SagaRef {
                        id: r.id.0,
                        title: r.title.clone(),
                        followed: r.followed,
                        muted: r.muted,
                    },
                    score,
                ))
            })
            .collect();
        store.set_item_sagas(&rows).await?;
        if let Some(last) = items.last() {
            engine.archive(last.fetched);
        }
        n = upto;
        eprintln!(
            "{n} items, {} sagas ({} live), {:.0?}",
            engine.saga_count(),
            engine.sagas().count(),
            t0.elapsed()
        );
    }
    engine.archive(now);
    agg_agents::saga::save_engine(store.as_ref(), &mut engine).await?;
    store.save_state(GROWN_KEY, &n.to_string()).await?;
    lease.release().await?;
    eprintln!("{db}: grown to {n} items in {:.0?}", t0.elapsed());
    Ok(())
}
