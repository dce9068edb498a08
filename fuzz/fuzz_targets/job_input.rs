//! Fuzz target `job_input`: the check is `fuzz/checks/job_input.rs`, shared with the seed replay in the
//! node's tests (`node/tests/fuzz_seeds.rs`).
#![no_main]

#[path = "../checks/job_input.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
