//! Starting CUDA once per process: load the driver library, open device 0, compile the
//! kernels with NVRTC for its architecture and load them. The outcome, success or the
//! reason for failure, is kept for the life of the process.
//!
//! Everything is loaded at run time (cudarc's dynamic loading): a binary built with
//! the `cuda` feature starts on machines without a driver and reports why it cannot
//! use the GPU. A missing library is checked for before first use (cudarc would
//! panic); any other panic inside cudarc during start-up is caught and reported too.

use std::{
    collections::HashMap,
    panic::{self, AssertUnwindSafe},
    sync::{Arc, OnceLock},
};

use cudarc::{
    driver::{CudaContext, CudaFunction, CudaStream, DriverError, sys},
    nvrtc::{CompileError, CompileOptions, compile_ptx_with_opts},
};

use crate::prover::bucket::backend::panic_text;
use crate::prover::bucket::source::{KERNEL_NAMES, KERNEL_SOURCE};

/// Why the CUDA backend cannot run here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CudaUnavailable {
    /// The driver library is missing or refuses to initialise.
    #[error("no CUDA driver: {0}")]
    NoDriver(String),
    /// The driver sees no GPU.
    #[error("no CUDA device")]
    NoDevice,
    /// Device 0 could not be opened or queried.
    #[error("CUDA device 0 unusable: {0}")]
    Device(String),
    /// The NVRTC library is missing.
    #[error("no NVRTC library: {0}")]
    NoNvrtc(String),
    /// NVRTC rejected the kernels.
    #[error("NVRTC compile failed: {0}")]
    Compile(String),
    /// The driver rejected the compiled kernels (e.g. PTX newer than the driver).
    #[error("loading the compiled kernels failed: {0}")]
    Load(String),
    /// cudarc panicked during start-up.
    #[error("CUDA start-up panicked: {0}")]
    Panicked(String),
}

/// The started GPU: context, stream and the loaded kernels.
pub struct GpuRuntime {
    pub(crate) stream: Arc<CudaStream>,
    functions: HashMap<&'static str, CudaFunction>,
    name: String,
    arch: String,
}

impl std::fmt::Debug for GpuRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRuntime")
            .field("name", &self.name)
            .field("arch", &self.arch)
            .finish_non_exhaustive()
    }
}

impl GpuRuntime {
    /// The device name, e.g. "NVIDIA H100 80GB HBM3".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The virtual architecture the kernels were compiled for, e.g. "compute_90".
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// A loaded kernel, by its `extern "C"` name.
    pub(crate) fn function(&self, name: &'static str) -> Option<&CudaFunction> {
        self.functions.get(name)
    }
}

/// The process-wide GPU runtime, started on first call.
pub fn runtime() -> Result<Arc<GpuRuntime>, CudaUnavailable> {
    static RUNTIME: OnceLock<Result<Arc<GpuRuntime>, CudaUnavailable>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            panic::catch_unwind(AssertUnwindSafe(start))
                .unwrap_or_else(|p| Err(CudaUnavailable::Panicked(panic_text(p.as_ref()))))
                .map(Arc::new)
        })
        .clone()
}

fn start() -> Result<GpuRuntime, CudaUnavailable> {
    // SAFETY: only tries to dlopen the driver library; no CUDA call is made.
    if !unsafe { sys::is_culib_present() } {
        return Err(CudaUnavailable::NoDriver(
            "libcuda could not be loaded".to_string(),
        ));
    }
    match CudaContext::device_count() {
        Ok(n) if n > 0 => {}
        Ok(_) => return Err(CudaUnavailable::NoDevice),
        Err(DriverError(sys::CUresult::CUDA_ERROR_NO_DEVICE)) => {
            return Err(CudaUnavailable::NoDevice);
        }
        Err(e) => return Err(CudaUnavailable::NoDriver(e.to_string())),
    }
    let device = |e: DriverError| CudaUnavailable::Device(e.to_string());
    let ctx = CudaContext::new(0).map_err(device)?;
    let name = ctx.name().map_err(device)?;
    let (major, minor) = ctx.compute_capability().map_err(device)?;

    // SAFETY: only tries to dlopen the NVRTC library.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(CudaUnavailable::NoNvrtc(
            "libnvrtc could not be loaded".to_string(),
        ));
    }
    let (ptx, arch) = compile(major * 10 + minor)?;
    let module = ctx
        .load_module(ptx)
        .map_err(|e| CudaUnavailable::Load(e.to_string()))?;
    let mut functions = HashMap::new();
    for &kernel in KERNEL_NAMES {
        let f = module
            .load_function(kernel)
            .map_err(|e| CudaUnavailable::Load(format!("{kernel}: {e}")))?;
        functions.insert(kernel, f);
    }
    let stream = ctx
        .new_stream()
        .map_err(|e| CudaUnavailable::Device(e.to_string()))?;
    Ok(GpuRuntime {
        stream,
        functions,
        name,
        arch,
    })
}

/// Compiles the kernels to PTX for the device's own virtual architecture, or failing
/// that (an NVRTC older than the GPU) for the newest older one it knows; the driver
/// JIT-compiles PTX of an older architecture for the GPU.
fn compile(capability: i32) -> Result<(cudarc::nvrtc::Ptx, String), CudaUnavailable> {
    let mut archs = vec![capability];
    archs.extend(
        [90, 89, 86, 80, 75, 70]
            .into_iter()
            .filter(|&a| a < capability),
    );
    let mut first_error = None;
    for arch in archs {
        let arch = format!("compute_{arch}");
        let opts = CompileOptions {
            options: vec![
                format!("--gpu-architecture={arch}"),
                "--std=c++17".to_string(),
            ],
            name: Some("lagrange_msm.cu".to_string()),
            ..Default::default()
        };
        match compile_ptx_with_opts(KERNEL_SOURCE, opts) {
            Ok(ptx) => return Ok((ptx, arch)),
            Err(e) => {
                first_error.get_or_insert_with(|| describe(&e));
            }
        }
    }
    Err(CudaUnavailable::Compile(first_error.unwrap_or_else(|| {
        "no architecture to compile for".to_string()
    })))
}

fn describe(e: &CompileError) -> String {
    match e {
        CompileError::CompileError { nvrtc, log, .. } => {
            format!("{nvrtc}: {}", log.to_string_lossy().trim())
        }
        other => format!("{other:?}"),
    }
}
