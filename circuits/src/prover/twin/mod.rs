//! The CPU twin of the CUDA MSM kernels.
//!
//! Each `.cu` file in `cuda/kernels/` has a Rust file here with the same functions, the
//! same names and the same statements, translated line by line (`u64` limbs, explicit
//! carries, `__umul64hi` as [`field::umul64hi`]):
//!
//! | kernel source     | twin             |
//! |-------------------|------------------|
//! | `field.cu`        | [`field`]        |
//! | `curve.cu`        | [`curve`]        |
//! | `msm.cu`          | [`kernels`]      |
//!
//! [`TwinEngine`] runs those bodies, one loop iteration per GPU thread, behind the same
//! [`Engine`](super::bucket::Engine) interface and host pipeline as the CUDA backend;
//! [`TwinMsm`] is the resulting [`MsmBackend`](super::MsmBackend). The twin is always
//! compiled and tested against arkworks (field products, point sums, whole MSMs, whole
//! proofs), so the arithmetic the GPU runs is checked on machines without one. What it
//! cannot check is the translation itself: keep a change to a `.cu` file and its twin
//! in the same commit, and the constants are checked by a test that reads the `.cu`
//! source ([`super::bucket::source`]).

pub mod curve;
pub mod engine;
pub mod field;
pub mod kernels;

#[cfg(test)]
mod tests;

pub use engine::TwinEngine;

use super::bucket::BucketMsm;

/// The bucket MSM backend on the CPU twin (slow: for tests).
pub type TwinMsm = BucketMsm<TwinEngine>;

/// A twin backend, named `"twin"`.
pub fn twin_msm() -> TwinMsm {
    BucketMsm::new(TwinEngine, "twin")
}
