//! The CPU backend's MSM: Pippenger's bucket method with the buckets summed in affine
//! coordinates, many additions sharing one field inversion.
//!
//! arkworks' MSM adds each point into a projective bucket (a mixed addition, about
//! eleven field multiplications). Here each window instead sorts its points by bucket
//! and sums every bucket as a tree: all the pairs of a round are added in affine
//! coordinates at once, with their denominators inverted together (Montgomery's
//! trick), about six multiplications per addition. Sorting first means a bucket never
//! meets itself inside a batch, so there is no scheduling, and skewed scalars (a
//! witness full of 0/1 bits lands in one bucket) cost the same per point.
//!
//! Steps, per window of `c` bits (windows run in parallel):
//! 1. signed digits in `[-2^(c-1), 2^(c-1)]` (the carry of each scalar across windows is
//!    computed once, as a bit mask);
//! 2. counting sort of the points (negated for negative digits) into bucket segments;
//! 3. rounds of pairwise affine additions, halving every segment, until each bucket is
//!    one point (in G2, the shared inversion runs over Fq through the norm, [`BatchInvert`]);
//! 4. the running-sum reduction `Σ (b+1)·B_b`, in projective coordinates.
//!
//! The windows are then combined by doubling. Small inputs go to arkworks.

use ark_bn254::{Fq, Fq2};
use ark_ec::{
    AffineRepr, VariableBaseMSM,
    short_weierstrass::{Affine, Projective, SWCurveConfig},
};
use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField, Zero};
use rayon::prelude::*;

/// Below this many terms arkworks' MSM is as fast.
const MIN_TERMS: usize = 1 << 9;

/// Pairs added per shared inversion (bounds the scratch and keeps it in cache).
const BATCH: usize = 2048;

/// A scalar as `into_bigint` returns it.
type Repr<P> = <<P as ark_ec::CurveConfig>::ScalarField as PrimeField>::BigInt;

/// `Σ scalars[i]·bases[i]`. Extra bases or scalars beyond the shorter slice are ignored.
pub fn msm<P: SWCurveConfig>(bases: &[Affine<P>], scalars: &[Repr<P>]) -> Projective<P>
where
    P::BaseField: BatchInvert,
{
    let n = bases.len().min(scalars.len());
    let (bases, scalars) = (&bases[..n], &scalars[..n]);
    // Only the terms that contribute.
    let terms: Vec<u32> = (0..n as u32)
        .into_par_iter()
        .filter(|&i| !scalars[i as usize].is_zero() && !bases[i as usize].is_zero())
        .collect();
    if terms.len() < MIN_TERMS {
        let (b, s): (Vec<_>, Vec<_>) = terms
            .iter()
            .map(|&i| (bases[i as usize], scalars[i as usize]))
            .unzip();
        return Projective::<P>::msm_bigint(&b, &s);
    }
    let bits = <P::ScalarField as PrimeField>::MODULUS_BIT_SIZE as usize;
    let c = window_bits(terms.len(), bits);
    // One more window than the bits need: the top digit may carry.
    let windows = bits.div_ceil(c) + 1;
    assert!(windows <= 64, "the carry mask holds 64 windows");
    let carries: Vec<u64> = terms
        .par_iter()
        .map(|&i| carry_mask(scalars[i as usize].as_ref(), c, windows))
        .collect();
    let input = Input {
        bases,
        scalars,
        terms: &terms,
        carries: &carries,
        c,
    };
    let sums: Vec<Projective<P>> = (0..windows)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, w| input.window(w, scratch))
        .collect();
    let mut total = Projective::<P>::zero();
    for sum in sums.iter().rev() {
        for _ in 0..c {
            total.double_in_place();
        }
        total += sum;
    }
    total
}

/// The window size minimizing `windows · (terms + 4·buckets)`: an affine addition per
/// term, about two projective additions (four affine ones) per bucket. At least 5 bits,
/// so a 254-bit scalar's carries fit the 64-bit mask.
fn window_bits(terms: usize, bits: usize) -> usize {
    (5..=16)
        .min_by_key(|&c| (bits.div_ceil(c) + 1) * (terms + 4 * (1usize << (c - 1))))
        .unwrap_or(8)
}

/// `c` bits of `limbs` from bit `start` (zero past the end).
fn bits_at(limbs: &[u64], start: usize, c: usize) -> u64 {
    let (word, shift) = (start / 64, start % 64);
    let mut v = limbs.get(word).map_or(0, |l| l >> shift);
    if shift + c > 64 && shift > 0 {
        v |= limbs.get(word + 1).map_or(0, |l| l << (64 - shift));
    }
    v & ((1u64 << c) - 1)
}

/// Bit `w` is set when window `w` receives a carry from window `w − 1`.
fn carry_mask(limbs: &[u64], c: usize, windows: usize) -> u64 {
    let half = 1u64 << (c - 1);
    let mut mask = 0;
    let mut carry = 0;
    for w in 0..windows {
        mask |= carry << w;
        let raw = bits_at(limbs, w * c, c) + carry;
        carry = u64::from(raw > half);
    }
    mask
}

/// The signed digit of window `w`: `raw` in `[0, 2^c]`, taken as `raw − 2^c` above half.
fn digit(limbs: &[u64], carries: u64, c: usize, w: usize) -> i64 {
    let raw = bits_at(limbs, w * c, c) + ((carries >> w) & 1);
    if raw > 1u64 << (c - 1) {
        raw as i64 - (1i64 << c)
    } else {
        raw as i64
    }
}

struct Input<'a, P: SWCurveConfig> {
    bases: &'a [Affine<P>],
    scalars: &'a [Repr<P>],
    terms: &'a [u32],
    carries: &'a [u64],
    c: usize,
}

/// A thread's buffers, reused across the windows it runs.
struct Scratch<P: SWCurveConfig> {
    digits: Vec<i32>,
    starts: Vec<u32>,
    lens: Vec<u32>,
    points: Vec<Affine<P>>,
    next: Vec<Affine<P>>,
    pairs: Vec<(u32, u32)>,
    dens: Vec<P::BaseField>,
    prods: Vec<P::BaseField>,
}

impl<P: SWCurveConfig> Default for Scratch<P> {
    fn default() -> Self {
        Self {
            digits: Vec::new(),
            starts: Vec::new(),
            lens: Vec::new(),
            points: Vec::new(),
            next: Vec::new(),
            pairs: Vec::with_capacity(BATCH),
            dens: Vec::with_capacity(BATCH),
            prods: Vec::with_capacity(BATCH),
        }
    }
}

impl<P: SWCurveConfig> Input<'_, P>
where
    P::BaseField: BatchInvert,
{
    /// `Σ digit_w(s_i)·P_i` for window `w`.
    fn window(&self, w: usize, s: &mut Scratch<P>) -> Projective<P> {
        let buckets = 1usize << (self.c - 1);
        // Digits, and how many points each bucket gets.
        s.lens.clear();
        s.lens.resize(buckets, 0);
        s.digits.clear();
        for (&i, &carries) in self.terms.iter().zip(self.carries) {
            let d = digit(self.scalars[i as usize].as_ref(), carries, self.c, w);
            if d != 0 {
                s.lens[d.unsigned_abs() as usize - 1] += 1;
            }
            s.digits.push(d as i32);
        }
        // Counting sort into bucket segments.
        s.starts.clear();
        let mut at = 0u32;
        for &len in &s.lens {
            s.starts.push(at);
            at += len;
        }
        let total = at as usize;
        s.points.clear();
        s.points.resize(total, Affine::identity());
        s.next.clear();
        s.next.resize(total, Affine::identity());
        let mut cursor = s.starts.clone();
        for (&i, &d) in self.terms.iter().zip(&s.digits) {
            if d != 0 {
                let b = d.unsigned_abs() as usize - 1;
                let base = self.bases[i as usize];
                s.points[cursor[b] as usize] = if d > 0 { base } else { -base };
                cursor[b] += 1;
            }
        }
        // Halve every segment until each bucket is one point.
        while s.lens.iter().any(|&l| l > 1) {
            for b in 0..buckets {
                let (start, len) = (s.starts[b], s.lens[b]);
                for j in 0..len / 2 {
                    s.pairs.push((start + 2 * j, start + j));
                    if s.pairs.len() == BATCH {
                        add_pairs(s);
                    }
                }
                if len % 2 == 1 {
                    let last = (start + len - 1) as usize;
                    s.next[(start + len / 2) as usize] = s.points[last];
                }
                s.lens[b] = len.div_ceil(2);
            }
            add_pairs(s);
            std::mem::swap(&mut s.points, &mut s.next);
        }
        // Σ (b+1)·B_b as a running sum from the top bucket down.
        let mut running = Projective::<P>::zero();
        let mut sum = Projective::<P>::zero();
        for b in (0..buckets).rev() {
            if s.lens[b] == 1 {
                running += &s.points[s.starts[b] as usize];
            }
            sum += &running;
        }
        sum
    }
}

/// Adds the queued pairs `points[i] + points[i+1] → next[o]`, all with one inversion.
fn add_pairs<P: SWCurveConfig>(s: &mut Scratch<P>)
where
    P::BaseField: BatchInvert,
{
    let one = P::BaseField::ONE;
    s.dens.clear();
    for &(i, _) in &s.pairs {
        let (p, q) = (&s.points[i as usize], &s.points[i as usize + 1]);
        let den = match (p.xy(), q.xy()) {
            (Some((px, py)), Some((qx, qy))) if px == qx => {
                if py == qy && !py.is_zero() {
                    py.double()
                } else {
                    one
                }
            }
            (Some((px, _)), Some((qx, _))) => qx - px,
            _ => one,
        };
        s.dens.push(den);
    }
    P::BaseField::invert_all(&mut s.dens, &mut s.prods);
    for (k, &(i, o)) in s.pairs.iter().enumerate() {
        let (p, q) = (s.points[i as usize], s.points[i as usize + 1]);
        s.next[o as usize] = add(p, q, s.dens[k]);
    }
    s.pairs.clear();
}

/// Inverting many nonzero field elements at once.
pub trait BatchInvert: Field {
    /// Replaces each element of `values` (none zero) by its inverse; `scratch` is reused.
    fn invert_all(values: &mut [Self], scratch: &mut Vec<Self>);
}

/// Montgomery's trick: prefix products, one inversion, then back: three multiplications
/// an element.
fn montgomery<F: Field>(values: &mut [F], scratch: &mut Vec<F>) {
    scratch.clear();
    let mut acc = F::ONE;
    for v in values.iter() {
        scratch.push(acc);
        acc *= v;
    }
    let mut inv = acc.inverse().unwrap_or(F::ONE);
    for (v, prefix) in values.iter_mut().zip(scratch.iter()).rev() {
        let inverse = inv * prefix;
        inv *= *v;
        *v = inverse;
    }
}

impl BatchInvert for Fq {
    fn invert_all(values: &mut [Self], scratch: &mut Vec<Self>) {
        montgomery(values, scratch);
    }
}

impl BatchInvert for Fq2 {
    /// `1/x = conj(x) / N(x)` with the norm `N(x)` in Fq: the batch runs over Fq, whose
    /// multiplications cost a quarter of Fq2's.
    fn invert_all(values: &mut [Self], _scratch: &mut Vec<Self>) {
        let mut norms: Vec<Fq> = values.iter().map(Fq2::norm).collect();
        let mut prefixes = Vec::with_capacity(norms.len());
        montgomery(&mut norms, &mut prefixes);
        for (v, n) in values.iter_mut().zip(&norms) {
            v.conjugate_in_place();
            v.mul_assign_by_basefield(n);
        }
    }
}

/// `p + q`, given the inverse of the denominator [`add_pairs`] chose for them.
fn add<P: SWCurveConfig>(p: Affine<P>, q: Affine<P>, inv_den: P::BaseField) -> Affine<P> {
    let (Some((px, py)), Some((qx, qy))) = (p.xy(), q.xy()) else {
        return if p.is_zero() { q } else { p };
    };
    let lambda = if px != qx {
        (qy - py) * inv_den
    } else if py == qy && !py.is_zero() {
        let mut num = px.square();
        num += num.double();
        num += P::COEFF_A;
        num * inv_den
    } else {
        // p = −q.
        return Affine::identity();
    };
    let x = lambda.square() - px - qx;
    let y = lambda * (px - x) - py;
    Affine::new_unchecked(x, y)
}

#[cfg(test)]
mod tests {
    use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
    use ark_ec::CurveGroup;
    use ark_ff::{PrimeField, UniformRand};
    use ark_std::rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    fn points<G: CurveGroup>(n: usize, rng: &mut StdRng) -> Vec<G::Affine> {
        let g = G::generator() * G::ScalarField::rand(rng);
        let mut p = g;
        let all: Vec<G> = (0..n)
            .map(|_| {
                p += g;
                p
            })
            .collect();
        G::normalize_batch(&all)
    }

    fn same<P>(bases: &[Affine<P>], scalars: &[Fr])
    where
        P: SWCurveConfig + ark_ec::CurveConfig<ScalarField = Fr>,
        P::BaseField: BatchInvert,
    {
        let reprs: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        assert_eq!(
            msm::<P>(bases, &reprs),
            Projective::<P>::msm_bigint(bases, &reprs),
            "{} terms",
            bases.len()
        );
    }

    #[test]
    fn random_scalars_match_arkworks_in_both_groups() {
        let mut rng = StdRng::seed_from_u64(7);
        for n in [0, 1, 100, 600, 3000] {
            let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            same(&points::<G1Projective>(n, &mut rng), &scalars);
            same(&points::<G2Projective>(n, &mut rng), &scalars);
        }
    }

    #[test]
    fn skewed_scalars_and_degenerate_points_match_arkworks() {
        let mut rng = StdRng::seed_from_u64(8);
        let n = 2000;
        let mut bases = points::<G1Projective>(n, &mut rng);
        // Repeated points (doublings in a bucket), a point beside its negation
        // (cancellation), and the point at infinity.
        for i in 0..100 {
            bases[2 * i + 1] = bases[2 * i];
        }
        for i in 100..200 {
            bases[2 * i + 1] = -bases[2 * i];
        }
        bases[1999] = G1Affine::identity();
        let small = [0u64, 1, 2, u64::MAX];
        let scalars: Vec<Fr> = (0..n)
            .map(|i| match i % 5 {
                0..=2 => Fr::from(small[rng.gen_range(0..small.len())]),
                3 => -Fr::from(rng.gen_range(0..4u64)),
                _ => Fr::rand(&mut rng),
            })
            .collect();
        same(&bases, &scalars);
        // Every scalar the same: one bucket per window holds every point.
        same(&bases, &vec![Fr::from(3u64); n]);
        same(&bases, &vec![-Fr::from(1u64); n]);
        // The largest scalars: every window carries.
        same(&bases, &vec![-Fr::from(1u64) - Fr::from(1u64); n]);
        let g2: Vec<G2Affine> = vec![G2Affine::generator(); 700];
        same(&g2, &vec![Fr::from(5u64); 700]);
    }

    #[test]
    fn batch_inverses_are_inverses_in_both_fields() {
        let mut rng = StdRng::seed_from_u64(11);
        let xs: Vec<Fq> = (0..100).map(|_| Fq::rand(&mut rng)).collect();
        let mut inv = xs.clone();
        Fq::invert_all(&mut inv, &mut Vec::new());
        assert!(xs.iter().zip(&inv).all(|(x, i)| *x * i == Fq::ONE));
        let ys: Vec<Fq2> = (0..100).map(|_| Fq2::rand(&mut rng)).collect();
        let mut inv = ys.clone();
        Fq2::invert_all(&mut inv, &mut Vec::new());
        assert!(ys.iter().zip(&inv).all(|(y, i)| *y * i == Fq2::ONE));
    }

    #[test]
    fn digits_recompose_the_scalar() {
        let mut rng = StdRng::seed_from_u64(9);
        for c in 5..=16 {
            let windows = 254usize.div_ceil(c) + 1;
            for _ in 0..20 {
                let s = Fr::rand(&mut rng);
                let limbs = s.into_bigint();
                let carries = carry_mask(limbs.as_ref(), c, windows);
                let mut back = Fr::from(0u64);
                for w in (0..windows).rev() {
                    back *= Fr::from(1u64 << c);
                    let d = digit(limbs.as_ref(), carries, c, w);
                    assert!(d.unsigned_abs() <= 1 << (c - 1));
                    back += if d < 0 {
                        -Fr::from(d.unsigned_abs())
                    } else {
                        Fr::from(d as u64)
                    };
                }
                assert_eq!(back, s, "c = {c}");
            }
        }
    }

    #[test]
    fn a_large_msm_matches_arkworks() {
        let mut rng = StdRng::seed_from_u64(10);
        let n = 1 << 13;
        let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        same(&points::<G1Projective>(n, &mut rng), &scalars);
    }
}
