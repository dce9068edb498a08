//! Fuzz target `circom`: the check is `fuzz/checks/circom.rs`, shared with the seed replay in the
//! node's tests (`node/tests/fuzz_seeds.rs`).
//!
//! `CircomKey::from_bytes` catches the panics the `.zkey` reader raises on some malformed
//! points. libFuzzer's panic hook would abort on a caught panic, so this target replaces it
//! with a silent one: a panic nothing catches still unwinds into libfuzzer-sys, which reports
//! it as a crash.
#![no_main]

#[path = "../checks/circom.rs"]
mod check;

static QUIET: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    check::check(data);
});
