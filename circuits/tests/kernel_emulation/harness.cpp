// Runs the CUDA MSM kernels, compiled as host C++ (see shim.h), through the same
// launch sequence as src/prover/bucket/pipeline.rs, on MSM cases written by
// tests/kernel_emulation.rs, and checks each result against arkworks' answer.
//
// Input: the number of cases, then per case a line "group n", the bases' limbs, the
// scalars' limbs and the expected affine result's limbs (zeros for infinity).

#include "shim.h"
#include "field.cu"
#include "curve.cu"
#include "msm.cu"
#include "selftest.cu"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

using std::vector;

static const u32 TASK_LEN = 32;
static const u32 SEGMENT_LEN = 32;

static void launch(u64 threads, u32 block, const std::function<void()> &kernel) {
    u64 blocks = (threads + block - 1) / block;
    blockDim.x = block;
    for (u64 b = 0; b < blocks; b++) {
        for (u32 t = 0; t < block; t++) {
            blockIdx.x = (u32)b;
            threadIdx.x = t;
            kernel();
        }
    }
}

struct Level {
    vector<u32> tasks;
    size_t scratch;
};

// plan_sums in src/prover/bucket/plan.rs.
static vector<Level> plan_sums(const vector<u32> &counts) {
    struct Group {
        u32 g, start, count;
    };
    vector<Group> groups;
    u32 start = 0;
    for (u32 g = 0; g < counts.size(); g++) {
        if (counts[g] != 0) groups.push_back({g, start, counts[g]});
        start += counts[g];
    }
    vector<Level> levels;
    while (!groups.empty()) {
        Level level;
        vector<Group> next;
        u32 out = 0;
        for (const Group &gr : groups) {
            u32 n_tasks = (gr.count + TASK_LEN - 1) / TASK_LEN;
            if (n_tasks == 1) {
                level.tasks.insert(level.tasks.end(), {gr.start, gr.count, MSM_DENSE_BIT | gr.g});
            } else {
                for (u32 k = 0; k < n_tasks; k++) {
                    u32 skip = k * TASK_LEN;
                    level.tasks.insert(level.tasks.end(),
                                       {gr.start + skip, std::min(gr.count - skip, TASK_LEN), out + k});
                }
                next.push_back({gr.g, out, n_tasks});
                out += n_tasks;
            }
        }
        level.scratch = out;
        levels.push_back(level);
        groups = next;
    }
    return levels;
}

template <class F> struct Kernels;
template <> struct Kernels<Fq> {
    static void affine(const u64 *b, const u32 *s, const u32 *t, u32 n, u64 *sc, u64 *d) {
        g1_accumulate_affine(b, s, t, n, sc, d);
    }
    static void xyzz(const u64 *i, const u32 *t, u32 n, u64 *sc, u64 *d) {
        g1_accumulate_xyzz(i, t, n, sc, d);
    }
    static void reduce(const u64 *d, u32 c, u32 sl, u32 sg, u32 w, u64 *o) {
        g1_bucket_reduce(d, c, sl, sg, w, o);
    }
};
template <> struct Kernels<Fq2> {
    static void affine(const u64 *b, const u32 *s, const u32 *t, u32 n, u64 *sc, u64 *d) {
        g2_accumulate_affine(b, s, t, n, sc, d);
    }
    static void xyzz(const u64 *i, const u32 *t, u32 n, u64 *sc, u64 *d) {
        g2_accumulate_xyzz(i, t, n, sc, d);
    }
    static void reduce(const u64 *d, u32 c, u32 sl, u32 sg, u32 w, u64 *o) {
        g2_bucket_reduce(d, c, sl, sg, w, o);
    }
};

// sum_levels in pipeline.rs: the first level reads affine bases through `sorted`, or
// XYZZ points from `first_xyzz`.
template <class F>
static void sum_levels(const vector<Level> &levels, const u64 *bases, const u32 *sorted,
                       const u64 *first_xyzz, u64 *dense) {
    const size_t limbs = sizeof(Xyzz<F>) / 8;
    vector<u64> previous;
    bool have_previous = false;
    for (const Level &level : levels) {
        u32 n_tasks = (u32)(level.tasks.size() / 3);
        vector<u64> scratch(std::max<size_t>(level.scratch, 1) * limbs, 0);
        launch(n_tasks, 128, [&] {
            if (have_previous) {
                Kernels<F>::xyzz(previous.data(), level.tasks.data(), n_tasks, scratch.data(), dense);
            } else if (bases != nullptr) {
                Kernels<F>::affine(bases, sorted, level.tasks.data(), n_tasks, scratch.data(), dense);
            } else {
                Kernels<F>::xyzz(first_xyzz, level.tasks.data(), n_tasks, scratch.data(), dense);
            }
        });
        previous = scratch;
        have_previous = true;
    }
}

// run in pipeline.rs, window combination included.
template <class F>
static Xyzz<F> msm(const vector<u64> &bases, const vector<u64> &scalars, u32 n, u32 c) {
    const size_t limbs = sizeof(Xyzz<F>) / 8;
    u32 windows = (254 + c - 1) / c;
    u32 digits_nz = (1u << c) - 1;
    u32 seg_len = std::min(SEGMENT_LEN, digits_nz);
    u32 segments = (digits_nz + seg_len - 1) / seg_len;
    vector<u32> digits((size_t)n * windows), counts((size_t)windows << c);
    launch(n, 256, [&] { msm_decompose(scalars.data(), n, c, windows, digits.data(), counts.data()); });
    vector<u32> cursors(counts.size());
    u32 entries = 0;
    for (size_t i = 0; i < counts.size(); i++) {
        cursors[i] = entries;
        entries += counts[i];
    }
    vector<u32> sorted(std::max<u32>(entries, 1));
    launch((u64)n * windows, 256,
           [&] { msm_scatter(digits.data(), n, c, windows, cursors.data(), sorted.data()); });
    vector<u64> dense(counts.size() * limbs, 0);
    sum_levels<F>(plan_sums(counts), bases.data(), sorted.data(), nullptr, dense.data());
    vector<u64> segs((size_t)windows * segments * limbs, 0);
    launch((u64)windows * segments, 128,
           [&] { Kernels<F>::reduce(dense.data(), c, seg_len, segments, windows, segs.data()); });
    vector<u64> window_sums(windows * limbs, 0);
    sum_levels<F>(plan_sums(vector<u32>(windows, segments)), nullptr, nullptr, segs.data(),
                  window_sums.data());
    const Xyzz<F> *w_sum = (const Xyzz<F> *)window_sums.data();
    Xyzz<F> r = xyzz_zero<F>();
    for (int w = (int)windows - 1; w >= 0; w--) {
        for (u32 i = 0; i < c; i++) r = xyzz_dbl(r);
        r = xyzz_add(r, w_sum[w]);
    }
    return r;
}

static Fq f_inv(const Fq &a) {  // a^(p - 2)
    u64 e[4] = {FQ_P0 - 2, FQ_P1, FQ_P2, FQ_P3};
    Fq r;
    f_one(r);
    for (int i = 255; i >= 0; i--) {
        r = f_sqr(r);
        if ((e[i / 64] >> (i % 64)) & 1) r = f_mul(r, a);
    }
    return r;
}

static Fq2 f_inv(const Fq2 &a) {  // conj(a) / (a0^2 + a1^2)
    Fq t = f_inv(f_add(f_sqr(a.c0), f_sqr(a.c1)));
    Fq zero;
    f_zero(zero);
    Fq2 r;
    r.c0 = f_mul(a.c0, t);
    r.c1 = f_sub(zero, f_mul(a.c1, t));
    return r;
}

template <class F>
static bool matches(const Xyzz<F> &r, const vector<u64> &want) {
    const size_t limbs = sizeof(F) / 8;
    vector<u64> got(2 * limbs, 0);
    if (!xyzz_is_inf(r)) {
        F x = f_mul(r.x, f_inv(r.zz));
        F y = f_mul(r.y, f_inv(r.zzz));
        memcpy(got.data(), &x, sizeof(F));
        memcpy(got.data() + limbs, &y, sizeof(F));
    }
    return got == want;
}

// Shape::for_points in plan.rs.
static u32 window_bits(u32 n) {
    u32 log2 = 0;
    while ((1ull << log2) < n) log2++;
    int c = (int)log2 - 4;
    return (u32)std::min(16, std::max(2, c));
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    FILE *in = fopen(argv[1], "r");
    int cases = 0;
    if (in == nullptr || fscanf(in, "%d", &cases) != 1) return 2;
    int bad = 0;
    for (int k = 0; k < cases; k++) {
        int group = 0;
        u32 n = 0;
        if (fscanf(in, "%d %u", &group, &n) != 2) return 2;
        size_t field = group == 1 ? 4 : 8;
        vector<u64> bases((size_t)n * 2 * field), scalars((size_t)n * 4), want(2 * field);
        for (vector<u64> *v : {&bases, &scalars, &want}) {
            for (u64 &x : *v) {
                if (fscanf(in, "%llu", &x) != 1) return 2;
            }
        }
        for (u32 c : {window_bits(n), 2u, 5u, 16u}) {
            bool ok = group == 1 ? matches(msm<Fq>(bases, scalars, n, c), want)
                                 : matches(msm<Fq2>(bases, scalars, n, c), want);
            printf("G%d n=%u c=%u: %s\n", group, n, c, ok ? "ok" : "MISMATCH");
            bad += ok ? 0 : 1;
        }
    }
    return bad == 0 ? 0 : 1;
}
