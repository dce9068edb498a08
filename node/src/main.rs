//! The `lagrange-node` binary: parses the command line and runs the chosen command.

mod commands;

use anyhow::Result;
use clap::{Parser, Subcommand};
use commands::{
    accounts, audit, circuit, devnet, economics, export_snarkjs, gpu_check, init, keygen, model,
    report, run, setup_insecure, soak_check, submit, task, verify, version,
};

/// A node of the lagrange proving network.
#[derive(Debug, Parser)]
#[command(name = "lagrange-node", version, about)]
struct Cli {
    /// Log format: text (for people) or json (one object per line, for log shippers).
    /// Levels and targets come from RUST_LOG.
    #[arg(
        long,
        global = true,
        env = "LAGRANGE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

// The subcommands, in the order `--help` lists them; each one's help is the doc comment of
// its `Args` (a doc comment here would be taken as help too, so this is a plain comment).
#[derive(Debug, Subcommand)]
enum Command {
    Version(version::Args),
    Devnet(devnet::Args),
    Init(init::Args),
    Run(run::Args),
    Report(report::Args),
    SetupInsecure(setup_insecure::Args),
    Keygen(keygen::Args),
    Submit(submit::Args),
    Circuit(circuit::Args),
    Model(model::Args),
    Accounts(accounts::Args),
    Task(task::Args),
    Audit(audit::Args),
    GpuCheck(gpu_check::Args),
    SoakCheck(soak_check::Args),
    Economics(economics::Args),
    Verify(verify::Args),
    ExportSnarkjs(export_snarkjs::Args),
    #[cfg(feature = "chain")]
    ExportVerifier(commands::export_verifier::Args),
    #[cfg(feature = "chain")]
    Deliver(commands::deliver::Args),
    #[cfg(feature = "chain")]
    Chain(commands::chain::Args),
}

/// Runs the command; an error is printed as its message and its causes, one per line, with
/// no stack trace whatever `RUST_BACKTRACE` says (it is the user's input, not a bug).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format)?;
    match cli.command {
        Command::Version(args) => version::run(args),
        Command::Devnet(args) => devnet::run(args),
        Command::Init(args) => init::run(args),
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::run(args),
        Command::SetupInsecure(args) => setup_insecure::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Submit(args) => submit::run(args),
        Command::Circuit(args) => circuit::run(args),
        Command::Model(args) => model::run(args),
        Command::Accounts(args) => accounts::run(args),
        Command::Task(args) => task::run(args),
        Command::Audit(args) => audit::run(args),
        Command::GpuCheck(args) => gpu_check::run(args),
        Command::SoakCheck(args) => soak_check::run(args),
        Command::Economics(args) => economics::run(args),
        Command::Verify(args) => verify::run(args),
        Command::ExportSnarkjs(args) => export_snarkjs::run(args),
        #[cfg(feature = "chain")]
        Command::ExportVerifier(args) => commands::export_verifier::run(args),
        #[cfg(feature = "chain")]
        Command::Deliver(args) => commands::deliver::run(args),
        #[cfg(feature = "chain")]
        Command::Chain(args) => commands::chain::run(args),
    }
}

/// Installs the log subscriber: the chosen format, levels and targets from RUST_LOG.
fn init_logs(format: LogFormat) -> Result<()> {
    // The constraint-system crates trace every gadget call under the `gr1cs` and `r1cs`
    // targets, formatting whole constraint systems: a proof would take minutes. Those targets
    // stay off whatever RUST_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libp2p_kad=error"))
        .add_directive("gr1cs=off".parse()?)
        .add_directive("r1cs=off".parse()?);
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    Ok(())
}
