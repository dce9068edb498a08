//! Proving and verification: honest proofs, tampering, byte validation, batch
//! verification and bit-identity with stock ark-groth16.

mod common;

use std::sync::{
    Arc, Mutex, OnceLock,
    atomic::{AtomicUsize, Ordering},
};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_groth16::{Groth16, Proof, ProvingKey};
use ark_snark::SNARK;
use common::*;
use lagrange_circuits::{
    JobInput, JobRejected, MsmBackend, Prover, VerifyError, batch_verify,
    encoding::{self, DecodeError},
    prover::{BasesRef, CpuMsm, KeyId, MsmError, ScalarRepr},
    synthetic::SyntheticJob,
    verify::{find_invalid, verify_bytes, verify_job},
};

fn tiny_job(seed: u64) -> JobInput {
    JobInput::Synthetic(SyntheticJob { log2: 6, seed })
}

/// 32 honest proofs of distinct tiny jobs, made once per test binary.
fn tiny_proofs() -> &'static [(Proof<Bn254>, Vec<Fr>)] {
    static CELL: OnceLock<Vec<(Proof<Bn254>, Vec<Fr>)>> = OnceLock::new();
    CELL.get_or_init(|| {
        let prover = prover(tiny_params());
        let mut r = rng(11);
        (0..32)
            .map(|seed| {
                let out = prover.prove(&tiny_job(seed), &mut r).expect("prove");
                (out.proof, out.public_inputs)
            })
            .collect()
    })
}

#[test]
fn honest_proof_verifies_and_returns_native_inputs() {
    let prover = prover(tiny_params());
    let job = tiny_job(3);
    let out = prover.prove(&job, &mut rng(1)).expect("prove");
    assert_eq!(out.public_inputs, job.public_inputs());
    prover
        .verify(&out.proof, &out.public_inputs)
        .expect("verifies");
}

#[test]
fn proofs_are_bit_identical_to_stock_ark_groth16() {
    // Synthetic and coprocessor circuits, several rng seeds.
    let tiny = prover(tiny_params());
    for seed in 0..3 {
        let job = tiny_job(seed + 100);
        let ours = tiny.prove(&job, &mut rng(seed)).expect("prove").proof;
        let stock = Groth16::<Bn254>::prove(&tiny_params().pk, job.circuit(), &mut rng(seed))
            .expect("stock prove");
        assert_eq!(
            encoding::encode_proof(&ours),
            encoding::encode_proof(&stock)
        );
    }
    let chunk = prover(chunk_params());
    assert_eq!(
        chunk.constraints_bytes(),
        0,
        "no matrices before the first proof"
    );
    let data = dataset(5, 9);
    let job = JobInput::Coprocessor(jobs(&data).remove(1)); // the short last chunk
    let ours = chunk.prove(&job, &mut rng(42)).expect("prove").proof;
    let stock = Groth16::<Bn254>::prove(&chunk_params().pk, job.circuit(), &mut rng(42))
        .expect("stock prove");
    assert_eq!(ours, stock);
    // Both provers built their circuit's matrices at their first proof and proved every
    // later one from them.
    assert!(tiny.constraints_bytes() > 0 && chunk.constraints_bytes() > 0);
}

#[test]
fn tampered_proof_is_rejected() {
    let (proof, inputs) = tiny_proofs()[0].clone();
    let pvk = tiny_params().pvk();
    let mut bad = proof.clone();
    bad.a = (bad.a + G1Affine::generator()).into_affine();
    assert!(matches!(
        lagrange_circuits::verify(&pvk, &bad, &inputs),
        Err(VerifyError::Invalid)
    ));
    let mut bad = proof.clone();
    bad.c = proof.a;
    assert!(lagrange_circuits::verify(&pvk, &bad, &inputs).is_err());
}

#[test]
fn tampered_public_input_is_rejected() {
    let (proof, mut inputs) = tiny_proofs()[0].clone();
    let pvk = tiny_params().pvk();
    inputs[1] += Fr::from(1u64);
    assert!(matches!(
        lagrange_circuits::verify(&pvk, &proof, &inputs),
        Err(VerifyError::Invalid)
    ));
}

#[test]
fn wrong_number_of_public_inputs_is_rejected() {
    let (proof, mut inputs) = tiny_proofs()[0].clone();
    let pvk = tiny_params().pvk();
    inputs.push(Fr::from(0u64));
    assert!(matches!(
        lagrange_circuits::verify(&pvk, &proof, &inputs),
        Err(VerifyError::InputCount {
            expected: 2,
            got: 3
        })
    ));
    inputs.truncate(1);
    assert!(lagrange_circuits::verify(&pvk, &proof, &inputs).is_err());
}

#[test]
fn proof_and_input_bytes_are_validated() {
    let (proof, inputs) = tiny_proofs()[0].clone();
    let pvk = tiny_params().pvk();
    let proof_bytes = encoding::encode_proof(&proof);
    let input_bytes = encoding::encode_public_inputs(&inputs);
    assert_eq!(proof_bytes.len(), 128);
    verify_bytes(&pvk, &proof_bytes, &input_bytes).expect("round trip verifies");

    // Truncated and over-long proofs.
    assert!(encoding::decode_proof(&proof_bytes[..127]).is_err());
    let mut long = proof_bytes.clone();
    long.push(0);
    assert!(matches!(
        encoding::decode_proof(&long),
        Err(DecodeError::TrailingBytes { extra: 1, .. })
    ));
    // An x coordinate that is not on the curve (or not canonical) is refused.
    let mut off_curve = proof_bytes.clone();
    off_curve[..32].fill(0xff);
    off_curve[31] = 0x0f;
    assert!(encoding::decode_proof(&off_curve).is_err());
    // Flipping bits of A is caught either by decoding or by verification.
    let mut flipped = proof_bytes.clone();
    flipped[3] ^= 0x40;
    assert!(verify_bytes(&pvk, &flipped, &input_bytes).is_err());
    // Non-canonical scalar (the modulus itself) and ragged lengths.
    let mut modulus = hex_le("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001");
    assert!(encoding::decode_public_inputs(&modulus).is_err());
    modulus.pop();
    assert!(matches!(
        encoding::decode_public_inputs(&modulus),
        Err(DecodeError::BadLength(31))
    ));
}

fn hex_le(big_endian_hex: &str) -> Vec<u8> {
    let mut bytes = hex::decode(big_endian_hex).expect("hex");
    bytes.reverse();
    bytes
}

#[test]
fn g2_point_outside_the_subgroup_is_rejected() {
    // Find a point on the twist that is not in the prime-order subgroup.
    let (proof, _) = tiny_proofs()[0].clone();
    let mut x = ark_bn254::Fq2::new(1u64.into(), 1u64.into());
    let bad = loop {
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false)
            && !p.is_in_correct_subgroup_assuming_on_curve()
        {
            break p;
        }
        x += ark_bn254::Fq2::new(1u64.into(), 0u64.into());
    };
    let mut tampered = proof;
    tampered.b = bad;
    let mut bytes = Vec::new();
    ark_serialize::CanonicalSerialize::serialize_compressed(&tampered, &mut bytes)
        .expect("serialize");
    assert!(matches!(
        encoding::decode_proof(&bytes),
        Err(DecodeError::Malformed { .. })
    ));
}

#[test]
fn batch_verify_catches_one_bad_proof_among_32() {
    let pvk = tiny_params().pvk();
    let honest = tiny_proofs().to_vec();
    batch_verify(&pvk, &honest, &mut rng(5)).expect("honest batch verifies");

    let mut items = honest.clone();
    items[17].1[1] += Fr::from(1u64);
    assert!(matches!(
        batch_verify(&pvk, &items, &mut rng(5)),
        Err(VerifyError::BatchInvalid(32))
    ));
    assert_eq!(find_invalid(&pvk, &items), vec![17]);

    // Two valid proofs swapped between their statements are caught too.
    let mut items = honest;
    let p0 = items[0].0.clone();
    items[0].0 = items[1].0.clone();
    items[1].0 = p0;
    assert!(batch_verify(&pvk, &items, &mut rng(6)).is_err());
}

#[test]
fn submitted_proof_bytes_are_checked_against_the_job() {
    let prover = prover(tiny_params());
    let pvk = tiny_params().pvk();
    let job = tiny_job(8);
    let out = prover.prove(&job, &mut rng(8)).expect("prove");
    let bytes = encoding::encode_proof(&out.proof);
    verify_job(&pvk, &job, &bytes).expect("verifies");
    assert!(matches!(
        verify_job(&pvk, &tiny_job(9), &bytes),
        Err(VerifyError::Invalid)
    ));
    assert!(matches!(
        verify_job(&pvk, &job, &bytes[..100]),
        Err(VerifyError::Decode(_))
    ));
}

#[test]
fn prover_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Prover>();
}

#[test]
fn prover_refuses_jobs_of_other_circuits() {
    let prover = prover(tiny_params());
    let job = JobInput::Synthetic(SyntheticJob { log2: 7, seed: 1 });
    assert!(matches!(
        prover.prove(&job, &mut rng(1)),
        Err(JobRejected::WrongCircuit { .. })
    ));
}

/// Counts calls and forwards to the CPU backend.
#[derive(Default)]
struct CountingMsm {
    preloaded: Mutex<Vec<KeyId>>,
    g1: AtomicUsize,
    g2: AtomicUsize,
}

impl MsmBackend for CountingMsm {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn preload(&self, key: KeyId, _pk: &ProvingKey<Bn254>) -> Result<(), MsmError> {
        self.preloaded.lock().expect("lock").push(key);
        Ok(())
    }
    fn msm_g1(
        &self,
        bases: BasesRef<'_, G1Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G1Projective, MsmError> {
        assert!(self.preloaded.lock().expect("lock").contains(&bases.key));
        self.g1.fetch_add(1, Ordering::SeqCst);
        CpuMsm.msm_g1(bases, scalars)
    }
    fn msm_g2(
        &self,
        bases: BasesRef<'_, G2Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G2Projective, MsmError> {
        self.g2.fetch_add(1, Ordering::SeqCst);
        CpuMsm.msm_g2(bases, scalars)
    }
}

#[test]
fn every_msm_goes_through_the_backend_and_keys_preload_once() {
    let backend = Arc::new(CountingMsm::default());
    let params = tiny_params();
    let prover =
        Prover::new(params.spec, Arc::clone(&params.pk), backend.clone()).expect("preload");
    for seed in 0..3 {
        let out = prover
            .prove(&tiny_job(seed), &mut rng(seed))
            .expect("prove");
        prover
            .verify(&out.proof, &out.public_inputs)
            .expect("verifies");
    }
    assert_eq!(backend.preloaded.lock().expect("lock").len(), 1);
    assert_eq!(backend.g1.load(Ordering::SeqCst), 3 * 4);
    assert_eq!(backend.g2.load(Ordering::SeqCst), 3);
}
