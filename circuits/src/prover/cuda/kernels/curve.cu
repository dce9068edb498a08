// Short-Weierstrass (a = 0) point arithmetic in XYZZ coordinates, generic over the
// base field (Fq for G1, Fq2 for G2).
//
// Twin: src/prover/twin/curve.rs (same function names, same statements).
//
// Affine<F>: (x, y) in the device layout of arkworks' affine points; the point at
// infinity is stored as x = y = 0, which is not on the curve (y^2 = x^3 + b, b != 0).
// Xyzz<F>: x = X / ZZ, y = Y / ZZZ with ZZ^3 = ZZZ^2; infinity is ZZ = 0.
// Formulas: add-2008-s, madd-2008-s, dbl-2008-s-1, mdbl-2008-s-1 (EFD, "xyzz").

template <class F>
struct Affine {
    F x;
    F y;
};

template <class F>
struct Xyzz {
    F x;
    F y;
    F zz;
    F zzz;
};

template <class F>
__device__ __forceinline__ Xyzz<F> xyzz_zero() {
    Xyzz<F> r;
    f_zero(r.x);
    f_zero(r.y);
    f_zero(r.zz);
    f_zero(r.zzz);
    return r;
}

template <class F>
__device__ __forceinline__ bool xyzz_is_inf(const Xyzz<F> &p) {
    return f_is_zero(p.zz);
}

template <class F>
__device__ __forceinline__ bool affine_is_inf(const Affine<F> &p) {
    return f_is_zero(p.x) && f_is_zero(p.y);
}

template <class F>
__device__ __forceinline__ Xyzz<F> xyzz_from_affine(const Affine<F> &p) {
    if (affine_is_inf(p)) {
        return xyzz_zero<F>();
    }
    Xyzz<F> r;
    r.x = p.x;
    r.y = p.y;
    f_one(r.zz);
    f_one(r.zzz);
    return r;
}

// 2 P (dbl-2008-s-1, a = 0).
template <class F>
__device__ Xyzz<F> xyzz_dbl(const Xyzz<F> &p) {
    if (xyzz_is_inf(p)) {
        return p;
    }
    F u = f_dbl(p.y);
    F v = f_sqr(u);
    F w = f_mul(u, v);
    F s = f_mul(p.x, v);
    F x2 = f_sqr(p.x);
    F m = f_add(f_dbl(x2), x2);
    Xyzz<F> r;
    r.x = f_sub(f_sqr(m), f_dbl(s));
    r.y = f_sub(f_mul(m, f_sub(s, r.x)), f_mul(w, p.y));
    r.zz = f_mul(v, p.zz);
    r.zzz = f_mul(w, p.zzz);
    return r;
}

// 2 Q for affine Q (mdbl-2008-s-1, a = 0).
template <class F>
__device__ Xyzz<F> xyzz_dbl_affine(const Affine<F> &q) {
    if (affine_is_inf(q)) {
        return xyzz_zero<F>();
    }
    F u = f_dbl(q.y);
    F v = f_sqr(u);
    F w = f_mul(u, v);
    F s = f_mul(q.x, v);
    F x2 = f_sqr(q.x);
    F m = f_add(f_dbl(x2), x2);
    Xyzz<F> r;
    r.x = f_sub(f_sqr(m), f_dbl(s));
    r.y = f_sub(f_mul(m, f_sub(s, r.x)), f_mul(w, q.y));
    r.zz = v;
    r.zzz = w;
    return r;
}

// P + Q for affine Q (madd-2008-s).
template <class F>
__device__ Xyzz<F> xyzz_add_affine(const Xyzz<F> &p, const Affine<F> &q) {
    if (affine_is_inf(q)) {
        return p;
    }
    if (xyzz_is_inf(p)) {
        return xyzz_from_affine(q);
    }
    F u2 = f_mul(q.x, p.zz);
    F s2 = f_mul(q.y, p.zzz);
    F pp_ = f_sub(u2, p.x);
    F r_ = f_sub(s2, p.y);
    if (f_is_zero(pp_)) {
        if (f_is_zero(r_)) {
            return xyzz_dbl_affine(q);
        }
        return xyzz_zero<F>();
    }
    F pp = f_sqr(pp_);
    F ppp = f_mul(pp_, pp);
    F q_ = f_mul(p.x, pp);
    Xyzz<F> r;
    r.x = f_sub(f_sub(f_sqr(r_), ppp), f_dbl(q_));
    r.y = f_sub(f_mul(r_, f_sub(q_, r.x)), f_mul(p.y, ppp));
    r.zz = f_mul(p.zz, pp);
    r.zzz = f_mul(p.zzz, ppp);
    return r;
}

// P + Q (add-2008-s).
template <class F>
__device__ Xyzz<F> xyzz_add(const Xyzz<F> &p, const Xyzz<F> &q) {
    if (xyzz_is_inf(q)) {
        return p;
    }
    if (xyzz_is_inf(p)) {
        return q;
    }
    F u1 = f_mul(p.x, q.zz);
    F u2 = f_mul(q.x, p.zz);
    F s1 = f_mul(p.y, q.zzz);
    F s2 = f_mul(q.y, p.zzz);
    F pp_ = f_sub(u2, u1);
    F r_ = f_sub(s2, s1);
    if (f_is_zero(pp_)) {
        if (f_is_zero(r_)) {
            return xyzz_dbl(p);
        }
        return xyzz_zero<F>();
    }
    F pp = f_sqr(pp_);
    F ppp = f_mul(pp_, pp);
    F q_ = f_mul(u1, pp);
    Xyzz<F> r;
    r.x = f_sub(f_sub(f_sqr(r_), ppp), f_dbl(q_));
    r.y = f_sub(f_mul(r_, f_sub(q_, r.x)), f_mul(s1, ppp));
    r.zz = f_mul(f_mul(p.zz, q.zz), pp);
    r.zzz = f_mul(f_mul(p.zzz, q.zzz), ppp);
    return r;
}

// k P for a small k, most significant bit first.
template <class F>
__device__ Xyzz<F> xyzz_mul_small(const Xyzz<F> &p, u32 k) {
    Xyzz<F> r = xyzz_zero<F>();
    for (u32 bit = 32; bit > 0; bit--) {
        r = xyzz_dbl(r);
        if (((k >> (bit - 1)) & 1u) != 0) {
            r = xyzz_add(r, p);
        }
    }
    return r;
}
