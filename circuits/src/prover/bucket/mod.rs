//! The bucket (Pippenger) MSM as the GPU runs it, minus the GPU.
//!
//! - [`plan`]: window size, bucket offsets, levels of summing tasks (host integers);
//! - [`layout`]: points and scalars as device limbs, and back to arkworks;
//! - [`pipeline`]: the kernel launch sequence, written against the [`Engine`] trait;
//! - [`backend`]: [`BucketMsm`], the [`MsmBackend`](super::MsmBackend) on any engine
//!   (key preloading, [`BasesRef`](super::BasesRef) addressing, small-MSM CPU path);
//! - [`source`]: the CUDA kernel source.
//!
//! Two engines exist: the CUDA one (`cuda` feature) and the CPU twin
//! ([`super::twin`]), which runs the kernels' Rust twins on the same buffers.

pub mod backend;
pub mod layout;
pub mod pipeline;
pub mod plan;
pub mod source;

pub use backend::BucketMsm;
pub use layout::{Curve, DeviceCurve};
pub use pipeline::{Engine, Outputs, Tasks};
pub use plan::Shape;
