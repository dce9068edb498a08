//! The CUDA MSM backend (`cuda` feature).
//!
//! The kernels are CUDA C++ in `kernels/*.cu`, built into the binary as text and
//! compiled by NVRTC for the GPU at start-up, once per process ([`device`]). The
//! algorithm is a bucket (Pippenger) MSM for G1 and G2, with the proving key's bases
//! uploaded once per key ([`CudaMsm`], which is the shared
//! [`BucketMsm`](super::bucket::BucketMsm) on a [`CudaEngine`]). Everything except
//! the kernel launches themselves is shared with the CPU twin ([`super::twin`]) and
//! tested without a GPU. See `README.md` next to this file.

mod backend;
pub mod check;
pub mod device;
mod engine;

#[cfg(test)]
mod tests;

pub use backend::{CudaMsm, DEFAULT_CPU_BELOW};
pub use device::{CudaUnavailable, GpuRuntime, runtime};
pub use engine::CudaEngine;
