//! `lagrange-node circuit add`: checks a circom circuit's artifacts, installs them in the
//! parameter directory and prints the Supernet config entry that pins them.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::tools::client;
use lagrange_protocol::JobCategory;

/// Circom circuits a Supernet serves.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

// What can be done with a circom circuit (no doc comment: clap would take it as help).
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Checks a circom circuit's .zkey and .r1cs, copies them into the parameter directory
    /// and prints the [[circuits]] entry (with their digests) for the Supernet config.
    Add {
        /// The circuit's name; its id is `circom/<name>` (lowercase letters, digits, '-').
        name: String,
        /// The proving key, as `snarkjs groth16 setup` (and contributions) wrote it.
        #[arg(long)]
        zkey: PathBuf,
        /// The constraints, as the circom compiler wrote them.
        #[arg(long)]
        r1cs: PathBuf,
        /// The witness generator the circom compiler wrote (`<name>_js/<name>.wasm`), so
        /// clients may send input signals instead of witnesses.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// The category its jobs are auctioned in.
        #[arg(long, default_value = "small")]
        category: JobCategory,
        /// The node's parameter directory.
        #[arg(long, default_value = "params")]
        params_dir: PathBuf,
    },
}

pub fn run(args: Args) -> Result<()> {
    let Action::Add {
        name,
        zkey,
        r1cs,
        wasm,
        category,
        params_dir,
    } = args.action;
    print!(
        "{}",
        client::circuit_add(&name, category, &zkey, &r1cs, wasm.as_deref(), &params_dir)?
    );
    Ok(())
}
