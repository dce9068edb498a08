//! `lagrange-node export-snarkjs`: writes a result's proofs as snarkjs would, for checking
//! them with snarkjs or a Solidity verifier.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::tools::client;

/// Write a result's proofs in snarkjs's JSON formats, one directory per proof.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The result file.
    result: PathBuf,
    /// Directory with the circuits' verifying keys.
    #[arg(long)]
    params_dir: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "snarkjs")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        result,
        params_dir,
        out,
    } = args;
    let n = client::export(&params_dir, &result, &out)?;
    println!(
        "wrote {n} proof(s) in snarkjs format under {}",
        out.display()
    );
    Ok(())
}
