// BN254 base-field arithmetic (Fq and Fq2 = Fq[u]/(u^2 + 1)) for the bucket MSM.
//
// Twin: src/prover/twin/field.rs. Every function here has a Rust function of the same
// name and the same statements there; change both together. A unit test reads the
// FQ_* constants below out of this file and checks them against the twin and arkworks.
//
// Representation (identical to arkworks' in-memory Fq): four 64-bit limbs, least
// significant first, in Montgomery form with R = 2^256, always fully reduced (< p).
// So arkworks' limbs are copied to the device and back unchanged.
//
// Plain CUDA C++ for NVRTC: no headers, only built-in types and __umul64hi.

typedef unsigned long long u64;
typedef unsigned int u32;

// p, least significant limb first.
#define FQ_P0 0x3c208c16d87cfd47ULL
#define FQ_P1 0x97816a916871ca8dULL
#define FQ_P2 0xb85045b68181585dULL
#define FQ_P3 0x30644e72e131a029ULL
// -p^-1 mod 2^64.
#define FQ_INV 0x87d20782e4866389ULL
// R mod p (the Montgomery form of 1).
#define FQ_ONE0 0xd35d438dc58f0d9dULL
#define FQ_ONE1 0x0a78eb28f5c70b3dULL
#define FQ_ONE2 0x666ea36f7879462cULL
#define FQ_ONE3 0x0e0a77c19a07df2fULL

struct Fq {
    u64 l[4];
};

struct Fq2 {
    Fq c0;
    Fq c1;
};

// Limb j of p (j is a compile-time constant after unrolling, so this folds away).
__device__ __forceinline__ u64 fq_p(int j) {
    return j == 0 ? FQ_P0 : (j == 1 ? FQ_P1 : (j == 2 ? FQ_P2 : FQ_P3));
}

// a + b + carry (carry in {0, 1}); the carry out is written back.
__device__ __forceinline__ u64 add_carry(u64 a, u64 b, u64 &carry) {
    u64 s = a + b;
    u64 c1 = s < a ? 1ULL : 0ULL;
    u64 r = s + carry;
    u64 c2 = r < s ? 1ULL : 0ULL;
    carry = c1 | c2;
    return r;
}

// a - b - borrow (borrow in {0, 1}); the borrow out is written back.
__device__ __forceinline__ u64 sub_borrow(u64 a, u64 b, u64 &borrow) {
    u64 d = a - b;
    u64 b1 = a < b ? 1ULL : 0ULL;
    u64 r = d - borrow;
    u64 b2 = d < borrow ? 1ULL : 0ULL;
    borrow = b1 | b2;
    return r;
}

// Low 64 bits of a + b * c + carry; the high 64 bits go to carry (never overflows).
__device__ __forceinline__ u64 mac(u64 a, u64 b, u64 c, u64 &carry) {
    u64 lo = b * c;
    u64 hi = __umul64hi(b, c);
    u64 lo2 = lo + a;
    hi += lo2 < a ? 1ULL : 0ULL;
    u64 lo3 = lo2 + carry;
    hi += lo3 < carry ? 1ULL : 0ULL;
    carry = hi;
    return lo3;
}

// t if t < p, else t - p (for t < 2p).
__device__ __forceinline__ Fq fq_reduce_once(const Fq &t) {
    Fq s;
    u64 borrow = 0;
    s.l[0] = sub_borrow(t.l[0], FQ_P0, borrow);
    s.l[1] = sub_borrow(t.l[1], FQ_P1, borrow);
    s.l[2] = sub_borrow(t.l[2], FQ_P2, borrow);
    s.l[3] = sub_borrow(t.l[3], FQ_P3, borrow);
    return borrow == 0 ? s : t;
}

__device__ __forceinline__ void f_zero(Fq &r) {
    r.l[0] = 0;
    r.l[1] = 0;
    r.l[2] = 0;
    r.l[3] = 0;
}

__device__ __forceinline__ void f_one(Fq &r) {
    r.l[0] = FQ_ONE0;
    r.l[1] = FQ_ONE1;
    r.l[2] = FQ_ONE2;
    r.l[3] = FQ_ONE3;
}

__device__ __forceinline__ bool f_is_zero(const Fq &a) {
    return (a.l[0] | a.l[1] | a.l[2] | a.l[3]) == 0;
}

// 2p < 2^256, so the sum never carries out of the top limb.
__device__ __forceinline__ Fq f_add(const Fq &a, const Fq &b) {
    Fq t;
    u64 carry = 0;
    t.l[0] = add_carry(a.l[0], b.l[0], carry);
    t.l[1] = add_carry(a.l[1], b.l[1], carry);
    t.l[2] = add_carry(a.l[2], b.l[2], carry);
    t.l[3] = add_carry(a.l[3], b.l[3], carry);
    return fq_reduce_once(t);
}

__device__ __forceinline__ Fq f_sub(const Fq &a, const Fq &b) {
    Fq t;
    u64 borrow = 0;
    t.l[0] = sub_borrow(a.l[0], b.l[0], borrow);
    t.l[1] = sub_borrow(a.l[1], b.l[1], borrow);
    t.l[2] = sub_borrow(a.l[2], b.l[2], borrow);
    t.l[3] = sub_borrow(a.l[3], b.l[3], borrow);
    if (borrow != 0) {
        u64 carry = 0;
        t.l[0] = add_carry(t.l[0], FQ_P0, carry);
        t.l[1] = add_carry(t.l[1], FQ_P1, carry);
        t.l[2] = add_carry(t.l[2], FQ_P2, carry);
        t.l[3] = add_carry(t.l[3], FQ_P3, carry);
    }
    return t;
}

__device__ __forceinline__ Fq f_dbl(const Fq &a) {
    return f_add(a, a);
}

// Montgomery product a * b / R mod p: CIOS with the "no final carry" shortcut, valid
// because the top limb of p is below 2^63 - 1.
__device__ __forceinline__ Fq f_mul(const Fq &a, const Fq &b) {
    u64 t[4] = {0, 0, 0, 0};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        u64 ca = 0;
        t[0] = mac(t[0], a.l[0], b.l[i], ca);
        u64 m = t[0] * FQ_INV;
        u64 cc = 0;
        mac(t[0], m, fq_p(0), cc);
#pragma unroll
        for (int j = 1; j < 4; j++) {
            t[j] = mac(t[j], a.l[j], b.l[i], ca);
            t[j - 1] = mac(t[j], m, fq_p(j), cc);
        }
        t[3] = cc + ca;
    }
    Fq r;
    r.l[0] = t[0];
    r.l[1] = t[1];
    r.l[2] = t[2];
    r.l[3] = t[3];
    return fq_reduce_once(r);
}

__device__ __forceinline__ Fq f_sqr(const Fq &a) {
    return f_mul(a, a);
}

// ---- Fq2 = Fq[u] / (u^2 + 1) ----

__device__ __forceinline__ void f_zero(Fq2 &r) {
    f_zero(r.c0);
    f_zero(r.c1);
}

__device__ __forceinline__ void f_one(Fq2 &r) {
    f_one(r.c0);
    f_zero(r.c1);
}

__device__ __forceinline__ bool f_is_zero(const Fq2 &a) {
    return f_is_zero(a.c0) && f_is_zero(a.c1);
}

__device__ __forceinline__ Fq2 f_add(const Fq2 &a, const Fq2 &b) {
    Fq2 r;
    r.c0 = f_add(a.c0, b.c0);
    r.c1 = f_add(a.c1, b.c1);
    return r;
}

__device__ __forceinline__ Fq2 f_sub(const Fq2 &a, const Fq2 &b) {
    Fq2 r;
    r.c0 = f_sub(a.c0, b.c0);
    r.c1 = f_sub(a.c1, b.c1);
    return r;
}

__device__ __forceinline__ Fq2 f_dbl(const Fq2 &a) {
    return f_add(a, a);
}

// Karatsuba: (a0 + a1 u)(b0 + b1 u) = (a0 b0 - a1 b1) + ((a0 + a1)(b0 + b1) - a0 b0 - a1 b1) u.
__device__ __forceinline__ Fq2 f_mul(const Fq2 &a, const Fq2 &b) {
    Fq v0 = f_mul(a.c0, b.c0);
    Fq v1 = f_mul(a.c1, b.c1);
    Fq s = f_mul(f_add(a.c0, a.c1), f_add(b.c0, b.c1));
    Fq2 r;
    r.c0 = f_sub(v0, v1);
    r.c1 = f_sub(f_sub(s, v0), v1);
    return r;
}

// (a0 + a1 u)^2 = (a0 + a1)(a0 - a1) + 2 a0 a1 u.
__device__ __forceinline__ Fq2 f_sqr(const Fq2 &a) {
    Fq2 r;
    r.c0 = f_mul(f_add(a.c0, a.c1), f_sub(a.c0, a.c1));
    r.c1 = f_dbl(f_mul(a.c0, a.c1));
    return r;
}
