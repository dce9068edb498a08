//! [`CudaEngine`]: the [`Engine`] whose kernels run on the GPU, one launch per method,
//! all on the runtime's stream (so they run in the order they are issued).

use std::sync::Arc;

use cudarc::driver::{
    CudaFunction, CudaSlice, DeviceRepr, DriverError, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};

use super::device::GpuRuntime;
use crate::prover::{
    bucket::{
        layout::Curve,
        pipeline::{Engine, Outputs, Tasks},
        plan::Shape,
    },
    msm::MsmError,
};

/// Threads per block for the integer kernels.
const BLOCK_SMALL: u32 = 256;
/// Threads per block for the point kernels (many registers per thread).
const BLOCK_POINTS: u32 = 128;

/// The GPU engine.
#[derive(Clone, Debug)]
pub struct CudaEngine {
    rt: Arc<GpuRuntime>,
}

fn driver(e: DriverError) -> MsmError {
    MsmError::Backend {
        backend: "cuda",
        message: e.to_string(),
    }
}

/// Threads per block the GPU runs `f` with: `wanted`, or fewer where the kernel's register
/// and shared-memory use allow fewer on this GPU (whole warps), so a launch never asks for
/// more than the kernel can get (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES).
pub(crate) fn block_for(f: &CudaFunction, wanted: u32) -> Result<u32, MsmError> {
    const WARP: u32 = 32;
    let max = u32::try_from(f.max_threads_per_block().map_err(driver)?).unwrap_or(0);
    let block = wanted.min(max);
    let block = if block >= WARP {
        block / WARP * WARP
    } else {
        block
    };
    if block == 0 {
        return Err(MsmError::Backend {
            backend: "cuda",
            message: "the kernel can run no thread on this GPU".into(),
        });
    }
    Ok(block)
}

/// The launch shape for `threads` threads of `f`, in blocks of up to `wanted` threads (see
/// [`block_for`]); `None` when there is nothing to launch (a grid of zero blocks is an error
/// in CUDA).
pub(crate) fn config(
    f: &CudaFunction,
    threads: u64,
    wanted: u32,
) -> Result<Option<LaunchConfig>, MsmError> {
    if threads == 0 {
        return Ok(None);
    }
    let block = block_for(f, wanted)?;
    let blocks =
        u32::try_from(threads.div_ceil(u64::from(block))).map_err(|_| MsmError::Backend {
            backend: "cuda",
            message: format!("{threads} threads is too many for one launch"),
        })?;
    Ok(Some(LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }))
}

fn by_curve(curve: Curve, g1: &'static str, g2: &'static str) -> &'static str {
    match curve {
        Curve::G1 => g1,
        Curve::G2 => g2,
    }
}

impl CudaEngine {
    /// An engine on the started runtime.
    pub fn new(rt: Arc<GpuRuntime>) -> Self {
        Self { rt }
    }

    /// The GPU's name.
    pub fn device_name(&self) -> &str {
        self.rt.name()
    }

    /// The runtime.
    pub fn runtime(&self) -> &GpuRuntime {
        &self.rt
    }

    pub(crate) fn function(&self, name: &'static str) -> Result<&CudaFunction, MsmError> {
        self.rt.function(name).ok_or_else(|| MsmError::Backend {
            backend: "cuda",
            message: format!("kernel {name} not loaded"),
        })
    }

    fn upload<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        data: &[T],
    ) -> Result<CudaSlice<T>, MsmError> {
        if data.is_empty() {
            return self.zeros(1);
        }
        self.rt.stream.clone_htod(data).map_err(driver)
    }

    fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>, MsmError> {
        self.rt.stream.alloc_zeros(len.max(1)).map_err(driver)
    }

    fn download<T: DeviceRepr + ValidAsZeroBits + Default + Clone>(
        &self,
        buf: &CudaSlice<T>,
    ) -> Result<Vec<T>, MsmError> {
        let out = self.rt.stream.clone_dtoh(buf).map_err(driver)?;
        self.rt.stream.synchronize().map_err(driver)?;
        Ok(out)
    }
}

impl Engine for CudaEngine {
    type Buf32 = CudaSlice<u32>;
    type Buf64 = CudaSlice<u64>;

    fn upload_u32(&self, data: &[u32]) -> Result<CudaSlice<u32>, MsmError> {
        self.upload(data)
    }

    fn upload_u64(&self, data: &[u64]) -> Result<CudaSlice<u64>, MsmError> {
        self.upload(data)
    }

    fn zeros_u32(&self, len: usize) -> Result<CudaSlice<u32>, MsmError> {
        self.zeros(len)
    }

    fn zeros_u64(&self, len: usize) -> Result<CudaSlice<u64>, MsmError> {
        self.zeros(len)
    }

    fn download_u32(&self, buf: &CudaSlice<u32>) -> Result<Vec<u32>, MsmError> {
        self.download(buf)
    }

    fn download_u64(&self, buf: &CudaSlice<u64>) -> Result<Vec<u64>, MsmError> {
        self.download(buf)
    }

    fn decompose(
        &self,
        scalars: &CudaSlice<u64>,
        shape: &Shape,
        digits: &mut CudaSlice<u32>,
        counts: &mut CudaSlice<u32>,
    ) -> Result<(), MsmError> {
        let f = self.function("msm_decompose")?;
        let Some(cfg) = config(f, u64::from(shape.n), BLOCK_SMALL)? else {
            return Ok(());
        };
        let mut launch = self.rt.stream.launch_builder(f);
        launch
            .arg(scalars)
            .arg(&shape.n)
            .arg(&shape.c)
            .arg(&shape.windows)
            .arg(digits)
            .arg(counts);
        // SAFETY: the argument list matches `msm_decompose` in msm.cu; the buffers are
        // sized by the pipeline from the same shape (n scalars, n × windows digits,
        // windows << c counts).
        unsafe { launch.launch(cfg) }.map_err(driver)?;
        Ok(())
    }

    fn scatter(
        &self,
        digits: &CudaSlice<u32>,
        shape: &Shape,
        cursors: &mut CudaSlice<u32>,
        sorted: &mut CudaSlice<u32>,
    ) -> Result<(), MsmError> {
        let f = self.function("msm_scatter")?;
        let Some(cfg) = config(f, shape.digits() as u64, BLOCK_SMALL)? else {
            return Ok(());
        };
        let mut launch = self.rt.stream.launch_builder(f);
        launch
            .arg(digits)
            .arg(&shape.n)
            .arg(&shape.c)
            .arg(&shape.windows)
            .arg(cursors)
            .arg(sorted);
        // SAFETY: matches `msm_scatter`; `sorted` holds one slot per non-zero digit and
        // the cursors start at each bucket's offset, so every write is in bounds.
        unsafe { launch.launch(cfg) }.map_err(driver)?;
        Ok(())
    }

    fn accumulate_affine(
        &self,
        curve: Curve,
        bases: &CudaSlice<u64>,
        first: usize,
        sorted: &CudaSlice<u32>,
        tasks: Tasks<'_, CudaSlice<u32>>,
        out: Outputs<'_, CudaSlice<u64>>,
    ) -> Result<(), MsmError> {
        let per_point = match curve {
            Curve::G1 => 8,
            Curve::G2 => 16,
        };
        let bases = bases
            .try_slice(first * per_point..)
            .ok_or_else(|| MsmError::Backend {
                backend: "cuda",
                message: format!("bases start {first} is past the preloaded vector"),
            })?;
        let f = self.function(by_curve(
            curve,
            "g1_accumulate_affine",
            "g2_accumulate_affine",
        ))?;
        let Some(cfg) = config(f, u64::from(tasks.count), BLOCK_POINTS)? else {
            return Ok(());
        };
        let mut launch = self.rt.stream.launch_builder(f);
        launch
            .arg(&bases)
            .arg(sorted)
            .arg(tasks.buf)
            .arg(&tasks.count)
            .arg(out.scratch)
            .arg(out.dense);
        // SAFETY: matches `g1/g2_accumulate_affine`; the task plan only names sorted
        // entries, scratch slots and dense groups that the pipeline allocated.
        unsafe { launch.launch(cfg) }.map_err(driver)?;
        Ok(())
    }

    fn accumulate_xyzz(
        &self,
        curve: Curve,
        input: &CudaSlice<u64>,
        tasks: Tasks<'_, CudaSlice<u32>>,
        out: Outputs<'_, CudaSlice<u64>>,
    ) -> Result<(), MsmError> {
        let f = self.function(by_curve(curve, "g1_accumulate_xyzz", "g2_accumulate_xyzz"))?;
        let Some(cfg) = config(f, u64::from(tasks.count), BLOCK_POINTS)? else {
            return Ok(());
        };
        let mut launch = self.rt.stream.launch_builder(f);
        launch
            .arg(input)
            .arg(tasks.buf)
            .arg(&tasks.count)
            .arg(out.scratch)
            .arg(out.dense);
        // SAFETY: matches `g1/g2_accumulate_xyzz`; see `accumulate_affine`.
        unsafe { launch.launch(cfg) }.map_err(driver)?;
        Ok(())
    }

    fn bucket_reduce(
        &self,
        curve: Curve,
        dense: &CudaSlice<u64>,
        shape: &Shape,
        out: &mut CudaSlice<u64>,
    ) -> Result<(), MsmError> {
        let f = self.function(by_curve(curve, "g1_bucket_reduce", "g2_bucket_reduce"))?;
        let threads = u64::from(shape.segments) * u64::from(shape.windows);
        let Some(cfg) = config(f, threads, BLOCK_POINTS)? else {
            return Ok(());
        };
        let mut launch = self.rt.stream.launch_builder(f);
        launch
            .arg(dense)
            .arg(&shape.c)
            .arg(&shape.seg_len)
            .arg(&shape.segments)
            .arg(&shape.windows)
            .arg(out);
        // SAFETY: matches `g1/g2_bucket_reduce`; `dense` has windows << c points and
        // `out` windows × segments.
        unsafe { launch.launch(cfg) }.map_err(driver)?;
        Ok(())
    }
}
