//! The R1CS of one chunk job.
//!
//! Public inputs, in order: `state_before, state_after, lo, hi, sum, count, row_offset,
//! rows` (see [`super::ChunkStatement`]). For each of the `capacity` row slots the circuit
//! allocates an *enable* bit, a key and a value, and:
//!
//! * range-checks key and value to 64 bits (so comparisons are exact and the packed hash
//!   input is injective);
//! * absorbs `key + 2^64·value + 2^128·(row_offset + i)` into the Poseidon chain when
//!   enabled, and leaves the state unchanged otherwise;
//! * adds `value` to the sum and 1 to the count when enabled and `lo <= key <= hi`.
//!
//! **Padding is sound:** the enable bits must form a prefix (`e_i·(1 − e_{i−1}) = 0`) and
//! their sum must equal the public `rows`. So exactly the first `rows` slots are real;
//! disabled slots change neither the chain state nor the answer, whatever their
//! witness values. A short last chunk thus proves the same chain as a full one would.
//!
//! `lo`, `hi` are range-checked to 64 bits and `row_offset` to 32 bits, so any valid proof
//! has a statement whose integers fit their native types. Per chunk the sum is below
//! `capacity·2^64 ≤ 2^76`, far from the field modulus: it cannot wrap.

use ark_bn254::Fr;
use ark_r1cs_std::{
    alloc::AllocVar,
    boolean::Boolean,
    eq::EqGadget,
    fields::{FieldVar, fp::FpVar},
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use super::{
    chunk::{ChunkJob, ChunkStatement},
    dataset::Row,
};
use crate::{
    gadgets::{alloc_u64, range_check, u64_ge},
    poseidon::hash2_var,
};

/// Constraint synthesizer for a [`ChunkJob`].
#[derive(Clone, Debug)]
pub struct ChunkCircuit {
    job: ChunkJob,
}

impl ChunkCircuit {
    /// Wraps a job. Shape and row count are checked when constraints are generated.
    pub fn new(job: ChunkJob) -> Self {
        Self { job }
    }
}

impl ChunkJob {
    /// The circuit proving this job.
    pub fn circuit(&self) -> ChunkCircuit {
        ChunkCircuit::new(self.clone())
    }
}

impl ConstraintSynthesizer<Fr> for ChunkCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        self.job
            .validate()
            .map_err(|_| SynthesisError::Unsatisfiable)?;
        let statement = self.job.statement();
        let slots = (0..self.job.shape.rows)
            .map(|i| match self.job.rows.get(i) {
                Some(row) => (true, *row),
                None => (false, Row::default()),
            })
            .collect::<Vec<_>>();
        synthesize(cs, &statement, &slots)
    }
}

/// The constraints, for a statement and per-slot witness `(enabled, row)`. Honest
/// provers derive both from a [`ChunkJob`]; tests feed inconsistent ones.
fn synthesize(
    cs: ConstraintSystemRef<Fr>,
    st: &ChunkStatement,
    slots: &[(bool, Row)],
) -> Result<(), SynthesisError> {
    let two64 = Fr::from(1u128 << 64);
    let two128 = two64 * two64;

    let state_before = FpVar::new_input(cs.clone(), || Ok(st.state_before))?;
    let state_after = FpVar::new_input(cs.clone(), || Ok(st.state_after))?;
    let lo = FpVar::new_input(cs.clone(), || Ok(Fr::from(st.query.lo)))?;
    let hi = FpVar::new_input(cs.clone(), || Ok(Fr::from(st.query.hi)))?;
    let sum_in = FpVar::new_input(cs.clone(), || Ok(Fr::from(st.sum)))?;
    let count_in = FpVar::new_input(cs.clone(), || Ok(Fr::from(st.count)))?;
    let offset = FpVar::new_input(cs.clone(), || Ok(Fr::from(st.row_offset)))?;
    let rows_in = FpVar::new_input(cs.clone(), || Ok(Fr::from(st.rows)))?;

    range_check(cs.clone(), &lo, 64)?;
    range_check(cs.clone(), &hi, 64)?;
    range_check(cs.clone(), &offset, 32)?;

    let mut state = state_before;
    let mut sum = FpVar::zero();
    let mut count = FpVar::zero();
    let mut enabled_rows = FpVar::zero();
    let mut previous: Option<FpVar<Fr>> = None;

    for (i, &(is_enabled, row)) in slots.iter().enumerate() {
        let enabled = Boolean::new_witness(cs.clone(), || Ok(is_enabled))?;
        let enabled_fp = FpVar::from(enabled.clone());
        if let Some(prev) = &previous {
            enabled_fp.mul_equals(&(FpVar::one() - prev), &FpVar::zero())?;
        }

        let key = alloc_u64(cs.clone(), row.key)?;
        let value = alloc_u64(cs.clone(), row.value)?;

        let index = &offset + Fr::from(i as u64);
        let packed = &key + &value * two64 + index * two128;
        let absorbed = hash2_var(cs.clone(), &state, &packed)?;
        state = enabled.select(&absorbed, &state)?;

        let ge_lo = u64_ge(cs.clone(), &key, &lo)?;
        let le_hi = u64_ge(cs.clone(), &hi, &key)?;
        let matched = FpVar::from(Boolean::kary_and(&[enabled, ge_lo, le_hi])?);
        sum += &matched * &value;
        count += &matched;
        enabled_rows += &enabled_fp;
        previous = Some(enabled_fp);
    }

    state.enforce_equal(&state_after)?;
    sum.enforce_equal(&sum_in)?;
    count.enforce_equal(&count_in)?;
    enabled_rows.enforce_equal(&rows_in)
}

#[cfg(test)]
mod tests {
    use ark_relations::gr1cs::ConstraintSystem;

    use super::*;
    use crate::coprocessor::{
        category::ChunkShape,
        dataset::{Query, chain_step, genesis},
    };

    const QUERY: Query = Query { lo: 0, hi: 100 };

    fn rows() -> [Row; 3] {
        [
            Row { key: 1, value: 10 },
            Row { key: 2, value: 20 },
            Row { key: 3, value: 30 },
        ]
    }

    /// The statement a cheating witness would claim: the enabled rows absorbed at their
    /// slot index, summed.
    fn claimed(slots: &[(bool, Row)]) -> ChunkStatement {
        let mut st = ChunkStatement {
            state_before: genesis(),
            state_after: genesis(),
            query: QUERY,
            sum: 0,
            count: 0,
            row_offset: 0,
            rows: 0,
        };
        for (i, (on, row)) in slots.iter().enumerate() {
            if *on {
                st.state_after = chain_step(st.state_after, *row, i as u64);
                st.sum += u128::from(row.value);
                st.count += 1;
                st.rows += 1;
            }
        }
        st
    }

    fn satisfied(slots: &[(bool, Row)]) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let ok = synthesize(cs.clone(), &claimed(slots), slots).is_ok();
        ok && cs.is_satisfied().unwrap_or(false)
    }

    #[test]
    fn enable_bits_must_be_a_prefix() {
        let [a, b, c] = rows();
        // Honest: a short chunk of two rows, and the same as a job.
        assert!(satisfied(&[(true, a), (true, b), (false, c)]));
        let job = ChunkJob {
            shape: ChunkShape { rows: 3 },
            query: QUERY,
            row_offset: 0,
            state_before: genesis(),
            rows: vec![a, b],
        };
        assert_eq!(
            job.statement(),
            claimed(&[(true, a), (true, b), (false, c)])
        );
        // Cheating: skip the middle row but absorb the last, or start late.
        assert!(!satisfied(&[(true, a), (false, b), (true, c)]));
        assert!(!satisfied(&[(false, a), (true, b), (true, c)]));
    }
}
