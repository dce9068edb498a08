//! `lagrange-node export-verifier`: writes what it takes to verify a circuit's proofs on an
//! EVM chain: the verifier contract (Solidity source, ABI and bytecode) and, per key, its
//! deployment (constructor arguments and the whole creation data).

use std::path::PathBuf;

use anyhow::{Context, Result};
use lagrange_node::chain::contracts::export_verifier;
use lagrange_node::circuit_workload::verifier_keys;

/// Write the on-chain verifier for circuits: the contract, and one deployment per key.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A circuit: a coprocessor or synthetic circuit id, `circom/<name>` or `zkml/<name>`
    /// (a model has one key per slice). Repeat for several.
    #[arg(long = "circuit", required = true)]
    circuits: Vec<String>,
    /// Directory with the circuits' verifying keys.
    #[arg(long)]
    params_dir: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "verifier")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        circuits,
        params_dir,
        out,
    } = args;
    let mut keys = Vec::new();
    for circuit in &circuits {
        keys.extend(
            verifier_keys(&params_dir, circuit)
                .with_context(|| format!("the verifying key of {circuit}"))?,
        );
    }
    let written =
        export_verifier(&out, &keys).with_context(|| format!("writing {}", out.display()))?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!(
        "deploy Groth16Verifier once per key: send a creation transaction with a \
         .deploy.json's deploy_data"
    );
    Ok(())
}
