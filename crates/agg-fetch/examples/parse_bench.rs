//! Benchmark helper: parse throughput of agg's feed parsing (decode,
//! feed-rs, text, sanitised HTML, keys) over every feed file of a folder.
//!
//! `parse_bench DIR ROUNDS [THREADS]` — prints one JSON line. With THREADS
//! above 1 the files are split between that many threads (agg parses the
//! feeds of a run in parallel); the default is 1.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: parse_bench DIR [ROUNDS]");
    let rounds: usize = args.get(2).map_or(5, |r| r.parse().expect("ROUNDS"));
    let threads: usize = args
        .get(3)
        .map_or(1, |r| r.parse().expect("THREADS"))
        .max(1);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "opml"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .filter(|(_, b)| !String::from_utf8_lossy(&b[..b.len().min(500)]).contains("<opml"))
        .collect();
    files.sort();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let now = chrono::Utc::now();
    let t = Instant::now();
    let (ok, items) = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let files = &files;
                sc.spawn(move || {
                    let (mut ok, mut items) = (0usize, 0usize);
                    for _ in 0..rounds {
                        for (name, b) in files.iter().skip(k).step_by(threads) {
                            if let Ok(f) = agg_fetch::parse_feed(b, name, "bench", now) {
                                ok += 1;
                                items += f.items.len();
                            }
                        }
                    }
                    (ok, items)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"parser\":\"agg\",\"threads\":{threads},\"files\":{},\"rounds\":{rounds},\"parsed\":{},\"items\":{},\"bytes\":{},\"seconds\":{secs:.4},\"mb_per_s\":{:.3},\"feeds_per_s\":{:.1}}}",
        files.len(),
        ok / rounds,
        items / rounds,
        bytes,
        (bytes * rounds) as f64 / secs / 1e6,
        (files.len() * rounds) as f64 / secs
    );
}
