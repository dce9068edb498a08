//! `lagrange-node gpu-check`: what an operator runs before joining a GPU Supernet.
//!
//! It starts the GPU the way a prover does (driver, device, NVRTC, the kernels compiled for
//! this GPU), then runs a randomized self-test against the CPU (field and curve arithmetic,
//! G1 and G2 MSMs, whole proofs bit-identical to the CPU's) and a short benchmark (G1 MSMs
//! and whole proofs, CPU and GPU in the same run), and prints a table and, on request, JSON.
//! It needs only this binary, the NVIDIA driver and NVRTC (CUDA 12 or 13); when something
//! is missing it says what. With no usable GPU it exits 0 (the prover proves on the CPU)
//! unless `--require-gpu` is given.

use std::fmt::Write as _;

use serde::Serialize;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fewer and smaller sizes: MSMs up to 2^18 points, proofs at 2^16 constraints.
    pub quick: bool,
    /// The self-test's random seed.
    pub seed: u64,
}

/// One self-test line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckLine {
    /// What was compared.
    pub name: String,
    /// Whether the GPU agreed with the CPU.
    pub ok: bool,
    /// The mismatch or error, when not ok.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One benchmark line: CPU and GPU in the same run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimingLine {
    /// What was timed.
    pub name: String,
    /// Points or constraints, as a power of two.
    pub log2: u32,
    /// On this host's CPU cores, milliseconds.
    pub cpu_ms: f64,
    /// On the GPU, milliseconds.
    pub gpu_ms: f64,
    /// `cpu_ms / gpu_ms`.
    pub speedup: f64,
}

/// Everything `gpu-check` found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GpuReport {
    /// Whether this binary carries the GPU backend (the `cuda` feature).
    pub gpu_support: bool,
    /// The GPU's name, when one started.
    pub gpu: Option<String>,
    /// The architecture the kernels were compiled for (e.g. `compute_90`).
    pub arch: Option<String>,
    /// Why no GPU can be used, when none can.
    pub unavailable: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// CPU threads the CPU side of the benchmark used.
    pub cpu_threads: usize,
    /// The self-test.
    pub checks: Vec<CheckLine>,
    /// The benchmark.
    pub timings: Vec<TimingLine>,
    /// Where the witness map's FFTs (the H polynomial) run.
    pub ntt: &'static str,
}

impl GpuReport {
    /// A usable GPU passed every self-test.
    pub fn passed(&self) -> bool {
        self.gpu.is_some() && self.checks.iter().all(|c| c.ok)
    }

    /// The report as the terminal shows it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "GPU support in this binary: {}",
            if self.gpu_support {
                "yes (CUDA, kernels compiled by NVRTC at start)"
            } else {
                "no"
            }
        );
        match (&self.gpu, &self.unavailable) {
            (Some(name), _) => {
                let _ = writeln!(
                    out,
                    "GPU: {name} (kernels compiled for {})",
                    self.arch.as_deref().unwrap_or("?")
                );
            }
            (None, Some(why)) => {
                let _ = writeln!(out, "GPU: none usable: {why}");
                if let Some(hint) = &self.hint {
                    let _ = writeln!(out, "  {hint}");
                }
                let _ = writeln!(
                    out,
                    "A prover here proves on the CPU ({} threads).",
                    self.cpu_threads
                );
            }
            (None, None) => {}
        }
        if !self.checks.is_empty() {
            let _ = writeln!(out, "\nSelf-test against the CPU:");
            for c in &self.checks {
                let mark = if c.ok { "ok  " } else { "FAIL" };
                let _ = write!(out, "  {mark} {}", c.name);
                if !c.detail.is_empty() {
                    let _ = write!(out, ": {}", c.detail);
                }
                out.push('\n');
            }
        }
        if !self.timings.is_empty() {
            let _ = writeln!(
                out,
                "\nBenchmark (best of the runs; CPU: {} threads):",
                self.cpu_threads
            );
            let _ = writeln!(
                out,
                "  {:<26} {:>6} {:>12} {:>12} {:>8}",
                "", "size", "CPU ms", "GPU ms", "speedup"
            );
            for t in &self.timings {
                let _ = writeln!(
                    out,
                    "  {:<26} {:>6} {:>12.1} {:>12.1} {:>7.1}x",
                    t.name,
                    format!("2^{}", t.log2),
                    t.cpu_ms,
                    t.gpu_ms,
                    t.speedup
                );
            }
        }
        if self.gpu.is_some() {
            let _ = writeln!(out, "\nThe H polynomial's FFTs run on the {}.", self.ntt);
        }
        out
    }
}

/// Runs the check.
pub fn run(options: Options) -> GpuReport {
    let report = GpuReport {
        gpu_support: cfg!(feature = "cuda"),
        gpu: None,
        arch: None,
        unavailable: None,
        hint: None,
        cpu_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        checks: Vec::new(),
        timings: Vec::new(),
        ntt: "CPU",
    };
    gpu::run(report, options)
}

#[cfg(not(feature = "cuda"))]
mod gpu {
    use super::{GpuReport, Options};

    pub(super) fn run(mut report: GpuReport, _: Options) -> GpuReport {
        report.unavailable = Some("this binary was built without GPU support".into());
        report.hint = Some("build it with the default features (the `cuda` feature)".into());
        report
    }
}

#[cfg(feature = "cuda")]
mod gpu {
    use lagrange_circuits::prover::cuda::{CudaEngine, CudaUnavailable, check, runtime};

    use super::{CheckLine, GpuReport, Options, TimingLine};

    fn hint(e: &CudaUnavailable) -> &'static str {
        match e {
            CudaUnavailable::NoDriver(_) => {
                "install the NVIDIA driver (it provides libcuda.so.1); containers need the GPU passed through"
            }
            CudaUnavailable::NoDevice => {
                "the driver sees no GPU: check `nvidia-smi`, and CUDA_VISIBLE_DEVICES if set"
            }
            CudaUnavailable::Device(_) => {
                "the GPU could not be opened: check `nvidia-smi` for another process holding it or an error state"
            }
            CudaUnavailable::NoNvrtc(_) => {
                "install NVRTC from CUDA 12 or 13 (libnvrtc.so.12 or .13, e.g. the cuda-nvrtc package) and put its folder on LD_LIBRARY_PATH"
            }
            CudaUnavailable::Compile(_) => {
                "NVRTC rejected the kernels: use NVRTC from CUDA 12 or 13"
            }
            CudaUnavailable::Load(_) => {
                "the driver refused the compiled kernels: update the NVIDIA driver to one that supports this NVRTC's CUDA version"
            }
            CudaUnavailable::Panicked(_) => "the CUDA libraries failed while starting",
        }
    }

    pub(super) fn run(mut report: GpuReport, options: Options) -> GpuReport {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => {
                report.hint = Some(hint(&e).to_string());
                report.unavailable = Some(e.to_string());
                return report;
            }
        };
        report.gpu = Some(rt.name().to_string());
        report.arch = Some(rt.arch().to_string());
        let engine = CudaEngine::new(rt);
        let seed = options.seed;
        let (g1, g2, msm_times, proof_times): (&[u32], &[u32], &[u32], &[u32]) = if options.quick {
            (&[10, 14, 16], &[10, 14], &[16, 18], &[16])
        } else {
            (
                &[10, 14, 16, 18, 20],
                &[10, 14, 16, 18],
                &[16, 18, 20, 22],
                &[16, 18, 20],
            )
        };
        let mut checks = check::arithmetic(&engine, seed);
        checks.extend(check::msms(&engine, g1, g2, seed));
        checks.extend(check::lopsided_msms(&engine, seed));
        checks.extend(check::proofs(12, seed));
        report.checks = checks
            .into_iter()
            .map(|c| CheckLine {
                name: c.name,
                ok: c.ok,
                detail: c.detail,
            })
            .collect();
        if !report.passed() {
            return report;
        }
        let runs = if options.quick { 2 } else { 3 };
        let timings = check::msm_timings(&engine, msm_times, runs).and_then(|mut t| {
            t.extend(check::proof_timings(proof_times, runs)?);
            Ok(t)
        });
        match timings {
            Ok(t) => {
                report.timings = t
                    .into_iter()
                    .map(|t| TimingLine {
                        speedup: t.cpu_ms / t.gpu_ms,
                        name: t.name,
                        log2: t.log2,
                        cpu_ms: t.cpu_ms,
                        gpu_ms: t.gpu_ms,
                    })
                    .collect();
            }
            Err(e) => report.checks.push(CheckLine {
                name: "benchmark".into(),
                ok: false,
                detail: e,
            }),
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_gpu_it_says_why_and_what_to_do() {
        let report = run(Options {
            quick: true,
            seed: 1,
        });
        if report.gpu.is_some() {
            // A GPU machine: the self-test must pass.
            assert!(report.passed(), "{}", report.text());
            return;
        }
        assert!(!report.passed());
        let text = report.text();
        assert!(text.contains("GPU: none usable: "), "{text}");
        assert!(report.hint.is_some(), "{text}");
        assert!(text.contains("proves on the CPU"), "{text}");
        let json = serde_json::to_value(&report).expect("the report is JSON");
        assert_eq!(json["gpu"], serde_json::Value::Null);
        assert!(json["unavailable"].is_string());
    }
}
