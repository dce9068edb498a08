//! Fuzz target `node_config`: the check is `fuzz/checks/node_config.rs`, shared with the seed replay in the
//! node's tests (`node/tests/fuzz_seeds.rs`).
#![no_main]

#[path = "../checks/node_config.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
