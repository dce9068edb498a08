//! Synthetic workload of adjustable size, for benchmarks and load tests.
//!
//! The circuit proves knowledge of the output of a MiMC-style chain
//! `x_{i+1} = (x_i + c_i)^3` started from a public seed. Each step costs two
//! constraints, so the step count is chosen to make the whole constraint system
//! (constraints plus public inputs) fill a `2^log2` evaluation domain exactly.

use ark_bn254::Fr;
use ark_ff::{Field, PrimeField};
use ark_r1cs_std::{
    alloc::AllocVar,
    eq::EqGadget,
    fields::{FieldVar, fp::FpVar},
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use serde::{Deserialize, Serialize};

/// Smallest supported size exponent.
pub const MIN_LOG2: u32 = 3;
/// Largest supported size exponent (setup memory grows with `2^log2`).
pub const MAX_LOG2: u32 = 24;

/// Public inputs: seed and output. The constant-one variable makes three instance slots.
const INSTANCE_SLOTS: usize = 3;

/// The job of proving one synthetic chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticJob {
    /// Size exponent: the circuit has about `2^log2` constraints.
    pub log2: u32,
    /// Start of the chain (public).
    pub seed: u64,
}

impl SyntheticJob {
    /// Number of chain steps for this size.
    pub fn steps(&self) -> usize {
        steps_for(self.log2)
    }

    /// The chain output, computed natively.
    pub fn output(&self) -> Fr {
        let constants = round_constants(self.steps());
        constants
            .iter()
            .fold(Fr::from(self.seed), |x, c| (x + c).pow([3u64]))
    }

    /// The public inputs in circuit order: `[seed, output]`.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![Fr::from(self.seed), self.output()]
    }

    /// The constraint-system description proven for this job.
    pub fn circuit(&self) -> SyntheticCircuit {
        SyntheticCircuit { job: *self }
    }
}

/// Step count for a `2^log2` domain: two constraints per step, instance slots included.
pub fn steps_for(log2: u32) -> usize {
    let domain = 1usize << log2.clamp(MIN_LOG2, MAX_LOG2);
    (domain - INSTANCE_SLOTS) / 2
}

/// Round constants `c_i`, derived deterministically from a domain-separated hash.
fn round_constants(steps: usize) -> Vec<Fr> {
    (0..steps as u64)
        .map(|i| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(b"lagrange/synthetic/round-constant/v1");
            hasher.update(&i.to_le_bytes());
            Fr::from_le_bytes_mod_order(hasher.finalize().as_bytes())
        })
        .collect()
}

/// R1CS for [`SyntheticJob`].
#[derive(Clone, Copy, Debug)]
pub struct SyntheticCircuit {
    job: SyntheticJob,
}

impl ConstraintSynthesizer<Fr> for SyntheticCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let constants = round_constants(self.job.steps());
        let seed = FpVar::new_input(cs.clone(), || Ok(Fr::from(self.job.seed)))?;
        let output = FpVar::new_input(cs.clone(), || Ok(self.job.output()))?;
        let mut x = seed;
        for c in constants {
            let t = x + c;
            let t2 = t.square()?;
            x = t2 * t;
        }
        x.enforce_equal(&output)
    }
}
