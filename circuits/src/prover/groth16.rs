//! Groth16 proof generation with every MSM routed through an [`MsmBackend`].
//!
//! The steps, and the order randomness is drawn in, follow ark-groth16 0.6's
//! `create_random_proof_with_reduction` exactly (libsnark QAP reduction), so for the
//! same rng state the proof is bit-identical to `Groth16::<Bn254>::prove`:
//!
//! 1. draw `r`, then `s`;
//! 2. synthesize the circuit into a constraint system, with matrices;
//! 3. `h` = QAP witness map (FFTs), ark-groth16's own `LibsnarkReduction`;
//! 4. `A = α + a_0 + Σ z_i·a_i + r·δ` (G1),
//!    `B = β + b_0 + Σ z_i·b_i + s·δ` (G2, and in G1 when `r ≠ 0`),
//!    `C = s·A + r·B_1 − r·s·δ + Σ w_i·l_i + Σ h_i·h_i` (G1),
//!    where `z = (inputs, witness)` and `w` is the witness alone.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{PrimeField, UniformRand, Zero};
use ark_groth16::{
    Proof, ProvingKey,
    r1cs_to_qap::{LibsnarkReduction, R1CSToQAP},
};
use ark_poly::GeneralEvaluationDomain;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisError, SynthesisMode,
};
use ark_std::rand::RngCore;
use rayon::prelude::*;

use super::msm::{BasesRef, KeyId, MsmBackend, MsmError, Query, ScalarRepr};

/// A proving failure.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// Constraint synthesis or the witness map failed.
    #[error("synthesis failed: {0}")]
    Synthesis(#[from] SynthesisError),
    /// The MSM backend failed.
    #[error(transparent)]
    Msm(#[from] MsmError),
    /// The proving key does not fit the circuit.
    #[error("proving key does not match the circuit: {0}")]
    KeyMismatch(String),
}

/// A proof and the public inputs it was made for.
#[derive(Clone, Debug, PartialEq)]
pub struct ProofWithInputs {
    /// The proof.
    pub proof: Proof<Bn254>,
    /// Public inputs, in circuit order (without the leading constant one).
    pub public_inputs: Vec<Fr>,
}

/// Proves `circuit` with randomness drawn from `rng` (`r` first, then `s`).
pub fn prove_random<C: ConstraintSynthesizer<Fr>>(
    backend: &dyn MsmBackend,
    key: KeyId,
    pk: &ProvingKey<Bn254>,
    circuit: C,
    rng: &mut impl RngCore,
) -> Result<ProofWithInputs, ProveError> {
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    prove_with_randomness(backend, key, pk, circuit, r, s)
}

/// Proves `circuit` with the given blinding scalars.
pub fn prove_with_randomness<C: ConstraintSynthesizer<Fr>>(
    backend: &dyn MsmBackend,
    key: KeyId,
    pk: &ProvingKey<Bn254>,
    circuit: C,
    r: Fr,
    s: Fr,
) -> Result<ProofWithInputs, ProveError> {
    let cs = ConstraintSystem::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone())?;
    cs.finalize();

    let h = LibsnarkReduction::witness_map::<Fr, GeneralEvaluationDomain<Fr>>(cs.clone())?;

    let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
    let instance = inner.instance_assignment()?;
    let witness = inner.witness_assignment()?;
    let public_inputs = instance.get(1..).unwrap_or_default().to_vec();
    let proof = assemble(backend, key, pk, r, s, &h, &public_inputs, witness)?;
    Ok(ProofWithInputs {
        proof,
        public_inputs,
    })
}

/// Builds the proof from the quotient coefficients `h`, the public `inputs` and the
/// private `witness`, routing every MSM through `backend`. `h` has as many coefficients
/// as the key's `H` query (snarkjs' map) or one more, unused (libsnark's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble(
    backend: &dyn MsmBackend,
    key: KeyId,
    pk: &ProvingKey<Bn254>,
    r: Fr,
    s: Fr,
    h: &[Fr],
    inputs: &[Fr],
    witness: &[Fr],
) -> Result<Proof<Bn254>, ProveError> {
    let num_vars = inputs.len() + witness.len();
    if pk.a_query.len() != num_vars + 1
        || pk.b_g2_query.len() != num_vars + 1
        || pk.b_g1_query.len() != num_vars + 1
        || pk.l_query.len() != witness.len()
        || !(pk.h_query.len()..=pk.h_query.len() + 1).contains(&h.len())
    {
        return Err(ProveError::KeyMismatch(format!(
            "{} variables, {} witnesses, {} h coefficients",
            num_vars,
            witness.len(),
            h.len()
        )));
    }
    let g1 = |query, start: usize, points: &[G1Affine], scalars: &[ScalarRepr]| {
        backend.msm_g1(
            BasesRef {
                key,
                query,
                start,
                points,
            },
            scalars,
        )
    };

    // Σ h_i·H_i  (the quotient polynomial term of C; the key holds one base fewer than
    // the domain size, and the top coefficient is not used)
    let h_used = h.get(..pk.h_query.len()).unwrap_or_default();
    let h_repr: Vec<ScalarRepr> = h_used.par_iter().map(|x| x.into_bigint()).collect();
    let h_acc = g1(Query::H, 0, &pk.h_query, &h_repr)?;
    drop(h_repr);

    // Σ w_i·L_i  (the witness term of C)
    let witness_repr: Vec<ScalarRepr> = witness.par_iter().map(|x| x.into_bigint()).collect();
    let l_acc = g1(Query::L, 0, &pk.l_query, &witness_repr)?;
    let rs_delta = pk.delta_g1 * (r * s);

    let inputs_repr: Vec<ScalarRepr> = inputs.iter().map(|x| x.into_bigint()).collect();
    let z = [&inputs_repr[..], &witness_repr[..]].concat();
    drop(witness_repr);

    // A
    let a_tail = pk.a_query.get(1..).unwrap_or_default();
    let mut a = g1(Query::A, 1, a_tail, &z)?;
    a += pk.delta_g1 * r;
    a += first_or_zero(&pk.a_query);
    a += pk.vk.alpha_g1;

    // B in G1 (only needed for C when r ≠ 0)
    let b1 = if r.is_zero() {
        G1Projective::zero()
    } else {
        let tail = pk.b_g1_query.get(1..).unwrap_or_default();
        let mut b1 = g1(Query::BG1, 1, tail, &z)?;
        b1 += pk.delta_g1 * s;
        b1 += first_or_zero(&pk.b_g1_query);
        b1 += pk.beta_g1;
        b1
    };

    // B in G2
    let b2_tail = pk.b_g2_query.get(1..).unwrap_or_default();
    let mut b2 = backend.msm_g2(
        BasesRef {
            key,
            query: Query::BG2,
            start: 1,
            points: b2_tail,
        },
        &z,
    )?;
    b2 += pk.vk.delta_g2 * s;
    b2 += first_or_zero::<G2Affine>(&pk.b_g2_query);
    b2 += pk.vk.beta_g2;
    drop(z);

    // C
    let mut c = a * s;
    c += b1 * r;
    c -= rs_delta;
    c += l_acc;
    c += h_acc;

    Ok(Proof {
        a: a.into_affine(),
        b: b2.into_affine(),
        c: c.into_affine(),
    })
}

fn first_or_zero<G: AffineRepr>(points: &[G]) -> G {
    points.first().copied().unwrap_or_else(G::zero)
}
