//! Batch verification of many proofs under one key by random linear combination.
//!
//! For proofs `(A_i, B_i, C_i)` with inputs `x_i`, write `IC(x) = IC_0 + Σ_j x_j·IC_j`.
//! Each proof must satisfy `e(A_i, B_i) = e(α, β)·e(IC(x_i), γ)·e(C_i, δ)`. With
//! independent random 128-bit scalars `ρ_i`, the batch check is
//!
//! ```text
//! Π_i e(ρ_i·A_i, B_i) · e(Σ_i ρ_i·IC(x_i), −γ) · e(Σ_i ρ_i·C_i, −δ) = e(α, β)^(Σ_i ρ_i)
//! ```
//!
//! one multi-Miller loop over `n + 2` pairs and one final exponentiation. If any single
//! equation fails, the batch passes with probability at most `2^-128`, because the
//! `ρ_i` are drawn after the proofs are fixed. `Σ_i ρ_i·IC(x_i)` and `Σ_i ρ_i·C_i` are
//! computed as two MSMs.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{
    CurveGroup, VariableBaseMSM,
    pairing::{Pairing, PairingOutput},
};
use ark_ff::{Field, PrimeField};
use ark_groth16::{PreparedVerifyingKey, Proof};
use ark_std::rand::RngCore;
use rayon::prelude::*;

use super::{VerifyError, single};

/// Verifies all `(proof, public inputs)` pairs at once. An empty batch passes.
pub fn batch_verify(
    pvk: &PreparedVerifyingKey<Bn254>,
    items: &[(Proof<Bn254>, Vec<Fr>)],
    rng: &mut impl RngCore,
) -> Result<(), VerifyError> {
    if items.is_empty() {
        return Ok(());
    }
    for (_, inputs) in items {
        single::check_input_count(pvk, inputs.len())?;
    }
    let rho: Vec<Fr> = items
        .iter()
        .map(|_| {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            Fr::from(u128::from_le_bytes(bytes))
        })
        .collect();

    // Σ ρ_i·IC(x_i) = (Σ ρ_i)·IC_0 + Σ_j (Σ_i ρ_i·x_ij)·IC_j
    let rho_sum: Fr = rho.iter().sum();
    let ic = &pvk.vk.gamma_abc_g1;
    let mut ic_scalars = vec![rho_sum];
    ic_scalars.extend((0..ic.len().saturating_sub(1)).map(|j| {
        items
            .iter()
            .zip(&rho)
            .map(|((_, x), r)| x.get(j).copied().unwrap_or_default() * r)
            .sum::<Fr>()
    }));
    let ic_acc = G1Projective::msm(ic, &ic_scalars).map_err(|_| VerifyError::Invalid)?;

    let cs: Vec<G1Affine> = items.iter().map(|(p, _)| p.c).collect();
    let c_acc = G1Projective::msm(&cs, &rho).map_err(|_| VerifyError::Invalid)?;

    let scaled_a: Vec<G1Projective> = items
        .par_iter()
        .zip(&rho)
        .map(|((p, _), r)| p.a * r)
        .collect();
    let mut g1: Vec<G1Affine> = G1Projective::normalize_batch(&scaled_a);
    g1.push(ic_acc.into_affine());
    g1.push(c_acc.into_affine());

    let mut g2: Vec<<Bn254 as Pairing>::G2Prepared> = items
        .par_iter()
        .map(|(p, _)| <G2Affine as Into<_>>::into(p.b))
        .collect();
    g2.push(pvk.gamma_g2_neg_pc.clone());
    g2.push(pvk.delta_g2_neg_pc.clone());

    let lhs = Bn254::final_exponentiation(Bn254::multi_miller_loop(g1, g2));
    let rhs = pvk.alpha_g1_beta_g2.pow(rho_sum.into_bigint());
    match lhs {
        Some(PairingOutput(value)) if value == rhs => Ok(()),
        _ => Err(VerifyError::BatchInvalid(items.len())),
    }
}

/// Indices of the proofs that fail individual verification (to find the culprits
/// after a failed batch).
pub fn find_invalid(
    pvk: &PreparedVerifyingKey<Bn254>,
    items: &[(Proof<Bn254>, Vec<Fr>)],
) -> Vec<usize> {
    items
        .par_iter()
        .enumerate()
        .filter(|(_, (proof, inputs))| single::verify(pvk, proof, inputs).is_err())
        .map(|(i, _)| i)
        .collect()
}
