//! Small R1CS gadgets shared by the circuits: bit decomposition, range checks and
//! unsigned comparisons.
//!
//! Every value decomposed here is re-composed from booleans and constrained equal to
//! the original, so a decomposition proves the value lies in `[0, 2^bits)` as long as
//! `bits` stays below the field size (254 bits for BN254).

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use ark_r1cs_std::{GR1CSVar, alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

/// Allocates `bits` witness booleans, little-endian, for the value of `x`, and constrains
/// their weighted sum to equal `x`. Costs `bits + 1` constraints and proves
/// `0 <= x < 2^bits`.
pub fn to_bits_checked(
    cs: ConstraintSystemRef<Fr>,
    x: &FpVar<Fr>,
    bits: usize,
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let value = x.value().ok();
    let le = value.map(|v| v.into_bigint().to_bits_le());
    let mut out = Vec::with_capacity(bits);
    for i in 0..bits {
        let bit = le.as_ref().map(|b| b.get(i).copied().unwrap_or(false));
        out.push(Boolean::new_witness(cs.clone(), || {
            bit.ok_or(SynthesisError::AssignmentMissing)
        })?);
    }
    let recomposed = Boolean::le_bits_to_fp(&out)?;
    recomposed.enforce_equal(x)?;
    Ok(out)
}

/// Allocates a witness `u64` as 64 boolean bits and returns its value as the linear
/// combination of those bits: range-checked by construction, 64 constraints (the
/// booleanity checks) and no recomposition constraint.
pub fn alloc_u64(cs: ConstraintSystemRef<Fr>, value: u64) -> Result<FpVar<Fr>, SynthesisError> {
    let bits = (0..64)
        .map(|i| Boolean::new_witness(cs.clone(), || Ok((value >> i) & 1 == 1)))
        .collect::<Result<Vec<_>, _>>()?;
    Boolean::le_bits_to_fp(&bits)
}

/// Proves `0 <= x < 2^bits` and returns the little-endian bits.
pub fn range_check(
    cs: ConstraintSystemRef<Fr>,
    x: &FpVar<Fr>,
    bits: usize,
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    to_bits_checked(cs, x, bits)
}

/// Returns the boolean `a >= b` for values already proven to lie in `[0, 2^64)`.
///
/// `d = a - b + 2^64` lies in `[1, 2^65)`; decomposing it into 65 bits is sound and
/// its top bit is set exactly when `a >= b`. Costs 66 constraints.
pub fn u64_ge(
    cs: ConstraintSystemRef<Fr>,
    a: &FpVar<Fr>,
    b: &FpVar<Fr>,
) -> Result<Boolean<Fr>, SynthesisError> {
    let offset = Fr::from(1u128 << 64);
    let d = a - b + offset;
    let bits = to_bits_checked(cs, &d, 65)?;
    bits.get(64).cloned().ok_or(SynthesisError::Unsatisfiable)
}

#[cfg(test)]
mod tests {
    use ark_r1cs_std::alloc::AllocVar;
    use ark_relations::gr1cs::ConstraintSystem;

    use super::*;

    #[test]
    fn comparisons_are_exact_at_the_edges() {
        for (a, b) in [
            (0u64, 0u64),
            (1, 0),
            (0, 1),
            (u64::MAX, 0),
            (0, u64::MAX),
            (7, 7),
        ] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let av = FpVar::new_witness(cs.clone(), || Ok(Fr::from(a))).expect("alloc");
            let bv = FpVar::new_witness(cs.clone(), || Ok(Fr::from(b))).expect("alloc");
            let ge = u64_ge(cs.clone(), &av, &bv).expect("ge");
            assert_eq!(ge.value().expect("value"), a >= b, "{a} >= {b}");
            assert!(cs.is_satisfied().expect("check"));
        }
    }

    #[test]
    fn range_check_rejects_out_of_range_values() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let x = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u128 << 64))).expect("alloc");
        range_check(cs.clone(), &x, 64).expect("synthesize");
        assert!(!cs.is_satisfied().expect("check"));
    }
}
