// Bucket (Pippenger) MSM kernels. The host side that launches them, in this order, is
// src/prover/bucket/pipeline.rs; it is shared with the CPU twin.
//
// Twin: src/prover/twin/kernels.rs. Each kernel's per-thread body has a Rust function
// of the same name there (the extern "C" entry points below only compute the thread
// index and pick the field); change both together.
//
// 1. msm_decompose: digit of every (window, scalar), and per-bucket counts.
// 2. msm_scatter: counting sort of point indices by bucket (host supplies the offsets).
// 3. accumulate_affine / accumulate_xyzz: each task sums up to a few consecutive
//    entries into one XYZZ point; the host plans levels of tasks so that every bucket
//    ends up as one point in the dense bucket array, however unequal the buckets are.
// 4. bucket_reduce: per (window, segment of buckets) the weighted sum sum_d d * B_d;
//    segments are summed per window by more accumulate_xyzz levels, and the host
//    combines the windows.

// Task destination flag: the result is a finished bucket (index into the dense
// bucket array), not a partial sum for the next level.
#define MSM_DENSE_BIT 0x80000000u
// Scalars are canonical BN254 Fr elements: four 64-bit limbs, least significant first.
#define MSM_SCALAR_LIMBS 4

// The c-bit digit of scalar s starting at bit `bit`.
__device__ __forceinline__ u32 window_digit(const u64 *s, u32 bit, u32 c) {
    u32 limb = bit >> 6;
    u32 shift = bit & 63u;
    if (limb >= MSM_SCALAR_LIMBS) {
        return 0;
    }
    u64 v = s[limb] >> shift;
    if (shift + c > 64 && limb + 1 < MSM_SCALAR_LIMBS) {
        v |= s[limb + 1] << (64 - shift);
    }
    return (u32)(v & ((1ULL << c) - 1ULL));
}

__device__ __forceinline__ void msm_decompose_body(
    u32 i, const u64 *scalars, u32 n, u32 c, u32 windows, u32 *digits, u32 *counts) {
    const u64 *s = scalars + (u64)MSM_SCALAR_LIMBS * i;
    for (u32 w = 0; w < windows; w++) {
        u32 d = window_digit(s, w * c, c);
        digits[(u64)w * n + i] = d;
        if (d != 0) {
            atomicAdd(&counts[(w << c) | d], 1u);
        }
    }
}

__device__ __forceinline__ void msm_scatter_body(
    u64 t, const u32 *digits, u32 n, u32 c, u32 *cursors, u32 *sorted) {
    u32 w = (u32)(t / n);
    u32 i = (u32)(t % n);
    u32 d = digits[t];
    if (d == 0) {
        return;
    }
    u32 pos = atomicAdd(&cursors[(w << c) | d], 1u);
    sorted[pos] = i;
}

template <class F>
__device__ __forceinline__ void store_task_result(
    const Xyzz<F> &acc, u32 dst, Xyzz<F> *scratch, Xyzz<F> *dense) {
    if ((dst & MSM_DENSE_BIT) != 0) {
        dense[dst & ~MSM_DENSE_BIT] = acc;
    } else {
        scratch[dst] = acc;
    }
}

// Task t = (src, len, dst): sum of bases[sorted[src .. src + len]].
template <class F>
__device__ void accumulate_affine(
    u32 t, const Affine<F> *bases, const u32 *sorted, const u32 *tasks, Xyzz<F> *scratch,
    Xyzz<F> *dense) {
    u32 src = tasks[3 * (u64)t];
    u32 len = tasks[3 * (u64)t + 1];
    u32 dst = tasks[3 * (u64)t + 2];
    Xyzz<F> acc = xyzz_zero<F>();
    for (u32 k = 0; k < len; k++) {
        acc = xyzz_add_affine(acc, bases[sorted[src + k]]);
    }
    store_task_result(acc, dst, scratch, dense);
}

// Task t = (src, len, dst): sum of input[src .. src + len].
template <class F>
__device__ void accumulate_xyzz(
    u32 t, const Xyzz<F> *input, const u32 *tasks, Xyzz<F> *scratch, Xyzz<F> *dense) {
    u32 src = tasks[3 * (u64)t];
    u32 len = tasks[3 * (u64)t + 1];
    u32 dst = tasks[3 * (u64)t + 2];
    Xyzz<F> acc = xyzz_zero<F>();
    for (u32 k = 0; k < len; k++) {
        acc = xyzz_add(acc, input[src + k]);
    }
    store_task_result(acc, dst, scratch, dense);
}

// Thread t = (window w, segment s) covers buckets d in [lo, hi), lo = 1 + s * seg_len,
// and writes sum_{d in [lo, hi)} d * B_{w, d}: the running sum from the top gives
// sum (d - lo + 1) * B_d, and (lo - 1) times the plain sum is added.
template <class F>
__device__ void bucket_reduce(
    u32 t, const Xyzz<F> *dense, u32 c, u32 seg_len, u32 segments, Xyzz<F> *out) {
    u32 w = t / segments;
    u32 s = t % segments;
    u32 top = 1u << c;
    u32 lo = 1 + s * seg_len;
    u32 hi = lo + seg_len < top ? lo + seg_len : top;
    const Xyzz<F> *b = dense + ((u64)w << c);
    Xyzz<F> running = xyzz_zero<F>();
    Xyzz<F> total = xyzz_zero<F>();
    for (u32 d = hi; d > lo; d--) {
        running = xyzz_add(running, b[d - 1]);
        total = xyzz_add(total, running);
    }
    total = xyzz_add(total, xyzz_mul_small(running, lo - 1));
    out[t] = total;
}

__device__ __forceinline__ u64 thread_index() {
    return (u64)blockIdx.x * blockDim.x + threadIdx.x;
}

extern "C" __global__ void msm_decompose(
    const u64 *scalars, u32 n, u32 c, u32 windows, u32 *digits, u32 *counts) {
    u64 i = thread_index();
    if (i < n) {
        msm_decompose_body((u32)i, scalars, n, c, windows, digits, counts);
    }
}

extern "C" __global__ void msm_scatter(
    const u32 *digits, u32 n, u32 c, u32 windows, u32 *cursors, u32 *sorted) {
    u64 t = thread_index();
    if (t < (u64)n * windows) {
        msm_scatter_body(t, digits, n, c, cursors, sorted);
    }
}

extern "C" __global__ void g1_accumulate_affine(
    const u64 *bases, const u32 *sorted, const u32 *tasks, u32 n_tasks, u64 *scratch,
    u64 *dense) {
    u64 t = thread_index();
    if (t < n_tasks) {
        accumulate_affine<Fq>((u32)t, (const Affine<Fq> *)bases, sorted, tasks,
                              (Xyzz<Fq> *)scratch, (Xyzz<Fq> *)dense);
    }
}

extern "C" __global__ void g2_accumulate_affine(
    const u64 *bases, const u32 *sorted, const u32 *tasks, u32 n_tasks, u64 *scratch,
    u64 *dense) {
    u64 t = thread_index();
    if (t < n_tasks) {
        accumulate_affine<Fq2>((u32)t, (const Affine<Fq2> *)bases, sorted, tasks,
                               (Xyzz<Fq2> *)scratch, (Xyzz<Fq2> *)dense);
    }
}

extern "C" __global__ void g1_accumulate_xyzz(
    const u64 *input, const u32 *tasks, u32 n_tasks, u64 *scratch, u64 *dense) {
    u64 t = thread_index();
    if (t < n_tasks) {
        accumulate_xyzz<Fq>((u32)t, (const Xyzz<Fq> *)input, tasks, (Xyzz<Fq> *)scratch,
                            (Xyzz<Fq> *)dense);
    }
}

extern "C" __global__ void g2_accumulate_xyzz(
    const u64 *input, const u32 *tasks, u32 n_tasks, u64 *scratch, u64 *dense) {
    u64 t = thread_index();
    if (t < n_tasks) {
        accumulate_xyzz<Fq2>((u32)t, (const Xyzz<Fq2> *)input, tasks, (Xyzz<Fq2> *)scratch,
                             (Xyzz<Fq2> *)dense);
    }
}

extern "C" __global__ void g1_bucket_reduce(
    const u64 *dense, u32 c, u32 seg_len, u32 segments, u32 windows, u64 *out) {
    u64 t = thread_index();
    if (t < (u64)segments * windows) {
        bucket_reduce<Fq>((u32)t, (const Xyzz<Fq> *)dense, c, seg_len, segments,
                          (Xyzz<Fq> *)out);
    }
}

extern "C" __global__ void g2_bucket_reduce(
    const u64 *dense, u32 c, u32 seg_len, u32 segments, u32 windows, u64 *out) {
    u64 t = thread_index();
    if (t < (u64)segments * windows) {
        bucket_reduce<Fq2>((u32)t, (const Xyzz<Fq2> *)dense, c, seg_len, segments,
                           (Xyzz<Fq2> *)out);
    }
}
