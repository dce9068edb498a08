//! `lagrange-node soak-check`: prints each verdict of
//! [`lagrange_node::tools::soak::check_dir`] and the files it wrote, and fails if any
//! verdict does.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::tools::soak;

/// Judge a testnet soak run (`testnet/run.sh --soak`): join its samples, submissions and
/// final report into soak.csv and soak.svg, and exit non-zero if a task was lost or
/// memory, open files, the store per task or the backlog grew without bound.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's directory (samples.csv, submitted.tsv, report.json).
    #[arg(long)]
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let outcome = soak::check_dir(&args.dir)?;
    for v in &outcome.verdicts {
        let mark = if v.ok { "ok  " } else { "FAIL" };
        println!("{mark} {}: {}", v.check, v.detail);
    }
    for path in &outcome.written {
        println!("wrote {}", path.display());
    }
    if outcome.verdicts.iter().any(|v| !v.ok) {
        anyhow::bail!("the soak run failed its checks");
    }
    Ok(())
}
