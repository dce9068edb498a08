//! Proving and verification benchmark (`cargo bench -p lagrange-circuits`).
//!
//! For the synthetic circuit at 2^14 and 2^16 constraints and one coprocessor chunk of
//! each category it measures stock `ark_groth16::Groth16::prove` ("bare") against our
//! [`Prover`] on the same circuit and keys (interleaved, median of a few runs), single
//! and batch verification (N = 64), the memory of the constraint matrices our prover builds
//! once per key (`matrices_bytes`; bare builds them in every proof), the validated decode of a key (what loading it
//! costs), and the one-call verification of a 16-chunk aggregated task. Results go to stdout and to
//! `<target>/bench-results/circuits.json`.
//!
//! `ratio` is `ours_ms / bare_ms` (medians of wall time). The machine may be shared, so
//! each entry also has `ratio_paired_median` (median of the per-pair ratios) and
//! `ratio_cpu` (medians of process CPU time), which background load barely disturbs.
//!
//! Quick mode (default) takes about two minutes on 2 idle cores (four when another
//! build competes); it aggregates a 16-chunk task for the small category only and skips
//! timing the validated load of the large key. `LAGRANGE_BENCH_FULL=1` runs more
//! repetitions and also aggregates a large task.

use std::{hint::black_box, sync::Arc, time::Instant};

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, Proof};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal};
use ark_snark::SNARK;
use lagrange_circuits::{
    AggregatedProof, ChunkProof, ChunkStatement, CircuitParams, CircuitSpec, DataSet, JobInput,
    Prover, Query, Row, batch_verify,
    coprocessor::{Category, plan_chunks},
    params::{decode_proving_key, setup_insecure_seeded},
    synthetic::SyntheticJob,
    verify,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

mod util;
use util::{median, ms, round3};

const BATCH: usize = 64;
const TASK_CHUNKS: usize = 16;

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = black_box(f());
    (out, ms(start.elapsed()))
}

/// CPU time of this whole process (all threads), from `/proc/self/stat` (Linux; 10 ms
/// ticks). Unlike wall time it barely moves when other processes compete for the cores.
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}

/// Wall and CPU milliseconds of `f`.
fn time_cpu<T>(f: impl FnOnce() -> T) -> (f64, Option<f64>) {
    let cpu0 = process_cpu_ms();
    let (_, wall) = time(f);
    let cpu = cpu0.zip(process_cpu_ms()).map(|(a, b)| b - a);
    (wall, cpu)
}

fn constraints(spec: CircuitSpec) -> usize {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    let ok = spec.blank_job().circuit().generate_constraints(cs.clone());
    assert!(ok.is_ok(), "synthesis of {spec} failed");
    cs.finalize();
    cs.num_constraints()
}

fn data_set(rows: usize, seed: u64) -> DataSet {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let rows = (0..rows)
        .map(|_| Row {
            key: rng.gen_range(0..1000),
            value: rng.r#gen(),
        })
        .collect();
    DataSet::new(rows).expect("bench data set")
}

const QUERY: Query = Query { lo: 100, hi: 600 };

/// A job of `spec` with realistic contents.
fn sample_job(spec: CircuitSpec) -> JobInput {
    match spec {
        CircuitSpec::Synthetic { log2 } => JobInput::Synthetic(SyntheticJob { log2, seed: 12345 }),
        CircuitSpec::Coprocessor(shape) => {
            let data = data_set(shape.rows * 2, 1);
            JobInput::Coprocessor(plan_chunks(&data, QUERY, shape).remove(1))
        }
    }
}

struct Entry {
    name: String,
    value: Value,
}

/// What to measure besides proving and verification.
#[derive(Clone, Copy)]
struct Extras {
    /// Prove and verify a 16-chunk aggregated task (coprocessor circuits).
    aggregate: bool,
    /// Time a validated decode of the keys.
    key_load: bool,
}

fn bench_circuit(spec: CircuitSpec, reps: usize, extras: Extras) -> Entry {
    let name = spec.id();
    eprintln!("== {name}");
    let n_constraints = constraints(spec);
    let (params, setup_ms) = time(|| setup_insecure_seeded(spec, 1).expect("setup"));
    eprintln!("   {n_constraints} constraints, setup {setup_ms} ms");

    let params_bytes = ark_serialize::CanonicalSerialize::compressed_size(&*params.pk);
    let load_ms = if extras.key_load {
        // The validated decode a node does when it loads the key file.
        let bytes = lagrange_circuits::encoding::to_bytes(&*params.pk);
        let (loaded, load_ms) = time(|| decode_proving_key(&bytes).expect("decode"));
        assert_eq!(loaded.vk, params.pk.vk);
        Value::from(load_ms)
    } else {
        Value::Null
    };

    let prover = Prover::cpu(spec, Arc::clone(&params.pk));
    let job = sample_job(spec);
    let mut rng = ChaCha20Rng::seed_from_u64(7);

    // Warm up both paths once, then interleave bare/ours in ABBA order.
    let bare = |rng: &mut ChaCha20Rng| {
        Groth16::<Bn254>::prove(&params.pk, job.circuit(), rng).expect("bare prove")
    };
    let ours = |rng: &mut ChaCha20Rng| prover.prove(&job, rng).expect("prove");
    let warm = bare(&mut rng);
    let warm_ours = ours(&mut rng);
    let inputs = warm_ours.public_inputs.clone();
    assert!(verify(&params.pvk(), &warm, &inputs).is_ok());
    let mut bare_ms = Vec::new();
    let mut ours_ms = Vec::new();
    let mut bare_cpu = Vec::new();
    let mut ours_cpu = Vec::new();
    for i in 0..reps {
        let mut run_bare = |rng: &mut ChaCha20Rng| {
            let (wall, cpu) = time_cpu(|| bare(rng));
            bare_ms.push(wall);
            bare_cpu.extend(cpu);
        };
        let mut run_ours = |rng: &mut ChaCha20Rng| {
            let (wall, cpu) = time_cpu(|| ours(rng));
            ours_ms.push(wall);
            ours_cpu.extend(cpu);
        };
        if i % 2 == 0 {
            run_bare(&mut rng);
            run_ours(&mut rng);
        } else {
            run_ours(&mut rng);
            run_bare(&mut rng);
        }
    }
    let (bare_med, ours_med) = (median(bare_ms.clone()), median(ours_ms.clone()));
    // Runs next to each other share the machine's background load; the median of the
    // per-pair ratios is the figure least disturbed by it.
    let paired = median(ours_ms.iter().zip(&bare_ms).map(|(o, b)| o / b).collect());
    eprintln!("   prove bare {bare_ms:?} ours {ours_ms:?}");

    let pvk = params.pvk();
    let verify_ms = median(
        (0..21)
            .map(|_| time(|| verify(&pvk, &warm_ours.proof, &inputs).is_ok()).1)
            .collect(),
    );

    // 64 distinct valid proofs by re-randomization (same cost to verify as fresh ones).
    let items: Vec<(Proof<Bn254>, Vec<Fr>)> = (0..BATCH)
        .map(|_| {
            let p = Groth16::<Bn254>::rerandomize_proof(&params.pk.vk, &warm_ours.proof, &mut rng);
            (p, inputs.clone())
        })
        .collect();
    let batch_ms = median(
        (0..5)
            .map(|_| {
                let (ok, t) = time(|| batch_verify(&pvk, &items, &mut rng).is_ok());
                assert!(ok, "batch must verify");
                t
            })
            .collect(),
    );

    let aggregate_ms = match spec {
        CircuitSpec::Coprocessor(_) if extras.aggregate => {
            Value::from(round3(bench_aggregate(&params, &prover, &mut rng)))
        }
        _ => Value::Null,
    };

    let entry = json!({
        "constraints": n_constraints,
        "setup_ms": setup_ms,
        "proving_key_bytes": params_bytes,
        "matrices_bytes": prover.constraints_bytes(),
        "params_load_ms": load_ms,
        "bare_ms": bare_med,
        "ours_ms": ours_med,
        "bare_min_ms": bare_ms.iter().copied().fold(f64::INFINITY, f64::min),
        "ours_min_ms": ours_ms.iter().copied().fold(f64::INFINITY, f64::min),
        "ratio": round3(ours_med / bare_med),
        "ratio_paired_median": round3(paired),
        "bare_cpu_ms": median(bare_cpu.clone()),
        "ours_cpu_ms": median(ours_cpu.clone()),
        "ratio_cpu": round3(median(ours_cpu) / median(bare_cpu)),
        "verify_ms": round3(verify_ms),
        "batch_verify_ms_per_proof": round3(batch_ms / BATCH as f64),
        "aggregate_verify_ms": aggregate_ms,
    });
    eprintln!("   {entry}");
    Entry { name, value: entry }
}

/// Proves a 16-chunk task and times its one-call aggregate verification.
fn bench_aggregate(params: &CircuitParams, prover: &Prover, rng: &mut ChaCha20Rng) -> f64 {
    let CircuitSpec::Coprocessor(shape) = params.spec else {
        return f64::NAN;
    };
    // 15 full chunks and a short last one.
    let data = data_set(shape.rows * (TASK_CHUNKS - 1) + shape.rows / 2, 2);
    let jobs = plan_chunks(&data, QUERY, shape);
    assert_eq!(jobs.len(), TASK_CHUNKS);
    let (chunks, prove_ms) = time(|| {
        jobs.into_iter()
            .map(|job| {
                let out = prover
                    .prove(&JobInput::Coprocessor(job), rng)
                    .expect("prove");
                ChunkProof {
                    statement: ChunkStatement::from_public_inputs(&out.public_inputs)
                        .expect("statement"),
                    proof: out.proof,
                }
            })
            .collect::<Vec<_>>()
    });
    let commitment = data.commitment();
    let bundle =
        AggregatedProof::new(&params.spec.id(), commitment, QUERY, chunks).expect("aggregate");
    let pvk = params.pvk();
    let times: Vec<f64> = (0..5)
        .map(|_| {
            let (answer, t) = time(|| bundle.verify(&pvk, &commitment, &QUERY));
            assert_eq!(answer.expect("verifies"), data.evaluate(QUERY));
            t
        })
        .collect();
    eprintln!("   16-chunk task proved in {prove_ms} ms, aggregate verify {times:?}");
    median(times)
}

fn main() {
    let full = std::env::var_os("LAGRANGE_BENCH_FULL").is_some();
    // `LAGRANGE_BENCH_ONLY=large` (any id substring) runs a subset; results then go to
    // stdout only.
    let only = std::env::var("LAGRANGE_BENCH_ONLY").ok();
    let wanted = |spec: CircuitSpec| only.as_ref().is_none_or(|s| spec.id().contains(s.as_str()));
    let started = Instant::now();
    let mut entries = Vec::new();
    for (log2, reps) in [(14, 11), (16, 5)] {
        let spec = CircuitSpec::Synthetic { log2 };
        if wanted(spec) {
            let extras = Extras {
                aggregate: false,
                key_load: true,
            };
            entries.push(bench_circuit(spec, if full { 9 } else { reps }, extras));
        }
    }
    for category in Category::ALL {
        let reps = match (full, category) {
            (true, _) => 9,
            (false, Category::Small) => 11,
            (false, Category::Medium) => 5,
            (false, Category::Large) => 5,
        };
        // Aggregate verification costs the same for every category (16 proofs with 8
        // public inputs each); quick mode measures it on the small one only.
        let aggregate = full || category == Category::Small;
        let spec = CircuitSpec::coprocessor(category);
        if wanted(spec) {
            // Validating the large key takes tens of seconds: full mode only.
            let extras = Extras {
                aggregate,
                key_load: full || category != Category::Large,
            };
            entries.push(bench_circuit(spec, reps, extras));
        }
    }
    let mut circuits = serde_json::Map::new();
    for e in entries {
        circuits.insert(e.name, e.value);
    }
    let report = json!({
        "mode": if full { "full" } else { "quick" },
        "threads": rayon::current_num_threads(),
        "batch_size": BATCH,
        "aggregate_chunks": TASK_CHUNKS,
        "total_s": started.elapsed().as_secs(),
        "circuits": circuits,
    });
    let text = serde_json::to_string_pretty(&report).expect("json");
    println!("{text}");
    if only.is_some() {
        return;
    }
    util::write_result("circuits.json", &text);
}
