//! Fuzz target `feed`: see `harness::feed` for the properties checked.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(
    init: {
        // agg-fetch runs feed-rs under `catch_unwind` (one bad feed must never
        // crash a run), but libfuzzer-sys's panic hook aborts before any
        // unwinding, which would report those contained panics as crashes.
        // A hook that only prints lets them unwind to agg-fetch's guard; a
        // panic anywhere else still reaches libfuzzer-sys's own guard, which
        // aborts, so it is still a crash.
        std::panic::set_hook(Box::new(|info| eprintln!("contained? {info}")));
    },
    |data: &[u8]| harness::feed(data)
);
