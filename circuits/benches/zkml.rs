//! zkML proving against ezkl (`cargo bench -p lagrange-circuits --bench zkml`).
//!
//! The same ONNX model (an MNIST-size perceptron, 784 → 128 → 10, made from a fixed seed by
//! [`sample::mlp`]) and the same inputs, on the same machine in the same run:
//! - here: quantized to 8 fractional bits and proven whole as one Groth16 slice (CPU MSM
//!   backend), then as two slices, one per layer, proven concurrently (the split across
//!   provers, reported apart); setup, prove and verify times, proof size, and the accuracy
//!   of the quantized outputs against tract's float outputs on 100 inputs;
//! - ezkl (the `ezkl` Python package, `pip install ezkl`; its SRS generated locally): the
//!   same steps by `benches/zkml/ezkl_run.py`. Set `LAGRANGE_EZKL_PYTHON` to the Python
//!   that has it (default `python3`); without it the ezkl side is reported as skipped.
//!
//! Writes `target/bench-results/zkml.json`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_serialize::CanonicalSerialize;
use ark_snark::SNARK;
use lagrange_circuits::CpuMsm;
use lagrange_circuits::prover::{groth16::prove_random, key_id};
use lagrange_circuits::zkml::model::DEFAULT_SCALE_BITS;
use lagrange_circuits::zkml::{QuantizedModel, SliceCircuit, SliceStatement, commit, onnx, sample};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

mod util;
use lagrange_circuits::zkml::argmax;
use util::{median, ms, round3, write_result};

const REPS: usize = 3;
const INPUTS: usize = 100;

/// One slice's keys, and the setup time.
struct Slice<'a> {
    model: &'a QuantizedModel,
    mc: ark_bn254::Fr,
    layers: std::ops::Range<usize>,
    pk: ark_groth16::ProvingKey<Bn254>,
    vk: ark_groth16::VerifyingKey<Bn254>,
    setup_ms: f64,
}

impl<'a> Slice<'a> {
    fn new(
        model: &'a QuantizedModel,
        mc: ark_bn254::Fr,
        layers: std::ops::Range<usize>,
        rng: &mut ChaCha20Rng,
    ) -> Self {
        let t = Instant::now();
        let circuit = SliceCircuit {
            model,
            model_commitment: mc,
            layers: layers.clone(),
            input: None,
        };
        let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(circuit, rng).unwrap();
        Self {
            model,
            mc,
            layers,
            pk,
            vk,
            setup_ms: ms(t.elapsed()),
        }
    }

    /// Proves the slice on `input` `reps` times; returns (median prove ms, verify ms,
    /// proof bytes), having checked the proof against the statement computed natively.
    fn prove(&self, input: &[i64], reps: usize, rng: &mut ChaCha20Rng) -> (f64, f64, usize) {
        let key = key_id(&self.vk);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..reps {
            let circuit = SliceCircuit {
                model: self.model,
                model_commitment: self.mc,
                layers: self.layers.clone(),
                input: Some(input.to_vec()),
            };
            let t = Instant::now();
            let p = prove_random(&CpuMsm, key, &self.pk, circuit, rng).unwrap();
            times.push(ms(t.elapsed()));
            last = Some(p);
        }
        let p = last.unwrap();
        let acts = self
            .model
            .evaluate_layers(self.layers.start, self.layers.end, input)
            .unwrap();
        let statement = SliceStatement {
            model: self.mc,
            input: commit::activations(input),
            output: commit::activations(acts.last().unwrap()),
        };
        assert_eq!(p.public_inputs, statement.public_inputs());
        let t = Instant::now();
        assert!(Groth16::<Bn254>::verify(&self.vk, &p.public_inputs, &p.proof).unwrap());
        (median(times), ms(t.elapsed()), p.proof.compressed_size())
    }
}

fn ezkl(model: &std::path::Path, inputs: &std::path::Path, work: &std::path::Path) -> Value {
    let python = std::env::var("LAGRANGE_EZKL_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/zkml/ezkl_run.py");
    let out = work.join("ezkl.json");
    let t = Instant::now();
    let run = Command::new(&python)
        .arg(&script)
        .arg(model)
        .arg(inputs)
        .arg(work)
        .arg(&out)
        .output();
    match run {
        Ok(o) if o.status.success() => {
            let mut v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap_or_default())
                .unwrap_or(Value::Null);
            v["wall_ms"] = json!(ms(t.elapsed()));
            v
        }
        Ok(o) => json!({"skipped": format!(
            "{python} {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        )}),
        Err(e) => json!({"skipped": format!("cannot run {python}: {e}")}),
    }
}

/// Compares one model with ezkl: accuracy on [`INPUTS`] inputs, the whole model as one
/// slice, and the split into two slices (the first layer, then the rest) proven at once.
fn compare(name: &str, what: &str, bytes: &[u8], rng: &mut ChaCha20Rng) -> Value {
    let model = onnx::load(bytes, DEFAULT_SCALE_BITS).unwrap();
    let mc = commit::model(&model);
    let n = model.input_len();
    let inputs: Vec<Vec<f32>> = (0..INPUTS)
        .map(|_| (0..n).map(|_| rng.gen_range(0.0f32..1.0)).collect())
        .collect();

    // Accuracy against tract's float evaluation.
    let mut floats = Vec::new();
    let (mut agree, mut worst) = (0usize, 0f32);
    for x in &inputs {
        let f = onnx::float_reference(bytes, x).unwrap();
        let q = model.evaluate(&model.quantize_input(x).unwrap()).unwrap();
        let q: Vec<f32> = q.iter().map(|v| model.dequantize(*v)).collect();
        agree += usize::from(argmax(&q) == argmax(&f));
        worst = q
            .iter()
            .zip(&f)
            .fold(worst, |w, (a, b)| w.max((a - b).abs()));
        floats.push(f);
    }

    let x = model.quantize_input(&inputs[0]).unwrap();
    let whole = Slice::new(&model, mc, 0..model.layers.len(), rng);
    let setup = whole.setup_ms;
    let (prove, verify, proof_bytes) = whole.prove(&x, REPS, rng);
    drop(whole);
    println!(
        "{name}, ours: setup {setup} ms, prove {prove} ms, verify {verify} ms, {proof_bytes} B"
    );

    // The split: the first layer, then the rest, keys preloaded, proven at once (as two
    // provers would; here they share this machine's cores).
    let layers = model.layers.len();
    let hidden = model.evaluate_layers(0, 1, &x).unwrap().remove(0);
    let first = Slice::new(&model, mc, 0..1, rng);
    let second = Slice::new(&model, mc, 1..layers, rng);
    let t = Instant::now();
    let (a, b) = rayon::join(
        || first.prove(&x, 1, &mut ChaCha20Rng::seed_from_u64(2)),
        || second.prove(&hidden, 1, &mut ChaCha20Rng::seed_from_u64(3)),
    );
    let split_wall = ms(t.elapsed());

    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench-zkml")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let model_path = dir.join("model.onnx");
    std::fs::write(&model_path, bytes).unwrap();
    let inputs_path = dir.join("inputs.json");
    std::fs::write(
        &inputs_path,
        serde_json::to_vec(&json!({"inputs": inputs, "float_outputs": floats})).unwrap(),
    )
    .unwrap();
    let theirs = ezkl(&model_path, &inputs_path, &dir.join("ezkl"));
    println!("{name}, ezkl: {theirs}");
    let ratio = |k: &str, ours: f64| theirs[k].as_f64().map(|t| round3(t / ours));
    json!({
        "model": {"onnx": what, "scale_bits": model.scale_bits},
        "inputs": INPUTS,
        "ours": {
            "setup_ms": setup,
            "prove_ms": prove,
            "verify_ms": verify,
            "proof_bytes": proof_bytes,
            "public_inputs": 3,
            "argmax_agreement": agree as f64 / INPUTS as f64,
            "max_abs_error": worst,
        },
        "ours_split_two_slices": {
            "wall_ms": split_wall,
            "slice_prove_ms": [a.0, b.0],
            "note": "the first layer, then the rest; keys preloaded; both proven at once on this machine (on two provers each would have its own cores)",
        },
        "ezkl": theirs,
        "ezkl_over_ours": {
            "prove": ratio("prove_ms", prove),
            "verify": ratio("verify_ms", verify),
            "setup": ratio("setup_ms", setup),
        },
    })
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("zkml benchmark: run with `cargo bench -p lagrange-circuits --bench zkml`");
        return;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mlp = compare(
        "mlp",
        "mlp 784-128-10, seed 2024",
        &sample::mlp(2024, &[784, 128, 10]),
        &mut rng,
    );
    let cnn = compare(
        "cnn",
        "cnn 1x28x28 -> conv 3x3, 4 channels, stride 2, pad 1 -> relu -> 784 -> 10, seed 2025",
        &sample::cnn(2025, 28, 4, 2, 10),
        &mut rng,
    );
    let report = json!({
        "mlp": mlp,
        "cnn": cnn,
        "target": "ezkl prove time at least 10x ours, per model",
    });
    let text = serde_json::to_string_pretty(&report).unwrap();
    println!("{text}");
    write_result("zkml.json", &text);
}
