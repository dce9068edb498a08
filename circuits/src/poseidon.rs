//! The Poseidon instance used for data-set commitments, natively and in-circuit.
//!
//! Width 3 (rate 2, capacity 1), S-box `x^5`, 8 full and 57 partial rounds over the
//! BN254 scalar field. Round constants and the MDS matrix come deterministically from
//! the Grain LFSR (`find_poseidon_ark_and_mds`), so every peer derives the same
//! instance without shipping tables. Hashing two field elements costs one permutation.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::{
    CryptographicSponge,
    constraints::CryptographicSpongeVar,
    poseidon::{
        PoseidonConfig, PoseidonSponge, constraints::PoseidonSpongeVar, find_poseidon_ark_and_mds,
    },
};
use ark_ff::PrimeField;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

/// Full rounds of the permutation.
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds of the permutation.
pub const PARTIAL_ROUNDS: usize = 57;
/// S-box exponent.
pub const ALPHA: u64 = 5;
/// Field elements absorbed per permutation.
pub const RATE: usize = 2;

/// The shared Poseidon configuration (computed once per process).
pub fn config() -> &'static PoseidonConfig<Fr> {
    static CONFIG: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(
            u64::from(Fr::MODULUS_BIT_SIZE),
            RATE,
            FULL_ROUNDS as u64,
            PARTIAL_ROUNDS as u64,
            0,
        );
        PoseidonConfig::new(FULL_ROUNDS, PARTIAL_ROUNDS, ALPHA, mds, ark, RATE, 1)
    })
}

/// Native two-to-one hash `H(a, b)`.
pub fn hash2(a: Fr, b: Fr) -> Fr {
    let mut sponge = PoseidonSponge::new(config());
    sponge.absorb(&vec![a, b]);
    let out: Vec<Fr> = sponge.squeeze_field_elements(1);
    out.first().copied().unwrap_or_default()
}

/// In-circuit two-to-one hash, equal to [`hash2`] on the same values.
pub fn hash2_var(
    cs: ConstraintSystemRef<Fr>,
    a: &FpVar<Fr>,
    b: &FpVar<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    let mut sponge = PoseidonSpongeVar::new(cs, config());
    sponge.absorb(&vec![a.clone(), b.clone()])?;
    let out = sponge.squeeze_field_elements(1)?;
    out.into_iter().next().ok_or(SynthesisError::Unsatisfiable)
}

#[cfg(test)]
mod tests {
    use ark_r1cs_std::{GR1CSVar, alloc::AllocVar};
    use ark_relations::gr1cs::ConstraintSystem;

    use super::*;

    #[test]
    fn gadget_matches_native_hash() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let (a, b) = (Fr::from(3u64), Fr::from(u64::MAX));
        let av = FpVar::new_witness(cs.clone(), || Ok(a)).expect("alloc");
        let bv = FpVar::new_witness(cs.clone(), || Ok(b)).expect("alloc");
        let out = hash2_var(cs.clone(), &av, &bv).expect("hash");
        assert_eq!(out.value().expect("value"), hash2(a, b));
        assert_ne!(hash2(a, b), hash2(b, a));
        assert!(cs.is_satisfied().expect("check"));
    }
}
