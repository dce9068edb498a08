// Host stand-ins for the CUDA built-ins the kernels use, so that the kernel source
// compiles as ordinary C++ and a "launch" is a loop over blocks and threads. Threads
// run one after another, so atomicAdd needs no atomicity.

#include <cstring>

#define __device__
#define __global__
#define __forceinline__ inline

struct EmuDim3 {
    unsigned x, y, z;
};
static EmuDim3 blockIdx, threadIdx, blockDim;

static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}

static inline unsigned atomicAdd(unsigned *p, unsigned v) {
    unsigned old = *p;
    *p += v;
    return old;
}
