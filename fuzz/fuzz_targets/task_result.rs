//! Fuzz target `task_result`: the check is `fuzz/checks/task_result.rs`, shared with the seed replay in the
//! node's tests (`node/tests/fuzz_seeds.rs`).
#![no_main]

#[path = "../checks/task_result.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
