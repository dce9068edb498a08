//! `lagrange-node gpu-check`: its flags, and the exit status an operator's script reads
//! from [`lagrange_node::tools::gpu_check::run`]'s report.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lagrange_node::tools::gpu_check::{self, Options};

/// Check this host's GPU before joining a GPU Supernet: start it as a prover would,
/// self-test it against the CPU (field, curve, G1 and G2 MSMs, whole proofs bit for
/// bit), time MSMs and proofs on both, and print a table. Without a usable GPU it says
/// what is missing and exits 0, or 1 with --require-gpu.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit non-zero unless a GPU is usable and passes the self-test.
    #[arg(long)]
    require_gpu: bool,
    /// Fewer and smaller sizes.
    #[arg(long)]
    quick: bool,
    /// The self-test's random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        require_gpu,
        quick,
        seed,
        json,
    } = args;
    let report = gpu_check::run(Options { quick, seed });
    print!("{}", report.text());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report.gpu.is_some() && !report.passed() {
        anyhow::bail!("the GPU failed its self-test");
    }
    if require_gpu && report.gpu.is_none() {
        anyhow::bail!("no usable GPU (--require-gpu)");
    }
    Ok(())
}
