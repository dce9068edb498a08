//! `lagrange-node setup-insecure`: seeded (forgeable) circuit parameters for devnets and
//! testnets, and the `[[circuits]]` entries that pin them in a Supernet config.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::circuit_workload::{CircuitWorkload, synthetic_log2};
use lagrange_protocol::JobCategory;

/// Generate circuit parameters from a public seed, for devnets and testnets only
/// (INSECURE: anyone who knows the seed can forge proofs), and print the digests to pin
/// in a Supernet config.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Circuit ids, e.g. coprocessor-sum-v1/small.
    #[arg(required = true)]
    circuits: Vec<String>,
    /// Where to write the parameter files.
    #[arg(long, default_value = "params")]
    params_dir: PathBuf,
    /// The public seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        circuits,
        params_dir,
        seed,
    } = args;
    std::fs::create_dir_all(&params_dir)?;
    let specs = circuits
        .iter()
        .map(|c| lagrange_circuits::CircuitSpec::parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let (_, pins) = CircuitWorkload::insecure_devnet(&params_dir, &specs, seed)
        .map_err(|e| anyhow::anyhow!(e))?;
    for ((id, digest), spec) in pins.into_iter().zip(specs) {
        let category = match spec {
            lagrange_circuits::CircuitSpec::Coprocessor(shape) => {
                shape.category().map(|c| c.as_str().to_string())
            }
            lagrange_circuits::CircuitSpec::Synthetic { log2 } => JobCategory::ALL
                .into_iter()
                .find(|c| synthetic_log2(*c) == log2)
                .map(|c| c.to_string()),
        };
        println!("[[circuits]]\nid = \"{id}\"");
        if let Some(category) = category {
            println!("category = \"{category}\"");
        }
        println!("params_digest = \"{digest}\"\n");
    }
    Ok(())
}
