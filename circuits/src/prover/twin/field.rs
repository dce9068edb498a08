//! Twin of `cuda/kernels/field.cu`: BN254 Fq and Fq2 arithmetic on 64-bit limbs, in
//! the same Montgomery form as arkworks (R = 2^256, fully reduced), written statement
//! for statement like the kernel so that a test of this file tests the kernel's logic.
//!
//! Names match the CUDA functions: `add_carry`, `sub_borrow`, `mac`, `fq_p`,
//! `fq_reduce_once`, and the overloaded `f_zero`, `f_one`, `f_is_zero`, `f_add`,
//! `f_sub`, `f_dbl`, `f_mul`, `f_sqr` (here the methods of [`TwinField`]). The only
//! translation is `__umul64hi`, which is [`umul64hi`] here.

use std::fmt::Debug;

/// `p`, least significant limb first (`FQ_P0..FQ_P3` in the kernel).
pub const FQ_P: [u64; 4] = [
    0x3c20_8c16_d87c_fd47,
    0x9781_6a91_6871_ca8d,
    0xb850_45b6_8181_585d,
    0x3064_4e72_e131_a029,
];

/// `-p^-1 mod 2^64` (`FQ_INV`).
pub const FQ_INV: u64 = 0x87d2_0782_e486_6389;

/// `R mod p`, the Montgomery form of one (`FQ_ONE0..FQ_ONE3`).
pub const FQ_ONE: [u64; 4] = [
    0xd35d_438d_c58f_0d9d,
    0x0a78_eb28_f5c7_0b3d,
    0x666e_a36f_7879_462c,
    0x0e0a_77c1_9a07_df2f,
];

/// A base field as the kernels see it: a fixed number of limbs and the `f_*` operations.
pub trait TwinField: Copy + Eq + Debug + Send + Sync + 'static {
    /// Number of 64-bit limbs in the device layout.
    const LIMBS: usize;
    /// Zero.
    fn f_zero() -> Self;
    /// One (Montgomery form).
    fn f_one() -> Self;
    /// Whether this is zero.
    fn f_is_zero(&self) -> bool;
    /// Sum.
    fn f_add(&self, b: &Self) -> Self;
    /// Difference.
    fn f_sub(&self, b: &Self) -> Self;
    /// Double.
    fn f_dbl(&self) -> Self;
    /// Product.
    fn f_mul(&self, b: &Self) -> Self;
    /// Square.
    fn f_sqr(&self) -> Self;
    /// Reads `LIMBS` limbs (missing limbs read as zero).
    fn load(limbs: &[u64]) -> Self;
    /// Writes `LIMBS` limbs.
    fn store(&self, out: &mut [u64]);
}

/// An Fq element: four limbs, Montgomery form (`struct Fq` in the kernel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fq {
    /// Limbs, least significant first.
    pub l: [u64; 4],
}

/// An Fq2 element `c0 + c1·u`, `u² = −1` (`struct Fq2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fq2 {
    /// Real part.
    pub c0: Fq,
    /// Coefficient of `u`.
    pub c1: Fq,
}

/// The high 64 bits of `a·b` (CUDA's `__umul64hi`).
pub fn umul64hi(a: u64, b: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) >> 64) as u64
}

/// `a + b + carry` (carry in {0, 1}); the carry out is written back.
pub fn add_carry(a: u64, b: u64, carry: &mut u64) -> u64 {
    let s = a.wrapping_add(b);
    let c1 = u64::from(s < a);
    let r = s.wrapping_add(*carry);
    let c2 = u64::from(r < s);
    *carry = c1 | c2;
    r
}

/// `a - b - borrow` (borrow in {0, 1}); the borrow out is written back.
pub fn sub_borrow(a: u64, b: u64, borrow: &mut u64) -> u64 {
    let d = a.wrapping_sub(b);
    let b1 = u64::from(a < b);
    let r = d.wrapping_sub(*borrow);
    let b2 = u64::from(d < *borrow);
    *borrow = b1 | b2;
    r
}

/// Low 64 bits of `a + b·c + carry`; the high 64 bits go to `carry`.
pub fn mac(a: u64, b: u64, c: u64, carry: &mut u64) -> u64 {
    let lo = b.wrapping_mul(c);
    let mut hi = umul64hi(b, c);
    let lo2 = lo.wrapping_add(a);
    hi += u64::from(lo2 < a);
    let lo3 = lo2.wrapping_add(*carry);
    hi += u64::from(lo3 < *carry);
    *carry = hi;
    lo3
}

/// Limb `j` of `p`.
pub fn fq_p(j: usize) -> u64 {
    match j {
        0 => FQ_P[0],
        1 => FQ_P[1],
        2 => FQ_P[2],
        _ => FQ_P[3],
    }
}

/// `t` if `t < p`, else `t - p` (for `t < 2p`).
pub fn fq_reduce_once(t: &Fq) -> Fq {
    let mut s = Fq::default();
    let mut borrow = 0;
    s.l[0] = sub_borrow(t.l[0], FQ_P[0], &mut borrow);
    s.l[1] = sub_borrow(t.l[1], FQ_P[1], &mut borrow);
    s.l[2] = sub_borrow(t.l[2], FQ_P[2], &mut borrow);
    s.l[3] = sub_borrow(t.l[3], FQ_P[3], &mut borrow);
    if borrow == 0 { s } else { *t }
}

impl TwinField for Fq {
    const LIMBS: usize = 4;

    fn f_zero() -> Self {
        Fq { l: [0; 4] }
    }

    fn f_one() -> Self {
        Fq { l: FQ_ONE }
    }

    fn f_is_zero(&self) -> bool {
        (self.l[0] | self.l[1] | self.l[2] | self.l[3]) == 0
    }

    /// `2p < 2^256`, so the sum never carries out of the top limb.
    fn f_add(&self, b: &Self) -> Self {
        let a = self;
        let mut t = Fq::default();
        let mut carry = 0;
        t.l[0] = add_carry(a.l[0], b.l[0], &mut carry);
        t.l[1] = add_carry(a.l[1], b.l[1], &mut carry);
        t.l[2] = add_carry(a.l[2], b.l[2], &mut carry);
        t.l[3] = add_carry(a.l[3], b.l[3], &mut carry);
        fq_reduce_once(&t)
    }

    fn f_sub(&self, b: &Self) -> Self {
        let a = self;
        let mut t = Fq::default();
        let mut borrow = 0;
        t.l[0] = sub_borrow(a.l[0], b.l[0], &mut borrow);
        t.l[1] = sub_borrow(a.l[1], b.l[1], &mut borrow);
        t.l[2] = sub_borrow(a.l[2], b.l[2], &mut borrow);
        t.l[3] = sub_borrow(a.l[3], b.l[3], &mut borrow);
        if borrow != 0 {
            let mut carry = 0;
            t.l[0] = add_carry(t.l[0], FQ_P[0], &mut carry);
            t.l[1] = add_carry(t.l[1], FQ_P[1], &mut carry);
            t.l[2] = add_carry(t.l[2], FQ_P[2], &mut carry);
            t.l[3] = add_carry(t.l[3], FQ_P[3], &mut carry);
        }
        t
    }

    fn f_dbl(&self) -> Self {
        self.f_add(self)
    }

    /// Montgomery product `a·b/R mod p`: CIOS with the "no final carry" shortcut,
    /// valid because the top limb of `p` is below `2^63 - 1`.
    fn f_mul(&self, b: &Self) -> Self {
        let a = self;
        let mut t = [0u64; 4];
        for i in 0..4 {
            let mut ca = 0;
            t[0] = mac(t[0], a.l[0], b.l[i], &mut ca);
            let m = t[0].wrapping_mul(FQ_INV);
            let mut cc = 0;
            mac(t[0], m, fq_p(0), &mut cc);
            for j in 1..4 {
                t[j] = mac(t[j], a.l[j], b.l[i], &mut ca);
                t[j - 1] = mac(t[j], m, fq_p(j), &mut cc);
            }
            t[3] = cc.wrapping_add(ca);
        }
        let r = Fq { l: t };
        fq_reduce_once(&r)
    }

    fn f_sqr(&self) -> Self {
        self.f_mul(self)
    }

    fn load(limbs: &[u64]) -> Self {
        Fq {
            l: std::array::from_fn(|k| limbs.get(k).copied().unwrap_or(0)),
        }
    }

    fn store(&self, out: &mut [u64]) {
        for (o, l) in out.iter_mut().zip(self.l) {
            *o = l;
        }
    }
}

impl TwinField for Fq2 {
    const LIMBS: usize = 8;

    fn f_zero() -> Self {
        Fq2 {
            c0: Fq::f_zero(),
            c1: Fq::f_zero(),
        }
    }

    fn f_one() -> Self {
        Fq2 {
            c0: Fq::f_one(),
            c1: Fq::f_zero(),
        }
    }

    fn f_is_zero(&self) -> bool {
        self.c0.f_is_zero() && self.c1.f_is_zero()
    }

    fn f_add(&self, b: &Self) -> Self {
        Fq2 {
            c0: self.c0.f_add(&b.c0),
            c1: self.c1.f_add(&b.c1),
        }
    }

    fn f_sub(&self, b: &Self) -> Self {
        Fq2 {
            c0: self.c0.f_sub(&b.c0),
            c1: self.c1.f_sub(&b.c1),
        }
    }

    fn f_dbl(&self) -> Self {
        self.f_add(self)
    }

    /// Karatsuba: `(a0 b0 − a1 b1) + ((a0 + a1)(b0 + b1) − a0 b0 − a1 b1)·u`.
    fn f_mul(&self, b: &Self) -> Self {
        let a = self;
        let v0 = a.c0.f_mul(&b.c0);
        let v1 = a.c1.f_mul(&b.c1);
        let s = a.c0.f_add(&a.c1).f_mul(&b.c0.f_add(&b.c1));
        Fq2 {
            c0: v0.f_sub(&v1),
            c1: s.f_sub(&v0).f_sub(&v1),
        }
    }

    /// `(a0 + a1 u)² = (a0 + a1)(a0 − a1) + 2 a0 a1 u`.
    fn f_sqr(&self) -> Self {
        let a = self;
        Fq2 {
            c0: a.c0.f_add(&a.c1).f_mul(&a.c0.f_sub(&a.c1)),
            c1: a.c0.f_mul(&a.c1).f_dbl(),
        }
    }

    fn load(limbs: &[u64]) -> Self {
        Fq2 {
            c0: Fq::load(limbs),
            c1: Fq::load(limbs.get(4..).unwrap_or_default()),
        }
    }

    fn store(&self, out: &mut [u64]) {
        let (lo, hi) = out.split_at_mut(out.len().min(4));
        self.c0.store(lo);
        self.c1.store(hi);
    }
}
