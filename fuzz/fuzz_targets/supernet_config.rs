//! Fuzz target `supernet_config`: the check is `fuzz/checks/supernet_config.rs`, shared with the seed replay in the
//! node's tests (`node/tests/fuzz_seeds.rs`).
#![no_main]

#[path = "../checks/supernet_config.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
