//! The binary's subcommands, one module each: its flags (a clap `Args` whose doc comment
//! is the command's help) and a `run` that does the work and prints the outcome. `main.rs`
//! parses the command line and dispatches here.
//!
//! - [`version`]: the node and protocol versions.
//! - [`devnet`]: a gateway and provers in one process, proving sample tasks end to end.
//! - [`init`]: a commented node config and a node key.
//! - [`run`]: the node itself, until SIGINT or SIGTERM.
//! - [`report`]: an audit of gateways (tasks, results, payments, ledger).
//! - [`setup_insecure`]: seeded circuit parameters for devnets and testnets.
//! - [`keygen`]: a new node key.
//! - [`submit`]: a task sent to a gateway.
//! - [`circuit`]: `circuit add`, a circom circuit installed for a Supernet.
//! - [`model`]: `model add`, a zkML model installed for a Supernet.
//! - [`accounts`]: a gateway's accounts.
//! - [`task`]: a task's status and result.
//! - [`audit`]: auction evidence or an equivocation file judged offline, or a batch
//!   fetched from a gateway.
//! - [`gpu_check`]: this host's GPU self-tested and timed against the CPU.
//! - [`soak_check`]: a testnet soak run judged.
//! - [`economics`]: `economics simulate`, a token economics scenario run.
//! - [`verify`]: a result file checked offline.
//! - [`export_snarkjs`]: a result's proofs in snarkjs' formats.
//! - [`export_verifier`]: the on-chain verifier of circuits, and its deployments.
//! - [`deliver`]: a query result delivered to a contract on an EVM chain.
//! - [`chain`]: contracts deployed, rows recorded and answers read on an EVM chain.

pub mod accounts;
pub mod audit;
#[cfg(feature = "chain")]
pub mod chain;
pub mod circuit;
#[cfg(feature = "chain")]
pub mod deliver;
pub mod devnet;
pub mod economics;
pub mod export_snarkjs;
#[cfg(feature = "chain")]
pub mod export_verifier;
pub mod gpu_check;
pub mod init;
pub mod keygen;
pub mod model;
pub mod report;
pub mod run;
pub mod setup_insecure;
pub mod soak_check;
pub mod submit;
pub mod task;
pub mod verify;
pub mod version;
