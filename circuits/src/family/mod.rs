//! Workload families: what each kind of task means to the proving math.
//!
//! Two seams, one per level. A [`JobCircuit`] is one circuit's job-level math: which public
//! inputs a job's proof must prove, computed from the job's input and never from the
//! prover's claim ([`JobCircuit::statement`]), how a job is proven ([`JobCircuit::prove`])
//! and the key its proofs verify with. A [`Family`] is one kind of task's math: how a task
//! becomes job inputs ([`Family::split`]) and which circuit proves each
//! ([`Family::job_circuit`]), how a task's verified proofs become the result its client
//! receives ([`Family::aggregate`]) and how a client checks that result against what it
//! asked ([`Family::check`]). The node routes tasks to families by the id they name and
//! job bytes to circuits by circuit id, and does every file, network and terminal
//! operation itself.
//!
//! - [`CoprocessorFamily`]: SUM/COUNT over a committed data set, in chunk jobs whose
//!   proofs chain into one [`crate::AggregatedProof`];
//! - [`SyntheticFamily`]: independent proofs of the synthetic load circuit;
//! - [`CircomFamily`]: one proof per witness of a circom circuit, delivered in snarkjs'
//!   formats;
//! - [`ZkmlModelFamily`]: inferences of a served model, one job per slice per input, each
//!   proven by its slice's circuit ([`ZkmlSliceCircuit`]); the slices' proofs chain from
//!   each input's commitment to its output's.
//!
//! The first three are one circuit each and serve both levels.

mod circom;
mod coprocessor;
mod result;
mod synthetic;
mod zkml;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use ark_std::rand::RngCore;

pub use circom::{CircomFamily, MAX_CIRCOM_JOBS};
pub use coprocessor::{CoprocessorFamily, MAX_QUERY_ROWS};
pub use result::{Checked, CircomProof, TaskResult};
pub use synthetic::{MAX_SYNTHETIC_JOBS, SyntheticFamily};
pub use zkml::{ZkmlModelFamily, ZkmlSliceCircuit, commitment_bytes};

use crate::{
    AggregateError, DataSetError, DecodeError, JobError, JobRejected, ProofWithInputs, Query,
    VerifyError, circom::CircomError,
};

/// A client's task, as the math sees it (the node adds ids, prices and deadlines).
#[derive(Clone, Copy, Debug)]
pub enum Task<'a> {
    /// SUM and COUNT of the values whose key lies in the query's range, over `rows`.
    Query {
        /// The data set, as (key, value) rows.
        rows: &'a [(u64, u64)],
        /// The range.
        query: Query,
    },
    /// `jobs` independent synthetic proofs.
    Synthetic {
        /// How many.
        jobs: u32,
    },
    /// One proof per witness: the `.wtns` files first, then one per `input.json`.
    Circom {
        /// Witnesses as snarkjs and circom write them.
        witnesses: &'a [Vec<u8>],
        /// Input signals, as JSON objects.
        inputs: &'a [String],
    },
    /// Inferences of a model, one per input.
    Zkml {
        /// The client's real inputs, as `f32` bit patterns; quantized for the model.
        inputs: &'a [Vec<u32>],
        /// The model commitment the client expects (its 32 little-endian bytes), if any.
        commitment: Option<[u8; 32]>,
    },
}

impl Task<'_> {
    /// The task kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Task::Query { .. } => "query",
            Task::Synthetic { .. } => "synthetic",
            Task::Circom { .. } => "circom",
            Task::Zkml { .. } => "zkml",
        }
    }
}

/// Why a family refused a task, a job or a result.
#[derive(Debug, thiserror::Error)]
pub enum FamilyError {
    /// The task or result is of another kind than the circuit serves.
    #[error("circuit {circuit} does not serve {kind} tasks")]
    WrongKind {
        /// The circuit.
        circuit: String,
        /// The kind asked for.
        kind: &'static str,
    },
    /// The task has nothing to prove.
    #[error("{0}")]
    Empty(&'static str),
    /// The task asks for more than a task may.
    #[error("{what}: {count}, more than the limit of {max}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many were asked for.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// One job's input is larger than a job input may be.
    #[error("{what} is {len} bytes, more than the {max} a job input may carry")]
    InputTooLarge {
        /// Which element of the task.
        what: String,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A data set that cannot be committed to.
    #[error(transparent)]
    DataSet(#[from] DataSetError),
    /// A circom witness or input refused, naming the element of the task.
    #[error("{what}: {source}")]
    Circom {
        /// Which element (`circom.witnesses[3]`).
        what: String,
        /// Why.
        source: CircomError,
    },
    /// A job input that does not decode or is malformed.
    #[error("malformed job input: {0}")]
    Input(String),
    /// A job input of a malformed job.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Proving refused or failed.
    #[error(transparent)]
    Prove(#[from] JobRejected),
    /// A proof that does not verify, or a malformed one.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Proof or input bytes that do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Chunk proofs that do not make a bundle, or a bundle that does not check.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
    /// A result that is not what the task asked for.
    #[error("{0}")]
    Mismatch(String),
    /// A result that does not parse.
    #[error("malformed result: {0}")]
    Result(#[from] serde_json::Error),
    /// A zkML model, input, job, chain or keys refused.
    #[error(transparent)]
    Zkml(#[from] crate::zkml::ZkmlError),
}

/// One circuit's job-level math. Every method is CPU work.
pub trait JobCircuit: Send + Sync {
    /// The circuit id.
    fn circuit(&self) -> &str;

    /// The public inputs a proof of the job with this input must be for.
    fn statement(&self, input: &[u8]) -> Result<Vec<Fr>, FamilyError>;

    /// Proves a job.
    fn prove(&self, input: &[u8], rng: &mut dyn RngCore) -> Result<ProofWithInputs, FamilyError>;

    /// The prepared verifying key.
    fn verifying_key(&self) -> &PreparedVerifyingKey<Bn254>;
}

/// One kind of task's math, for the tasks that name its id. Every method is CPU work.
pub trait Family: Send + Sync {
    /// The id tasks of this family name: a circuit, or a zkML model.
    fn id(&self) -> &str;

    /// The job inputs a task splits into, in job order. Each is at most `max_input`
    /// bytes, or the task is refused.
    fn split(&self, task: &Task<'_>, max_input: usize) -> Result<Vec<Vec<u8>>, FamilyError>;

    /// The circuit that proves the job with this input (of this family's split): the
    /// family's own circuit where it has one.
    fn job_circuit(&self, _input: &[u8]) -> Result<String, FamilyError> {
        Ok(self.id().to_owned())
    }

    /// The result of a task from its jobs' inputs and verified proofs, in job order.
    /// The result is checked once more, as a client will check it.
    fn aggregate(
        &self,
        task: &Task<'_>,
        proofs: &[(&[u8], Proof<Bn254>)],
    ) -> Result<TaskResult, FamilyError>;

    /// Checks a delivered result against the task it answers: every proof, and that it
    /// answers this task (data set, query, circuit).
    fn check(&self, task: &Task<'_>, result: &TaskResult) -> Result<Checked, FamilyError>;
}

fn wrong_kind(circuit: &str, task: &Task<'_>) -> FamilyError {
    FamilyError::WrongKind {
        circuit: circuit.to_owned(),
        kind: task.kind(),
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), FamilyError> {
    if count > max {
        return Err(FamilyError::TooMany { what, count, max });
    }
    Ok(())
}

fn check_size(what: impl FnOnce() -> String, len: usize, max: usize) -> Result<(), FamilyError> {
    if len > max {
        return Err(FamilyError::InputTooLarge {
            what: what(),
            len,
            max,
        });
    }
    Ok(())
}
