//! GPU tests: device field products and point sums against arkworks, MSMs of 2^10 to
//! 2^16 points (2^18 and 2^20 with `LAGRANGE_GPU_TEST_LARGE=1`) against arkworks, and
//! whole proofs against the CPU path. Without a usable GPU each test prints
//! "skipping: no CUDA device: <reason>" and passes.

use std::sync::Arc;

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Projective, g1, g2};
use ark_ec::{CurveGroup, VariableBaseMSM, short_weierstrass::Projective};
use ark_ff::{PrimeField, UniformRand};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{CudaEngine, CudaMsm, runtime};
use crate::{
    CircuitSpec, JobInput, MsmBackend, Prover,
    coprocessor::{ChunkShape, DataSet, Row, plan_chunks},
    params::setup_insecure_seeded,
    prover::{
        bucket::{
            DeviceCurve,
            layout::{points_to_limbs, projective_from_xyzz},
            pipeline,
            plan::Shape,
        },
        msm::ScalarRepr,
    },
    synthetic::SyntheticJob,
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

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Runs a `(a, b, out, n)` self-test kernel on flat limb vectors.
fn elementwise(
    engine: &CudaEngine,
    kernel: &'static str,
    a: &[u64],
    b: &[u64],
    per: usize,
) -> Vec<u64> {
    let rt = engine.runtime();
    let n = (a.len() / per) as u32;
    let run = || -> Result<Vec<u64>, String> {
        let stream = &rt.stream;
        let da = stream.clone_htod(a).map_err(|e| e.to_string())?;
        let db = stream.clone_htod(b).map_err(|e| e.to_string())?;
        let mut out = stream
            .alloc_zeros::<u64>(a.len())
            .map_err(|e| e.to_string())?;
        let f = engine.function(kernel).map_err(|e| e.to_string())?;
        let mut launch = stream.launch_builder(f);
        launch.arg(&da).arg(&db).arg(&mut out).arg(&n);
        // SAFETY: matches the `(a, b, out, n)` self-test kernels in selftest.cu.
        unsafe { launch.launch(LaunchConfig::for_num_elems(n)) }.map_err(|e| e.to_string())?;
        let host = stream.clone_dtoh(&out).map_err(|e| e.to_string())?;
        stream.synchronize().map_err(|e| e.to_string())?;
        Ok(host)
    };
    run().unwrap_or_else(|e| panic!("{kernel}: {e}"))
}

#[test]
fn device_field_and_point_arithmetic_match_arkworks() {
    let Some(engine) = engine_or_skip() else {
        return;
    };
    let mut r = rng(1);
    let n = 4096;
    let a: Vec<Fq> = (0..n).map(|_| Fq::rand(&mut r)).collect();
    let b: Vec<Fq> = (0..n).map(|_| Fq::rand(&mut r)).collect();
    let limbs = |v: &[Fq]| v.iter().flat_map(|x| x.0.0).collect::<Vec<u64>>();
    let got = elementwise(&engine, "test_fq_mul", &limbs(&a), &limbs(&b), 4);
    let want: Vec<Fq> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    assert_eq!(got, limbs(&want));

    let a: Vec<Fq2> = (0..n).map(|_| Fq2::rand(&mut r)).collect();
    let b: Vec<Fq2> = (0..n).map(|_| Fq2::rand(&mut r)).collect();
    let limbs2 = |v: &[Fq2]| {
        v.iter()
            .flat_map(|x| x.c0.0.0.into_iter().chain(x.c1.0.0))
            .collect::<Vec<u64>>()
    };
    let got = elementwise(&engine, "test_fq2_mul", &limbs2(&a), &limbs2(&b), 8);
    let want: Vec<Fq2> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    assert_eq!(got, limbs2(&want));

    // point sums, from affine points written as XYZZ with ZZ = ZZZ = 1
    let p: Vec<G1Affine> = (0..256)
        .map(|_| G1Projective::rand(&mut r).into_affine())
        .collect();
    let mut q: Vec<G1Affine> = (0..256)
        .map(|_| G1Projective::rand(&mut r).into_affine())
        .collect();
    q[0] = p[0]; // doubling
    q[1] = -p[1]; // infinity
    let xyzz = |v: &[G1Affine]| {
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
            .collect::<Vec<u64>>()
    };
    let got = elementwise(&engine, "test_g1_add", &xyzz(&p), &xyzz(&q), 16);
    for (i, chunk) in got.chunks(16).enumerate() {
        assert_eq!(
            projective_from_xyzz::<g1::Config>(chunk),
            p[i] + q[i],
            "point {i}"
        );
    }
}

/// `n` distinct points cheaply: a walk of additions of 64 random steps.
fn points<C: DeviceCurve>(n: usize, seed: u64) -> Vec<ark_ec::short_weierstrass::Affine<C>> {
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

fn scalars(n: usize, seed: u64) -> Vec<ScalarRepr> {
    let mut r = rng(seed);
    (0..n).map(|_| Fr::rand(&mut r).into_bigint()).collect()
}

fn gpu_msm<C: DeviceCurve>(
    engine: &CudaEngine,
    points: &[ark_ec::short_weierstrass::Affine<C>],
    scalars: &[ScalarRepr],
) -> Projective<C> {
    let shape = Shape::for_points(points.len()).unwrap_or_else(|| panic!("shape"));
    let run = || -> Result<Projective<C>, String> {
        let bases = pipeline::Engine::upload_u64(engine, &points_to_limbs(points))
            .map_err(|e| e.to_string())?;
        pipeline::run::<CudaEngine, C>(engine, &bases, 0, scalars, shape).map_err(|e| e.to_string())
    };
    run().unwrap_or_else(|e| panic!("gpu msm of {}: {e}", points.len()))
}

fn sizes(normal: &[u32], large: &[u32]) -> Vec<u32> {
    let mut all = normal.to_vec();
    if std::env::var_os("LAGRANGE_GPU_TEST_LARGE").is_some() {
        all.extend(large);
    }
    all
}

#[test]
fn g1_msm_matches_arkworks() {
    let Some(engine) = engine_or_skip() else {
        return;
    };
    for log2 in sizes(&[10, 14, 16], &[18, 20]) {
        let n = 1usize << log2;
        let p = points::<g1::Config>(n, u64::from(log2));
        let s = scalars(n, 100 + u64::from(log2));
        assert_eq!(
            gpu_msm(&engine, &p, &s),
            G1Projective::msm_bigint(&p, &s),
            "2^{log2}"
        );
        eprintln!("G1 2^{log2}: ok");
    }
    // lopsided buckets: every scalar 1, or a small value
    let n = 1 << 14;
    let p = points::<g1::Config>(n, 7);
    for s in [
        vec![Fr::from(1u64).into_bigint(); n],
        (0..n as u64)
            .map(|i| Fr::from(i % 5).into_bigint())
            .collect(),
    ] {
        assert_eq!(gpu_msm(&engine, &p, &s), G1Projective::msm_bigint(&p, &s));
    }
}

#[test]
fn g2_msm_matches_arkworks() {
    let Some(engine) = engine_or_skip() else {
        return;
    };
    for log2 in sizes(&[10, 14], &[16, 18]) {
        let n = 1usize << log2;
        let p = points::<g2::Config>(n, u64::from(log2));
        let s = scalars(n, 200 + u64::from(log2));
        assert_eq!(
            gpu_msm(&engine, &p, &s),
            G2Projective::msm_bigint(&p, &s),
            "2^{log2}"
        );
        eprintln!("G2 2^{log2}: ok");
    }
}

fn gpu_prover(
    spec: CircuitSpec,
    pk: &Arc<ark_groth16::ProvingKey<ark_bn254::Bn254>>,
) -> Option<Prover> {
    let backend: CudaMsm = match CudaMsm::cuda() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipping: no CUDA device: {e}");
            return None;
        }
    };
    // every MSM on the GPU, however small
    let backend: Arc<dyn MsmBackend> = Arc::new(backend.with_cpu_below(0));
    Some(Prover::new(spec, Arc::clone(pk), backend).unwrap_or_else(|e| panic!("preload: {e}")))
}

#[test]
fn gpu_proofs_are_bit_identical_to_cpu_proofs() {
    if engine_or_skip().is_none() {
        return;
    }
    let spec = CircuitSpec::Synthetic { log2: 12 };
    let params = setup_insecure_seeded(spec, 1).unwrap_or_else(|e| panic!("setup: {e}"));
    let Some(gpu) = gpu_prover(spec, &params.pk) else {
        return;
    };
    assert_eq!(gpu.backend_name(), "cuda");
    let cpu = Prover::cpu(spec, Arc::clone(&params.pk));
    for seed in 0..2 {
        let job = JobInput::Synthetic(SyntheticJob { log2: 12, seed });
        let ours = gpu
            .prove(&job, &mut rng(seed))
            .unwrap_or_else(|e| panic!("{e}"));
        let want = cpu
            .prove(&job, &mut rng(seed))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ours, want);
    }

    // a coprocessor chunk: bit-valued witnesses, a few huge buckets
    let shape = ChunkShape { rows: 8 };
    let spec = CircuitSpec::Coprocessor(shape);
    let params = setup_insecure_seeded(spec, 1).unwrap_or_else(|e| panic!("setup: {e}"));
    let Some(gpu) = gpu_prover(spec, &params.pk) else {
        return;
    };
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
            .prove(&job, &mut rng(3))
            .unwrap_or_else(|e| panic!("{e}"));
        let want = cpu
            .prove(&job, &mut rng(3))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ours, want);
    }
}
