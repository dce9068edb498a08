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
//! what it paid for the proofs it cannot deliver ([`crate::store::TaskRecord::billed`]). An
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

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use libp2p::PeerId;
use tracing::{debug, error, info, warn};

use lagrange_protocol::auction::{Eligibility, ProverStanding, backed_slots};
use lagrange_protocol::book::{BidBook, BidError};
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::equivocation::Equivocation;
use lagrange_protocol::messages::MAX_ASSIGNMENTS;
use lagrange_protocol::messages::{
    AuctionResult, BatchAnnouncement, BidKind, BidReceipt, GossipMessage, JobAssignment, JobSpec,
    ProofOutcome, ProofSubmission, ProofVerdict, ProverAvailability, Request, Response,
};
use lagrange_protocol::{
    BatchId, Digest, JobCategory, JobId, Keypair, Price, PublicKey, Signed, SignedPayload, TaskId,
    UnixMillis,
};

use super::deadlines::{Deadlines, Due};
use crate::metrics::{FailReason, GatewayMetrics};
use crate::net::RequestToken;
use crate::store::{
    AwardOutcome, JobRecord, JobState, NewJob, ProofRecord, Store, StoreError, TaskRecord,
    TaskSpec, TaskStatus,
};
use crate::workload::{Check, Workload};

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
pub struct GatewayCore<W: Workload> {
    supernet: Arc<SupernetConfig>,
    key: Keypair,
    store: Store,
    workload: Arc<W>,
    books: BTreeMap<BatchId, BidBook>,
    /// Open batches whose closed commit set is signed and published.
    closed: BTreeSet<BatchId>,
    /// Where proofs of provers' equivocations go.
    evidence_dir: Option<PathBuf>,
    misbehavior: Misbehavior,
    /// Each prover's latest signed announcement: a standing names its digest.
    provers: BTreeMap<PublicKey, Signed<ProverAvailability>>,
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

impl<W: Workload> GatewayCore<W> {
    /// A gateway over `store`. Call [`GatewayCore::recover`] once before the first input.
    pub fn new(
        supernet: Arc<SupernetConfig>,
        key: Keypair,
        store: Store,
        workload: Arc<W>,
    ) -> Self {
        Self {
            supernet,
            key,
            store,
            workload,
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

    /// Picks up after a restart at `now`: auctions that were running are lost with the
    /// process, so their jobs go into the next batch; assigned jobs keep their deadlines,
    /// moved later by the outage (the gateway could not take a proof while it was down);
    /// every winner is told of its assignment again, directly and by republishing its
    /// result; tasks whose jobs were all verified are aggregated.
    pub fn recover(&mut self, now: UnixMillis) -> Result<Vec<Output>, StoreError> {
        let reopened = self.store.reopen_interrupted_auctions()?;
        let since = self.store.last_beat()?.unwrap_or(now);
        let outage = now.saturating_sub(since);
        // The last beat is never earlier than a time the gateway signed (it beats whenever
        // it announces or awards): a clock set back while it was down moves nothing back.
        let now = self.clock(now.max(since));
        self.last_input = now;
        let extended =
            self.store
                .extend_deadlines(since, outage, now.saturating_add(RECOVERY_GRACE_MS))?;
        if !extended.is_empty() {
            info!(
                jobs = extended.len(),
                outage_ms = outage,
                "proving deadlines extended by the gateway's outage"
            );
        }
        self.beat(now)?;
        if let Some(epochs) =
            super::tokens::Epochs::start(&self.supernet, self.key.public(), &self.store, now)?
        {
            let ended = self.store.tokens()?.map_or(0, |s| s.ledger.epoch());
            self.tokens = Some((epochs, ended));
        }
        let unfinished = self.store.unfinished_tasks()?;
        info!(
            supernet = %self.supernet.id,
            tasks = unfinished.len(),
            reopened,
            "gateway resumed"
        );
        let mut out = Vec::new();
        let assigned = self.store.assigned_jobs()?;
        let mut results = BTreeSet::new();
        for job in &assigned {
            if let JobState::Assigned {
                batch, deadline, ..
            } = job.state
            {
                results.insert(batch);
                self.deadlines.add(deadline, Due::Job(job.id));
            }
            out.extend(self.assign(job));
        }
        for batch in results {
            if let Some(result) = self.store.batch(&batch)?.and_then(|b| b.result) {
                out.push(Output::Publish(GossipMessage::Result(result)));
            }
        }
        for task in unfinished {
            self.deadlines.add(task.deadline, Due::Task(task.id));
            self.maybe_aggregate(&task.id, now, &mut out)?;
        }
        Ok(out)
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

    /// The signed assignment of an assigned job.
    fn assignment(&self, job: &JobRecord) -> Option<Signed<JobAssignment>> {
        sign_assignment(&self.supernet.id, &self.key, job)
    }

    /// What answers the requests that only read the store, away from the core's thread.
    pub fn reader(&self) -> Reader {
        Reader {
            supernet: self.supernet.id.clone(),
            key: self.key.clone(),
            store: self.store.clone(),
        }
    }

    /// Tells an assigned job's prover of it directly.
    fn assign(&self, job: &JobRecord) -> Option<Output> {
        let assignment = self.assignment(job)?;
        let prover = assignment.payload.prover.peer_id().ok()?;
        Some(Output::Assign { prover, assignment })
    }

    /// Splits and stores a client task and its jobs. The caller flushes the store before it
    /// tells the client the task id.
    pub fn submit(
        &mut self,
        spec: TaskSpec,
        max_fee_per_job: Price,
        deadline: UnixMillis,
        now: UnixMillis,
    ) -> Result<TaskRecord, SubmitError> {
        let plans = self
            .workload
            .split(&spec)
            .map_err(|e| SubmitError::Invalid(e.to_string()));
        self.submit_split(spec, plans, max_fee_per_job, deadline, now)
    }

    /// Stores a client task whose split (`plans`, the workload's answer for `spec`) was
    /// computed elsewhere: splitting may be long (circom witnesses computed and checked), and
    /// a driver does it off the core's thread.
    pub fn submit_split(
        &mut self,
        spec: TaskSpec,
        plans: Result<Vec<crate::workload::JobPlan>, SubmitError>,
        max_fee_per_job: Price,
        deadline: UnixMillis,
        now: UnixMillis,
    ) -> Result<TaskRecord, SubmitError> {
        let now = self.clock(now);
        if max_fee_per_job == 0 {
            return Err(SubmitError::Invalid(
                "max_fee_per_job must be positive".into(),
            ));
        }
        if deadline <= now {
            return Err(SubmitError::Invalid(
                "the deadline has already passed".into(),
            ));
        }
        let plans = plans?;
        if plans.is_empty() {
            return Err(SubmitError::Invalid("the task has no work".into()));
        }
        if max_fee_per_job.checked_mul(plans.len() as u64).is_none() {
            return Err(SubmitError::Invalid(format!(
                "max_fee_per_job {max_fee_per_job} times {} jobs does not fit in 64 bits",
                plans.len()
            )));
        }
        let seq = self.store.next_task_seq()?;
        let id = task_id(&self.key.public(), seq, now);
        let mut jobs = Vec::with_capacity(plans.len());
        for (i, plan) in plans.into_iter().enumerate() {
            let terms = self
                .supernet
                .circuit(&plan.circuit)
                .and_then(|_| self.supernet.category(plan.category))
                .ok_or_else(|| {
                    SubmitError::Invalid(format!(
                        "circuit {} ({}) is not served by supernet {}",
                        plan.circuit, plan.category, self.supernet.id
                    ))
                })?;
            jobs.push(NewJob {
                record: JobRecord {
                    id: JobId::new(id, i as u32),
                    circuit: plan.circuit,
                    category: plan.category,
                    input_digest: Digest(*blake3::hash(&plan.input).as_bytes()),
                    input_size: plan.input.len() as u64,
                    reserve_price: terms.reserve_price.min(max_fee_per_job),
                    state: JobState::Open,
                    auctions: 0,
                    excluded: BTreeSet::new(),
                },
                input: plan.input,
            });
        }
        let task = TaskRecord {
            id,
            supernet: self.supernet.id.clone(),
            spec: spec.for_storage(),
            max_fee_per_job,
            deadline,
            created_at: now,
            jobs: jobs.len() as u32,
            status: TaskStatus::Proving,
            events: 0,
            verified: 0,
            fees: 0,
        };
        self.store.create_task(&task, spec.rows_apart(), &jobs)?;
        self.deadlines.add(task.deadline, Due::Task(task.id));
        self.metrics.task_submitted();
        info!(task_id = %id, jobs = task.jobs, "task stored");
        Ok(task)
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
        }
        Ok(out)
    }

    /// An aggregation came back: the task is done, or the aggregation is tried again after a
    /// backoff, up to [`AGGREGATION_ATTEMPTS`] in all, before the task fails.
    fn on_aggregated(
        &mut self,
        task: TaskId,
        result: Result<Vec<u8>, String>,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        self.aggregating.remove(&task);
        let Some(record) = self.store.task(&task)? else {
            self.retries.remove(&task);
            return Ok(());
        };
        if record.status.is_final() {
            // Failed meanwhile (the gateway lost an input): a result no longer changes it.
            self.retries.remove(&task);
            return Ok(());
        }
        let secs = now.saturating_sub(record.created_at) as f64 / 1000.0;
        match result {
            Ok(bytes) => {
                self.retries.remove(&task);
                self.store.complete_task(&task, &bytes, now)?;
                self.forget_jobs_of(&task);
                self.metrics.task_finished(true, secs);
                info!(task_id = %task, "task complete");
            }
            Err(reason) => {
                let failures = self.retries.get(&task).map_or(0, |r| r.failures) + 1;
                if failures < AGGREGATION_ATTEMPTS {
                    let wait = AGGREGATION_BACKOFF_MS.saturating_mul(1 << (failures - 1).min(16));
                    warn!(task_id = %task, %reason, failures, retry_in_ms = wait, "aggregation failed; trying again");
                    self.retries.insert(
                        task,
                        AggregationRetry {
                            failures,
                            at: now.saturating_add(wait),
                        },
                    );
                    return Ok(());
                }
                self.retries.remove(&task);
                let reason = format!("aggregation failed {failures} times: {reason}");
                warn!(task_id = %task, %reason, "task failed");
                self.fail_task(&task, &reason, now, None)?;
                self.metrics.task_finished(false, secs);
            }
        }
        out.push(Output::TaskChanged(task));
        Ok(())
    }

    /// The gateway took no input from `since` to `now`, longer than it ever should (a stall
    /// or a suspension): like an outage, nobody could hand it a proof meanwhile, so every
    /// proving deadline still running at `since` moves later by the gap, to at least
    /// [`RECOVERY_GRACE_MS`] from now, and the winners are told their new deadlines.
    fn stalled(
        &mut self,
        since: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let gap = now.saturating_sub(since);
        let extended =
            self.store
                .extend_deadlines(since, gap, now.saturating_add(RECOVERY_GRACE_MS))?;
        warn!(
            gap_ms = gap,
            jobs = extended.len(),
            "the gateway stalled; proving deadlines extended by the gap"
        );
        for job in &extended {
            if let JobState::Assigned { deadline, .. } = job.state {
                self.deadlines.add(deadline, Due::Job(job.id));
            }
            out.extend(self.assign(job));
        }
        Ok(())
    }

    /// Time passed: `arrived` is when the tick was queued (deadlines are judged by it, so a
    /// proof queued before it is always handled before its deadline is), `now` when it is
    /// handled.
    fn tick(
        &mut self,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        if now >= self.last_beat.saturating_add(HEARTBEAT_MS) {
            self.beat(now)?;
            // Forget provers long gone, so the maps stay the size of the live network.
            let gone = now.saturating_sub(10 * AVAILABILITY_TTL_MS);
            self.heard.retain(|_, at| *at >= gone);
            let heard = &self.heard;
            self.provers.retain(|k, _| heard.contains_key(k));
            self.prune(now)?;
            // Failed aggregations whose backoff is over are tried again.
            let due: Vec<TaskId> = self
                .retries
                .iter()
                .filter(|(_, r)| r.at <= now)
                .map(|(t, _)| *t)
                .collect();
            for task in due {
                self.maybe_aggregate(&task, now, out)?;
            }
        }
        // Token epochs that are over: emissions into the budget, unbonding released.
        if let Some((epochs, ended)) = &mut self.tokens
            && epochs.due(*ended, now)
        {
            let emitted = epochs.catch_up(&self.store, now)?;
            *ended = self.store.tokens()?.map_or(*ended, |s| s.ledger.epoch());
            info!(epoch = *ended, emitted, "token epoch ended");
        }
        // Missed proving deadlines and client deadlines: only what is due is read.
        for due in self.deadlines.take_due(arrived) {
            match due {
                Due::Job(id) => self.job_due(&id, arrived, now, out)?,
                Due::Task(id) => self.task_due(&id, arrived, now, out)?,
            }
        }
        // Commit windows that are over: the closed set is signed and published before any
        // auction is decided.
        let closing: Vec<BatchId> = self
            .books
            .iter()
            .filter(|(id, b)| b.commits_are_closed(now) && !self.closed.contains(*id))
            .map(|(id, _)| *id)
            .collect();
        for id in closing {
            self.close_commits(&id, out)?;
        }
        // Auctions that are decided: every committer revealed, or the grace is over.
        let closed: Vec<BatchId> = self
            .books
            .iter()
            .filter(|(_, b)| b.can_close(now))
            .map(|(id, _)| *id)
            .collect();
        for id in closed {
            if let Some(book) = self.books.remove(&id) {
                self.closed.remove(&id);
                self.award(book, now, out)?;
            }
        }
        // A new batch.
        if now >= self.next_batch_at {
            self.next_batch_at = now + self.supernet.auction.batch_interval_ms;
            self.announce(now, out)?;
        }
        Ok(())
    }

    /// Forgets finished tasks and auctions older than the retention period, a bounded number
    /// a heartbeat (a backlog, after retention is first turned on, goes over a few beats).
    fn prune(&mut self, now: UnixMillis) -> Result<(), StoreError> {
        if self.retention_ms == 0 {
            return Ok(());
        }
        let cutoff = now.saturating_sub(self.retention_ms);
        // An auction is kept at least as long as a job won in it can still be proven (its
        // result is published again on recovery while one is).
        let a = &self.supernet.auction;
        let longest = self
            .supernet
            .categories
            .iter()
            .map(|c| c.proving_deadline_ms)
            .max()
            .unwrap_or(0)
            .saturating_add(a.reveal_grace_ms)
            .saturating_add(HEARTBEAT_MS);
        let batch_cutoff = cutoff.min(now.saturating_sub(longest));
        let running: BTreeSet<BatchId> = self.books.keys().copied().collect();
        let pruned = self
            .store
            .prune(cutoff, batch_cutoff, &running, PRUNE_PER_BEAT)?;
        if pruned.tasks + pruned.batches > 0 {
            self.metrics.pruned(pruned.tasks, pruned.batches);
            debug!(
                tasks = pruned.tasks,
                batches = pruned.batches,
                "pruned what ended before the retention period"
            );
        }
        Ok(())
    }

    /// A job whose proving deadline was due: slashed, barred and reopened if it is still
    /// assigned and past its deadline. A proof that arrived in time but that the gateway is
    /// checking, or could not check, is not held against its prover; the job is looked at
    /// again a heartbeat later. Nobody is slashed for an assignment whose deadline was the
    /// task's own (the task is over, and fails now), nor for one of a task already finished:
    /// that job is cancelled.
    fn job_due(
        &mut self,
        id: &JobId,
        due_at: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(job) = self.store.job(id)? else {
            return Ok(());
        };
        let JobState::Assigned {
            prover, deadline, ..
        } = job.state
        else {
            return Ok(());
        };
        if deadline >= due_at {
            self.deadlines.add(deadline, Due::Job(job.id));
            return Ok(());
        }
        let task = self.store.task(&id.task)?;
        // A proof that came in time and could not be checked may be submitted again; for a
        // task already over, only for a while.
        let waiting = self.verifying.contains(id)
            || (self.unchecked.contains(id)
                && (task.as_ref().is_some_and(|t| !t.status.is_final())
                    || now <= deadline.saturating_add(UNCHECKED_GRACE_MS)));
        if waiting {
            self.deadlines
                .add(now.saturating_add(HEARTBEAT_MS), Due::Job(job.id));
            return Ok(());
        }
        self.unchecked.remove(id);
        match task {
            Some(task) if !task.status.is_final() && task.deadline <= deadline => {
                // The assignment ended with its task: the task fails, the job with it.
                self.task_due(&task.id, due_at, now, out)?;
                if self.store.cancel_job(id)? {
                    out.push(Output::TaskChanged(id.task));
                }
            }
            Some(task) if !task.status.is_final() => {
                warn!(job_id = %job.id, peer = %prover, "proving deadline missed");
                self.fail_job(
                    &job.id,
                    &prover,
                    FailReason::Deadline,
                    "proving deadline missed",
                    now,
                )?;
                self.unplaced.remove(id);
                out.push(Output::TaskChanged(job.id.task));
            }
            _ => {
                // Its task failed while the assignment ran; no proof came: nobody needs it.
                info!(job_id = %job.id, peer = %prover, "assignment of a failed task ended unproven; cancelled");
                if self.store.cancel_job(id)? {
                    out.push(Output::TaskChanged(id.task));
                }
            }
        }
        Ok(())
    }

    /// A task whose client deadline was due: failed if it is still unfinished, with the
    /// cause named. One being aggregated (or waiting to be again), or whose last proofs are
    /// being checked, is looked at again a heartbeat later.
    fn task_due(
        &mut self,
        id: &TaskId,
        due_at: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(task) = self.store.task(id)? else {
            return Ok(());
        };
        if task.status.is_final() {
            return Ok(());
        }
        if task.deadline >= due_at {
            self.deadlines.add(task.deadline, Due::Task(task.id));
            return Ok(());
        }
        let jobs = self.store.jobs_of(&task.id)?;
        let unproven: Vec<&JobRecord> = jobs
            .iter()
            .filter(|j| !matches!(j.state, JobState::Verified { .. }))
            .collect();
        // Every proof is in and the result is being made, or the last proofs came in time
        // and are being checked: the task is not late.
        if self.aggregating.contains(id)
            || self.retries.contains_key(id)
            || (!unproven.is_empty() && unproven.iter().all(|j| self.verifying.contains(&j.id)))
        {
            self.deadlines
                .add(now.saturating_add(HEARTBEAT_MS), Due::Task(task.id));
            return Ok(());
        }
        let reason = self.failure_reason(&task, &unproven);
        warn!(task_id = %task.id, %reason, "task failed");
        self.fail_task(&task.id, &reason, now, None)?;
        self.metrics
            .task_finished(false, now.saturating_sub(task.created_at) as f64 / 1000.0);
        out.push(Output::TaskChanged(task.id));
        Ok(())
    }

    /// Why a task whose deadline passed with `unproven` jobs failed: priced out by its own
    /// fee cap only when every one of them drew no bid at or below the cap while a prover
    /// had room; otherwise the lack of room before the deadline, jobs still being proven,
    /// or a reserve still rising toward the cap, whichever applies, with counts.
    fn failure_reason(&self, task: &TaskRecord, unproven: &[&JobRecord]) -> String {
        let cap = task.max_fee_per_job;
        let done = task.jobs as usize - unproven.len().min(task.jobs as usize);
        let passed = format!("deadline passed with {done} of {} jobs proven", task.jobs);
        let (mut capped, mut rising, mut no_room, mut bid_within, mut proving, mut other) =
            (0, 0, 0, 0, 0, 0);
        for job in unproven {
            match (&job.state, self.unplaced.get(&job.id)) {
                (JobState::Assigned { .. }, _) => proving += 1,
                (_, Some(Unplaced::Priced { reserve })) if *reserve >= cap => capped += 1,
                (_, Some(Unplaced::Priced { .. })) => rising += 1,
                (_, Some(Unplaced::NoRoom { bid_within: b })) => {
                    no_room += 1;
                    bid_within += usize::from(*b);
                }
                // Never offered: no prover had room for it while the deadline allowed.
                (JobState::Open, None) if job.auctions == 0 => no_room += 1,
                _ => other += 1,
            }
        }
        let n = unproven.len();
        if capped == n && n > 0 && !self.provers.is_empty() {
            return format!(
                "{FEE_CAP_TOO_LOW} of {cap} per job (max_fee_per_job): {passed}; a higher cap \
                 may find provers"
            );
        }
        let mut details = Vec::new();
        if no_room > 0 {
            let mut d = format!("{no_room} waited for a prover with room");
            if bid_within > 0 {
                d.push_str(&format!(
                    " ({bid_within} drew bids at or below the fee cap of {cap})"
                ));
            }
            details.push(d);
        }
        if proving > 0 {
            details.push(format!("{proving} still being proven"));
        }
        if capped > 0 {
            details.push(format!(
                "{capped} drew no bid at or below the fee cap of {cap}"
            ));
        }
        if rising > 0 {
            details.push(format!(
                "{rising} drew no bid within a reserve still rising toward the fee cap of {cap}"
            ));
        }
        if other > 0 {
            details.push(format!("{other} not placed"));
        }
        let details = details.join(", ");
        if no_room > 0 {
            format!("{NO_ROOM_BEFORE_DEADLINE}: {passed}; {details}; a later deadline may fit")
        } else if details.is_empty() {
            passed
        } else {
            format!("{passed}; {details}")
        }
    }

    /// Signs, stores and publishes the closed commit set of an open batch.
    fn close_commits(&mut self, id: &BatchId, out: &mut Vec<Output>) -> Result<(), StoreError> {
        let Some(book) = self.books.get(id) else {
            return Ok(());
        };
        let mut set = book.closed_set();
        if let Some(late) = self.misbehavior.late_commit_of
            && let Some(commit) = book.commits().iter().find(|c| c.signer == late)
        {
            set.commits.retain(|d| *d != commit.digest());
        }
        let closed = Signed::sign(set, &self.key);
        self.store.close_commits(&closed)?;
        self.closed.insert(*id);
        debug!(batch_id = %id, commits = closed.payload.commits.len(), "commits closed");
        out.push(Output::Publish(GossipMessage::CommitsClosed(closed)));
        Ok(())
    }

    /// Fails a task (once). Its assignments still running, or whose proof came in time and
    /// is being (or could not be) checked, are kept: a valid proof under them is still paid.
    /// `lost` is an assigned job that cannot be proven (its input is gone): it is cancelled.
    fn fail_task(
        &mut self,
        task: &TaskId,
        reason: &str,
        now: UnixMillis,
        lost: Option<&JobId>,
    ) -> Result<(), StoreError> {
        if self.store.task(task)?.is_none_or(|t| t.status.is_final()) {
            return Ok(());
        }
        let mut kept = BTreeSet::new();
        for job in self.store.jobs_of(task)? {
            if let JobState::Assigned { deadline, .. } = job.state
                && Some(&job.id) != lost
                && (deadline >= now
                    || self.verifying.contains(&job.id)
                    || self.unchecked.contains(&job.id))
            {
                kept.insert(job.id);
            }
        }
        self.store.fail_task_keeping(task, reason, now, &kept)?;
        self.unchecked
            .retain(|j| j.task != *task || kept.contains(j));
        self.retries.remove(task);
        self.forget_jobs_of(task);
        if !kept.is_empty() {
            info!(task_id = %task, jobs = kept.len(), "task failed; its running assignments are honoured");
        }
        Ok(())
    }

    /// Forgets why a finished task's jobs went unawarded.
    fn forget_jobs_of(&mut self, task: &TaskId) {
        let first = JobId::new(*task, 0);
        let last = JobId::new(*task, u32::MAX);
        let ids: Vec<JobId> = self.unplaced.range(first..=last).map(|(j, _)| *j).collect();
        for id in ids {
            self.unplaced.remove(&id);
        }
    }

    /// Provers heard from recently, on the allowlist and with enough stake: the ones that
    /// can take jobs now.
    fn live_provers(
        &self,
        now: UnixMillis,
    ) -> impl Iterator<Item = (&PublicKey, &Signed<ProverAvailability>)> {
        self.provers.iter().filter(move |(key, _)| {
            self.heard
                .get(*key)
                .is_some_and(|at| now.saturating_sub(*at) <= AVAILABILITY_TTL_MS)
        })
    }

    /// Jobs each prover holds now.
    fn in_flight(&self) -> Result<BTreeMap<PublicKey, u32>, StoreError> {
        let mut in_flight: BTreeMap<PublicKey, u32> = BTreeMap::new();
        for job in self.store.assigned_jobs()? {
            if let JobState::Assigned { prover, .. } = job.state {
                *in_flight.entry(prover).or_default() += 1;
            }
        }
        Ok(in_flight)
    }

    /// How many jobs of each category the next batch may offer: the free capacity of the
    /// live, eligible provers that serve it, less the jobs already in running auctions. A
    /// job is only offered when some prover has room for it.
    fn offer_budget(&self, now: UnixMillis) -> Result<BTreeMap<JobCategory, usize>, StoreError> {
        let in_flight = self.in_flight()?;
        let min_stake = self.supernet.economics.min_stake;
        let mut budget: BTreeMap<JobCategory, usize> = BTreeMap::new();
        for (key, avail) in self.live_provers(now) {
            let allowed = key.peer_id().is_ok_and(|p| self.supernet.is_allowed(&p));
            let staked = self
                .store
                .account(key)?
                .is_some_and(|a| a.stake >= min_stake);
            if !allowed || !staked {
                continue;
            }
            let free = avail
                .payload
                .capacity
                .saturating_sub(in_flight.get(key).copied().unwrap_or(0));
            for category in &avail.payload.categories {
                *budget.entry(*category).or_default() += free as usize;
            }
        }
        for book in self.books.values() {
            for spec in &book.batch().jobs {
                if let Some(n) = budget.get_mut(&spec.category) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        Ok(budget)
    }

    fn announce(&mut self, now: UnixMillis, out: &mut Vec<Output>) -> Result<(), StoreError> {
        let max = self.supernet.auction.max_jobs_per_batch as usize;
        let mut budget = self.offer_budget(now)?;
        if budget.values().all(|n| *n == 0) {
            return Ok(());
        }
        let commit_deadline = now + self.supernet.auction.commit_window_ms;
        let reveal_deadline = commit_deadline + self.supernet.auction.reveal_window_ms;
        // The proving window each job can be given: its category's, cut to what its task's
        // deadline leaves after the auction; none (not offered) below the minimum share.
        let supernet = self.supernet.clone();
        let store = &self.store;
        let mut task_deadlines: BTreeMap<TaskId, Option<UnixMillis>> = BTreeMap::new();
        let mut read_error = None;
        let mut window_of = |j: &JobRecord| -> Option<u64> {
            let full = supernet.category(j.category)?.proving_deadline_ms;
            let deadline = (*task_deadlines.entry(j.id.task).or_insert_with(|| {
                match store.task(&j.id.task) {
                    Ok(t) => t.filter(|t| !t.status.is_final()).map(|t| t.deadline),
                    Err(e) => {
                        read_error.get_or_insert(e);
                        None
                    }
                }
            }))?;
            let left = deadline.saturating_sub(reveal_deadline);
            let least = (full.saturating_mul(MIN_PROVING_PERCENT) / 100).max(1);
            (left >= least).then_some(left.min(full))
        };
        let mut windows = BTreeMap::new();
        // Look past jobs of a category nobody has room for (or whose task's deadline is too
        // near), so they do not hold back one that somebody can take.
        let jobs = self.store.open_jobs_where(OFFER_SCAN, max, |j| {
            match budget.get_mut(&j.category) {
                Some(n) if *n > 0 => {}
                _ => return false,
            }
            let Some(window) = window_of(j) else {
                return false;
            };
            if let Some(n) = budget.get_mut(&j.category) {
                *n -= 1;
            }
            windows.insert(j.id, window);
            true
        })?;
        if let Some(e) = read_error {
            return Err(e);
        }
        if jobs.is_empty() {
            return Ok(());
        }
        self.beat_if_later(now)?;
        let seq = self.store.next_batch_seq()?;
        let specs = jobs
            .iter()
            .map(|j| JobSpec {
                job_id: j.id,
                circuit: j.circuit.clone(),
                category: j.category,
                reserve_price: j.reserve_price,
                proving_window_ms: windows.get(&j.id).copied().unwrap_or(0),
                input_digest: j.input_digest,
                input_size: j.input_size,
            })
            .collect();
        let batch = Signed::sign(
            BatchAnnouncement {
                supernet: self.supernet.id.clone(),
                batch_id: BatchId::derive(&self.supernet.id, &self.key.public(), seq),
                seq,
                jobs: specs,
                announced_at: now,
                commit_deadline,
                reveal_deadline,
            },
            &self.key,
        );
        self.store.offer_batch(&batch, now)?;
        self.metrics.batch();
        info!(batch_id = %batch.payload.batch_id, jobs = jobs.len(), "batch announced");
        let tasks: BTreeSet<TaskId> = jobs
            .iter()
            .filter(|j| j.auctions == 0)
            .map(|j| j.id.task)
            .collect();
        out.extend(tasks.into_iter().map(Output::TaskChanged));
        self.books.insert(
            batch.payload.batch_id,
            BidBook::new(&batch).with_reveal_grace(self.supernet.auction.reveal_grace_ms),
        );
        out.push(Output::Publish(GossipMessage::Batch(batch)));
        Ok(())
    }

    /// The eligibility snapshot for `batch`: standing of every live prover, and the provers
    /// barred from each job. A job that left the auction while it ran (its task ended) is
    /// listed once as cancelled, barred to everyone, so the rule itself leaves it unawarded
    /// and any peer recomputing the award agrees (and the transcript does not grow with the
    /// number of provers).
    fn eligibility(
        &self,
        batch: &BatchAnnouncement,
        now: UnixMillis,
    ) -> Result<Eligibility, StoreError> {
        let in_flight = self.in_flight()?;
        let mut provers = BTreeMap::new();
        for (key, avail) in self.live_provers(now) {
            let stake = self.store.account(key)?.map_or(0, |a| a.stake);
            let allowlisted = key
                .peer_id()
                .is_ok_and(|peer| self.supernet.is_allowed(&peer));
            // Every job a prover holds at once is backed by the minimum stake.
            let capacity = avail
                .payload
                .capacity
                .min(backed_slots(stake, self.supernet.economics.min_stake));
            provers.insert(
                *key,
                ProverStanding {
                    allowlisted,
                    stake,
                    free_capacity: capacity
                        .saturating_sub(in_flight.get(key).copied().unwrap_or(0)),
                    categories: avail.payload.categories.iter().copied().collect(),
                    announcement: avail.digest(),
                },
            );
        }
        if let Some((prover, room)) = self.misbehavior.inflate_capacity_of
            && let Some(standing) = provers.get_mut(&prover)
        {
            standing.free_capacity = room;
        }
        let mut excluded = BTreeMap::new();
        let mut cancelled = BTreeSet::new();
        for spec in &batch.jobs {
            let Some(job) = self.store.job(&spec.job_id)? else {
                continue;
            };
            if job.state
                != (JobState::Auctioning {
                    batch: batch.batch_id,
                })
            {
                cancelled.insert(spec.job_id);
            } else if !job.excluded.is_empty() {
                excluded.insert(spec.job_id, job.excluded);
            }
        }
        Ok(Eligibility {
            min_stake: self.supernet.economics.min_stake,
            provers,
            excluded,
            cancelled,
        })
    }

    fn award(
        &mut self,
        book: BidBook,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let batch = book.batch().clone();
        self.beat_if_later(now)?;
        let eligibility = self.eligibility(&batch, now)?;
        let award = match book.award(&eligibility) {
            Ok(a) => a,
            Err(e) => {
                // The book only holds checked, unique bids, so this is a bug; re-auction.
                warn!(batch_id = %batch.batch_id, error = %e, "award failed; reopening jobs");
                lagrange_protocol::auction::Award {
                    awarded: vec![],
                    unawarded: batch.jobs.iter().map(|j| j.job_id).collect(),
                    non_revealers: vec![],
                    transcript_hash: Digest([0; 32]),
                }
            }
        };
        self.watch_for_silence(&book, &eligibility, &batch);
        let able = |s: &ProverStanding, category: Option<JobCategory>| {
            s.allowlisted
                && s.stake >= eligibility.min_stake
                && category.is_some_and(|c| s.categories.contains(&c))
        };
        // Room each eligible prover has left once this batch's awards are counted.
        let mut room: BTreeMap<PublicKey, u32> = eligibility
            .provers
            .iter()
            .map(|(k, s)| (*k, s.free_capacity))
            .collect();
        // The lowest price revealed for each job.
        let mut lowest_bid: BTreeMap<JobId, Price> = BTreeMap::new();
        for r in book.reveals() {
            for b in &r.payload.bids {
                let p = lowest_bid.entry(b.job_id).or_insert(b.price);
                *p = (*p).min(b.price);
            }
        }
        let mut outcomes = Vec::new();
        for won in &award.awarded {
            if let Some(n) = room.get_mut(&won.prover) {
                *n = n.saturating_sub(1);
            }
            let window = batch.job(&won.job_id).map_or(0, |s| s.proving_window_ms);
            // The assignment never outlives its task: a task cannot fail while a prover
            // still has time under the gateway's word.
            let task_deadline = self
                .store
                .task(&won.job_id.task)?
                .map_or(UnixMillis::MAX, |t| t.deadline);
            self.unplaced.remove(&won.job_id);
            outcomes.push(AwardOutcome::Assigned {
                job: won.job_id,
                prover: won.prover,
                price: won.price,
                deadline: now.saturating_add(window).min(task_deadline),
            });
            info!(
                batch_id = %batch.batch_id,
                job_id = %won.job_id,
                peer = %won.prover,
                price = won.price,
                "job awarded"
            );
        }
        for job in &award.unawarded {
            let task = self.store.task(&job.task)?;
            let live = task.as_ref().is_some_and(|t| !t.status.is_final());
            let max_fee = task.map_or(0, |t| t.max_fee_per_job);
            let current = batch.job(job).map_or(0, |s| s.reserve_price);
            let category = batch.job(job).map(|s| s.category);
            let barred = eligibility.excluded.get(job);
            // Raise the reserve only if a prover able to take the job had room left and
            // still did not win it: its price was too high. A job that waits for a busy
            // prover keeps its price.
            let priced_out = eligibility.provers.iter().any(|(p, s)| {
                able(s, category)
                    && room.get(p).is_some_and(|n| *n > 0)
                    && !barred.is_some_and(|b| b.contains(p))
            });
            let next_reserve = if priced_out {
                raise(current).min(max_fee).max(current)
            } else {
                current
            };
            // Once a prover bid within the reserve, the price is not the problem (a reserve
            // only rises).
            let bid_within = lowest_bid.get(job).is_some_and(|p| *p <= current)
                || matches!(
                    self.unplaced.get(job),
                    Some(Unplaced::NoRoom { bid_within: true })
                );
            if live {
                self.unplaced.insert(
                    *job,
                    if priced_out && !bid_within {
                        Unplaced::Priced {
                            reserve: next_reserve,
                        }
                    } else {
                        Unplaced::NoRoom { bid_within }
                    },
                );
            }
            // A job every prover that could take it has failed once would never be awarded
            // again: lift its bars. Those provers were slashed already, and stake below
            // the minimum keeps a repeat offender out for good.
            let lift_bars = barred.is_some_and(|barred| {
                eligibility
                    .provers
                    .iter()
                    .filter(|(_, s)| able(s, category))
                    .all(|(p, _)| barred.contains(p))
            });
            outcomes.push(AwardOutcome::Unawarded {
                job: *job,
                next_reserve,
                lift_bars,
            });
        }
        for prover in &award.non_revealers {
            warn!(batch_id = %batch.batch_id, peer = %prover, "committed without revealing");
        }
        self.metrics.auction(
            award.awarded.len(),
            award.unawarded.len(),
            award.non_revealers.len(),
        );
        let result = Signed::sign(AuctionResult::new(&batch, award), &self.key);
        self.store.record_award(
            &result,
            &eligibility,
            &outcomes,
            self.supernet.economics.non_reveal_penalty,
            now,
        )?;
        for won in &result.payload.award.awarded {
            if let Some(job) = self.store.job(&won.job_id)? {
                if let JobState::Assigned { deadline, .. } = job.state {
                    self.deadlines.add(deadline, Due::Job(job.id));
                }
                out.extend(self.assign(&job));
            }
        }
        let tasks: BTreeSet<TaskId> = batch.jobs.iter().map(|j| j.job_id.task).collect();
        out.extend(tasks.into_iter().map(Output::TaskChanged));
        out.push(Output::Publish(GossipMessage::Result(result)));
        Ok(())
    }

    /// Warns when batch after batch draws no commit although provers with room are known:
    /// the provers are probably not reaching this gateway (or it them).
    fn watch_for_silence(
        &mut self,
        book: &BidBook,
        eligibility: &Eligibility,
        batch: &BatchAnnouncement,
    ) {
        let someone_had_room = eligibility.provers.values().any(|s| {
            s.allowlisted
                && s.stake >= eligibility.min_stake
                && s.free_capacity > 0
                && batch
                    .jobs
                    .iter()
                    .any(|j| s.categories.contains(&j.category))
        });
        if !book.commits().is_empty() || !someone_had_room {
            self.quiet_batches = 0;
            return;
        }
        self.quiet_batches += 1;
        if self.quiet_batches.is_multiple_of(QUIET_BATCHES_WARNING) {
            warn!(
                batch_id = %batch.batch_id,
                batches = self.quiet_batches,
                provers = eligibility.provers.len(),
                "batches draw no bids although provers with room are known: are they reaching this gateway?"
            );
        }
    }

    fn on_gossip(
        &mut self,
        message: GossipMessage,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        match message {
            bid @ (GossipMessage::Commit(_) | GossipMessage::Reveal(_)) => {
                if let Err(reason) = self.accept_bid(bid, arrived, out)? {
                    debug!(%reason, "bid refused");
                }
            }
            GossipMessage::Availability(a) => {
                // A key with neither an account nor a recorded stake has no place in the
                // auction: its announcement is not kept (nor is an account opened for it).
                let initial = a
                    .signer
                    .peer_id()
                    .map_or(0, |peer| self.supernet.initial_stake(&peer));
                if initial == 0 && self.store.account(&a.signer)?.is_none() {
                    return Ok(());
                }
                let newer = self
                    .provers
                    .get(&a.signer)
                    .is_none_or(|old| old.payload.announced_at < a.payload.announced_at);
                // Liveness is judged on the gateway's clock: any signed announcement counts,
                // even one whose (prover-chosen) time went backwards.
                self.heard.insert(a.signer, now);
                if newer {
                    self.store.ensure_account(&a.signer, initial)?;
                    self.provers.insert(a.signer, a);
                }
            }
            // Other gateways' batches, closed sets and results are for provers and auditors.
            GossipMessage::Batch(_)
            | GossipMessage::Result(_)
            | GossipMessage::CommitsClosed(_) => {}
        }
        Ok(())
    }

    /// Puts a commit or reveal whose signature has been checked into its batch's book and,
    /// if the book takes it, into the store. The inner result says why a bid was refused.
    /// A second, different commit from one prover is refused and kept as evidence. `arrived`
    /// is when the bid reached the gateway; a commit that comes after the batch's closed set
    /// was signed is refused whenever it arrived, so the award never counts a commit the
    /// signed set left out.
    fn accept_bid(
        &mut self,
        bid: GossipMessage,
        arrived: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<Result<(), String>, StoreError> {
        let no_auction = || Err("no open auction for this batch".to_string());
        match bid {
            GossipMessage::Commit(c) => {
                let Some(book) = self.books.get_mut(&c.payload.batch_id) else {
                    return Ok(no_auction());
                };
                if self.misbehavior.omit_commits_of == Some(c.signer) {
                    return Ok(Ok(()));
                }
                if self.closed.contains(&c.payload.batch_id) {
                    return Ok(Err("the batch's commit set is already closed".into()));
                }
                // Only staked provers fill the batch's commit slots.
                let min_stake = self.supernet.economics.min_stake;
                let stake = self.store.account(&c.signer)?.map_or(0, |a| a.stake);
                if stake < min_stake || stake == 0 {
                    self.metrics.bid(false, false);
                    return Ok(Err(format!(
                        "stake {stake} is below the minimum {min_stake}: no commit taken"
                    )));
                }
                // The strict signature check, whatever checked the message before: only a
                // bid every auditor accepts the same way goes into a transcript.
                let accepted = book.accept_commit(c.clone(), arrived);
                self.metrics.bid(false, accepted.is_ok());
                match accepted {
                    Ok(evicted) => {
                        // A full batch keeps its best-ranked commits: one of worse rank left.
                        if let Some(out) = evicted {
                            debug!(batch_id = %c.payload.batch_id, peer = %out, "commit outranked");
                            self.store.remove_commit(&c.payload.batch_id, &out)?;
                        }
                        self.store.put_commit(&c).map(Ok)
                    }
                    Err(e @ BidError::Duplicate(_)) => {
                        let held = book.commit_of(&c.signer).cloned();
                        if let Some(evidence) =
                            held.and_then(|held| Equivocation::new(held, c).ok())
                        {
                            warn!(
                                batch_id = %evidence.first.payload.batch_id,
                                peer = %evidence.first.signer,
                                "prover equivocated: a second, different commit for one batch"
                            );
                            self.metrics.equivocation();
                            out.push(Output::Equivocation {
                                evidence: Box::new(evidence),
                                dir: self.evidence_dir.clone(),
                            });
                        }
                        Ok(Err(e.to_string()))
                    }
                    Err(e) => Ok(Err(e.to_string())),
                }
            }
            GossipMessage::Reveal(r) => {
                let Some(book) = self.books.get_mut(&r.payload.batch_id) else {
                    return Ok(no_auction());
                };
                if self.misbehavior.drop_reveals_of == Some(r.signer) {
                    return Ok(Ok(()));
                }
                let accepted = book.accept_reveal(r.clone(), arrived);
                self.metrics.bid(true, accepted.is_ok());
                match accepted {
                    Ok(()) => self.store.put_reveal(&r).map(Ok),
                    Err(e) => Ok(Err(e.to_string())),
                }
            }
            _ => Ok(Err("not a bid".into())),
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        token: RequestToken,
        request: Request,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let refuse = |reason: String| Output::Respond {
            token,
            response: Response::Refused { reason },
        };
        let signed_by_peer = |signer: &PublicKey| signer.peer_id().is_ok_and(|p| p == peer);
        match request {
            Request::Commit(_) | Request::Reveal(_) => {
                // The signature itself is checked once, strictly, as the book takes the bid.
                let (receipt, bid) = match request {
                    Request::Commit(c) => (
                        receipt(&c, c.payload.batch_id, BidKind::Commit),
                        GossipMessage::Commit(c),
                    ),
                    Request::Reveal(r) => (
                        receipt(&r, r.payload.batch_id, BidKind::Reveal),
                        GossipMessage::Reveal(r),
                    ),
                    _ => return Ok(()),
                };
                let verdict = if !signed_by_peer(&receipt.bidder) {
                    Err("bid not signed by its sender".to_string())
                } else {
                    self.accept_bid(bid, arrived, out)?
                };
                // An accepted bid gets a signed receipt: evidence, should the award ignore it.
                out.push(match verdict {
                    Ok(()) => Output::Respond {
                        token,
                        response: Response::Receipt(Signed::sign(receipt, &self.key)),
                    },
                    Err(reason) => refuse(reason),
                });
            }
            Request::Transcript { .. } | Request::Assignments { .. } => {
                // A driver serves these itself (see [`Reader`]); a caller that hands them to
                // the core gets the same answer.
                if let Some(response) = self.reader().answer(peer, &request)? {
                    out.push(Output::Respond { token, response });
                }
            }
            Request::JobInput { job_id, .. } => {
                let answer = self.job_input(peer, token, job_id, now, out)?;
                out.push(answer);
            }
            Request::SubmitProof(submission) => {
                if !signed_by_peer(&submission.signer) || submission.verify().is_err() {
                    out.push(refuse("submission not signed by its sender".into()));
                    return Ok(());
                }
                self.on_submission(token, submission, arrived, now, out)?;
            }
            Request::CatchUp { .. } => {
                // The gateway re-signs nothing: it serves its own signed announcements.
                let batches = self
                    .books
                    .keys()
                    .filter_map(|id| self.store.batch(id).ok().flatten())
                    .map(|b| b.batch)
                    .collect();
                out.push(Output::Respond {
                    token,
                    response: Response::CatchUp { batches },
                });
            }
            Request::Assign(_) => out.push(refuse("a gateway is not assigned jobs".into())),
        }
        Ok(())
    }

    fn job_input(
        &mut self,
        peer: PeerId,
        token: RequestToken,
        job_id: JobId,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<Output, StoreError> {
        let refuse = |reason: &str| Output::Respond {
            token,
            response: Response::Refused {
                reason: reason.into(),
            },
        };
        let Some(job) = self.store.job(&job_id)? else {
            return Ok(refuse("unknown job"));
        };
        let JobState::Assigned { prover, .. } = job.state else {
            return Ok(refuse("job is not assigned"));
        };
        if prover.peer_id().ok() != Some(peer) {
            return Ok(refuse("job is assigned to another prover"));
        }
        let Some(input) = self.store.input(&job_id)? else {
            // The gateway lost it: its fault, so the task fails and the prover is free.
            let reason = format!("the gateway lost the input of job {job_id}");
            error!(job_id = %job_id, "job input missing from the store; failing its task");
            self.fail_task(&job_id.task, &reason, now, Some(&job_id))?;
            out.push(Output::TaskChanged(job_id.task));
            return Ok(refuse(&reason));
        };
        let Some(assignment) = self.assignment(&job) else {
            return Ok(refuse("job is not assigned"));
        };
        Ok(Output::Respond {
            token,
            response: Response::JobInput { assignment, input },
        })
    }

    fn verdict(
        &self,
        token: RequestToken,
        job: JobId,
        prover: PublicKey,
        outcome: ProofOutcome,
    ) -> Output {
        Output::Respond {
            token,
            response: Response::Verdict(Signed::sign(
                ProofVerdict {
                    supernet: self.supernet.id.clone(),
                    job_id: job,
                    prover,
                    outcome,
                },
                &self.key,
            )),
        }
    }

    /// A proof that `arrived` at the gateway: late only if it arrived after the deadline,
    /// however long it waited to be handled.
    fn on_submission(
        &mut self,
        token: RequestToken,
        submission: Signed<ProofSubmission>,
        arrived: UnixMillis,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let job_id = submission.payload.job_id;
        let prover = submission.signer;
        let Some(job) = self.store.job(&job_id)? else {
            out.push(self.verdict(token, job_id, prover, ProofOutcome::NotAssigned));
            return Ok(());
        };
        match job.state {
            JobState::Assigned {
                prover: p,
                deadline,
                ..
            } if p == prover => {
                // A proof the gateway could not check in time is not late when it comes back.
                if arrived > deadline && !self.unchecked.contains(&job_id) {
                    self.fail_job(
                        &job_id,
                        &prover,
                        FailReason::Late,
                        "proof arrived after the deadline",
                        now,
                    )?;
                    out.push(Output::TaskChanged(job_id.task));
                    out.push(self.verdict(token, job_id, prover, ProofOutcome::Late));
                } else if self.verifying.contains(&job_id) {
                    out.push(Output::Respond {
                        token,
                        response: Response::Refused {
                            reason: "a proof for this job is already being verified".into(),
                        },
                    });
                } else if let Some(input) = self.store.input(&job_id)? {
                    self.verifying.insert(job_id);
                    out.push(Output::Verify {
                        token,
                        job,
                        input,
                        submission,
                    });
                } else {
                    // The gateway lost what it would check the proof against: its fault, so
                    // the task fails and the prover keeps its stake.
                    let reason = format!("the gateway lost the input of job {job_id}");
                    error!(job_id = %job_id, "job input missing from the store; failing its task");
                    self.fail_task(&job_id.task, &reason, now, Some(&job_id))?;
                    out.push(Output::TaskChanged(job_id.task));
                    out.push(Output::Respond {
                        token,
                        response: Response::Refused { reason },
                    });
                }
            }
            _ => out.push(self.verdict(token, job_id, prover, ProofOutcome::NotAssigned)),
        }
        Ok(())
    }

    fn on_verified(
        &mut self,
        token: RequestToken,
        submission: Signed<ProofSubmission>,
        outcome: Check,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let job_id = submission.payload.job_id;
        let prover = submission.signer;
        self.verifying.remove(&job_id);
        match outcome {
            Check::Valid => {
                let record = ProofRecord {
                    prover,
                    proof: submission.payload.proof.clone(),
                    public_inputs: submission.payload.public_inputs.clone(),
                };
                let assigned_at = match self.store.job(&job_id)? {
                    Some(JobRecord {
                        category,
                        state: JobState::Assigned { deadline, .. },
                        ..
                    }) => {
                        let window = self
                            .supernet
                            .category(category)
                            .map_or(0, |c| c.proving_deadline_ms);
                        Some((category, deadline.saturating_sub(window)))
                    }
                    _ => None,
                };
                match self.store.credit_proof(&job_id, &record, now) {
                    Ok(paid) => {
                        self.unchecked.remove(&job_id);
                        if let Some((category, at)) = assigned_at {
                            let secs = now.saturating_sub(at) as f64 / 1000.0;
                            self.metrics.proof_valid(category, paid, secs);
                        }
                        info!(job_id = %job_id, peer = %prover, paid, "proof verified, prover paid");
                        out.push(self.verdict(
                            token,
                            job_id,
                            prover,
                            ProofOutcome::Accepted { paid },
                        ));
                        out.push(Output::TaskChanged(job_id.task));
                        self.maybe_aggregate(&job_id.task, now, out)?;
                    }
                    Err(StoreError::NotAssigned { .. }) => {
                        out.push(self.verdict(token, job_id, prover, ProofOutcome::NotAssigned));
                    }
                    Err(e @ (StoreError::Overflow(_) | StoreError::Tokens(_))) => {
                        // The gateway cannot pay: its problem, not the prover's. The proof
                        // came in time, so the deadline is not held against it.
                        error!(job_id = %job_id, peer = %prover, error = %e, "cannot pay a valid proof");
                        self.unchecked.insert(job_id);
                        out.push(Output::Respond {
                            token,
                            response: Response::Refused {
                                reason: format!("the gateway cannot pay for this proof: {e}"),
                            },
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            Check::Invalid(reason) => {
                warn!(job_id = %job_id, peer = %prover, %reason, "invalid proof");
                self.metrics.proof_invalid();
                let text = format!("invalid proof: {reason}");
                match self.fail_job(&job_id, &prover, FailReason::Invalid, &text, now) {
                    Ok(()) | Err(StoreError::NotAssigned { .. }) => {}
                    Err(e) => return Err(e),
                }
                self.unchecked.remove(&job_id);
                out.push(Output::TaskChanged(job_id.task));
                out.push(self.verdict(token, job_id, prover, ProofOutcome::Rejected { reason }));
            }
            Check::Unchecked(reason) => {
                // Nobody's fault that can be shown: no penalty, and the deadline is not held
                // against a proof that came in time. The prover submits again.
                warn!(job_id = %job_id, peer = %prover, %reason, "could not check a proof; the prover may resubmit");
                self.unchecked.insert(job_id);
                out.push(Output::Respond {
                    token,
                    response: Response::Refused {
                        reason: format!(
                            "the gateway could not check this proof, submit again: {reason}"
                        ),
                    },
                });
            }
        }
        Ok(())
    }

    /// Slashes `prover` for failing `job` and reopens the job for auction.
    fn fail_job(
        &self,
        job: &JobId,
        prover: &PublicKey,
        reason: FailReason,
        text: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let slash = self.supernet.economics.slash_amount;
        let cut = self.store.fail_job(job, prover, slash, text, now)?;
        self.metrics.job_failed(reason, cut);
        Ok(())
    }

    /// Asks for a task's aggregation once all its jobs are verified (and, after a failed
    /// aggregation, once its backoff is over).
    fn maybe_aggregate(
        &mut self,
        task: &TaskId,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(record) = self.store.task(task)? else {
            self.retries.remove(task);
            return Ok(());
        };
        if record.status.is_final()
            || self.aggregating.contains(task)
            || record.verified < record.jobs
            || self.retries.get(task).is_some_and(|r| r.at > now)
        {
            return Ok(());
        }
        let jobs = self.store.jobs_of(task)?;
        if !jobs
            .iter()
            .all(|j| matches!(j.state, JobState::Verified { .. }))
        {
            return Ok(());
        }
        let mut proofs = Vec::with_capacity(jobs.len());
        for job in jobs {
            let input = self.store.input(&job.id)?.unwrap_or_default();
            let Some(proof) = self.store.proof(&job.id)? else {
                return Ok(());
            };
            proofs.push((job, input, proof));
        }
        self.aggregating.insert(*task);
        // The aggregation needs the whole spec (a query's rows), read once, here.
        let mut record = record;
        if let Some(spec) = self.store.task_spec(task)? {
            record.spec = spec;
        }
        out.push(Output::Aggregate {
            task: record,
            proofs,
        });
        Ok(())
    }
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

impl Reader {
    /// Whether `request` is one this answers.
    pub fn serves(request: &Request) -> bool {
        matches!(
            request,
            Request::Transcript { .. } | Request::Assignments { .. }
        )
    }

    /// The answer to `request` from `peer` (the transport's authenticated sender), or none
    /// if it is not one this answers.
    pub fn answer(&self, peer: PeerId, request: &Request) -> Result<Option<Response>, StoreError> {
        Ok(Some(match request {
            Request::Transcript { batch_id, .. } => match self.store.transcript(batch_id)? {
                Some(t) => Response::Transcript(Box::new(t)),
                None => Response::Refused {
                    reason: format!(
                        "no transcript for batch {batch_id} (not awarded, or past the retention period)"
                    ),
                },
            },
            Request::Assignments { .. } => {
                let mut assignments = Vec::new();
                for job in self.store.assigned_jobs()? {
                    let mine = matches!(job.state, JobState::Assigned { prover, .. }
                        if prover.peer_id().is_ok_and(|p| p == peer));
                    if mine && let Some(a) = sign_assignment(&self.supernet, &self.key, &job) {
                        assignments.push(a);
                        if assignments.len() == MAX_ASSIGNMENTS {
                            break;
                        }
                    }
                }
                Response::Assignments { assignments }
            }
            _ => return Ok(None),
        }))
    }
}

/// The signed assignment of an assigned job.
fn sign_assignment(
    supernet: &lagrange_protocol::SupernetId,
    key: &Keypair,
    job: &JobRecord,
) -> Option<Signed<JobAssignment>> {
    let JobState::Assigned {
        batch,
        prover,
        price,
        deadline,
    } = job.state
    else {
        return None;
    };
    Some(Signed::sign(
        JobAssignment {
            supernet: supernet.clone(),
            batch_id: batch,
            job_id: job.id,
            circuit: job.circuit.clone(),
            prover,
            price,
            input_digest: job.input_digest,
            proving_deadline: deadline,
        },
        key,
    ))
}

/// A reserve raised by [`RESERVE_RAISE_PERCENT`], rounded up, saturating at `u64::MAX`.
fn raise(current: Price) -> Price {
    let raised = (u128::from(current) * u128::from(100 + RESERVE_RAISE_PERCENT)).div_ceil(100);
    u64::try_from(raised).unwrap_or(u64::MAX)
}

fn task_id(gateway: &PublicKey, seq: u64, now: UnixMillis) -> TaskId {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 task id");
    h.update(gateway.as_bytes());
    h.update(&seq.to_le_bytes());
    h.update(&now.to_le_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    TaskId(id)
}

/// The receipt for a bid of batch `batch_id`: who signed it, its digest.
fn receipt<T: SignedPayload>(bid: &Signed<T>, batch_id: BatchId, kind: BidKind) -> BidReceipt {
    BidReceipt {
        supernet: bid.payload.supernet().clone(),
        batch_id,
        kind,
        bidder: bid.signer,
        bid: bid.digest(),
    }
}
