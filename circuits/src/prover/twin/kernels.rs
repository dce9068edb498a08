//! Twin of `cuda/kernels/msm.cu`: the per-thread body of every MSM kernel, with the
//! kernel's names and statements. A CUDA launch of `N` threads is a loop `t in 0..N`
//! here (see [`super::engine`]); atomics become plain read-modify-writes, which a
//! sequential loop makes exact. Only the order of points inside a bucket can differ
//! from a GPU run (the GPU's `atomicAdd` hands out slots in any order), which changes
//! the XYZZ representation of a bucket but not the point it stands for.

use super::curve::{Affine, Xyzz, xyzz_add, xyzz_add_affine, xyzz_mul_small, xyzz_zero};
use super::field::TwinField;
use crate::prover::bucket::plan::DENSE_BIT;

/// `MSM_SCALAR_LIMBS`.
pub const MSM_SCALAR_LIMBS: usize = 4;

/// The `c`-bit digit of scalar `s` starting at bit `bit`.
pub fn window_digit(s: &[u64], bit: u32, c: u32) -> u32 {
    let limb = (bit >> 6) as usize;
    let shift = bit & 63;
    if limb >= MSM_SCALAR_LIMBS {
        return 0;
    }
    let mut v = s[limb] >> shift;
    if shift + c > 64 && limb + 1 < MSM_SCALAR_LIMBS {
        v |= s[limb + 1] << (64 - shift);
    }
    (v & ((1u64 << c) - 1)) as u32
}

/// `msm_decompose`, thread `i`.
pub fn msm_decompose_body(
    i: u32,
    scalars: &[u64],
    n: u32,
    c: u32,
    windows: u32,
    digits: &mut [u32],
    counts: &mut [u32],
) {
    let s = &scalars[MSM_SCALAR_LIMBS * i as usize..];
    for w in 0..windows {
        let d = window_digit(s, w * c, c);
        digits[w as usize * n as usize + i as usize] = d;
        if d != 0 {
            counts[((w << c) | d) as usize] += 1; // atomicAdd
        }
    }
}

/// `msm_scatter`, thread `t`.
pub fn msm_scatter_body(
    t: u64,
    digits: &[u32],
    n: u32,
    c: u32,
    cursors: &mut [u32],
    sorted: &mut [u32],
) {
    let w = (t / u64::from(n)) as u32;
    let i = (t % u64::from(n)) as u32;
    let d = digits[t as usize];
    if d == 0 {
        return;
    }
    let cursor = &mut cursors[((w << c) | d) as usize];
    let pos = *cursor; // atomicAdd
    *cursor += 1;
    sorted[pos as usize] = i;
}

/// Writes a task's sum to the dense output or to the scratch output.
pub fn store_task_result<F: TwinField>(
    acc: &Xyzz<F>,
    dst: u32,
    scratch: &mut [Xyzz<F>],
    dense: &mut [Xyzz<F>],
) {
    if (dst & DENSE_BIT) != 0 {
        dense[(dst & !DENSE_BIT) as usize] = *acc;
    } else {
        scratch[dst as usize] = *acc;
    }
}

/// `accumulate_affine`, thread `t`: task `(src, len, dst)` sums
/// `bases[sorted[src .. src + len]]`.
pub fn accumulate_affine<F: TwinField>(
    t: u32,
    bases: &[Affine<F>],
    sorted: &[u32],
    tasks: &[u32],
    scratch: &mut [Xyzz<F>],
    dense: &mut [Xyzz<F>],
) {
    let src = tasks[3 * t as usize];
    let len = tasks[3 * t as usize + 1];
    let dst = tasks[3 * t as usize + 2];
    let mut acc = xyzz_zero::<F>();
    for k in 0..len {
        acc = xyzz_add_affine(&acc, &bases[sorted[(src + k) as usize] as usize]);
    }
    store_task_result(&acc, dst, scratch, dense);
}

/// `accumulate_xyzz`, thread `t`: task `(src, len, dst)` sums `input[src .. src + len]`.
pub fn accumulate_xyzz<F: TwinField>(
    t: u32,
    input: &[Xyzz<F>],
    tasks: &[u32],
    scratch: &mut [Xyzz<F>],
    dense: &mut [Xyzz<F>],
) {
    let src = tasks[3 * t as usize];
    let len = tasks[3 * t as usize + 1];
    let dst = tasks[3 * t as usize + 2];
    let mut acc = xyzz_zero::<F>();
    for k in 0..len {
        acc = xyzz_add(&acc, &input[(src + k) as usize]);
    }
    store_task_result(&acc, dst, scratch, dense);
}

/// `bucket_reduce`, thread `t = (window w, segment s)`: `Σ_{d ∈ [lo, hi)} d·B_{w,d}`
/// with `lo = 1 + s·seg_len`, as the running sum from the top plus `(lo − 1)` times
/// the plain sum.
pub fn bucket_reduce<F: TwinField>(
    t: u32,
    dense: &[Xyzz<F>],
    c: u32,
    seg_len: u32,
    segments: u32,
    out: &mut [Xyzz<F>],
) {
    let w = t / segments;
    let s = t % segments;
    let top = 1u32 << c;
    let lo = 1 + s * seg_len;
    let hi = if lo + seg_len < top {
        lo + seg_len
    } else {
        top
    };
    let b = &dense[(w as usize) << c..];
    let mut running = xyzz_zero::<F>();
    let mut total = xyzz_zero::<F>();
    for d in ((lo + 1)..=hi).rev() {
        running = xyzz_add(&running, &b[(d - 1) as usize]);
        total = xyzz_add(&total, &running);
    }
    total = xyzz_add(&total, &xyzz_mul_small(&running, lo - 1));
    out[t as usize] = total;
}
