//! A client's task: what it asked for, where it stands, and the events of its life.

use serde::{Deserialize, Serialize};

use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Price, PublicKey, SupernetId, TaskId,
    UnixMillis,
};

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskSpec {
    /// SUM and COUNT of the values whose key lies in `[lo, hi]`, over the client's rows.
    Query {
        /// The data set, as (key, value) rows.
        rows: Vec<(u64, u64)>,
        /// Lowest key counted.
        lo: u64,
        /// Highest key counted.
        hi: u64,
        /// The chunk size class.
        category: JobCategory,
    },
    /// `jobs` independent proofs of the synthetic circuit, for load tests.
    Synthetic {
        /// Number of jobs.
        jobs: u32,
        /// The size class.
        category: JobCategory,
    },
    /// One proof per witness of a registered circom circuit.
    Circom {
        /// The circuit (`circom/<name>`).
        circuit: CircuitId,
        /// The witnesses (`.wtns` bytes), one job each. Kept in the jobs' inputs only: the
        /// stored task holds none ([`TaskSpec::for_storage`]).
        witnesses: Vec<Vec<u8>>,
        /// Input signals (`input.json` objects), one job each, after the witnesses: the
        /// gateway computes each witness with the circuit's generator. Not stored either.
        inputs: Vec<String>,
    },
    /// Inferences of a served zkML model, one per input, each proven in slices.
    Zkml {
        /// The model (`zkml/<name>`).
        model: CircuitId,
        /// The real inputs, as `f32` bit patterns (`f32::to_bits`), so that specs compare
        /// exactly. Kept in the jobs' inputs only (quantized): the stored task holds none.
        inputs: Vec<Vec<u32>>,
        /// The model commitment the client expects, if it named one: a task for another
        /// model is refused.
        commitment: Option<Digest>,
    },
}

impl TaskSpec {
    /// The spec as the task record keeps it: without bulk payloads (the record is read on
    /// every tick and rewritten on every event). A circom task's witnesses are in its jobs'
    /// inputs already; a query's rows are kept apart ([`TaskSpec::rows_apart`]).
    pub fn for_storage(&self) -> TaskSpec {
        match self {
            TaskSpec::Circom { circuit, .. } => TaskSpec::Circom {
                circuit: circuit.clone(),
                witnesses: Vec::new(),
                inputs: Vec::new(),
            },
            TaskSpec::Zkml {
                model, commitment, ..
            } => TaskSpec::Zkml {
                model: model.clone(),
                inputs: Vec::new(),
                commitment: *commitment,
            },
            TaskSpec::Query {
                lo, hi, category, ..
            } => TaskSpec::Query {
                rows: Vec::new(),
                lo: *lo,
                hi: *hi,
                category: *category,
            },
            other => other.clone(),
        }
    }

    /// The rows a query task's record does not hold, which the store keeps apart.
    pub fn rows_apart(&self) -> Option<&[(u64, u64)]> {
        match self {
            TaskSpec::Query { rows, .. } if !rows.is_empty() => Some(rows),
            _ => None,
        }
    }
}

/// Where a task stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Jobs are being auctioned and proven.
    Proving,
    /// All jobs verified and aggregated; the result is stored.
    Done,
    /// The task ended without a result.
    Failed {
        /// Why.
        reason: String,
    },
}

impl TaskStatus {
    /// Done or failed.
    pub fn is_final(&self) -> bool {
        !matches!(self, TaskStatus::Proving)
    }
}

/// A client task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Its id.
    pub id: TaskId,
    /// The Supernet proving it.
    pub supernet: SupernetId,
    /// What was asked.
    pub spec: TaskSpec,
    /// The most the client pays per job.
    pub max_fee_per_job: Price,
    /// When the task fails if it is not done.
    pub deadline: UnixMillis,
    /// When it was stored.
    pub created_at: UnixMillis,
    /// Number of jobs.
    pub jobs: u32,
    /// Where it stands.
    pub status: TaskStatus,
    /// Events recorded so far (the next event's sequence number).
    pub events: u64,
    /// Jobs verified and paid so far.
    pub verified: u32,
    /// The sum of the prices paid to provers for its verified jobs. The client is billed
    /// this once the task is done, and nothing if it fails ([`TaskRecord::billed`]).
    pub fees: u64,
}

impl TaskRecord {
    /// What the client is billed: the prices of its verified jobs, unless the task failed.
    /// A failed task delivers no result, so its client pays nothing; the gateway bears what
    /// it paid provers for proofs that came in (provers are paid all the same).
    pub fn billed(&self) -> u64 {
        match self.status {
            TaskStatus::Failed { .. } => 0,
            TaskStatus::Proving | TaskStatus::Done => self.fees,
        }
    }
}

/// Something that happened to a task, in order. A watcher replays these from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskEventKind {
    /// The task was stored.
    Submitted {
        /// Its jobs.
        jobs: u32,
    },
    /// A job was offered in a batch.
    Offered {
        /// The job.
        job: JobId,
        /// The batch.
        batch: BatchId,
        /// The reserve price.
        reserve_price: Price,
    },
    /// A batch's auction closed.
    AuctionClosed {
        /// The batch.
        batch: BatchId,
        /// Commits accepted.
        commits: u32,
        /// Reveals accepted.
        reveals: u32,
        /// Provers that committed without revealing.
        non_revealers: u32,
    },
    /// A job was won.
    Awarded {
        /// The job.
        job: JobId,
        /// The winner.
        prover: PublicKey,
        /// The winning bid.
        price: Price,
    },
    /// Nobody won a job in a batch; it goes into the next one.
    Unawarded {
        /// The job.
        job: JobId,
    },
    /// A proof verified and its prover was paid.
    Proven {
        /// The job.
        job: JobId,
        /// The prover.
        prover: PublicKey,
        /// What it was paid.
        price: Price,
    },
    /// A proof failed, or came late: the prover was slashed and the job reopened.
    Failed {
        /// The job.
        job: JobId,
        /// The prover.
        prover: PublicKey,
        /// Why.
        reason: String,
    },
    /// All jobs verified; the aggregated result is stored.
    Completed,
    /// The task failed.
    Aborted {
        /// Why.
        reason: String,
    },
    /// The result was delivered to the contract the client named ([`crate::model::Delivery`]).
    Delivered {
        /// The contract.
        contract: [u8; 20],
        /// The transaction (`None`: the contract held the answer already).
        tx: Option<[u8; 32]>,
        /// Its block.
        block: Option<u64>,
    },
    /// The result could not be delivered; it stands, and the client may deliver it itself.
    DeliveryFailed {
        /// Why.
        reason: String,
    },
}

/// A recorded task event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// Position in the task's history, from 0.
    pub seq: u64,
    /// When it happened.
    pub at: UnixMillis,
    /// What happened.
    pub kind: TaskEventKind,
}
