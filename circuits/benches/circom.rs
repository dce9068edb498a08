//! circom proving against snarkjs (`cargo bench -p lagrange-circuits --bench circom`).
//!
//! The same circuit (the square chain of `fixtures/circom/square_chain.circom`, sized to
//! about 2^14, 2^16 and 2^18 constraints), the same `.zkey` and the same witness, on the
//! same machine in the same run: proven here on the CPU backend and by
//! `snarkjs groth16 prove`. Each of our proofs is checked by `snarkjs groth16 verify`, and
//! each of snarkjs' by our verifier. Reports `ours_ms`, `snarkjs_ms` (medians; snarkjs'
//! includes starting Node.js, which `snarkjs_startup_ms` measures on its own), the ratio,
//! and both verdicts, to stdout and `target/bench-results/circom.json`.
//!
//! Artifacts are made once per size and cached under `target/bench-circom/seeded/`: the
//! circuit and witnesses by `fixtures/circom/make.sh` (Node.js and npm needed), the key
//! by a seeded, insecure setup written as a snarkjs `.zkey` ([`circom_setup`]; snarkjs'
//! own ceremony takes hours at 2^18 on two cores). With `LAGRANGE_RAPIDSNARK` naming a
//! rapidsnark `prover` binary (built from source: C++ with assembly field arithmetic), the
//! same key and witness are proven by it too, and its proofs checked by our verifier. `LAGRANGE_CIRCOM_BENCH_MAX_LOG2=N` caps the
//! sizes at 2^N for quick runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use lagrange_circuits::circom::{CircomCircuit, R1cs, Witness};
use lagrange_circuits::snarkjs::{self, ProofJson};
use lagrange_circuits::{CpuMsm, MsmBackend};
use rand::SeedableRng;
use serde_json::{Value, json};

mod circom_setup;
mod util;
use util::{median, ms, round3, write_result};

const REPS: usize = 3;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/circom")
}

fn snarkjs() -> PathBuf {
    fixtures().join("node_modules/.bin/snarkjs")
}

/// Makes (once) the artifacts for a chain of `n` squarings: the circuit and witness by
/// `make.sh` (the pinned circom compiler), the key by [`circom_setup`], its verification
/// key by `snarkjs zkey export verificationkey`.
fn artifacts(n: usize, cache: &Path) -> Result<PathBuf, String> {
    let dir = cache.join(n.to_string());
    if !dir.join("witness.wtns").exists() {
        eprintln!("compiling the circuit for {n} constraints (once; 2^18 takes minutes)");
        let status = Command::new(fixtures().join("make.sh"))
            .arg(n.to_string())
            .arg(&dir)
            .env("SETUP", "none")
            .status()
            .map_err(|e| format!("make.sh: {e}"))?;
        if !status.success() {
            return Err(format!("make.sh {n} failed"));
        }
    }
    if !dir.join("verification_key.json").exists() {
        let r1cs = std::fs::read(dir.join("square_chain.r1cs")).map_err(|e| e.to_string())?;
        let r1cs = R1cs::from_bytes(&r1cs).map_err(|e| e.to_string())?;
        let zkey = circom_setup::insecure_zkey(&r1cs, n as u64)?;
        std::fs::write(dir.join("square_chain.zkey"), zkey).map_err(|e| e.to_string())?;
        run(Command::new(snarkjs())
            .args(["zkey", "export", "verificationkey"])
            .arg(dir.join("square_chain.zkey"))
            .arg(dir.join("verification_key.json")))?;
    }
    Ok(dir)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn one_size(n: usize, cache: &Path) -> Result<Value, String> {
    let dir = artifacts(n, cache)?;
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let backend: Arc<dyn MsmBackend> = Arc::new(CpuMsm);
    let circuit = CircomCircuit::new(
        &read("square_chain.zkey")?,
        &read("square_chain.r1cs")?,
        backend,
    )
    .map_err(|e| e.to_string())?;
    let witness: Witness = circuit
        .witness(&read("witness.wtns")?)
        .map_err(|e| e.to_string())?;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);

    // Ours: median of REPS proofs after a warm-up.
    let mut proof = circuit
        .prove(&witness, &mut rng)
        .map_err(|e| e.to_string())?;
    let mut ours = Vec::new();
    for _ in 0..REPS {
        let start = Instant::now();
        proof = circuit
            .prove(&witness, &mut rng)
            .map_err(|e| e.to_string())?;
        ours.push(ms(start.elapsed()));
    }
    let ours_ms = median(ours);

    // snarkjs: the same key and witness.
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut theirs = Vec::new();
    for _ in 0..REPS {
        let start = Instant::now();
        run(Command::new(snarkjs())
            .args(["groth16", "prove"])
            .arg(dir.join("square_chain.zkey"))
            .arg(dir.join("witness.wtns"))
            .arg(work.path().join("their_proof.json"))
            .arg(work.path().join("their_public.json")))?;
        theirs.push(ms(start.elapsed()));
    }
    let snarkjs_ms = median(theirs);

    // rapidsnark (C++ with assembly field arithmetic), when a built `prover` is named.
    let rapidsnark = match std::env::var_os("LAGRANGE_RAPIDSNARK") {
        Some(bin) => {
            let mut times = Vec::new();
            for _ in 0..REPS {
                let start = Instant::now();
                run(Command::new(&bin)
                    .arg(dir.join("square_chain.zkey"))
                    .arg(dir.join("witness.wtns"))
                    .arg(work.path().join("rs_proof.json"))
                    .arg(work.path().join("rs_public.json")))?;
                times.push(ms(start.elapsed()));
            }
            let rs_ms = median(times);
            let rs_proof: ProofJson = serde_json::from_slice(
                &std::fs::read(work.path().join("rs_proof.json")).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            let verified = snarkjs::proof_from_json(&rs_proof)
                .map(|p| circuit.verify(&p, &proof.public_inputs).is_ok())
                .unwrap_or(false);
            json!({
                "rapidsnark_ms": rs_ms,
                "rapidsnark_verified_by_us": verified,
                "speedup_vs_rapidsnark": round3(rs_ms / ours_ms),
                "rapidsnark_vs_snarkjs": round3(snarkjs_ms / rs_ms),
            })
        }
        None => Value::Null,
    };

    // Cross-check: snarkjs verifies ours, we verify theirs.
    std::fs::write(
        work.path().join("proof.json"),
        serde_json::to_string(&snarkjs::proof_json(&proof.proof)).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        work.path().join("public.json"),
        serde_json::to_string(&snarkjs::public_json(&proof.public_inputs))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let ours_ok_by_snarkjs = run(Command::new(snarkjs())
        .args(["groth16", "verify"])
        .arg(dir.join("verification_key.json"))
        .arg(work.path().join("public.json"))
        .arg(work.path().join("proof.json")))
    .is_ok_and(|out| out.contains("OK"));
    let their_proof: ProofJson = serde_json::from_slice(
        &std::fs::read(work.path().join("their_proof.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let theirs_ok_by_us = snarkjs::proof_from_json(&their_proof)
        .map(|p| circuit.verify(&p, &proof.public_inputs).is_ok())
        .unwrap_or(false);
    Ok(json!({
        "constraints": circuit.constraints(),
        "ours_ms": ours_ms,
        "snarkjs_ms": snarkjs_ms,
        "speedup": round3(snarkjs_ms / ours_ms),
        "ours_verified_by_snarkjs": ours_ok_by_snarkjs,
        "snarkjs_verified_by_us": theirs_ok_by_us,
        "rapidsnark": rapidsnark,
    }))
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("circom benchmark: run with `cargo bench -p lagrange-circuits --bench circom`");
        return;
    }
    if !snarkjs().exists() {
        eprintln!("snarkjs is not installed: run `npm ci` in circuits/fixtures/circom first");
        std::process::exit(1);
    }
    let cap: u32 = std::env::var("LAGRANGE_CIRCOM_BENCH_MAX_LOG2")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18);
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-circom/seeded");
    // Node.js start-up, which every snarkjs run pays.
    let startup = {
        let start = Instant::now();
        let _ = run(Command::new(snarkjs()).arg("--version"));
        ms(start.elapsed())
    };
    let mut sizes = Vec::new();
    for log2 in [14u32, 16, 18].into_iter().filter(|l| *l <= cap) {
        // A little under 2^log2, so the domain (constraints + public signals) is 2^log2.
        let n = (1usize << log2) - 8;
        match one_size(n, &cache) {
            Ok(v) => {
                println!("2^{log2}: {v}");
                sizes.push(v);
            }
            Err(e) => {
                eprintln!("2^{log2}: {e}");
                sizes.push(json!({ "log2": log2, "error": e }));
            }
        }
    }
    let report = json!({
        "circuit": "square chain (fixtures/circom/square_chain.circom), CPU backend, all cores",
        "zkey": "seeded insecure setup written as a snarkjs .zkey (benches/circom_setup), the same file for both provers",
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "snarkjs_startup_ms": startup,
        "sizes": sizes,
        "target_speedup_from_2^16": 10,
    });
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    write_result("circom.json", &text);
}
