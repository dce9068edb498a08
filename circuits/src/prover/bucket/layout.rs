//! How points and scalars sit in device memory, and the way back to arkworks.
//!
//! Field elements are arkworks' own Montgomery limbs (four `u64` per Fq, `c0` then
//! `c1` for Fq2), copied as they are. An affine point is `x, y`; infinity is stored as
//! `x = y = 0` (not a curve point, since `b ≠ 0`). An XYZZ point is `X, Y, ZZ, ZZZ`.
//! Scalars are the canonical [`ScalarRepr`] limbs.

use ark_bn254::{Fq, Fq2, Fr, g1, g2};
use ark_ec::{
    AffineRepr,
    short_weierstrass::{Affine, Projective, SWCurveConfig},
};
use ark_ff::{AdditiveGroup, BigInt, Field, Zero};
use rayon::prelude::*;

use crate::prover::msm::ScalarRepr;

/// Which group a kernel works in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// G1, over Fq.
    G1,
    /// G2, over Fq2.
    G2,
}

/// A BN254 group the bucket MSM supports, with its base field's limb layout.
pub trait DeviceCurve: SWCurveConfig<ScalarField = Fr> {
    /// Which kernels to launch.
    const CURVE: Curve;
    /// Limbs per base-field element.
    const FIELD_LIMBS: usize;

    /// Writes `f`'s Montgomery limbs to `out[..FIELD_LIMBS]`.
    fn store_field(f: &Self::BaseField, out: &mut [u64]);

    /// Reads a base-field element from its Montgomery limbs (missing limbs are zero).
    fn load_field(limbs: &[u64]) -> Self::BaseField;

    /// Limbs per affine point.
    fn affine_limbs() -> usize {
        2 * Self::FIELD_LIMBS
    }

    /// Limbs per XYZZ point.
    fn xyzz_limbs() -> usize {
        4 * Self::FIELD_LIMBS
    }
}

fn limbs4(limbs: &[u64]) -> [u64; 4] {
    std::array::from_fn(|k| limbs.get(k).copied().unwrap_or(0))
}

fn fq_from_limbs(limbs: &[u64]) -> Fq {
    Fq::new_unchecked(BigInt(limbs4(limbs)))
}

fn store_fq(f: &Fq, out: &mut [u64]) {
    for (o, l) in out.iter_mut().zip(f.0.0) {
        *o = l;
    }
}

impl DeviceCurve for g1::Config {
    const CURVE: Curve = Curve::G1;
    const FIELD_LIMBS: usize = 4;

    fn store_field(f: &Fq, out: &mut [u64]) {
        store_fq(f, out);
    }

    fn load_field(limbs: &[u64]) -> Fq {
        fq_from_limbs(limbs)
    }
}

impl DeviceCurve for g2::Config {
    const CURVE: Curve = Curve::G2;
    const FIELD_LIMBS: usize = 8;

    fn store_field(f: &Fq2, out: &mut [u64]) {
        let (c0, c1) = out.split_at_mut(out.len().min(4));
        store_fq(&f.c0, c0);
        store_fq(&f.c1, c1);
    }

    fn load_field(limbs: &[u64]) -> Fq2 {
        Fq2::new(
            fq_from_limbs(limbs),
            fq_from_limbs(limbs.get(4..).unwrap_or_default()),
        )
    }
}

/// The device layout of `points` (infinity as all-zero limbs).
pub fn points_to_limbs<C: DeviceCurve>(points: &[Affine<C>]) -> Vec<u64> {
    let per = C::affine_limbs();
    let mut out = vec![0u64; points.len() * per];
    out.par_chunks_mut(per)
        .zip(points.par_iter())
        .for_each(|(out, p)| {
            if let Some((x, y)) = p.xy() {
                let (xs, ys) = out.split_at_mut(C::FIELD_LIMBS);
                C::store_field(&x, xs);
                C::store_field(&y, ys);
            }
        });
    out
}

/// The device layout of `scalars`.
pub fn scalars_to_limbs(scalars: &[ScalarRepr]) -> Vec<u64> {
    scalars.iter().flat_map(|s| s.0).collect()
}

/// The XYZZ point at the start of `limbs` as an arkworks (Jacobian) point: with
/// `ZZ³ = ZZZ²`, `(X·ZZ², Y·ZZZ², ZZZ)` is the same point, and needs no inversion.
pub fn projective_from_xyzz<C: DeviceCurve>(limbs: &[u64]) -> Projective<C> {
    let f = C::FIELD_LIMBS;
    let part = |k: usize| C::load_field(limbs.get(k * f..).unwrap_or_default());
    let (x, y, zz, zzz) = (part(0), part(1), part(2), part(3));
    if zz.is_zero() {
        return Projective::zero();
    }
    Projective::new_unchecked(x * zz.square(), y * zzz.square(), zzz)
}

/// `Σ_w 2^(c·w) · W_w` for the per-window sums `W_w` (XYZZ, window 0 first).
pub fn combine_windows<C: DeviceCurve>(window_limbs: &[u64], c: u32) -> Projective<C> {
    let mut acc = Projective::<C>::zero();
    for w in window_limbs.chunks(C::xyzz_limbs()).rev() {
        for _ in 0..c {
            acc.double_in_place();
        }
        acc += projective_from_xyzz::<C>(w);
    }
    acc
}
