//! [`CudaMsm`]: the bucket-MSM backend on the GPU — the shared
//! [`BucketMsm`](crate::prover::bucket::BucketMsm) on a [`CudaEngine`].

use super::{
    device::{CudaUnavailable, runtime},
    engine::CudaEngine,
};
use crate::prover::bucket::BucketMsm;

/// The CUDA MSM backend.
pub type CudaMsm = BucketMsm<CudaEngine>;

/// MSMs below this many points run on the CPU: kernel launches and transfers cost
/// more than a GPU saves on them.
pub const DEFAULT_CPU_BELOW: usize = 1 << 10;

impl BucketMsm<CudaEngine> {
    /// The CUDA backend on device 0 (started once per process; see
    /// [`runtime`]), with MSMs under [`DEFAULT_CPU_BELOW`]
    /// points on the CPU.
    pub fn cuda() -> Result<Self, CudaUnavailable> {
        let engine = CudaEngine::new(runtime()?);
        Ok(BucketMsm::new(engine, "cuda").with_cpu_below(DEFAULT_CPU_BELOW))
    }

    /// The GPU's name.
    pub fn device_name(&self) -> &str {
        self.engine().device_name()
    }
}
