//! Choosing the MSM backend at start-up: `cpu`, `cuda`, or `auto` (CUDA when the
//! binary has it and a GPU works, else the CPU, with the reason).
//!
//! The API is the same with and without the `cuda` feature; without it, `cuda` is an
//! error and `auto` is the CPU with the reason "built without the cuda feature".

use std::{fmt, str::FromStr, sync::Arc};

use super::msm::{CpuMsm, MsmBackend, MsmError};

/// Which MSM backend to use (`--msm cpu|cuda|auto`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MsmChoice {
    /// Batched-affine Pippenger on all cores.
    Cpu,
    /// The GPU; failing to start it is an error.
    Cuda,
    /// The GPU if it starts, else the CPU.
    #[default]
    Auto,
}

impl MsmChoice {
    /// Every choice, in `--help` order.
    pub const ALL: [MsmChoice; 3] = [MsmChoice::Cpu, MsmChoice::Cuda, MsmChoice::Auto];

    /// The command-line spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            MsmChoice::Cpu => "cpu",
            MsmChoice::Cuda => "cuda",
            MsmChoice::Auto => "auto",
        }
    }
}

impl fmt::Display for MsmChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not `cpu`, `cuda` or `auto`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown MSM backend {0:?}: expected cpu, cuda or auto")]
pub struct UnknownMsmChoice(pub String);

impl FromStr for MsmChoice {
    type Err = UnknownMsmChoice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MsmChoice::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMsmChoice(s.to_string()))
    }
}

/// The backend chosen, and what the node should announce about it.
#[derive(Clone)]
pub struct MsmSelection {
    /// The backend to hand to every [`crate::Prover`].
    pub backend: Arc<dyn MsmBackend>,
    /// The GPU's name (e.g. "NVIDIA H100 80GB HBM3") when the backend is CUDA.
    pub gpu: Option<String>,
    /// Why `auto` fell back to the CPU.
    pub fallback_reason: Option<String>,
}

impl fmt::Debug for MsmSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsmSelection")
            .field("backend", &self.backend.name())
            .field("gpu", &self.gpu)
            .field("fallback_reason", &self.fallback_reason)
            .finish()
    }
}

/// Whether this build contains the CUDA backend.
pub const CUDA_COMPILED: bool = cfg!(feature = "cuda");

/// Starts the chosen backend. CUDA start-up (driver, device 0, NVRTC compile of the
/// kernels) happens once per process; later calls reuse it or its failure.
pub fn select_msm(choice: MsmChoice) -> Result<MsmSelection, MsmError> {
    match choice {
        MsmChoice::Cpu => Ok(cpu(None)),
        MsmChoice::Cuda => cuda().map_err(|message| MsmError::Backend {
            backend: "cuda",
            message,
        }),
        MsmChoice::Auto => Ok(cuda().unwrap_or_else(|reason| cpu(Some(reason)))),
    }
}

fn cpu(fallback_reason: Option<String>) -> MsmSelection {
    MsmSelection {
        backend: Arc::new(CpuMsm),
        gpu: None,
        fallback_reason,
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<MsmSelection, String> {
    let backend = super::cuda::CudaMsm::cuda().map_err(|e| e.to_string())?;
    let gpu = backend.device_name().to_string();
    Ok(MsmSelection {
        backend: Arc::new(backend),
        gpu: Some(gpu),
        fallback_reason: None,
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<MsmSelection, String> {
    Err("built without the cuda feature".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for c in MsmChoice::ALL {
            assert_eq!(c.to_string().parse::<MsmChoice>(), Ok(c));
        }
        assert_eq!(" CUDA ".parse::<MsmChoice>(), Ok(MsmChoice::Cuda));
        assert!("gpu".parse::<MsmChoice>().is_err());
    }

    #[test]
    fn cpu_is_always_available() {
        let s = select_msm(MsmChoice::Cpu).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.backend.name(), "cpu");
        assert_eq!((s.gpu, s.fallback_reason), (None, None));
    }

    #[test]
    fn auto_is_cuda_or_says_why_not() {
        let s = select_msm(MsmChoice::Auto).unwrap_or_else(|e| panic!("{e}"));
        match s.backend.name() {
            "cuda" => assert!(s.gpu.is_some() && s.fallback_reason.is_none()),
            name => {
                assert_eq!(name, "cpu");
                let reason = s.fallback_reason.unwrap_or_default();
                eprintln!("auto fell back to the CPU: {reason}");
                assert!(!reason.is_empty());
                if !CUDA_COMPILED {
                    assert_eq!(reason, "built without the cuda feature");
                }
            }
        }
    }

    #[test]
    fn cuda_fails_cleanly_without_a_gpu() {
        match select_msm(MsmChoice::Cuda) {
            Ok(s) => assert_eq!(s.backend.name(), "cuda"),
            Err(e) => {
                eprintln!("cuda unavailable: {e}");
                if !CUDA_COMPILED {
                    assert!(e.to_string().contains("built without the cuda feature"));
                }
            }
        }
    }
}
