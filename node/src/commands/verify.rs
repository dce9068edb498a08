//! `lagrange-node verify`: checks a result file offline and prints what it proves (for a
//! zkML result, each inference's outputs back in real numbers and its class).

use std::path::PathBuf;

use anyhow::Result;
use lagrange_node::circuit_workload::Checked;
use lagrange_node::tools::client;

/// Check a result file offline: every proof, the chain of chunks and the answer.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The result file.
    result: PathBuf,
    /// Directory with the circuits' verifying keys (`.vk` files; a zkML model's
    /// `zkml/<name>.keys`).
    #[arg(long)]
    params_dir: PathBuf,
    /// For a zkML result: the inputs the client sent (the `submit zkml --input` file);
    /// the result must be of them.
    #[arg(long)]
    input: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        result,
        params_dir,
        input,
    } = args;
    match client::verify(&params_dir, &result, input.as_deref())? {
        Checked::Query {
            sum,
            count,
            commitment,
            rows,
        } => println!("valid: SUM={sum} COUNT={count} over {rows} rows committed to {commitment}"),
        Checked::Synthetic { proofs } => println!("valid: {proofs} synthetic proofs"),
        Checked::Circom { circuit, proofs } => {
            println!("valid: {proofs} proofs of {circuit}")
        }
        Checked::Zkml {
            model,
            commitment,
            scale_bits,
            outputs,
        } => {
            println!(
                "valid: {} inference(s) of {model} (commitment {commitment}), every slice proof and chain",
                outputs.len()
            );
            for (n, output) in outputs.iter().enumerate() {
                let real: Vec<String> = output
                    .iter()
                    .map(|v| format!("{:.4}", *v as f64 / f64::from(1u32 << scale_bits)))
                    .collect();
                println!(
                    "inference {n}: class {} of outputs [{}]",
                    lagrange_circuits::zkml::argmax(output),
                    real.join(", ")
                );
            }
        }
    }
    Ok(())
}
