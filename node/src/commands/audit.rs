//! `lagrange-node audit`: judges an auction's evidence (a file, or a batch's transcript
//! fetched from a gateway) or a gateway's equivocation file, and says the verdict in its
//! exit status: 0 kept, 1 deviation or equivocation proven, 2 nothing proven.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::tools::client::{self, Finding};
use lagrange_protocol::audit::AuditError;

/// Check an auction's evidence file offline: recompute the award and every promise the
/// gateway signed (closed commit set, bid receipts, capacities). Exits 0 when the
/// gateway kept them, 1 when the file proves a deviation, 2 when it binds nobody.
///
/// A gateway's `.equivocation` file (a prover's two different commits for one batch) is
/// checked too: exit 1 when it proves the equivocation, 2 when it does not.
///
/// With `--gateway`, `--supernet` and `--batch` instead, fetch that batch's transcript
/// from the gateway's API and audit it (the award, the closed set, attribution).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The evidence file (as a node keeps it under `<data>/<supernet>/evidence/`).
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    evidence: Option<PathBuf>,
    /// The gateway's API (with --batch).
    #[arg(long, requires = "batch", default_value = "http://127.0.0.1:50051")]
    gateway: String,
    /// The Supernet (with --batch).
    #[arg(long, requires = "batch")]
    supernet: Option<String>,
    /// A batch id, as the task's events name it.
    #[arg(long, requires = "supernet")]
    batch: Option<String>,
    /// Also write the fetched transcript as an evidence file here (with --batch).
    #[arg(long, requires = "batch")]
    out: Option<PathBuf>,
}

/// Exits with status 1 or 2 as the verdict says (see [`Args`]).
pub fn run(args: Args) -> Result<()> {
    let Args {
        evidence,
        gateway,
        supernet,
        batch,
        out,
    } = args;
    let verdict = match (evidence, supernet, batch) {
        (Some(file), _, _) => client::audit(&file)?,
        (None, Some(supernet), Some(batch)) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(client::audit_batch(
                &gateway,
                &supernet,
                &batch,
                out.as_deref(),
            ))?
        }
        _ => anyhow::bail!("give an evidence file, or --supernet and --batch"),
    };
    match verdict {
        Finding::Auction(Ok(award)) => println!(
            "no deviation: the award follows the rule ({} jobs awarded, {} unawarded, {} non-revealers)",
            award.awarded.len(),
            award.unawarded.len(),
            award.non_revealers.len()
        ),
        Finding::Auction(Err(e @ AuditError::Deviation { .. })) => {
            println!("{e}");
            std::process::exit(1);
        }
        Finding::Equivocation(Ok((prover, batch))) => {
            println!("prover {prover} equivocated in batch {batch}: two different signed commits");
            std::process::exit(1);
        }
        Finding::Auction(Err(e)) => {
            println!("{e}");
            std::process::exit(2);
        }
        Finding::Equivocation(Err(e)) => {
            println!("not an equivocation: {e}");
            std::process::exit(2);
        }
    }
    Ok(())
}
