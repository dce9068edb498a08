//! Circom circuits proven here and checked as snarkjs would: the committed fixture (a
//! 64-squaring chain, made by `fixtures/circom/make.sh` with the pinned circom compiler and
//! snarkjs) is read, its witness checked and proven through the CPU MSM backend, and the
//! proof verified against the `.zkey`'s key and the witness' public signals. Damaged
//! artifacts and witnesses are refused with errors that say what is wrong.

use ark_bn254::Fr;
use ark_ff::One;
use lagrange_circuits::circom::{CircomError, CircomKey, R1cs, Witness, prove};
use lagrange_circuits::prover::{CpuMsm, key_id};
use lagrange_circuits::snarkjs::{proof_json, public_json, verification_key_json};
use lagrange_circuits::verify;
use rand::SeedableRng;

const ZKEY: &[u8] = include_bytes!("../fixtures/circom/square_chain.zkey");
const R1CS: &[u8] = include_bytes!("../fixtures/circom/square_chain.r1cs");
const WTNS: &[u8] = include_bytes!("../fixtures/circom/witness.wtns");
const VK_JSON: &str = include_str!("../fixtures/circom/verification_key.json");

fn rng() -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(7)
}

#[test]
fn a_circom_witness_is_proven_and_verifies_against_the_zkeys_key() {
    let key = CircomKey::from_bytes(ZKEY).unwrap();
    let r1cs = R1cs::from_bytes(R1CS).unwrap();
    let witness = Witness::from_bytes(WTNS).unwrap();
    key.matches(&r1cs).unwrap();
    assert_eq!((r1cs.constraints(), r1cs.public), (64, 2));
    r1cs.check(&witness.values).unwrap();
    let proof = prove(&CpuMsm, key_id(&key.pk.vk), &key, &witness, &mut rng()).unwrap();
    // Public signals: the output y, then the public input c = 7.
    assert_eq!(proof.public_inputs.len(), 2);
    assert_eq!(proof.public_inputs[1], Fr::from(7u64));
    let pvk = ark_groth16::prepare_verifying_key(&key.pk.vk);
    verify(&pvk, &proof.proof, &proof.public_inputs).unwrap();
    // Another statement does not verify.
    let mut wrong = proof.public_inputs.clone();
    wrong[0] += Fr::one();
    assert!(verify(&pvk, &proof.proof, &wrong).is_err());
    // The key read from the .zkey is the one snarkjs exports.
    let ours = serde_json::to_value(verification_key_json(&key.pk.vk)).unwrap();
    let theirs: serde_json::Value = serde_json::from_str(VK_JSON).unwrap();
    for field in [
        "vk_alpha_1",
        "vk_beta_2",
        "vk_gamma_2",
        "vk_delta_2",
        "IC",
        "nPublic",
    ] {
        assert_eq!(ours[field], theirs[field], "{field}");
    }
    // And snarkjs itself accepts the proof, where it is installed (`npm ci` in
    // fixtures/circom; CI installs it and requires it).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/circom");
    let snarkjs = dir.join("node_modules/.bin/snarkjs");
    assert!(
        snarkjs.exists() || std::env::var_os("CI").is_none(),
        "snarkjs is not installed in fixtures/circom (npm ci there)"
    );
    if snarkjs.exists() {
        let out = tempfile::tempdir().unwrap();
        let write = |name: &str, json: serde_json::Value| {
            std::fs::write(out.path().join(name), json.to_string()).unwrap();
        };
        write(
            "proof.json",
            serde_json::to_value(proof_json(&proof.proof)).unwrap(),
        );
        write(
            "public.json",
            serde_json::to_value(public_json(&proof.public_inputs)).unwrap(),
        );
        let status = std::process::Command::new(&snarkjs)
            .args(["groth16", "verify"])
            .arg(dir.join("verification_key.json"))
            .arg(out.path().join("public.json"))
            .arg(out.path().join("proof.json"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&status.stdout);
        assert!(status.status.success() && text.contains("OK"), "{text}");
    }
}

#[test]
fn a_witness_that_breaks_a_constraint_is_named() {
    let r1cs = R1cs::from_bytes(R1CS).unwrap();
    let mut witness = Witness::from_bytes(WTNS).unwrap();
    // Change one internal wire: the constraints around it break, the first is named.
    let last = witness.values.len() - 1;
    witness.values[last] += Fr::one();
    match r1cs.check(&witness.values) {
        Err(CircomError::Unsatisfied {
            constraint,
            constraints,
        }) => assert!(constraint < constraints),
        other => panic!("{other:?}"),
    }
    witness.values.pop();
    assert!(matches!(
        r1cs.check(&witness.values),
        Err(CircomError::Mismatch(m)) if m.contains("wires")
    ));
}

#[test]
fn damaged_or_truncated_artifacts_are_refused_without_panicking() {
    for cut in [0, 3, 11, 12, 40, ZKEY.len() / 2, ZKEY.len() - 1] {
        assert!(
            CircomKey::from_bytes(&ZKEY[..cut]).is_err(),
            "zkey cut at {cut}"
        );
    }
    for cut in [0, 3, 11, 40, R1CS.len() / 2, R1CS.len() - 1] {
        assert!(R1cs::from_bytes(&R1CS[..cut]).is_err(), "r1cs cut at {cut}");
    }
    // Each file read as another kind: the magic says no.
    assert!(matches!(
        CircomKey::from_bytes(R1CS),
        Err(CircomError::Malformed { what: ".zkey", .. })
    ));
    assert!(R1cs::from_bytes(WTNS).is_err());
    assert!(Witness::from_bytes(ZKEY).is_err());
    // Flipping bytes anywhere in the layout part of the files gives an error or a file
    // that still reads; never a panic or a huge allocation.
    for i in (0..ZKEY.len().min(2048)).step_by(7) {
        let mut z = ZKEY.to_vec();
        z[i] ^= 0xa5;
        let _ = CircomKey::from_bytes(&z);
    }
    for i in (0..R1CS.len().min(2048)).step_by(5) {
        let mut r = R1CS.to_vec();
        r[i] ^= 0xa5;
        let _ = R1cs::from_bytes(&r);
    }
}

#[test]
fn witnesses_computed_from_input_signals_match_the_generators_own() {
    const WASM: &[u8] = include_bytes!("../fixtures/circom/square_chain.wasm");
    let circuit =
        lagrange_circuits::circom::CircomCircuit::new(ZKEY, R1CS, std::sync::Arc::new(CpuMsm))
            .unwrap()
            .with_generator(WASM)
            .unwrap();
    // The same inputs as input.json: the same witness the committed .wtns holds.
    let computed = circuit
        .witness_from_inputs(r#"{"x": "3", "c": 7}"#)
        .unwrap();
    assert_eq!(computed, Witness::from_bytes(WTNS).unwrap());
    // A missing signal, an unknown one, a non-number, not an object: each refused.
    for (inputs, needle) in [
        (
            r#"{"x": "3"}"#,
            "1 input values given (x); the circuit takes 2",
        ),
        (r#"{"x": "3", "c": "7", "z": "1"}"#, "3 input values given"),
        // A misspelt signal: the generator ignores it, so `c` stays unset and the
        // constraints say so.
        (r#"{"x": "3", "z": "7"}"#, "does not satisfy constraint"),
        (r#"{"x": "three", "c": "7"}"#, "signal x"),
        (r#"[1, 2]"#, "not an object"),
        (r#"{"x": -1, "c": "7"}"#, "signal x"),
    ] {
        let err = circuit.witness_from_inputs(inputs).unwrap_err().to_string();
        assert!(err.contains(needle), "{inputs}: {err}");
    }
    // Garbage is not a witness generator.
    assert!(lagrange_circuits::circom::WitnessGenerator::new(b"\0asm garbage").is_err());
}

/// Found by the `circom` fuzz target: a `.zkey` whose point is off the curve makes
/// ark-circom's reader panic. It must come back as an error naming the file's problem.
#[test]
fn a_zkey_with_a_point_off_the_curve_is_an_error_not_a_crash() {
    let bytes = include_bytes!("../fixtures/fuzz/zkey-point-off-curve.zkey");
    let err = lagrange_circuits::circom::CircomKey::from_bytes(bytes).unwrap_err();
    assert!(err.to_string().contains("zkey"), "{err}");
}
