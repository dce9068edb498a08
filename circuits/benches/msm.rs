//! MSM backend benchmark (`cargo bench -p lagrange-circuits --features cuda --bench msm`).
//!
//! G1 MSMs of 2^16, 2^18 and 2^20 points on the CPU backend (all cores; arkworks' own
//! MSM beside it as the baseline) and on the GPU (bases preloaded as a proving key's
//! would be; scalars uploaded and the result read back inside the timing), and whole
//! proofs of the synthetic circuit at 2^16 and
//! 2^18 constraints on each backend, with the GPU's results checked against the CPU's.
//! Results go to stdout and `<target>/bench-results/msm.json`; without a usable GPU
//! (or without the `cuda` feature) the GPU fields are null and `gpu_unavailable` says
//! why. `LAGRANGE_MSM_BENCH_MAX_LOG2=N` caps every size at 2^N (quick runs).

use std::{hint::black_box, sync::Arc, time::Instant};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{PrimeField, UniformRand};
use ark_groth16::{ProvingKey, VerifyingKey};
use lagrange_circuits::{
    CircuitSpec, CpuMsm, JobInput, MsmBackend, MsmChoice, Prover,
    params::setup_insecure_seeded,
    prover::{BasesRef, KeyId, Query, ScalarRepr},
    select_msm,
    synthetic::SyntheticJob,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

mod util;
use util::{median, ms, round3};

fn ms_since(start: Instant) -> f64 {
    ms(start.elapsed())
}

/// Median wall time of `reps` runs of `f` (after one warm-up run, whose output is
/// returned).
fn timed<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let out = f();
    let times = (0..reps)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            ms_since(start)
        })
        .collect();
    (out, median(times))
}

/// `n` distinct points cheaply: a walk of additions of 64 random steps.
fn points(n: usize, rng: &mut ChaCha20Rng) -> Vec<G1Affine> {
    let steps: Vec<G1Projective> = (0..64).map(|_| G1Projective::rand(rng)).collect();
    let mut acc = G1Projective::rand(rng);
    let walk: Vec<G1Projective> = (0..n)
        .map(|i| {
            acc += steps[i % steps.len()];
            acc
        })
        .collect();
    G1Projective::normalize_batch(&walk)
}

/// A proving key holding `points` as its `a_query`, so a backend preloads them the way
/// it preloads a real key.
fn key_with(points: Vec<G1Affine>) -> ProvingKey<Bn254> {
    ProvingKey {
        vk: VerifyingKey::default(),
        beta_g1: G1Affine::generator(),
        delta_g1: G1Affine::generator(),
        a_query: points,
        b_g1_query: Vec::new(),
        b_g2_query: Vec::<G2Affine>::new(),
        h_query: Vec::new(),
        l_query: Vec::new(),
    }
}

fn bench_msm(log2: u32, gpu: Option<&Arc<dyn MsmBackend>>) -> Value {
    let n = 1usize << log2;
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(log2));
    let bases = points(n, &mut rng);
    let scalars: Vec<ScalarRepr> = (0..n).map(|_| Fr::rand(&mut rng).into_bigint()).collect();
    let reps = if log2 >= 20 { 3 } else { 5 };
    let (arkworks_result, arkworks_ms) = timed(reps, || G1Projective::msm_bigint(&bases, &scalars));
    let cpu = CpuMsm;
    let on_cpu = || {
        let bases_ref = BasesRef {
            key: KeyId([0; 32]),
            query: Query::A,
            start: 0,
            points: &bases,
        };
        cpu.msm_g1(bases_ref, &scalars)
    };
    let (cpu_result, cpu_ms) = timed(reps, on_cpu);
    let cpu_matches = cpu_result == Ok(arkworks_result);
    let cpu_result = arkworks_result;
    eprintln!("   MSM 2^{log2}: cpu {cpu_ms} ms, arkworks {arkworks_ms} ms, same {cpu_matches}");
    let (gpu_ms, matches) = match gpu {
        Some(backend) => {
            let key = KeyId([log2 as u8; 32]);
            let pk = key_with(bases.clone());
            let run = || {
                let bases_ref = BasesRef {
                    key,
                    query: Query::A,
                    start: 0,
                    points: &pk.a_query,
                };
                backend.msm_g1(bases_ref, &scalars)
            };
            match backend.preload(key, &pk) {
                Ok(()) => {
                    let (result, ms) = timed(reps, run);
                    backend.release(key);
                    eprintln!("   MSM 2^{log2}: gpu {ms} ms ({result:?})");
                    (Value::from(ms), Value::from(result == Ok(cpu_result)))
                }
                Err(e) => {
                    eprintln!("   MSM 2^{log2}: gpu preload failed: {e}");
                    (Value::Null, Value::from(false))
                }
            }
        }
        None => (Value::Null, Value::Null),
    };
    let speedup = gpu_ms.as_f64().map(|g| round3(cpu_ms / g));
    json!({
        "log2": log2,
        "points": n,
        "cpu_ms": cpu_ms,
        "arkworks_ms": arkworks_ms,
        "cpu_vs_arkworks": round3(arkworks_ms / cpu_ms),
        "cpu_matches_arkworks": cpu_matches,
        "gpu_ms": gpu_ms,
        "speedup": speedup,
        "gpu_matches_cpu": matches,
    })
}

fn bench_prove(log2: u32, gpu: Option<&Arc<dyn MsmBackend>>) -> Value {
    let spec = CircuitSpec::Synthetic { log2 };
    let start = Instant::now();
    let params = match setup_insecure_seeded(spec, 1) {
        Ok(p) => p,
        Err(e) => return json!({ "log2": log2, "error": e.to_string() }),
    };
    eprintln!("   prove 2^{log2}: setup {} ms", ms_since(start));
    let job = JobInput::Synthetic(SyntheticJob { log2, seed: 5 });
    let reps = if log2 >= 18 { 3 } else { 5 };
    let cpu = Prover::cpu(spec, Arc::clone(&params.pk));
    let mut seed = 0u64;
    let mut prove = |prover: &Prover| {
        seed += 1;
        let out = prover.prove(&job, &mut ChaCha20Rng::seed_from_u64(seed));
        out.map(|o| o.proof).map_err(|e| e.to_string())
    };
    let (cpu_proof, cpu_ms) = timed(reps, || prove(&cpu));
    eprintln!("   prove 2^{log2}: cpu {cpu_ms} ms");
    let (gpu_ms, identical) =
        match gpu.map(|b| Prover::new(spec, Arc::clone(&params.pk), Arc::clone(b))) {
            Some(Ok(prover)) => {
                let (_, ms) = timed(reps, || prove(&prover));
                // same randomness on both backends: the proofs must be identical
                let same_rng = |p: &Prover| {
                    p.prove(&job, &mut ChaCha20Rng::seed_from_u64(99))
                        .map(|o| o.proof)
                        .map_err(|e| e.to_string())
                };
                let identical = same_rng(&prover) == same_rng(&cpu) && cpu_proof.is_ok();
                eprintln!("   prove 2^{log2}: gpu {ms} ms, identical {identical}");
                (Value::from(ms), Value::from(identical))
            }
            Some(Err(e)) => {
                eprintln!("   prove 2^{log2}: gpu preload failed: {e}");
                (Value::Null, Value::from(false))
            }
            None => (Value::Null, Value::Null),
        };
    let speedup = gpu_ms.as_f64().map(|g| round3(cpu_ms / g));
    json!({
        "log2": log2,
        "cpu_ms": cpu_ms,
        "gpu_ms": gpu_ms,
        "speedup": speedup,
        "proofs_identical": identical,
    })
}

fn main() {
    let max_log2: u32 = std::env::var("LAGRANGE_MSM_BENCH_MAX_LOG2")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let started = Instant::now();
    let (gpu, gpu_name, unavailable) = match select_msm(MsmChoice::Cuda) {
        Ok(s) => (Some(s.backend), s.gpu, None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    eprintln!("GPU: {gpu_name:?} {unavailable:?}");
    let msm: Vec<Value> = [16, 18, 20]
        .into_iter()
        .filter(|&l| l <= max_log2)
        .map(|l| bench_msm(l, gpu.as_ref()))
        .collect();
    let prove: Vec<Value> = [16, 18]
        .into_iter()
        .filter(|&l| l <= max_log2)
        .map(|l| bench_prove(l, gpu.as_ref()))
        .collect();
    let report = json!({
        "threads": rayon::current_num_threads(),
        "gpu": gpu_name,
        "gpu_unavailable": unavailable,
        "msm_g1": msm,
        "prove_synthetic": prove,
        "total_s": started.elapsed().as_secs(),
    });
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    util::write_result("msm.json", &text);
}
