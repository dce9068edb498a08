//! Groth16 proof generation with every MSM routed through an [`MsmBackend`].
//!
//! The steps, and the order randomness is drawn in, follow ark-groth16 0.6's
//! `create_random_proof_with_reduction` exactly (libsnark QAP reduction), so for the
//! same rng state the proof is bit-identical to `Groth16::<Bn254>::prove`:
//!
//! 1. draw `r`, then `s`;
//! 2. synthesize the circuit into a constraint system, with matrices — or, given the
//!    circuit's [`Constraints`] (built once per key, at its first proof), the assignment
//!    alone;
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
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, Matrix, OptimizationGoal,
    R1CS_PREDICATE_LABEL, SynthesisError, SynthesisMode,
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

/// A circuit's R1CS matrices and sizes: what every proof of the circuit shares. Built
/// once, from a blank instance, they spare each proof building them again during
/// synthesis (the synthesis then records the assignment only).
#[derive(Debug)]
pub struct Constraints {
    matrices: Vec<Matrix<Fr>>,
    num_instance_variables: usize,
    num_witness_variables: usize,
    num_constraints: usize,
}

impl Constraints {
    /// Synthesizes `circuit` as the key generator does and keeps its matrices.
    pub fn of<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<Self, ProveError> {
        let cs = ConstraintSystem::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        circuit.generate_constraints(cs.clone())?;
        cs.finalize();
        let matrices = cs
            .to_matrices()?
            .remove(R1CS_PREDICATE_LABEL)
            .ok_or(SynthesisError::MissingCS)?;
        Ok(Self {
            matrices,
            num_instance_variables: cs.num_instance_variables(),
            num_witness_variables: cs.num_witness_variables(),
            num_constraints: cs.num_constraints(),
        })
    }

    /// The number of constraints.
    pub fn num_constraints(&self) -> usize {
        self.num_constraints
    }

    /// The memory the matrices take, in bytes (their entries and row headers).
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(Fr, usize)>();
        let row = std::mem::size_of::<Vec<(Fr, usize)>>();
        self.matrices
            .iter()
            .flatten()
            .map(|r| row + r.capacity() * entry)
            .sum()
    }
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
    let cs = synthesize(circuit, true)?;
    let h = LibsnarkReduction::witness_map::<Fr, GeneralEvaluationDomain<Fr>>(cs.clone())?;
    let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
    assemble(
        backend,
        key,
        pk,
        r,
        s,
        &h,
        inner.instance_assignment()?,
        inner.witness_assignment()?,
    )
}

/// Proves `circuit`, whose matrices `constraints` holds, with randomness drawn from `rng`:
/// the same proof as [`prove_random`] for the same rng state, without building the
/// matrices again.
pub fn prove_random_with(
    backend: &dyn MsmBackend,
    key: KeyId,
    pk: &ProvingKey<Bn254>,
    constraints: &Constraints,
    circuit: impl ConstraintSynthesizer<Fr>,
    rng: &mut impl RngCore,
) -> Result<ProofWithInputs, ProveError> {
    let r = Fr::rand(rng);
    let s = Fr::rand(rng);
    let cs = synthesize(circuit, false)?;
    let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
    let instance = inner.instance_assignment()?;
    let witness = inner.witness_assignment()?;
    // (Synthesized without matrices, the system counts no constraints: the variables are
    // what can be checked against the matrices.)
    if instance.len() != constraints.num_instance_variables
        || witness.len() != constraints.num_witness_variables
    {
        return Err(ProveError::KeyMismatch(format!(
            "the circuit has {} inputs and {} witnesses, its matrices {} and {}",
            instance.len(),
            witness.len(),
            constraints.num_instance_variables,
            constraints.num_witness_variables,
        )));
    }
    let full = [instance, witness].concat();
    let h = LibsnarkReduction::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
        &constraints.matrices,
        constraints.num_instance_variables,
        constraints.num_constraints,
        &full,
    )?;
    assemble(backend, key, pk, r, s, &h, instance, witness)
}

/// `circuit` synthesized for proving, with its matrices or its assignment alone.
fn synthesize(
    circuit: impl ConstraintSynthesizer<Fr>,
    construct_matrices: bool,
) -> Result<ConstraintSystemRef<Fr>, ProveError> {
    let cs = ConstraintSystem::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone())?;
    cs.finalize();
    Ok(cs)
}

/// Builds the proof from the quotient coefficients `h` and the assignment (`instance`
/// starts with the constant one, then the public inputs; then the private `witness`),
/// routing every MSM through `backend`. `h` has as many coefficients as the key's `H`
/// query (snarkjs' map) or one more, unused (libsnark's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble(
    backend: &dyn MsmBackend,
    key: KeyId,
    pk: &ProvingKey<Bn254>,
    r: Fr,
    s: Fr,
    h: &[Fr],
    instance: &[Fr],
    witness: &[Fr],
) -> Result<ProofWithInputs, ProveError> {
    let inputs = instance.get(1..).unwrap_or_default();
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

    Ok(ProofWithInputs {
        proof: Proof {
            a: a.into_affine(),
            b: b2.into_affine(),
            c: c.into_affine(),
        },
        public_inputs: inputs.to_vec(),
    })
}

fn first_or_zero<G: AffineRepr>(points: &[G]) -> G {
    points.first().copied().unwrap_or_else(G::zero)
}
