//! The GPU self-test and short benchmark behind `lagrange-node gpu-check`, also used by the
//! GPU tests: device field and point arithmetic against arkworks, G1 and G2 MSMs against
//! arkworks, whole proofs bit-identical to the CPU's, then MSM and proof times on the CPU
//! and the GPU in the same run. Randomized from a seed, so a failure can be replayed.

use std::sync::Arc;
use std::time::Instant;

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Projective, g1, g2};
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{PrimeField, UniformRand};
use cudarc::driver::PushKernelArg;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{CudaEngine, CudaMsm};
use crate::prover::bucket::{
    DeviceCurve,
    layout::{points_to_limbs, projective_from_xyzz},
    pipeline,
    plan::Shape,
};
use crate::prover::msm::ScalarRepr;
use crate::synthetic::SyntheticJob;
use crate::{CircuitSpec, JobInput, MsmBackend, Prover, params::setup_insecure_seeded};

/// One self-test: what was compared and whether the GPU agreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was compared, e.g. "G1 MSM 2^16".
    pub name: String,
    /// Whether the GPU's answer equals the CPU's.
    pub ok: bool,
    /// The error or mismatch, when not ok.
    pub detail: String,
}

/// One measurement, CPU and GPU in the same run.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// What was timed, e.g. "G1 MSM" or "whole proof (synthetic)".
    pub name: String,
    /// Its size: points, or constraints, as a power of two.
    pub log2: u32,
    /// CPU time, milliseconds (this host's cores).
    pub cpu_ms: f64,
    /// GPU time, milliseconds.
    pub gpu_ms: f64,
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Runs a `(a, b, out, n)` self-test kernel of `selftest.cu` on flat limb vectors of `per`
/// limbs an element.
pub(crate) fn elementwise(
    engine: &CudaEngine,
    kernel: &'static str,
    a: &[u64],
    b: &[u64],
    per: usize,
) -> Result<Vec<u64>, String> {
    let rt = engine.runtime();
    let n = u32::try_from(a.len() / per).map_err(|e| e.to_string())?;
    let stream = &rt.stream;
    let da = stream.clone_htod(a).map_err(|e| e.to_string())?;
    let db = stream.clone_htod(b).map_err(|e| e.to_string())?;
    let mut out = stream
        .alloc_zeros::<u64>(a.len())
        .map_err(|e| e.to_string())?;
    let f = engine.function(kernel).map_err(|e| e.to_string())?;
    let Some(cfg) = super::engine::config(f, u64::from(n), 256).map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    let mut launch = stream.launch_builder(f);
    launch.arg(&da).arg(&db).arg(&mut out).arg(&n);
    // SAFETY: matches the `(a, b, out, n)` self-test kernels in selftest.cu; the buffers
    // hold n elements of `per` limbs each.
    unsafe { launch.launch(cfg) }.map_err(|e| e.to_string())?;
    let host = stream.clone_dtoh(&out).map_err(|e| e.to_string())?;
    stream.synchronize().map_err(|e| e.to_string())?;
    Ok(host)
}

/// `n` distinct points cheaply: a walk of additions of 64 random steps.
pub(crate) fn points<C: DeviceCurve>(n: usize, seed: u64) -> Vec<Affine<C>> {
    let mut r = rng(seed);
    let steps: Vec<Projective<C>> = (0..64).map(|_| Projective::<C>::rand(&mut r)).collect();
    let mut acc = Projective::<C>::rand(&mut r);
    let walk: Vec<Projective<C>> = (0..n)
        .map(|i| {
            acc += steps[i % steps.len()];
            acc
        })
        .collect();
    Projective::normalize_batch(&walk)
}

/// `n` random scalars.
pub(crate) fn scalars(n: usize, seed: u64) -> Vec<ScalarRepr> {
    let mut r = rng(seed);
    (0..n).map(|_| Fr::rand(&mut r).into_bigint()).collect()
}

/// The bases uploaded once, as a proving key's are.
pub(crate) fn upload<C: DeviceCurve>(
    engine: &CudaEngine,
    points: &[Affine<C>],
) -> Result<cudarc::driver::CudaSlice<u64>, String> {
    pipeline::Engine::upload_u64(engine, &points_to_limbs(points)).map_err(|e| e.to_string())
}

/// An MSM on the GPU over uploaded bases: the scalars' upload, the kernels and the result's
/// read-back.
pub(crate) fn msm_on<C: DeviceCurve>(
    engine: &CudaEngine,
    bases: &cudarc::driver::CudaSlice<u64>,
    scalars: &[ScalarRepr],
) -> Result<Projective<C>, String> {
    let shape = Shape::for_points(scalars.len())
        .ok_or_else(|| format!("no MSM shape for {} points", scalars.len()))?;
    pipeline::run::<CudaEngine, C>(engine, bases, 0, scalars, shape).map_err(|e| e.to_string())
}

/// An MSM on the GPU, bases uploaded first.
pub(crate) fn gpu_msm<C: DeviceCurve>(
    engine: &CudaEngine,
    points: &[Affine<C>],
    scalars: &[ScalarRepr],
) -> Result<Projective<C>, String> {
    msm_on(engine, &upload(engine, points)?, scalars)
}

fn check(name: String, outcome: Result<bool, String>) -> Check {
    match outcome {
        Ok(true) => Check {
            name,
            ok: true,
            detail: String::new(),
        },
        Ok(false) => Check {
            name,
            ok: false,
            detail: "the GPU's answer differs from the CPU's".into(),
        },
        Err(e) => Check {
            name,
            ok: false,
            detail: e,
        },
    }
}

fn fq_limbs(v: &[Fq]) -> Vec<u64> {
    v.iter().flat_map(|x| x.0.0).collect()
}

fn fq2_limbs(v: &[Fq2]) -> Vec<u64> {
    v.iter()
        .flat_map(|x| x.c0.0.0.into_iter().chain(x.c1.0.0))
        .collect()
}

/// Affine G1 points as XYZZ limbs with ZZ = ZZZ = 1.
fn xyzz(v: &[G1Affine]) -> Vec<u64> {
    let one = Fq::from(1u64).0.0;
    points_to_limbs(v)
        .chunks(8)
        .flat_map(|xy| {
            xy.iter()
                .copied()
                .chain(one)
                .chain(one)
                .collect::<Vec<u64>>()
        })
        .collect()
}

/// Field products (Fq, Fq2) and G1 point sums, doubling and infinity included.
pub fn arithmetic(engine: &CudaEngine, seed: u64) -> Vec<Check> {
    let mut r = rng(seed);
    let n = 4096;
    let a: Vec<Fq> = (0..n).map(|_| Fq::rand(&mut r)).collect();
    let b: Vec<Fq> = (0..n).map(|_| Fq::rand(&mut r)).collect();
    let want: Vec<Fq> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let fq = elementwise(engine, "test_fq_mul", &fq_limbs(&a), &fq_limbs(&b), 4)
        .map(|got| got == fq_limbs(&want));

    let a: Vec<Fq2> = (0..n).map(|_| Fq2::rand(&mut r)).collect();
    let b: Vec<Fq2> = (0..n).map(|_| Fq2::rand(&mut r)).collect();
    let want: Vec<Fq2> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let fq2 = elementwise(engine, "test_fq2_mul", &fq2_limbs(&a), &fq2_limbs(&b), 8)
        .map(|got| got == fq2_limbs(&want));

    let p: Vec<G1Affine> = (0..256)
        .map(|_| G1Projective::rand(&mut r).into_affine())
        .collect();
    let mut q: Vec<G1Affine> = (0..256)
        .map(|_| G1Projective::rand(&mut r).into_affine())
        .collect();
    q[0] = p[0]; // doubling
    q[1] = -p[1]; // infinity
    let g1_add = elementwise(engine, "test_g1_add", &xyzz(&p), &xyzz(&q), 16).map(|got| {
        got.len() == 16 * p.len()
            && got
                .chunks(16)
                .zip(p.iter().zip(&q))
                .all(|(chunk, (p, q))| projective_from_xyzz::<g1::Config>(chunk) == *p + q)
    });
    vec![
        check(format!("Fq products ({n})"), fq),
        check(format!("Fq2 products ({n})"), fq2),
        check(
            "G1 point sums (256, with doubling and infinity)".into(),
            g1_add,
        ),
    ]
}

/// G1 MSMs of `2^log2` points for each of `g1_sizes`, G2 MSMs for each of `g2_sizes`,
/// against arkworks.
pub fn msms(engine: &CudaEngine, g1_sizes: &[u32], g2_sizes: &[u32], seed: u64) -> Vec<Check> {
    let mut out = Vec::new();
    for &log2 in g1_sizes {
        let n = 1usize << log2;
        let p = points::<g1::Config>(n, seed + u64::from(log2));
        let s = scalars(n, seed + 100 + u64::from(log2));
        let got = gpu_msm(engine, &p, &s).map(|g| g == G1Projective::msm_bigint(&p, &s));
        out.push(check(format!("G1 MSM 2^{log2}"), got));
    }
    for &log2 in g2_sizes {
        let n = 1usize << log2;
        let p = points::<g2::Config>(n, seed + 50 + u64::from(log2));
        let s = scalars(n, seed + 200 + u64::from(log2));
        let got = gpu_msm(engine, &p, &s).map(|g| g == G2Projective::msm_bigint(&p, &s));
        out.push(check(format!("G2 MSM 2^{log2}"), got));
    }
    out
}

/// G1 MSMs of 2^14 points with lopsided buckets (every scalar 1; scalars below 5) against
/// arkworks.
pub fn lopsided_msms(engine: &CudaEngine, seed: u64) -> Vec<Check> {
    let mut out = Vec::new();
    let n = 1 << 14;
    let p = points::<g1::Config>(n, seed + 7);
    let lopsided = [
        ("every scalar 1", vec![Fr::from(1u64).into_bigint(); n]),
        (
            "scalars below 5",
            (0..n as u64)
                .map(|i| Fr::from(i % 5).into_bigint())
                .collect(),
        ),
    ];
    for (what, s) in lopsided {
        let got = gpu_msm(engine, &p, &s).map(|g| g == G1Projective::msm_bigint(&p, &s));
        out.push(check(format!("G1 MSM 2^14, {what}"), got));
    }
    out
}

/// A prover that runs every MSM on the GPU, however small.
pub(crate) fn gpu_prover(
    spec: CircuitSpec,
    pk: &Arc<ark_groth16::ProvingKey<ark_bn254::Bn254>>,
) -> Result<Prover, String> {
    let backend = CudaMsm::cuda().map_err(|e| e.to_string())?;
    let backend: Arc<dyn MsmBackend> = Arc::new(backend.with_cpu_below(0));
    Prover::new(spec, Arc::clone(pk), backend).map_err(|e| e.to_string())
}

/// Whole proofs of the synthetic circuit at `2^log2` constraints, GPU against CPU with the
/// same randomness: they must be the same bytes.
pub fn proofs(log2: u32, seed: u64) -> Vec<Check> {
    let name = format!("whole proof, synthetic 2^{log2}, bit-identical to the CPU's");
    let spec = CircuitSpec::Synthetic { log2 };
    let run = || -> Result<bool, String> {
        let params = setup_insecure_seeded(spec, seed).map_err(|e| e.to_string())?;
        let gpu = gpu_prover(spec, &params.pk)?;
        let cpu = Prover::cpu(spec, Arc::clone(&params.pk));
        let job = JobInput::Synthetic(SyntheticJob { log2, seed });
        let ours = gpu.prove(&job, &mut rng(seed)).map_err(|e| e.to_string())?;
        let want = cpu.prove(&job, &mut rng(seed)).map_err(|e| e.to_string())?;
        Ok(ours == want)
    };
    vec![check(name, run())]
}

fn millis(f: impl FnOnce() -> Result<(), String>) -> Result<f64, String> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// The best of `runs` timings of `f`.
fn best(runs: usize, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    (0..runs.max(1))
        .map(|_| millis(&mut f))
        .try_fold(f64::INFINITY, |acc, t| t.map(|t| acc.min(t)))
}

/// G1 MSM times at each `2^log2` (bases uploaded beforehand, as a preloaded key's are; the
/// GPU time includes the scalars' upload and the result's read-back), the best of `runs`.
pub fn msm_timings(engine: &CudaEngine, sizes: &[u32], runs: usize) -> Result<Vec<Timing>, String> {
    sizes
        .iter()
        .map(|&log2| {
            let n = 1usize << log2;
            let p = points::<g1::Config>(n, u64::from(log2));
            let s = scalars(n, 1000 + u64::from(log2));
            let bases = upload(engine, &p)?;
            let _warm_up = msm_on::<g1::Config>(engine, &bases, &s)?;
            let gpu_ms = best(runs, || {
                let _sum = std::hint::black_box(msm_on::<g1::Config>(engine, &bases, &s)?);
                Ok(())
            })?;
            let cpu_ms = best(runs, || {
                let _sum = std::hint::black_box(G1Projective::msm_bigint(&p, &s));
                Ok(())
            })?;
            Ok(Timing {
                name: "G1 MSM".into(),
                log2,
                cpu_ms,
                gpu_ms,
            })
        })
        .collect()
}

/// Whole-proof times of the synthetic circuit at each `2^log2` constraints, keys preloaded
/// on both sides, the best of `runs`.
pub fn proof_timings(sizes: &[u32], runs: usize) -> Result<Vec<Timing>, String> {
    sizes
        .iter()
        .map(|&log2| {
            let spec = CircuitSpec::Synthetic { log2 };
            let params = setup_insecure_seeded(spec, 1).map_err(|e| e.to_string())?;
            let gpu = gpu_prover(spec, &params.pk)?;
            let cpu = Prover::cpu(spec, Arc::clone(&params.pk));
            let job = JobInput::Synthetic(SyntheticJob { log2, seed: 3 });
            let prove = |p: &Prover| {
                p.prove(&job, &mut rng(3))
                    .map(drop)
                    .map_err(|e| e.to_string())
            };
            prove(&gpu)?; // warm-up
            let gpu_ms = best(runs, || prove(&gpu))?;
            let cpu_ms = best(runs, || prove(&cpu))?;
            Ok(Timing {
                name: "whole proof (synthetic)".into(),
                log2,
                cpu_ms,
                gpu_ms,
            })
        })
        .collect()
}
