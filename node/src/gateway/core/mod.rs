//! The gateway as a state machine: inputs (timer ticks, gossip, requests, finished
//! verifications and aggregations) go in, outputs (publishes, responses, CPU work to run) come
//! out. It does no I/O besides its sled store and never blocks on CPU work: verification and
//! aggregation are handed to the driver as outputs and come back as inputs.
//!
//! The life of a job: `Open` → offered in a batch (`Auctioning`) → awarded (`Assigned`, with a
//! proving deadline) → proof verified and paid (`Verified`). A missed deadline or an invalid
//! proof slashes the prover, bars it from the job and reopens the job for the next batch. A
//! job nobody wins is reopened at a higher reserve price, up to the client's maximum fee; if
//! every prover able to take it is barred from it, its bars are lifted, so it is not stuck
//! forever.
//!
//! A signed assignment is the gateway's promise. A job is offered only while its task's
//! deadline leaves time to prove it ([`MIN_PROVING_PERCENT`] of its window after the
//! auction), its announced window and its proving deadline end no later than the task's
//! deadline, and a valid proof that comes in time under its assignment is paid even if the
//! task has failed meanwhile. A failed task is not billed to its client: the gateway bears
//! what it paid for the proofs it cannot deliver ([`crate::model::TaskRecord::billed`]). An
//! aggregation that fails (the gateway's own fault) is retried before the task fails, and a
//! task that fails says why: priced out by its fee cap, no prover with room before its
//! deadline, or jobs still being proven.
//!
//! No honest prover pays for the network's faults. Winners are told directly
//! ([`Output::Assign`]) as well as over gossip, and can ask for their assignments at any
//! time; deadlines are extended by the gateway's own outage; reveals are counted with a
//! grace for latency and skew; a proof the gateway cannot check (its own input or key is
//! broken) is never counted as invalid; and every job write is checked against the job's
//! state, so a cancelled job is never revived or paid.
//!
//! The code is split by topic: submissions ([`Input::Submit`]) and restart recovery in
//! `intake`, the heartbeat and its deadlines in `timers`, how tasks and jobs fail in `failure`,
//! batches and their auctions in `auction`, gossip and peers' requests in `peers`, proofs
//! checked and paid in `proofs`, and a task's final aggregation in `aggregation`. This file
//! holds the types, the settings and the dispatch of inputs.

mod aggregation;
mod auction;
mod failure;
mod intake;
mod peers;
mod proofs;
mod timers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use libp2p::PeerId;

use lagrange_protocol::book::BidBook;
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::equivocation::Equivocation;
use lagrange_protocol::messages::{
    BatchAnnouncement, GossipMessage, JobAssignment, ProofSubmission, ProverAvailability, Request,
    Response,
};
use lagrange_protocol::{BatchId, JobId, Keypair, Price, PublicKey, Signed, TaskId, UnixMillis};

use super::deadlines::Deadlines;
use crate::metrics::GatewayMetrics;
use crate::model::{Delivery, JobRecord, TaskRecord, TaskSpec};
use crate::net::RequestToken;
use crate::store::{ProofRecord, Store, StoreError};
use crate::workload::{Check, JobPlan, Workload};

/// Percent by which an unawarded job's reserve price rises for its next batch, capped at the
/// client's maximum fee per job. It rises only when a prover able to take the job had room
/// and did not bid low enough; a job that waits for a busy prover keeps its price.
pub const RESERVE_RAISE_PERCENT: u64 = 25;

/// How the failure of a task that no prover would prove for its fee cap begins: the
/// client's cap, not the network, is what failed it.
pub const FEE_CAP_TOO_LOW: &str = "no prover bid at or below the fee cap";

/// How the failure of a task whose jobs could not all be placed begins when the cause was
/// capacity, not price: provers bid within the cap (or never had room to bid), but none had
/// room for the job before the task's deadline.
pub const NO_ROOM_BEFORE_DEADLINE: &str = "no prover had room for its jobs before the deadline";

/// A job is offered only while its task's deadline leaves, after the batch's auction, at
/// least this percentage of the job's proving window (a prover could hardly prove it in
/// less, and would hold capacity for nothing); the window announced, and the proving
/// deadline assigned, never run past the task's deadline.
pub const MIN_PROVING_PERCENT: u64 = 10;

/// Times the gateway tries to aggregate a task whose proofs are all verified before it fails
/// the task (aggregation failing is the gateway's fault, not the client's).
pub const AGGREGATION_ATTEMPTS: u32 = 3;

/// Wait before the first retry of a failed aggregation, doubled for each further one; retries
/// start on the heartbeat.
pub const AGGREGATION_BACKOFF_MS: u64 = 1_000;

/// How long past its deadline the job of a failed task whose proof came in time, but could
/// not be checked, stays assigned for the proof to be submitted again.
pub const UNCHECKED_GRACE_MS: u64 = 60_000;

/// A prover not heard from for this long is not counted as able to take jobs (provers
/// re-announce every few seconds).
pub const AVAILABILITY_TTL_MS: u64 = 20_000;

/// How often the gateway records that it is alive, to measure an outage after a crash.
pub const HEARTBEAT_MS: u64 = 1_000;

/// A gap between two inputs longer than this (three heartbeats, where a driver ticks every
/// few tens of milliseconds) means the gateway stalled or was suspended: taken as an outage.
pub const STALL_LIMIT_MS: u64 = 3 * HEARTBEAT_MS;

/// The most finished tasks (and, apart, batches) pruned in one heartbeat.
const PRUNE_PER_BEAT: usize = 64;

/// After a restart, every assigned job has at least this long left: a proof that arrived
/// in time but was being checked when the gateway died is submitted again, not slashed.
pub const RECOVERY_GRACE_MS: u64 = 10_000;

/// Open jobs one batch looks through for jobs some prover has room for.
pub const OFFER_SCAN: usize = 4096;

/// Batches in a row that draw no commit, while provers with room are known, before the
/// gateway warns that it hears no bids.
pub const QUIET_BATCHES_WARNING: u32 = 5;

/// Something that happened that the gateway must react to.
#[derive(Debug)]
pub enum Input {
    /// Time passed.
    Tick,
    /// A validated gossip message.
    Gossip(GossipMessage),
    /// A request from a peer.
    Request {
        /// The peer, authenticated by the transport.
        peer: PeerId,
        /// The token to answer with.
        token: RequestToken,
        /// The request.
        request: Request,
    },
    /// A verification the gateway asked for has finished.
    Verified {
        /// The submitter's request, to answer.
        token: RequestToken,
        /// The submission.
        submission: Signed<ProofSubmission>,
        /// Its verdict.
        outcome: Check,
    },
    /// An aggregation the gateway asked for has finished.
    Aggregated {
        /// The task.
        task: TaskId,
        /// The result bytes, or why aggregation failed.
        result: Result<Vec<u8>, String>,
    },
    /// A client's task, split by the caller ([`crate::workload::Workload::split`]; splitting
    /// may be long, so a driver does it off the core's thread). Answered by
    /// [`Output::Submitted`] with the same ticket.
    Submit(Box<Submission>),
}

/// A client's task and its split, as [`Input::Submit`] hands it to the core.
#[derive(Debug)]
pub struct Submission {
    /// The caller's number for this submission, echoed in [`Output::Submitted`].
    pub ticket: u64,
    /// What the client asked for.
    pub spec: TaskSpec,
    /// The workload's split of `spec`, or why it has none.
    pub plans: Result<Vec<JobPlan>, SubmitError>,
    /// The most the client pays per job.
    pub max_fee_per_job: Price,
    /// When the task must be done.
    pub deadline: UnixMillis,
    /// Where the gateway delivers the result when the task is done, if the client asked.
    pub delivery: Option<Delivery>,
}

impl Submission {
    /// `spec` split by `workload` (blocking: splitting may compute witnesses).
    pub fn split<W: Workload + ?Sized>(
        workload: &W,
        ticket: u64,
        spec: TaskSpec,
        max_fee_per_job: Price,
        deadline: UnixMillis,
    ) -> Self {
        let plans = workload
            .split(&spec)
            .map_err(|e| SubmitError::Invalid(e.to_string()));
        Self {
            ticket,
            spec,
            plans,
            max_fee_per_job,
            deadline,
            delivery: None,
        }
    }

    /// The submission, asking that the result be delivered to `delivery` (a query task's
    /// only; the core refuses it for another).
    pub fn delivering(mut self, delivery: Option<Delivery>) -> Self {
        self.delivery = delivery;
        self
    }
}

/// Something the driver must do.
#[derive(Debug)]
pub enum Output {
    /// Publish on the Supernet's gossip.
    Publish(GossipMessage),
    /// Answer a request.
    Respond {
        /// The request.
        token: RequestToken,
        /// The answer.
        response: Response,
    },
    /// Verify a proof off the runtime, then feed back [`Input::Verified`].
    Verify {
        /// The submitter's request.
        token: RequestToken,
        /// The job.
        job: JobRecord,
        /// The job's input.
        input: Vec<u8>,
        /// The submission.
        submission: Signed<ProofSubmission>,
    },
    /// Aggregate a task's proofs off the runtime, then feed back [`Input::Aggregated`].
    Aggregate {
        /// The task.
        task: TaskRecord,
        /// Its jobs, inputs and verified proofs, in job order.
        proofs: Vec<(JobRecord, Vec<u8>, ProofRecord)>,
    },
    /// Tell a winner of its job directly, until it acknowledges or the deadline passes.
    Assign {
        /// The winner.
        prover: PeerId,
        /// The signed assignment.
        assignment: Signed<JobAssignment>,
    },
    /// A task's history grew (watchers may want to look).
    TaskChanged(TaskId),
    /// A prover sent two different commits for one batch: keep the proof in `dir`.
    Equivocation {
        /// Both commits.
        evidence: Box<Equivocation>,
        /// Where evidence files go (none: only logged and counted).
        dir: Option<PathBuf>,
    },
    /// The answer to [`Input::Submit`]: the stored task (durable once the store is flushed),
    /// or why it was refused.
    Submitted {
        /// The submission's ticket.
        ticket: u64,
        /// The task, or the refusal.
        result: Result<TaskRecord, SubmitError>,
    },
}

/// Why a task was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The task is malformed or asks for something this Supernet does not prove.
    #[error("invalid task: {0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// **Testing only**: ways to make a gateway cheat, to show that the provers' audits catch
/// it. The default is an honest gateway.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct Misbehavior {
    /// Give this prover's reveals a receipt, then drop them.
    pub drop_reveals_of: Option<PublicKey>,
    /// Give this prover's commits a receipt, then leave them out.
    pub omit_commits_of: Option<PublicKey>,
    /// Give this prover this much free capacity, whatever it announced.
    pub inflate_capacity_of: Option<(PublicKey, u32)>,
    /// Leave this prover's commit out of the closed set, and use it all the same.
    pub late_commit_of: Option<PublicKey>,
}

/// Why a job was left unawarded by its last auction, to name the cause if its task fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unplaced {
    /// Nobody bid at or below its reserve while a prover able to take it had room.
    Priced {
        /// The reserve it goes on at (raised toward the client's fee cap).
        reserve: Price,
    },
    /// Bids at or below its reserve came in but their provers had no room left, or no
    /// prover able to take it had room.
    NoRoom {
        /// Whether some bid was at or below the reserve.
        bid_within: bool,
    },
}

/// A failed aggregation waiting to be tried again.
#[derive(Debug, Clone, Copy)]
struct AggregationRetry {
    /// Attempts failed so far.
    failures: u32,
    /// When to try again.
    at: UnixMillis,
}

/// The gateway of one Supernet.
pub struct GatewayCore {
    supernet: Arc<SupernetConfig>,
    key: Keypair,
    store: Store,
    books: BTreeMap<BatchId, BidBook>,
    /// Open batches whose closed commit set is signed and published.
    closed: BTreeSet<BatchId>,
    /// Where proofs of provers' equivocations go.
    evidence_dir: Option<PathBuf>,
    misbehavior: Misbehavior,
    /// Each prover's latest signed announcement: a standing names its digest.
    provers: BTreeMap<PublicKey, Signed<ProverAvailability>>,
    /// The allowlist as keys (none: an open Supernet). A key's peer id costs a curve point
    /// decompression, and the allowlist is asked about every live prover every batch.
    allowed_keys: Option<BTreeSet<PublicKey>>,
    /// When each prover was last heard from, on the gateway's clock.
    heard: BTreeMap<PublicKey, UnixMillis>,
    next_batch_at: UnixMillis,
    verifying: BTreeSet<JobId>,
    /// Jobs whose proof arrived in time but could not be checked by the gateway: their
    /// deadline is not held against the prover.
    unchecked: BTreeSet<JobId>,
    aggregating: BTreeSet<TaskId>,
    /// Tasks whose aggregation failed and will be tried again.
    retries: BTreeMap<TaskId, AggregationRetry>,
    /// Why each open job of a live task went unawarded in its last auction.
    unplaced: BTreeMap<JobId, Unplaced>,
    /// When each live task and assigned job falls due.
    deadlines: Deadlines,
    last_beat: UnixMillis,
    /// The latest time the core has been given: its clock never goes back from here, so a
    /// wall clock stepped back cannot make it sign times earlier than ones it has signed.
    last_now: UnixMillis,
    /// When the core last took an input, to notice a stall.
    last_input: UnixMillis,
    /// A gap between inputs longer than this is a stall, taken as an outage (none: never).
    stall_limit_ms: Option<u64>,
    quiet_batches: u32,
    metrics: GatewayMetrics,
    /// The token ledger's epochs, when the Supernet runs the token rules, and how many the
    /// ledger has ended.
    tokens: Option<(super::tokens::Epochs, u64)>,
    /// How long finished tasks and auctions are kept, ms (0: forever).
    retention_ms: u64,
}

/// Answers the requests that only read the store: an awarded batch's transcript (for
/// anyone), and a prover's own assignments (each prover sees only its own). The driver
/// serves them on the blocking pool, so no member can load the core's single thread with
/// decodes and scans.
#[derive(Clone)]
pub struct Reader {
    supernet: lagrange_protocol::SupernetId,
    key: Keypair,
    store: Store,
}

impl GatewayCore {
    /// A gateway over `store`. Call [`GatewayCore::recover`] once before the first input.
    pub fn new(supernet: Arc<SupernetConfig>, key: Keypair, store: Store) -> Self {
        let allowed_keys = supernet.allowlist.as_ref().map(|list| {
            list.iter()
                .filter_map(|peer| PublicKey::from_peer_id(peer).ok())
                .collect()
        });
        Self {
            allowed_keys,
            supernet,
            key,
            store,
            books: BTreeMap::new(),
            closed: BTreeSet::new(),
            evidence_dir: None,
            misbehavior: Misbehavior::default(),
            provers: BTreeMap::new(),
            heard: BTreeMap::new(),
            next_batch_at: 0,
            verifying: BTreeSet::new(),
            unchecked: BTreeSet::new(),
            aggregating: BTreeSet::new(),
            retries: BTreeMap::new(),
            unplaced: BTreeMap::new(),
            deadlines: Deadlines::default(),
            last_beat: 0,
            last_now: 0,
            last_input: 0,
            stall_limit_ms: Some(STALL_LIMIT_MS),
            quiet_batches: 0,
            metrics: GatewayMetrics::default(),
            tokens: None,
            retention_ms: 0,
        }
    }

    /// Whether the Supernet's allowlist admits `key` (an open Supernet admits everyone).
    fn allows(&self, key: &PublicKey) -> bool {
        self.allowed_keys
            .as_ref()
            .is_none_or(|keys| keys.contains(key))
    }

    /// Reports to `metrics` (by default, to a set nobody reads).
    pub fn with_metrics(mut self, metrics: GatewayMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Prunes finished tasks and auctions `retention_ms` after they ended (0: never).
    pub fn with_retention(mut self, retention_ms: u64) -> Self {
        self.retention_ms = retention_ms;
        self
    }

    /// Takes a gap of more than `limit_ms` between two inputs as a stall of the gateway's own
    /// (none: never). A driver ticks the core every few tens of milliseconds, so the default
    /// ([`STALL_LIMIT_MS`]) only sees a gateway that stopped; a test that moves a fake clock
    /// in long leaps turns it off.
    pub fn with_stall_limit(mut self, limit_ms: Option<u64>) -> Self {
        self.stall_limit_ms = limit_ms;
        self
    }

    /// Keeps proofs of provers' equivocations in `dir`.
    pub fn with_evidence_dir(mut self, dir: PathBuf) -> Self {
        self.evidence_dir = Some(dir);
        self
    }

    /// **Testing only**: makes this gateway cheat as `misbehavior` says.
    #[doc(hidden)]
    pub fn misbehaving(mut self, misbehavior: Misbehavior) -> Self {
        self.misbehavior = misbehavior;
        self
    }

    /// Where the gateway reports.
    pub fn metrics(&self) -> &GatewayMetrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Provers that have announced themselves, with their latest announcement.
    pub fn provers(&self) -> &BTreeMap<PublicKey, Signed<ProverAvailability>> {
        &self.provers
    }

    /// Batches whose auction is running.
    pub fn open_batches(&self) -> Vec<&BatchAnnouncement> {
        self.books.values().map(BidBook::batch).collect()
    }

    /// The core's clock at `now` (the caller's wall clock): never earlier than a time it
    /// was given before.
    fn clock(&mut self, now: UnixMillis) -> UnixMillis {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    /// Records the time the gateway is about to sign, so that a restart, whatever its clock
    /// says, never signs an earlier one.
    fn beat(&mut self, now: UnixMillis) -> Result<(), StoreError> {
        self.store.beat(now)?;
        self.last_beat = now;
        Ok(())
    }

    /// [`Self::beat`] before signing, unless the last beat is as late already.
    fn beat_if_later(&mut self, now: UnixMillis) -> Result<(), StoreError> {
        if now > self.last_beat {
            self.beat(now)?;
        }
        Ok(())
    }

    /// Reacts to one input that arrived as it is handled, at `now`: [`GatewayCore::handle_arrived`]
    /// with both times the same.
    pub fn handle(&mut self, input: Input, now: UnixMillis) -> Result<Vec<Output>, StoreError> {
        self.handle_arrived(input, now, now)
    }

    /// Reacts to one input that arrived at `arrived` and is handled at `now` (the caller's
    /// wall clock). Lateness (of a proof, a commit, a reveal; a tick's deadlines) is judged
    /// by when the input arrived, never later than `now`, so a gateway that is behind holds
    /// nothing against a peer that was in time. The core never lets its own time go back (a
    /// clock stepped back leaves it where it was until the clock catches up), and a gap
    /// between inputs longer than the stall limit (see [`GatewayCore::with_stall_limit`]) is
    /// taken as an outage of the gateway's own: proving deadlines running during it are
    /// moved later by its length, as after a restart.
    pub fn handle_arrived(
        &mut self,
        input: Input,
        arrived: UnixMillis,
        now: UnixMillis,
    ) -> Result<Vec<Output>, StoreError> {
        let now = self.clock(now);
        let arrived = arrived.min(now);
        let mut out = Vec::new();
        let since = self.last_input;
        self.last_input = now;
        if let Some(limit) = self.stall_limit_ms
            && since > 0
            && now.saturating_sub(since) > limit
        {
            self.stalled(since, now, &mut out)?;
        }
        match input {
            Input::Tick => self.tick(arrived, now, &mut out)?,
            Input::Gossip(message) => self.on_gossip(message, arrived, now, &mut out)?,
            Input::Request {
                peer,
                token,
                request,
            } => self.on_request(peer, token, request, arrived, now, &mut out)?,
            Input::Verified {
                token,
                submission,
                outcome,
            } => self.on_verified(token, submission, outcome, now, &mut out)?,
            Input::Aggregated { task, result } => {
                self.on_aggregated(task, result, now, &mut out)?
            }
            Input::Submit(submission) => self.on_submit(*submission, now, &mut out),
        }
        Ok(out)
    }
}
