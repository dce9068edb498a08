//! The seam between the roles and the proving math: how a task becomes jobs, how a job is
//! proven, how proofs are checked and how a task's proofs are put together.
//!
//! The node implements it with the real Groth16 circuits of `lagrange-circuits`; tests of
//! the state machines may stand in a simpler one, and say so.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use lagrange_circuits::family::FamilyError;
use lagrange_protocol::messages::ProofSubmission;
use lagrange_protocol::{CircuitId, JobCategory};

use crate::store::ProofRecord;

use crate::model::{JobRecord, TaskRecord, TaskSpec};

/// One job a task splits into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPlan {
    /// The circuit that proves it.
    pub circuit: CircuitId,
    /// Its size class.
    pub category: JobCategory,
    /// Its input, as the prover receives it.
    pub input: Vec<u8>,
}

/// A proof and the public inputs it claims, both compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofBytes {
    /// The proof.
    pub proof: Vec<u8>,
    /// The public inputs.
    pub public_inputs: Vec<u8>,
}

/// What checking one submitted proof found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The proof verifies against the gateway's own statement of the job.
    Valid,
    /// The proof is wrong: the prover's fault, and it is penalized.
    Invalid(String),
    /// The gateway could not check it (its own copy of the input or the verifying key is
    /// missing or broken, the verifier failed): nobody's fault, so nobody is penalized and
    /// the prover may submit again.
    Unchecked(String),
}

/// Why the workload refused a task or failed a job.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The proving math refused it (a bad task, input, proof or result).
    #[error(transparent)]
    Family(#[from] FamilyError),
    /// No circuit with this id is served here.
    #[error("circuit {0} is not served here")]
    NotServed(String),
    /// Keys or artifacts could not be loaded, checked or written.
    #[error("{0}")]
    Setup(String),
    /// Refused for another reason (stand-in workloads of tests say why in words).
    #[error("{0}")]
    Refused(String),
}

impl WorkloadError {
    /// A setup failure, from any error.
    pub fn setup(e: impl std::fmt::Display) -> Self {
        WorkloadError::Setup(e.to_string())
    }
}

/// Proving math as the roles need it. Every method is CPU work: call it off the runtime.
pub trait Workload: Send + Sync + 'static {
    /// Splits a task into jobs, or says why the task is invalid.
    fn split(&self, spec: &TaskSpec) -> Result<Vec<JobPlan>, WorkloadError>;

    /// Proves a job from its input.
    fn prove(&self, circuit: &CircuitId, input: &[u8]) -> Result<ProofBytes, WorkloadError>;

    /// Checks submitted proofs against their jobs' inputs. One verdict per item, in order.
    /// A fault on the gateway's side is [`Check::Unchecked`], never [`Check::Invalid`].
    fn verify(&self, items: &[(JobRecord, Vec<u8>, ProofSubmission)]) -> Vec<Check>;

    /// Combines a task's verified proofs (in job order) into the result delivered to the
    /// client.
    fn aggregate(
        &self,
        task: &TaskRecord,
        proofs: &[(JobRecord, Vec<u8>, ProofRecord)],
    ) -> Result<Vec<u8>, WorkloadError>;
}

/// A workload still loading: every method waits until [`Loading::set`] hands over the loaded
/// one (call them off the runtime, as every workload method). A prover joins its Supernet
/// with it at once, so that what needs no keys (revealing the bids it sealed before a
/// restart, taking back the jobs it held) does not wait for them.
pub struct Loading<W> {
    slot: Mutex<Option<Arc<W>>>,
    loaded: Condvar,
}

impl<W> Default for Loading<W> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(None),
            loaded: Condvar::new(),
        }
    }
}

impl<W> Loading<W> {
    /// Hands over the loaded workload and wakes whatever waits for it.
    pub fn set(&self, workload: Arc<W>) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(workload);
        self.loaded.notify_all();
    }

    fn get(&self) -> Arc<W> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(workload) = slot.as_ref() {
                return workload.clone();
            }
            slot = self
                .loaded
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl<W: Workload> Workload for Loading<W> {
    fn split(&self, spec: &TaskSpec) -> Result<Vec<JobPlan>, WorkloadError> {
        self.get().split(spec)
    }

    fn prove(&self, circuit: &CircuitId, input: &[u8]) -> Result<ProofBytes, WorkloadError> {
        self.get().prove(circuit, input)
    }

    fn verify(&self, items: &[(JobRecord, Vec<u8>, ProofSubmission)]) -> Vec<Check> {
        self.get().verify(items)
    }

    fn aggregate(
        &self,
        task: &TaskRecord,
        proofs: &[(JobRecord, Vec<u8>, ProofRecord)],
    ) -> Result<Vec<u8>, WorkloadError> {
        self.get().aggregate(task, proofs)
    }
}
