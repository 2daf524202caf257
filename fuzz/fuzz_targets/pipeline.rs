//! Fuzz target `pipeline`: see `harness::pipeline_in_repo` for the properties checked.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::pipeline_in_repo(data));
