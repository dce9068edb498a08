//! Twin of `cuda/kernels/curve.cu`: XYZZ point arithmetic (`a = 0`), generic over the
//! base field, with the kernel's function names and statements.
//!
//! [`Affine`] is the device layout of arkworks' affine points, the point at infinity
//! stored as `x = y = 0`. [`Xyzz`] has `x = X/ZZ`, `y = Y/ZZZ`, `ZZ³ = ZZZ²`, and
//! `ZZ = 0` at infinity. Formulas: add-2008-s, madd-2008-s, dbl-2008-s-1 and
//! mdbl-2008-s-1 from the Explicit-Formulas Database ("xyzz").

use super::field::TwinField;

/// An affine point (`struct Affine<F>`); `(0, 0)` is infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affine<F> {
    /// x.
    pub x: F,
    /// y.
    pub y: F,
}

/// A point in XYZZ coordinates (`struct Xyzz<F>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Xyzz<F> {
    /// X.
    pub x: F,
    /// Y.
    pub y: F,
    /// ZZ.
    pub zz: F,
    /// ZZZ.
    pub zzz: F,
}

impl<F: TwinField> Affine<F> {
    /// Limbs per point.
    pub const LIMBS: usize = 2 * F::LIMBS;

    /// Point `i` of a flat limb buffer.
    pub fn load(buf: &[u64], i: usize) -> Self {
        let at = |k: usize| {
            buf.get(i * Self::LIMBS + k * F::LIMBS..)
                .unwrap_or_default()
        };
        Affine {
            x: F::load(at(0)),
            y: F::load(at(1)),
        }
    }
}

impl<F: TwinField> Xyzz<F> {
    /// Limbs per point.
    pub const LIMBS: usize = 4 * F::LIMBS;

    /// Point `i` of a flat limb buffer.
    pub fn load(buf: &[u64], i: usize) -> Self {
        let at = |k: usize| {
            buf.get(i * Self::LIMBS + k * F::LIMBS..)
                .unwrap_or_default()
        };
        Xyzz {
            x: F::load(at(0)),
            y: F::load(at(1)),
            zz: F::load(at(2)),
            zzz: F::load(at(3)),
        }
    }

    /// Writes this point as point `i` of a flat limb buffer.
    pub fn store(&self, buf: &mut [u64], i: usize) {
        for (k, f) in [self.x, self.y, self.zz, self.zzz].iter().enumerate() {
            let start = i * Self::LIMBS + k * F::LIMBS;
            if let Some(out) = buf.get_mut(start..start + F::LIMBS) {
                f.store(out);
            }
        }
    }
}

/// Infinity.
pub fn xyzz_zero<F: TwinField>() -> Xyzz<F> {
    Xyzz {
        x: F::f_zero(),
        y: F::f_zero(),
        zz: F::f_zero(),
        zzz: F::f_zero(),
    }
}

/// Whether `p` is infinity.
pub fn xyzz_is_inf<F: TwinField>(p: &Xyzz<F>) -> bool {
    p.zz.f_is_zero()
}

/// Whether `p` is infinity.
pub fn affine_is_inf<F: TwinField>(p: &Affine<F>) -> bool {
    p.x.f_is_zero() && p.y.f_is_zero()
}

/// `p` with `ZZ = ZZZ = 1`.
pub fn xyzz_from_affine<F: TwinField>(p: &Affine<F>) -> Xyzz<F> {
    if affine_is_inf(p) {
        return xyzz_zero();
    }
    Xyzz {
        x: p.x,
        y: p.y,
        zz: F::f_one(),
        zzz: F::f_one(),
    }
}

/// `2P` (dbl-2008-s-1).
pub fn xyzz_dbl<F: TwinField>(p: &Xyzz<F>) -> Xyzz<F> {
    if xyzz_is_inf(p) {
        return *p;
    }
    let u = p.y.f_dbl();
    let v = u.f_sqr();
    let w = u.f_mul(&v);
    let s = p.x.f_mul(&v);
    let x2 = p.x.f_sqr();
    let m = x2.f_dbl().f_add(&x2);
    let x = m.f_sqr().f_sub(&s.f_dbl());
    let y = m.f_mul(&s.f_sub(&x)).f_sub(&w.f_mul(&p.y));
    Xyzz {
        x,
        y,
        zz: v.f_mul(&p.zz),
        zzz: w.f_mul(&p.zzz),
    }
}

/// `2Q` for affine `Q` (mdbl-2008-s-1).
pub fn xyzz_dbl_affine<F: TwinField>(q: &Affine<F>) -> Xyzz<F> {
    if affine_is_inf(q) {
        return xyzz_zero();
    }
    let u = q.y.f_dbl();
    let v = u.f_sqr();
    let w = u.f_mul(&v);
    let s = q.x.f_mul(&v);
    let x2 = q.x.f_sqr();
    let m = x2.f_dbl().f_add(&x2);
    let x = m.f_sqr().f_sub(&s.f_dbl());
    let y = m.f_mul(&s.f_sub(&x)).f_sub(&w.f_mul(&q.y));
    Xyzz {
        x,
        y,
        zz: v,
        zzz: w,
    }
}

/// `P + Q` for affine `Q` (madd-2008-s).
pub fn xyzz_add_affine<F: TwinField>(p: &Xyzz<F>, q: &Affine<F>) -> Xyzz<F> {
    if affine_is_inf(q) {
        return *p;
    }
    if xyzz_is_inf(p) {
        return xyzz_from_affine(q);
    }
    let u2 = q.x.f_mul(&p.zz);
    let s2 = q.y.f_mul(&p.zzz);
    let pp_ = u2.f_sub(&p.x);
    let r_ = s2.f_sub(&p.y);
    if pp_.f_is_zero() {
        if r_.f_is_zero() {
            return xyzz_dbl_affine(q);
        }
        return xyzz_zero();
    }
    let pp = pp_.f_sqr();
    let ppp = pp_.f_mul(&pp);
    let q_ = p.x.f_mul(&pp);
    let x = r_.f_sqr().f_sub(&ppp).f_sub(&q_.f_dbl());
    let y = r_.f_mul(&q_.f_sub(&x)).f_sub(&p.y.f_mul(&ppp));
    Xyzz {
        x,
        y,
        zz: p.zz.f_mul(&pp),
        zzz: p.zzz.f_mul(&ppp),
    }
}

/// `P + Q` (add-2008-s).
pub fn xyzz_add<F: TwinField>(p: &Xyzz<F>, q: &Xyzz<F>) -> Xyzz<F> {
    if xyzz_is_inf(q) {
        return *p;
    }
    if xyzz_is_inf(p) {
        return *q;
    }
    let u1 = p.x.f_mul(&q.zz);
    let u2 = q.x.f_mul(&p.zz);
    let s1 = p.y.f_mul(&q.zzz);
    let s2 = q.y.f_mul(&p.zzz);
    let pp_ = u2.f_sub(&u1);
    let r_ = s2.f_sub(&s1);
    if pp_.f_is_zero() {
        if r_.f_is_zero() {
            return xyzz_dbl(p);
        }
        return xyzz_zero();
    }
    let pp = pp_.f_sqr();
    let ppp = pp_.f_mul(&pp);
    let q_ = u1.f_mul(&pp);
    let x = r_.f_sqr().f_sub(&ppp).f_sub(&q_.f_dbl());
    let y = r_.f_mul(&q_.f_sub(&x)).f_sub(&s1.f_mul(&ppp));
    Xyzz {
        x,
        y,
        zz: p.zz.f_mul(&q.zz).f_mul(&pp),
        zzz: p.zzz.f_mul(&q.zzz).f_mul(&ppp),
    }
}

/// `k·P` for a small `k`, most significant bit first.
pub fn xyzz_mul_small<F: TwinField>(p: &Xyzz<F>, k: u32) -> Xyzz<F> {
    let mut r = xyzz_zero();
    for bit in (1..=32u32).rev() {
        r = xyzz_dbl(&r);
        if ((k >> (bit - 1)) & 1) != 0 {
            r = xyzz_add(&r, p);
        }
    }
    r
}
