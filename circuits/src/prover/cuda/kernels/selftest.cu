// Element-wise field products, used only by the GPU tests to check the device field
// arithmetic against arkworks directly (a narrower check than a whole MSM).

extern "C" __global__ void test_fq_mul(const u64 *a, const u64 *b, u64 *out, u32 n) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        ((Fq *)out)[i] = f_mul(((const Fq *)a)[i], ((const Fq *)b)[i]);
    }
}

extern "C" __global__ void test_fq2_mul(const u64 *a, const u64 *b, u64 *out, u32 n) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        ((Fq2 *)out)[i] = f_mul(((const Fq2 *)a)[i], ((const Fq2 *)b)[i]);
    }
}

extern "C" __global__ void test_g1_add(const u64 *a, const u64 *b, u64 *out, u32 n) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        ((Xyzz<Fq> *)out)[i] = xyzz_add(((const Xyzz<Fq> *)a)[i], ((const Xyzz<Fq> *)b)[i]);
    }
}
