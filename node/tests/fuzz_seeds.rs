//! The fuzz targets' checks in the ordinary test suite: each target's property
//! (`fuzz/checks/<target>.rs`, the very code its libFuzzer binary runs) over the target's
//! committed seed corpus (`fuzz/corpus/<target>`) and over seeded mutations of every seed
//! (bit flips, truncations, inserted, repeated and dropped bytes, a new kind byte).
//!
//! Coverage-guided fuzzing stays with cargo-fuzz (`fuzz/run.sh`, the long runs in
//! fuzz/README.md); this keeps every property true on the inputs that once mattered, on every
//! run of the suite, without building the targets' instrumented binaries.

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "../../fuzz/checks/circom.rs"]
mod circom;
#[path = "../../fuzz/checks/evidence.rs"]
mod evidence;
#[path = "../../fuzz/checks/frames.rs"]
mod frames;
#[path = "../../fuzz/checks/honest_evidence.rs"]
mod honest_evidence;
#[path = "../../fuzz/checks/job_input.rs"]
mod job_input;
#[path = "../../fuzz/checks/keys.rs"]
mod keys;
#[path = "../../fuzz/checks/node_config.rs"]
mod node_config;
#[path = "../../fuzz/checks/onnx.rs"]
mod onnx;
#[path = "../../fuzz/checks/proof.rs"]
mod proof;
#[path = "../../fuzz/checks/supernet_config.rs"]
mod supernet_config;
#[path = "../../fuzz/checks/task_result.rs"]
mod task_result;
#[path = "../../fuzz/checks/wire.rs"]
mod wire;

/// The committed seeds of one target, in name order.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no seeds", dir.display());
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).expect("a readable seed");
            (name, bytes)
        })
        .collect()
}

/// One seeded edit of `input`, of the kinds libFuzzer's mutators make.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    if out.is_empty() {
        out.push(rng.r#gen());
        return out;
    }
    let at = rng.gen_range(0..out.len());
    match rng.gen_range(0..6) {
        0 => out[at] ^= 1 << rng.gen_range(0..8),
        1 => out.truncate(at),
        2 => out.insert(at, rng.r#gen()),
        3 => {
            let end = (at + rng.gen_range(1..=16)).min(out.len());
            let piece = out[at..end].to_vec();
            out.splice(at..at, piece);
        }
        4 => {
            let end = (at + rng.gen_range(1..=16)).min(out.len());
            out.drain(at..end);
        }
        _ => out[0] = rng.r#gen(),
    }
    out
}

/// Runs `check` on every seed of `target` and on `mutations` edits of each (one to three
/// edits stacked), from a fixed seed so that a failure names an input that reproduces.
fn replay(target: &str, check: fn(&[u8]), mutations: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    for (name, seed) in seeds(target) {
        check(&seed);
        for i in 0..mutations {
            let mut input = mutate(&mut rng, &seed);
            for _ in 0..rng.gen_range(0..3) {
                input = mutate(&mut rng, &input);
            }
            let outcome = std::panic::catch_unwind(|| check(&input));
            if let Err(panic) = outcome {
                let path = std::env::temp_dir().join(format!("fuzz-{target}-{name}-{i}"));
                let _ = std::fs::write(&path, &input);
                panic!(
                    "{target}: mutation {i} of seed {name} fails its check (input written to {}): {:?}",
                    path.display(),
                    panic.downcast_ref::<String>()
                );
            }
        }
    }
}

#[test]
fn wire_seeds_hold() {
    replay("wire", wire::check, 200);
}

#[test]
fn frames_seeds_hold() {
    replay("frames", frames::check, 100);
}

#[test]
fn honest_evidence_seeds_frame_nobody() {
    replay("honest_evidence", honest_evidence::check, 20);
}

#[test]
fn evidence_seeds_hold() {
    replay("evidence", evidence::check, 100);
}

#[test]
fn circom_seeds_hold() {
    replay("circom", circom::check, 50);
}

#[test]
fn job_input_seeds_hold() {
    replay("job_input", job_input::check, 200);
}

#[test]
fn keys_seeds_hold() {
    replay("keys", keys::check, 20);
}

#[test]
fn node_config_seeds_hold() {
    replay("node_config", node_config::check, 200);
}

#[test]
fn onnx_seeds_hold() {
    replay("onnx", onnx::check, 100);
}

#[test]
fn proof_seeds_hold() {
    replay("proof", proof::check, 200);
}

#[test]
fn supernet_config_seeds_hold() {
    replay("supernet_config", supernet_config::check, 200);
}

#[test]
fn task_result_seeds_hold() {
    replay("task_result", task_result::check, 200);
}
