//! `lagrange-node economics simulate`: runs a token economics scenario for some epochs and
//! lists the CSV and charts it wrote.

use std::path::PathBuf;

use anyhow::Result;

/// Token economics: run a scenario through the token rules.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

// The economics commands (no doc comment: clap would take it as help).
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Simulate Supernets with delegated stake, client demand and provers for a number of
    /// epochs; write `economics.csv` and SVG charts (supply, client-paid share, buybacks and
    /// pool price, prover income) into `--out`.
    Simulate {
        /// The scenario (TOML: a `[tokenomics]` table and `[[supernets]]`; see
        /// docs/economics.md and docs/economics-example.toml).
        #[arg(long)]
        config: PathBuf,
        /// Epochs to run.
        #[arg(long, default_value_t = 365)]
        epochs: u64,
        /// Where the CSV and charts go.
        #[arg(long, default_value = "economics")]
        out: PathBuf,
    },
}

pub fn run(args: Args) -> Result<()> {
    let Command::Simulate {
        config,
        epochs,
        out,
    } = args.command;
    let started = std::time::Instant::now();
    for path in lagrange_node::tools::economics::run(&config, epochs, &out)? {
        println!("wrote {}", path.display());
    }
    println!(
        "{epochs} epochs simulated in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
