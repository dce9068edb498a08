//! The multi-scalar-multiplication seam of the prover.
//!
//! Every MSM of a proof goes through [`MsmBackend`]. A backend sees each proving key
//! once, at [`MsmBackend::preload`], so an accelerator can upload the (large, fixed)
//! bases a single time; afterwards each call names its bases by [`BasesRef`] — key id,
//! which query vector, and the start offset — and also passes the host copy, which
//! the CPU backend uses directly.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ff::PrimeField;
use ark_groth16::ProvingKey;

use super::pippenger;

/// A scalar in canonical (non-Montgomery) form, as `Fr::into_bigint` returns it.
pub type ScalarRepr = <Fr as PrimeField>::BigInt;

/// Identifies one preloaded proving key (the blake3 digest of its verifying key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 32]);

/// The proving-key query vector a set of bases comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// `a_query` (G1).
    A,
    /// `b_g1_query` (G1).
    BG1,
    /// `b_g2_query` (G2).
    BG2,
    /// `h_query` (G1).
    H,
    /// `l_query` (G1).
    L,
}

/// Bases of one MSM: `points == query_vector[start..start + points.len()]` of the key
/// `key`.
#[derive(Clone, Copy, Debug)]
pub struct BasesRef<'a, G> {
    /// The preloaded key.
    pub key: KeyId,
    /// Which query vector.
    pub query: Query,
    /// Offset of `points` in that vector.
    pub start: usize,
    /// Host copy of the bases.
    pub points: &'a [G],
}

/// An MSM backend failure.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MsmError {
    /// Bases and scalars differ in length.
    #[error("msm length mismatch: {bases} bases, {scalars} scalars")]
    LengthMismatch {
        /// Number of bases.
        bases: usize,
        /// Number of scalars.
        scalars: usize,
    },
    /// The backend itself failed (device error, key not preloaded, ...).
    #[error("msm backend {backend}: {message}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Multi-scalar multiplication over BN254, pluggable: [`CpuMsm`], the CUDA backend
/// (`cuda` feature) and its CPU twin; see [`super::select_msm`].
pub trait MsmBackend: Send + Sync {
    /// Short name, for logs.
    fn name(&self) -> &'static str;

    /// Called once per proving key before any proof with it.
    fn preload(&self, key: KeyId, pk: &ProvingKey<Bn254>) -> Result<(), MsmError>;

    /// Called when a [`crate::Prover`] holding `key` is dropped; frees whatever
    /// `preload` kept. A backend shared by several provers of the same key must count
    /// preloads and free on the last release.
    fn release(&self, _key: KeyId) {}

    /// `sum_i scalars[i] * bases.points[i]` in G1.
    fn msm_g1(
        &self,
        bases: BasesRef<'_, G1Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G1Projective, MsmError>;

    /// `sum_i scalars[i] * bases.points[i]` in G2.
    fn msm_g2(
        &self,
        bases: BasesRef<'_, G2Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G2Projective, MsmError>;
}

/// The CPU backend: Pippenger with batched affine additions ([`super::pippenger`]),
/// windows in parallel with rayon.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuMsm;

pub(crate) fn check_len<G>(
    bases: &BasesRef<'_, G>,
    scalars: &[ScalarRepr],
) -> Result<(), MsmError> {
    if bases.points.len() == scalars.len() {
        Ok(())
    } else {
        Err(MsmError::LengthMismatch {
            bases: bases.points.len(),
            scalars: scalars.len(),
        })
    }
}

impl MsmBackend for CpuMsm {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn preload(&self, _key: KeyId, _pk: &ProvingKey<Bn254>) -> Result<(), MsmError> {
        Ok(())
    }

    fn msm_g1(
        &self,
        bases: BasesRef<'_, G1Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G1Projective, MsmError> {
        check_len(&bases, scalars)?;
        Ok(pippenger::msm(bases.points, scalars))
    }

    fn msm_g2(
        &self,
        bases: BasesRef<'_, G2Affine>,
        scalars: &[ScalarRepr],
    ) -> Result<G2Projective, MsmError> {
        check_len(&bases, scalars)?;
        Ok(pippenger::msm(bases.points, scalars))
    }
}
