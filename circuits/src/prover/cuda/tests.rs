//! GPU tests: device field products and point sums against arkworks, MSMs of 2^10 to
//! 2^16 points (2^18 and 2^20 with `LAGRANGE_GPU_TEST_LARGE=1`) against arkworks, and
//! whole proofs against the CPU path, all through [`super::check`] (what `gpu-check` runs).
//! Without a usable GPU each test prints "skipping: no CUDA device: <reason>" and passes.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::check::{self, Check, gpu_prover};
use super::{CudaEngine, runtime};
use crate::{
    CircuitSpec, JobInput, Prover,
    coprocessor::{ChunkShape, DataSet, Row, plan_chunks},
    params::setup_insecure_seeded,
};

fn engine_or_skip() -> Option<CudaEngine> {
    match runtime() {
        Ok(rt) => {
            eprintln!("GPU: {} ({})", rt.name(), rt.arch());
            Some(CudaEngine::new(rt))
        }
        Err(e) => {
            eprintln!("skipping: no CUDA device: {e}");
            None
        }
    }
}

fn all_pass(checks: Vec<Check>) {
    for c in &checks {
        eprintln!("{}: {}", c.name, if c.ok { "ok" } else { &c.detail });
    }
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

fn sizes(normal: &[u32], large: &[u32]) -> Vec<u32> {
    let mut all = normal.to_vec();
    if std::env::var_os("LAGRANGE_GPU_TEST_LARGE").is_some() {
        all.extend(large);
    }
    all
}

#[test]
fn device_field_and_point_arithmetic_match_arkworks() {
    let Some(engine) = engine_or_skip() else {
        return;
    };
    all_pass(check::arithmetic(&engine, 1));
}

#[test]
fn g1_msm_matches_arkworks() {
    let Some(engine) = engine_or_skip() else {
        return;
    };
    all_pass(check::msms(
        &engine,
        &sizes(&[10, 14, 16], &[18, 20]),
        &[],
        0,
    ));
    all_pass(check::lopsided_msms(&engine, 0));
}

#[test]
fn g2_msm_matches_arkworks() {
    let Some(engine) = engine_or_skip() else {
        return;
    };
    all_pass(check::msms(&engine, &[], &sizes(&[10, 14], &[16, 18]), 0));
}

#[test]
fn gpu_proofs_are_bit_identical_to_cpu_proofs() {
    if engine_or_skip().is_none() {
        return;
    }
    for seed in 0..2 {
        all_pass(check::proofs(12, seed));
    }

    // a coprocessor chunk: bit-valued witnesses, a few huge buckets
    let shape = ChunkShape { rows: 8 };
    let spec = CircuitSpec::Coprocessor(shape);
    let params = setup_insecure_seeded(spec, 1).unwrap_or_else(|e| panic!("setup: {e}"));
    let gpu = gpu_prover(spec, &params.pk).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gpu.backend_name(), "cuda");
    let cpu = Prover::cpu(spec, Arc::clone(&params.pk));
    let rows = (0..12u64)
        .map(|i| Row {
            key: i % 7,
            value: 1000 + i,
        })
        .collect();
    let data = DataSet::new(rows).unwrap_or_else(|e| panic!("{e}"));
    let query = crate::Query { lo: 2, hi: 5 };
    for job in plan_chunks(&data, query, shape) {
        let job = JobInput::Coprocessor(job);
        let ours = gpu
            .prove(&job, &mut ChaCha20Rng::seed_from_u64(3))
            .unwrap_or_else(|e| panic!("{e}"));
        let want = cpu
            .prove(&job, &mut ChaCha20Rng::seed_from_u64(3))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ours, want);
    }
}
