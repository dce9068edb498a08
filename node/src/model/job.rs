//! A job, one proof of a task, and the states it passes through.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Price, PublicKey, UnixMillis,
};

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting for the next batch.
    Open,
    /// Offered in a batch whose auction is running.
    Auctioning {
        /// The batch.
        batch: BatchId,
    },
    /// Won; the prover must submit a valid proof by the deadline.
    Assigned {
        /// The batch it was won in.
        batch: BatchId,
        /// The winner.
        prover: PublicKey,
        /// The winner's bid.
        price: Price,
        /// Deadline for a valid proof.
        deadline: UnixMillis,
    },
    /// Proven, verified and paid.
    Verified {
        /// Who proved it.
        prover: PublicKey,
        /// What they were paid.
        price: Price,
    },
    /// Abandoned because its task failed.
    Cancelled,
}

impl JobState {
    /// Whether a job in this state may move to `next`. Every job write is checked against
    /// this, so a late award can never revive a cancelled job, nor a stale verdict pay one:
    ///
    /// | from | to |
    /// | --- | --- |
    /// | `Open` | `Open` (new reserve), `Auctioning`, `Cancelled` |
    /// | `Auctioning` | `Open`, `Assigned`, `Cancelled` |
    /// | `Assigned` | `Assigned` (deadline extended), `Open` (failed), `Verified`, `Cancelled` |
    /// | `Verified`, `Cancelled` | nothing: both are final |
    pub fn may_become(&self, next: &JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Open, Open | Auctioning { .. } | Cancelled)
                | (Auctioning { .. }, Open | Assigned { .. } | Cancelled)
                | (
                    Assigned { .. },
                    Assigned { .. } | Open | Verified { .. } | Cancelled
                )
        )
    }

    /// The state's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Open => "open",
            JobState::Auctioning { .. } => "auctioning",
            JobState::Assigned { .. } => "assigned",
            JobState::Verified { .. } => "verified",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// One job of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// The circuit proving it.
    pub circuit: CircuitId,
    /// Its size class.
    pub category: JobCategory,
    /// Digest of its input.
    pub input_digest: Digest,
    /// Size of its input.
    pub input_size: u64,
    /// The reserve price it is offered at next.
    pub reserve_price: Price,
    /// Where it stands.
    pub state: JobState,
    /// Batches it has been offered in.
    pub auctions: u32,
    /// Provers barred from it after failing it.
    pub excluded: BTreeSet<PublicKey>,
}
