//! Fuzz target `onnx`: the check is `fuzz/checks/onnx.rs`, shared with the seed replay in the
//! node's tests (`node/tests/fuzz_seeds.rs`).
#![no_main]

#[path = "../checks/onnx.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
