//! `lagrange-node model add`: quantizes and slices an ONNX model, makes its slice keys,
//! installs them in the parameter directory and prints the Supernet config entry that pins
//! them.

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::tools::client;
use lagrange_protocol::JobCategory;

/// zkML models (ONNX) a Supernet serves.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

// What can be done with a zkML model (no doc comment: clap would take it as help).
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Checks and quantizes an ONNX model, cuts it into slices, makes each slice's keys
    /// (one-party setup), writes the model and keys into the parameter directory and prints
    /// the [[circuits]] entry (with their digests and the model commitment) for the
    /// Supernet config.
    Add {
        /// The model's name; its id is `zkml/<name>` (letters, digits, '-').
        name: String,
        /// The ONNX file.
        #[arg(long)]
        onnx: PathBuf,
        /// A layer where a new slice starts (repeat; none: one slice per layer).
        #[arg(long = "cut")]
        cuts: Vec<usize>,
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
        onnx,
        cuts,
        category,
        params_dir,
    } = args.action;
    print!(
        "{}",
        client::model_add(&name, category, &onnx, &cuts, &params_dir)?
    );
    Ok(())
}
