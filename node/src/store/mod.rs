//! The gateway's durable state in sled. This module is the one place that knows the layout.
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `tasks` | task id (16) | [`TaskRecord`] |
//! | `jobs` | task id (16) ‖ index (u32 BE) | [`JobRecord`] |
//! | `job_index` | `o` ‖ job key, or `a` ‖ job key | empty: jobs waiting for a batch (`o`) and jobs assigned to a prover (`a`) |
//! | `job_index` | `n` ‖ state (1) | u64 BE: how many jobs are in that state (`n` alone: the counts are complete) |
//! | `live` | task id | empty: tasks neither done nor failed |
//! | `task_ages` | created at (u64 BE) ‖ task id | empty: every task by creation, for paging ([`Store::tasks_newest_first`]) |
//! | `inputs` | job key | the job's input bytes |
//! | `proofs` | job key | [`ProofRecord`] |
//! | `results` | task id | the aggregated result bytes |
//! | `events` | task id ‖ seq (u64 BE) | [`TaskEvent`] |
//! | `batches` | batch id (16) | [`BatchRecord`] |
//! | `bids` | batch id ‖ kind (1: commit, 2: reveal) ‖ signer (32) | the signed message |
//! | `ledger` | public key (32) | [`Account`] |
//! | `prover_jobs` | job key | a prover's held job, opaque to the store |
//! | `prover_bids` | batch id (16) | a prover's sealed bid not yet settled, opaque to the store |
//! | `tokens` | `state` | [`TokenState`]: the token ledger, when the Supernet runs the token rules |
//! | `tokens` | `t` ‖ task id | [`TaskPayments`]: what the task's jobs cost under them |
//! | `meta` | name | counters, and the gateway's last heartbeat |
//! | `expiry` | `t` or `b` ‖ time (u64 BE) ‖ id | empty: finished tasks and batches by age, for pruning ([`Store::prune`]) |
//!
//! Values are bincode. Every state change that touches several trees is one transaction, and
//! callers [`Store::flush`] before they acknowledge anything to a client. Opening the store
//! again after a crash finds every unfinished task where it was.

pub mod records;
mod retention;
mod tokens;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::{Transactional, Tree};

use lagrange_protocol::auction::Eligibility;
use lagrange_protocol::canonical::canonical_bytes;
use lagrange_protocol::messages::{
    AuctionResult, AuctionTranscript, BatchAnnouncement, BidCommit, BidReveal, CommitsClosed,
};
use lagrange_protocol::{BatchId, JobId, Price, PublicKey, Signed, TaskId, UnixMillis};
use serde::Deserialize;

pub use records::*;
pub use retention::{Pruned, PrunedTotals};
pub use tokens::{TaskPayments, TokenRules, TokenState};

/// A task's key in `task_ages`: creation time (BE), then id.
fn task_age_key(at: UnixMillis, id: &TaskId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&at.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

/// How long [`Store::open`] waits for another handle to release the directory.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The store's page cache unless configured otherwise, MiB (`gateway.store_cache_mb`).
pub const DEFAULT_CACHE_MB: u64 = 64;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or a handle not yet closed) holds the store's directory.
    #[error("the store in {0} is in use by another process")]
    Locked(String),
    /// sled failed.
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// A stored value does not decode: the database is from another version or damaged.
    #[error("corrupt {what} record: {reason}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// No such task.
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    /// No such job.
    #[error("unknown job {0}")]
    UnknownJob(JobId),
    /// A job write that its state does not allow (see [`JobState::may_become`]).
    #[error("job {job} cannot go from {from} to {to}")]
    Transition {
        /// The job.
        job: JobId,
        /// Its state.
        from: &'static str,
        /// The state asked for.
        to: &'static str,
    },
    /// An amount of money does not fit in 64 bits.
    #[error("{0} would overflow")]
    Overflow(&'static str),
    /// The job is not assigned to this prover (any more).
    #[error("job {job} is not assigned to {prover}")]
    NotAssigned {
        /// The job.
        job: JobId,
        /// The prover.
        prover: PublicKey,
    },
    /// The token rules refused a payment or a slash (nothing was written).
    #[error("token ledger: {0}")]
    Tokens(lagrange_protocol::tokenomics::LedgerError),
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Db(e),
        }
    }
}

/// A verified proof as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofRecord {
    /// Who proved it.
    pub prover: PublicKey,
    /// The compressed proof.
    pub proof: Vec<u8>,
    /// The compressed public inputs.
    pub public_inputs: Vec<u8>,
}

/// A batch and, once awarded, its result and the eligibility it was computed against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// The signed announcement.
    pub batch: Signed<BatchAnnouncement>,
    /// The signed result, once awarded.
    pub result: Option<Signed<AuctionResult>>,
    /// The eligibility snapshot of the award.
    pub eligibility: Option<Eligibility>,
    /// The signed closed commit set, once the commit window is over.
    pub closed: Option<Signed<CommitsClosed>>,
}

/// Everything needed to create one job.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The record, in state [`JobState::Open`].
    pub record: JobRecord,
    /// Its input.
    pub input: Vec<u8>,
}

/// What an award does to one job.
#[derive(Debug, Clone)]
pub enum AwardOutcome {
    /// Won: assign it.
    Assigned {
        /// The job.
        job: JobId,
        /// The winner.
        prover: PublicKey,
        /// Its bid.
        price: Price,
        /// Deadline for the proof.
        deadline: UnixMillis,
    },
    /// Not won: reopen it at a new reserve price.
    Unawarded {
        /// The job.
        job: JobId,
        /// Reserve price for the next batch.
        next_reserve: Price,
        /// Clear the provers barred from it (every prover able to take it is barred).
        lift_bars: bool,
    },
}

const COMMIT: u8 = 1;
const REVEAL: u8 = 2;

fn job_key(job: &JobId) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(job.task.as_bytes());
    k[16..].copy_from_slice(&job.index.to_be_bytes());
    k
}

fn job_from_key(k: &[u8]) -> Option<JobId> {
    let task: [u8; 16] = k.get(..16)?.try_into().ok()?;
    let index: [u8; 4] = k.get(16..20)?.try_into().ok()?;
    Some(JobId::new(TaskId(task), u32::from_be_bytes(index)))
}

fn event_key(task: &TaskId, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(task.as_bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn bid_key(batch: &BatchId, kind: u8, signer: &PublicKey) -> [u8; 49] {
    let mut k = [0u8; 49];
    k[..16].copy_from_slice(batch.as_bytes());
    k[16] = kind;
    k[17..].copy_from_slice(signer.as_bytes());
    k
}

fn enc<T: Serialize>(value: &T) -> Vec<u8> {
    canonical_bytes(value)
}

fn dec<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice::<T, _>(bytes, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| StoreError::Corrupt {
            what,
            reason: e.to_string(),
        })
}

/// Reads and decodes one record.
fn get<T: DeserializeOwned>(
    tree: &Tree,
    what: &'static str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|b| dec(what, &b)).transpose()
}

type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    what: &'static str,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(bytes) => match dec(what, &bytes) {
            Ok(v) => Ok(Some(v)),
            Err(e) => abort(e),
        },
        None => Ok(None),
    }
}

/// Appends an event to a task's history inside a transaction.
fn tx_event(
    tasks: &TransactionalTree,
    events: &TransactionalTree,
    task: &TaskId,
    at: UnixMillis,
    kind: TaskEventKind,
) -> TxResult<()> {
    let Some(mut record) = tx_get::<TaskRecord>(tasks, "task", task.as_bytes())? else {
        return abort(StoreError::UnknownTask(*task));
    };
    let seq = record.events;
    record.events += 1;
    tasks.insert(task.as_bytes().as_slice(), enc(&record))?;
    events.insert(&event_key(task, seq)[..], enc(&TaskEvent { seq, at, kind }))?;
    Ok(())
}

fn tx_job(jobs: &TransactionalTree, job: &JobId) -> TxResult<JobRecord> {
    match tx_get::<JobRecord>(jobs, "job", &job_key(job))? {
        Some(r) => Ok(r),
        None => abort(StoreError::UnknownJob(*job)),
    }
}

const OPEN: u8 = b'o';
const ASSIGNED: u8 = b'a';

fn index_key(tag: u8, job: &JobId) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = tag;
    k[1..].copy_from_slice(&job_key(job));
    k
}

const COUNT: u8 = b'n';

/// The one-byte code of a job state in the per-state counts.
fn state_code(state: &JobState) -> u8 {
    match state {
        JobState::Open => 0,
        JobState::Auctioning { .. } => 1,
        JobState::Assigned { .. } => 2,
        JobState::Verified { .. } => 3,
        JobState::Cancelled => 4,
    }
}

fn read_count(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

fn tx_bump_count(index: &TransactionalTree, code: u8, up: bool) -> TxResult<()> {
    let key = [COUNT, code];
    let n = read_count(index.get(key)?);
    let n = if up { n + 1 } else { n.saturating_sub(1) };
    index.insert(&key[..], &n.to_be_bytes()[..])?;
    Ok(())
}

/// Writes a job and keeps the job index (open and assigned jobs, and the count of jobs in
/// each state) in step with its state.
fn tx_put_job(
    jobs: &TransactionalTree,
    index: &TransactionalTree,
    job: &JobRecord,
) -> TxResult<()> {
    let key = job_key(&job.id);
    let old = tx_get::<JobRecord>(jobs, "job", &key)?;
    if let Some(old) = &old
        && !old.state.may_become(&job.state)
    {
        return abort(StoreError::Transition {
            job: job.id,
            from: old.state.name(),
            to: job.state.name(),
        });
    }
    let before = old.map(|old| state_code(&old.state));
    let after = state_code(&job.state);
    if before != Some(after) {
        if let Some(code) = before {
            tx_bump_count(index, code, false)?;
        }
        tx_bump_count(index, after, true)?;
    }
    jobs.insert(&key[..], enc(job))?;
    for (tag, on) in [
        (OPEN, job.state == JobState::Open),
        (ASSIGNED, matches!(job.state, JobState::Assigned { .. })),
    ] {
        let key = index_key(tag, &job.id);
        if on {
            index.insert(&key[..], &[][..])?;
        } else {
            index.remove(&key[..])?;
        }
    }
    Ok(())
}

/// How many of the gateway's jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting for a batch.
    pub open: u64,
    /// In a running auction.
    pub auctioning: u64,
    /// Held by a prover.
    pub assigned: u64,
    /// Proven, verified and paid.
    pub verified: u64,
    /// Abandoned with their task.
    pub cancelled: u64,
}

impl JobCounts {
    /// Each state's name and count, for reports and metrics.
    pub fn by_state(&self) -> [(&'static str, u64); 5] {
        [
            ("open", self.open),
            ("auctioning", self.auctioning),
            ("assigned", self.assigned),
            ("verified", self.verified),
            ("cancelled", self.cancelled),
        ]
    }
}

/// The gateway's database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// The directory, for a store on disk.
    dir: Option<std::path::PathBuf>,
    tasks: Tree,
    jobs: Tree,
    job_index: Tree,
    live: Tree,
    /// Every task by creation time, for listing a page without reading the rest.
    task_ages: Tree,
    inputs: Tree,
    proofs: Tree,
    results: Tree,
    events: Tree,
    batches: Tree,
    bids: Tree,
    ledger: Tree,
    meta: Tree,
    prover_jobs: Tree,
    prover_bids: Tree,
    /// A query task's rows, apart from its (small, often rewritten) record.
    task_rows: Tree,
    tokens: Tree,
    /// Finished tasks and batches by age, for [`Store::prune`].
    expiry: Tree,
    token_rules: tokens::RulesCell,
    /// Flushes done so far, shared by every handle of this database.
    flushes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`. If another handle holds the directory's lock
    /// (one closing in this process releases it within a flush interval), it waits up to
    /// [`LOCK_WAIT`] before failing with [`StoreError::Locked`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_MB)
    }

    /// [`Store::open`] with `cache_mb` MiB of page cache: what the store keeps in memory
    /// however large it grows on disk (sled's own default, 1 GiB, would let a gateway's
    /// memory grow with its store for a long time).
    pub fn open_with_cache(dir: &Path, cache_mb: u64) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb.saturating_mul(1 << 20));
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match config.open() {
                Ok(db) => return Self::from_db(db, Some(dir.to_path_buf())),
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked(dir.display().to_string()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A store that lives only as long as the process, for devnets and tests.
    pub fn temporary() -> Result<Self, StoreError> {
        Self::from_db(sled::Config::new().temporary(true).open()?, None)
    }

    /// The directory of a store on disk (`None` for a temporary one).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn from_db(db: sled::Db, dir: Option<std::path::PathBuf>) -> Result<Self, StoreError> {
        let store = Self {
            tasks: db.open_tree("tasks")?,
            jobs: db.open_tree("jobs")?,
            job_index: db.open_tree("job_index")?,
            live: db.open_tree("live")?,
            task_ages: db.open_tree("task_ages")?,
            inputs: db.open_tree("inputs")?,
            proofs: db.open_tree("proofs")?,
            results: db.open_tree("results")?,
            events: db.open_tree("events")?,
            batches: db.open_tree("batches")?,
            bids: db.open_tree("bids")?,
            ledger: db.open_tree("ledger")?,
            meta: db.open_tree("meta")?,
            prover_jobs: db.open_tree("prover_jobs")?,
            prover_bids: db.open_tree("prover_bids")?,
            task_rows: db.open_tree("task_rows")?,
            tokens: db.open_tree("tokens")?,
            expiry: db.open_tree("expiry")?,
            token_rules: Default::default(),
            flushes: Default::default(),
            db,
            dir,
        };
        store.count_jobs_once()?;
        store.index_expiry_once()?;
        store.index_task_ages_once()?;
        Ok(store)
    }

    /// Stores written before tasks were indexed by age get the index here, once.
    fn index_task_ages_once(&self) -> Result<(), StoreError> {
        const AGED: &[u8] = b"task ages indexed";
        if self.meta.contains_key(AGED)? {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for value in self.tasks.iter().values() {
            let task: TaskRecord = dec("task", &value?)?;
            batch.insert(&task_age_key(task.created_at, &task.id)[..], &[][..]);
        }
        self.task_ages.apply_batch(batch)?;
        self.meta.insert(AGED, &[][..])?;
        Ok(())
    }

    /// Stores written before the per-state counts existed get them here, once.
    fn count_jobs_once(&self) -> Result<(), StoreError> {
        if self.job_index.contains_key([COUNT])? {
            return Ok(());
        }
        let mut counts = [0u64; 5];
        for value in self.jobs.iter().values() {
            let job: JobRecord = dec("job", &value?)?;
            counts[state_code(&job.state) as usize] += 1;
        }
        let mut batch = sled::Batch::default();
        for (code, n) in counts.iter().enumerate() {
            batch.insert(&[COUNT, code as u8][..], &n.to_be_bytes()[..]);
        }
        batch.insert(&[COUNT][..], &[][..]);
        self.job_index.apply_batch(batch)?;
        Ok(())
    }

    /// How many jobs are in each state (kept in step by every job write; no scan).
    pub fn job_counts(&self) -> Result<JobCounts, StoreError> {
        let get = |code: u8| -> Result<u64, StoreError> {
            Ok(read_count(self.job_index.get([COUNT, code])?))
        };
        Ok(JobCounts {
            open: get(0)?,
            auctioning: get(1)?,
            assigned: get(2)?,
            verified: get(3)?,
            cancelled: get(4)?,
        })
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// [`Store::flush`], blocking the calling thread (for code that runs off the runtime).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// How many flushes through any handle of this database have completed: lets a caller
    /// (or a test) see that what it wrote was made durable before it told anyone.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    // ---- tasks ----

    /// Stores a new task with its jobs and inputs, and its `Submitted` event. The record
    /// holds no bulk payload ([`TaskSpec::for_storage`]); a query's `rows` are kept apart
    /// ([`Store::task_spec`] puts them back).
    pub fn create_task(
        &self,
        task: &TaskRecord,
        rows: Option<&[(u64, u64)]>,
        jobs: &[NewJob],
    ) -> Result<(), StoreError> {
        let rows = rows.map(|r| enc(&r));
        let mut record = task.clone();
        record.spec = task.spec.for_storage();
        record.events = 0;
        record.verified = 0;
        record.fees = 0;
        let record = enc(&record);
        (
            &self.tasks,
            &self.jobs,
            &self.job_index,
            &self.inputs,
            &self.events,
            &self.live,
            &self.task_rows,
            &self.task_ages,
        )
            .transaction(
                |(tasks, jt, index, inputs, events, live, task_rows, ages)| {
                    live.insert(task.id.as_bytes().as_slice(), &[][..])?;
                    ages.insert(&task_age_key(task.created_at, &task.id)[..], &[][..])?;
                    tasks.insert(task.id.as_bytes().as_slice(), record.as_slice())?;
                    if let Some(rows) = &rows {
                        task_rows.insert(task.id.as_bytes().as_slice(), rows.as_slice())?;
                    }
                    for job in jobs {
                        tx_put_job(jt, index, &job.record)?;
                        inputs.insert(&job_key(&job.record.id)[..], job.input.as_slice())?;
                    }
                    tx_event(
                        tasks,
                        events,
                        &task.id,
                        task.created_at,
                        TaskEventKind::Submitted { jobs: task.jobs },
                    )
                },
            )?;
        Ok(())
    }

    /// A task's whole spec: its record's, with a query's rows put back.
    pub fn task_spec(&self, id: &TaskId) -> Result<Option<TaskSpec>, StoreError> {
        let Some(record) = self.task(id)? else {
            return Ok(None);
        };
        let mut spec = record.spec;
        if let TaskSpec::Query { rows, .. } = &mut spec
            && let Some(kept) = get::<Vec<(u64, u64)>>(&self.task_rows, "task rows", id.as_bytes())?
        {
            *rows = kept;
        }
        Ok(Some(spec))
    }

    /// A task.
    pub fn task(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        get(&self.tasks, "task", id.as_bytes())
    }

    /// Every task, oldest id first.
    pub fn tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.tasks
            .iter()
            .values()
            .map(|v| dec("task", &v?))
            .collect()
    }

    /// Up to `limit` tasks, newest first (by creation time, then id), from just after
    /// `after` (a task's creation time and id, as the last page ended; none: the newest).
    /// Reads only the tasks it returns.
    pub fn tasks_newest_first(
        &self,
        after: Option<(UnixMillis, TaskId)>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let keys = match after {
            Some((at, id)) => self.task_ages.range(..task_age_key(at, &id).to_vec()),
            None => self.task_ages.iter(),
        };
        let mut out = Vec::new();
        for item in keys.rev() {
            if out.len() == limit {
                break;
            }
            let (key, _) = item?;
            // A task pruned since the index was read is skipped.
            if let Some(id) = key.get(8..24)
                && let Some(task) = get::<TaskRecord>(&self.tasks, "task", id)?
            {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// Tasks that are neither done nor failed: what a restarted gateway resumes.
    pub fn unfinished_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.live.iter().keys() {
            if let Some(task) = get::<TaskRecord>(&self.tasks, "task", &key?)? {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// Marks a task done with its aggregated result.
    pub fn complete_task(
        &self,
        id: &TaskId,
        result: &[u8],
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        (
            &self.tasks,
            &self.results,
            &self.events,
            &self.live,
            &self.expiry,
        )
            .transaction(|(tasks, results, events, live, expiry)| {
                let Some(mut record) = tx_get::<TaskRecord>(tasks, "task", id.as_bytes())? else {
                    return abort(StoreError::UnknownTask(*id));
                };
                live.remove(id.as_bytes().as_slice())?;
                expiry.insert(&retention::task_expiry(id, at)[..], &[][..])?;
                record.status = TaskStatus::Done;
                tasks.insert(id.as_bytes().as_slice(), enc(&record))?;
                results.insert(id.as_bytes().as_slice(), result)?;
                tx_event(tasks, events, id, at, TaskEventKind::Completed)
            })?;
        Ok(())
    }

    /// Fails a task and cancels its unproven jobs.
    pub fn fail_task(&self, id: &TaskId, reason: &str, at: UnixMillis) -> Result<(), StoreError> {
        self.fail_task_keeping(id, reason, at, &std::collections::BTreeSet::new())
    }

    /// Fails a task and cancels its unproven jobs, except the assigned jobs in `keep`, which
    /// stay assigned (a proof under their assignment can still be paid) until
    /// [`Store::cancel_job`] or [`Store::credit_proof`].
    pub fn fail_task_keeping(
        &self,
        id: &TaskId,
        reason: &str,
        at: UnixMillis,
        keep: &std::collections::BTreeSet<JobId>,
    ) -> Result<(), StoreError> {
        let jobs = self.jobs_of(id)?;
        (
            &self.tasks,
            &self.jobs,
            &self.job_index,
            &self.events,
            &self.live,
            &self.expiry,
        )
            .transaction(|(tasks, jt, index, events, live, expiry)| {
                let Some(mut record) = tx_get::<TaskRecord>(tasks, "task", id.as_bytes())? else {
                    return abort(StoreError::UnknownTask(*id));
                };
                live.remove(id.as_bytes().as_slice())?;
                expiry.insert(&retention::task_expiry(id, at)[..], &[][..])?;
                record.status = TaskStatus::Failed {
                    reason: reason.to_string(),
                };
                tasks.insert(id.as_bytes().as_slice(), enc(&record))?;
                for job in &jobs {
                    let mut job = tx_job(jt, &job.id)?;
                    let kept =
                        keep.contains(&job.id) && matches!(job.state, JobState::Assigned { .. });
                    if !kept && !matches!(job.state, JobState::Verified { .. }) {
                        job.state = JobState::Cancelled;
                        tx_put_job(jt, index, &job)?;
                    }
                }
                tx_event(
                    tasks,
                    events,
                    id,
                    at,
                    TaskEventKind::Aborted {
                        reason: reason.to_string(),
                    },
                )
            })?;
        Ok(())
    }

    /// A task's aggregated result.
    pub fn result(&self, id: &TaskId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.results.get(id.as_bytes())?.map(|v| v.to_vec()))
    }

    /// A task's events from `from` on.
    pub fn events(&self, id: &TaskId, from: u64) -> Result<Vec<TaskEvent>, StoreError> {
        self.events
            .range(event_key(id, from)..=event_key(id, u64::MAX))
            .values()
            .map(|v| dec("event", &v?))
            .collect()
    }

    // ---- jobs ----

    /// A job.
    pub fn job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        get(&self.jobs, "job", &job_key(id))
    }

    /// A task's jobs, by index.
    pub fn jobs_of(&self, task: &TaskId) -> Result<Vec<JobRecord>, StoreError> {
        self.jobs
            .scan_prefix(task.as_bytes())
            .values()
            .map(|v| dec("job", &v?))
            .collect()
    }

    /// Up to `limit` jobs waiting for a batch, oldest task first.
    pub fn open_jobs(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.indexed_jobs(OPEN, limit)
    }

    /// Jobs waiting for a batch that `accept` takes, oldest task first, looking at no more
    /// than `scan` of them and stopping at `take`.
    pub fn open_jobs_where(
        &self,
        scan: usize,
        take: usize,
        mut accept: impl FnMut(&JobRecord) -> bool,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.job_index.scan_prefix([OPEN]).keys().take(scan) {
            if out.len() >= take {
                break;
            }
            let key = key?;
            let id = job_from_key(&key[1..]).ok_or(StoreError::Corrupt {
                what: "job index",
                reason: "short key".into(),
            })?;
            if let Some(job) = self.job(&id)?
                && accept(&job)
            {
                out.push(job);
            }
        }
        Ok(out)
    }

    /// Jobs currently assigned, for deadline checks.
    pub fn assigned_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.indexed_jobs(ASSIGNED, usize::MAX)
    }

    fn indexed_jobs(&self, tag: u8, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.job_index.scan_prefix([tag]).keys().take(limit) {
            let key = key?;
            let id = job_from_key(&key[1..]).ok_or(StoreError::Corrupt {
                what: "job index",
                reason: "short key".into(),
            })?;
            if let Some(job) = self.job(&id)? {
                out.push(job);
            }
        }
        Ok(out)
    }

    /// A job's input.
    pub fn input(&self, id: &JobId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inputs.get(job_key(id))?.map(|v| v.to_vec()))
    }

    /// A job's verified proof.
    pub fn proof(&self, id: &JobId) -> Result<Option<ProofRecord>, StoreError> {
        get(&self.proofs, "proof", &job_key(id))
    }

    // ---- batches and bids ----

    /// The next batch sequence number; never repeats, across restarts too.
    pub fn next_batch_seq(&self) -> Result<u64, StoreError> {
        self.next_seq("batch_seq")
    }

    /// The next task sequence number; never repeats, across restarts too.
    pub fn next_task_seq(&self) -> Result<u64, StoreError> {
        self.next_seq("task_seq")
    }

    fn next_seq(&self, name: &str) -> Result<u64, StoreError> {
        let next = self.meta.update_and_fetch(name, |old| {
            let n = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        let bytes = next.and_then(|b| <[u8; 8]>::try_from(&b[..]).ok());
        Ok(bytes.map_or(1, u64::from_be_bytes))
    }

    /// Records an announced batch and moves its jobs to auction, with an `Offered` event each.
    pub fn offer_batch(
        &self,
        batch: &Signed<BatchAnnouncement>,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        let record = BatchRecord {
            batch: batch.clone(),
            result: None,
            eligibility: None,
            closed: None,
        };
        (
            &self.batches,
            &self.jobs,
            &self.job_index,
            &self.tasks,
            &self.events,
            &self.expiry,
        )
            .transaction(|(batches, jt, index, tasks, events, expiry)| {
                batches.insert(batch.payload.batch_id.as_bytes().as_slice(), enc(&record))?;
                let b = &batch.payload;
                expiry.insert(
                    &retention::batch_expiry(&b.batch_id, b.reveal_deadline)[..],
                    &[][..],
                )?;
                for spec in &batch.payload.jobs {
                    let mut job = tx_job(jt, &spec.job_id)?;
                    job.state = JobState::Auctioning {
                        batch: batch.payload.batch_id,
                    };
                    job.auctions = job.auctions.saturating_add(1);
                    tx_put_job(jt, index, &job)?;
                    // The job's history records that it went on the market, not every
                    // round it waits there: re-offers at the same reserve are not events.
                    if job.auctions > 1 {
                        continue;
                    }
                    tx_event(
                        tasks,
                        events,
                        &spec.job_id.task,
                        at,
                        TaskEventKind::Offered {
                            job: spec.job_id,
                            batch: batch.payload.batch_id,
                            reserve_price: spec.reserve_price,
                        },
                    )?;
                }
                Ok(())
            })?;
        Ok(())
    }

    /// Reopens jobs whose auction was running when the gateway stopped: the in-memory bid
    /// book is gone, so they go into the next batch. Returns how many.
    pub fn reopen_interrupted_auctions(&self) -> Result<usize, StoreError> {
        let mut reopened = 0;
        for task in self.unfinished_tasks()? {
            for mut job in self.jobs_of(&task.id)? {
                if matches!(job.state, JobState::Auctioning { .. }) {
                    job.state = JobState::Open;
                    (&self.jobs, &self.job_index)
                        .transaction(|(jt, index)| tx_put_job(jt, index, &job))?;
                    reopened += 1;
                }
            }
        }
        Ok(reopened)
    }

    /// A batch.
    pub fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StoreError> {
        get(&self.batches, "batch", id.as_bytes())
    }

    /// Records a batch's signed closed commit set.
    pub fn close_commits(&self, closed: &Signed<CommitsClosed>) -> Result<(), StoreError> {
        let id = closed.payload.batch_id;
        let Some(mut record) = self.batch(&id)? else {
            return Err(StoreError::Corrupt {
                what: "batch",
                reason: format!("closed set for unknown batch {id}"),
            });
        };
        record.closed = Some(closed.clone());
        self.batches.insert(id.as_bytes(), enc(&record))?;
        Ok(())
    }

    /// An awarded batch's transcript: everything the award used, as signed. `None` until
    /// the batch is awarded (or for an unknown batch).
    pub fn transcript(&self, id: &BatchId) -> Result<Option<AuctionTranscript>, StoreError> {
        let Some(record) = self.batch(id)? else {
            return Ok(None);
        };
        let (Some(closed), Some(eligibility), Some(result)) =
            (record.closed, record.eligibility, record.result)
        else {
            return Ok(None);
        };
        let (commits, reveals) = self.bids(id)?;
        Ok(Some(AuctionTranscript {
            batch: record.batch,
            closed,
            commits,
            reveals,
            eligibility,
            result,
        }))
    }

    /// Stores an accepted commit.
    pub fn put_commit(&self, c: &Signed<BidCommit>) -> Result<(), StoreError> {
        self.bids
            .insert(bid_key(&c.payload.batch_id, COMMIT, &c.signer), enc(c))?;
        Ok(())
    }

    /// Forgets the commit of `prover` in `batch` (a full batch's commit outranked by
    /// another).
    pub fn remove_commit(&self, batch: &BatchId, prover: &PublicKey) -> Result<(), StoreError> {
        self.bids.remove(bid_key(batch, COMMIT, prover))?;
        Ok(())
    }

    /// Stores an accepted reveal.
    pub fn put_reveal(&self, r: &Signed<BidReveal>) -> Result<(), StoreError> {
        self.bids
            .insert(bid_key(&r.payload.batch_id, REVEAL, &r.signer), enc(r))?;
        Ok(())
    }

    /// The accepted commits and reveals of a batch.
    #[allow(clippy::type_complexity)]
    pub fn bids(
        &self,
        batch: &BatchId,
    ) -> Result<(Vec<Signed<BidCommit>>, Vec<Signed<BidReveal>>), StoreError> {
        let mut commits = Vec::new();
        let mut reveals = Vec::new();
        for kv in self.bids.scan_prefix(batch.as_bytes()) {
            let (k, v) = kv?;
            match k.get(16) {
                Some(&COMMIT) => commits.push(dec("commit", &v)?),
                Some(&REVEAL) => reveals.push(dec("reveal", &v)?),
                _ => {}
            }
        }
        Ok((commits, reveals))
    }

    /// Records an award: the signed result and eligibility, every job's new state, and the
    /// non-reveal penalties, in one transaction.
    ///
    /// Only jobs still in this batch's auction move: a job cancelled while its auction ran
    /// stays cancelled. A task's history gets an `AuctionClosed` event only when one of its
    /// jobs changed (won, or back on the market at a new reserve or without its bars), so a
    /// job waiting for a free prover writes nothing round after round.
    pub fn record_award(
        &self,
        result: &Signed<AuctionResult>,
        eligibility: &Eligibility,
        outcomes: &[AwardOutcome],
        non_reveal_penalty: u64,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        let batch_id = result.payload.batch_id;
        let (commits, reveals) = self.bids(&batch_id)?;
        let closed = TaskEventKind::AuctionClosed {
            batch: batch_id,
            commits: commits.len() as u32,
            reveals: reveals.len() as u32,
            non_revealers: result.payload.award.non_revealers.len() as u32,
        };
        (
            &self.batches,
            &self.jobs,
            &self.job_index,
            &self.tasks,
            &self.events,
            &self.ledger,
            &self.tokens,
        )
            .transaction(|(batches, jt, index, tasks, events, ledger, tokens)| {
                let Some(mut record) =
                    tx_get::<BatchRecord>(batches, "batch", batch_id.as_bytes())?
                else {
                    return abort(StoreError::Corrupt {
                        what: "batch",
                        reason: format!("award for unknown batch {batch_id}"),
                    });
                };
                record.result = Some(result.clone());
                record.eligibility = Some(eligibility.clone());
                batches.insert(batch_id.as_bytes().as_slice(), enc(&record))?;
                // Decide every job's new record first, then write in event order.
                let mut moves = Vec::new();
                for outcome in outcomes {
                    let job = match outcome {
                        AwardOutcome::Assigned { job, .. }
                        | AwardOutcome::Unawarded { job, .. } => job,
                    };
                    let mut rec = tx_job(jt, job)?;
                    if rec.state != (JobState::Auctioning { batch: batch_id }) {
                        continue;
                    }
                    let event = match outcome {
                        AwardOutcome::Assigned {
                            job,
                            prover,
                            price,
                            deadline,
                        } => {
                            rec.state = JobState::Assigned {
                                batch: batch_id,
                                prover: *prover,
                                price: *price,
                                deadline: *deadline,
                            };
                            Some(TaskEventKind::Awarded {
                                job: *job,
                                prover: *prover,
                                price: *price,
                            })
                        }
                        AwardOutcome::Unawarded {
                            job,
                            next_reserve,
                            lift_bars,
                        } => {
                            let changed = rec.reserve_price != *next_reserve
                                || (*lift_bars && !rec.excluded.is_empty());
                            rec.state = JobState::Open;
                            rec.reserve_price = *next_reserve;
                            if *lift_bars {
                                rec.excluded.clear();
                            }
                            changed.then_some(TaskEventKind::Unawarded { job: *job })
                        }
                    };
                    moves.push((rec, event));
                }
                let touched: std::collections::BTreeSet<TaskId> = moves
                    .iter()
                    .filter(|(_, event)| event.is_some())
                    .map(|(rec, _)| rec.id.task)
                    .collect();
                for task in &touched {
                    tx_event(tasks, events, task, at, closed.clone())?;
                }
                for (rec, event) in moves {
                    tx_put_job(jt, index, &rec)?;
                    if let Some(event) = event {
                        tx_event(tasks, events, &rec.id.task, at, event)?;
                    }
                }
                for prover in &result.payload.award.non_revealers {
                    let mut account = tx_get::<Account>(ledger, "account", prover.as_bytes())?
                        .unwrap_or_default();
                    let penalty = non_reveal_penalty.min(account.stake);
                    account.stake -= penalty;
                    account.slashed = account.slashed.saturating_add(penalty);
                    account.non_reveals += 1;
                    ledger.insert(prover.as_bytes().as_slice(), enc(&account))?;
                    tokens::tx_slash(tokens, &self.token_rules, prover, penalty)?;
                }
                Ok(())
            })?;
        Ok(())
    }

    // ---- proofs and the ledger ----

    /// Records a verified proof and pays its prover its price, exactly once: the job must be
    /// assigned to `prover`, and moves to [`JobState::Verified`] in the same transaction as
    /// the payment. Returns the amount paid.
    pub fn credit_proof(
        &self,
        job: &JobId,
        proof: &ProofRecord,
        at: UnixMillis,
    ) -> Result<Price, StoreError> {
        let price = (
            &self.jobs,
            &self.job_index,
            &self.proofs,
            &self.ledger,
            &self.tasks,
            &self.events,
            &self.tokens,
        )
            .transaction(|(jt, index, proofs, ledger, tasks, events, tokens)| {
                let mut rec = tx_job(jt, job)?;
                let JobState::Assigned { prover, price, .. } = rec.state else {
                    return abort(StoreError::NotAssigned {
                        job: *job,
                        prover: proof.prover,
                    });
                };
                if prover != proof.prover {
                    return abort(StoreError::NotAssigned {
                        job: *job,
                        prover: proof.prover,
                    });
                }
                rec.state = JobState::Verified { prover, price };
                tx_put_job(jt, index, &rec)?;
                proofs.insert(&job_key(job)[..], enc(proof))?;
                let mut account =
                    tx_get::<Account>(ledger, "account", prover.as_bytes())?.unwrap_or_default();
                let Some(balance) = account.balance.checked_add(price) else {
                    return abort(StoreError::Overflow("the prover's balance"));
                };
                account.balance = balance;
                account.jobs_paid += 1;
                ledger.insert(prover.as_bytes().as_slice(), enc(&account))?;
                tokens::tx_pay(tokens, &self.token_rules, &job.task, &prover, price)?;
                let Some(mut task) = tx_get::<TaskRecord>(tasks, "task", job.task.as_bytes())?
                else {
                    return abort(StoreError::UnknownTask(job.task));
                };
                let Some(fees) = task.fees.checked_add(price) else {
                    return abort(StoreError::Overflow("the task's fees"));
                };
                task.verified += 1;
                task.fees = fees;
                tasks.insert(job.task.as_bytes().as_slice(), enc(&task))?;
                tx_event(
                    tasks,
                    events,
                    &job.task,
                    at,
                    TaskEventKind::Proven {
                        job: *job,
                        prover,
                        price,
                    },
                )?;
                Ok(price)
            })?;
        Ok(price)
    }

    /// Cancels an assigned job (one its failed task kept, whose assignment ended without a
    /// proof): no slash, no pay. Returns whether it was assigned.
    pub fn cancel_job(&self, job: &JobId) -> Result<bool, StoreError> {
        let cancelled = (&self.jobs, &self.job_index).transaction(|(jt, index)| {
            let mut rec = tx_job(jt, job)?;
            if !matches!(rec.state, JobState::Assigned { .. }) {
                return Ok(false);
            }
            rec.state = JobState::Cancelled;
            tx_put_job(jt, index, &rec)?;
            Ok(true)
        })?;
        Ok(cancelled)
    }

    /// A job's assigned prover failed it (invalid proof or missed deadline): slash it, pay
    /// nothing, bar it from the job, and reopen the job for the next batch. Returns the stake
    /// actually slashed (at most what the prover had left).
    pub fn fail_job(
        &self,
        job: &JobId,
        prover: &PublicKey,
        slash: u64,
        reason: &str,
        at: UnixMillis,
    ) -> Result<u64, StoreError> {
        (
            &self.jobs,
            &self.job_index,
            &self.ledger,
            &self.tasks,
            &self.events,
            &self.tokens,
        )
            .transaction(|(jt, index, ledger, tasks, events, tokens)| {
                let mut rec = tx_job(jt, job)?;
                match rec.state {
                    JobState::Assigned { prover: p, .. } if p == *prover => {}
                    _ => {
                        return abort(StoreError::NotAssigned {
                            job: *job,
                            prover: *prover,
                        });
                    }
                }
                rec.state = JobState::Open;
                rec.excluded.insert(*prover);
                tx_put_job(jt, index, &rec)?;
                let mut account =
                    tx_get::<Account>(ledger, "account", prover.as_bytes())?.unwrap_or_default();
                let cut = slash.min(account.stake);
                account.stake -= cut;
                account.slashed = account.slashed.saturating_add(cut);
                account.failures += 1;
                ledger.insert(prover.as_bytes().as_slice(), enc(&account))?;
                tokens::tx_slash(tokens, &self.token_rules, prover, cut)?;
                tx_event(
                    tasks,
                    events,
                    &job.task,
                    at,
                    TaskEventKind::Failed {
                        job: *job,
                        prover: *prover,
                        reason: reason.to_string(),
                    },
                )?;
                Ok(cut)
            })
            .map_err(StoreError::from)
    }

    /// Replaces a prover's saved held jobs with `jobs`, atomically. The records are the
    /// prover's own; the store only keys them by job.
    pub fn save_held_jobs<T: Serialize>(&self, jobs: &[(JobId, T)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for key in self.prover_jobs.iter().keys() {
            batch.remove(key?);
        }
        for (job, record) in jobs {
            batch.insert(&job_key(job)[..], enc(record));
        }
        self.prover_jobs.apply_batch(batch)?;
        Ok(())
    }

    /// A prover's saved held jobs.
    pub fn held_jobs<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.prover_jobs
            .iter()
            .values()
            .map(|v| dec("held job", &v?))
            .collect()
    }

    /// Saves a prover's sealed bid for `batch` (replacing one saved for it before). Not
    /// flushed: the caller flushes ([`Store::flush`]) before it sends the commit.
    pub fn save_sealed_bid<T: Serialize>(
        &self,
        batch: &BatchId,
        record: &T,
    ) -> Result<(), StoreError> {
        self.prover_bids
            .insert(batch.as_bytes().as_slice(), enc(record))?;
        Ok(())
    }

    /// Forgets a prover's sealed bid for `batch` (nothing if there is none).
    pub fn forget_sealed_bid(&self, batch: &BatchId) -> Result<(), StoreError> {
        self.prover_bids.remove(batch.as_bytes().as_slice())?;
        Ok(())
    }

    /// A prover's saved sealed bids, by batch id.
    pub fn sealed_bids<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.prover_bids
            .iter()
            .values()
            .map(|v| dec("sealed bid", &v?))
            .collect()
    }

    // ---- the gateway's heartbeat ----

    /// Records that the gateway was running at `now`. Not flushed: after a crash the last
    /// heartbeat read back is at most a flush interval old, which only lengthens the outage
    /// the gateway makes up for.
    pub fn beat(&self, now: UnixMillis) -> Result<(), StoreError> {
        self.meta.insert("heartbeat", &now.to_be_bytes()[..])?;
        Ok(())
    }

    /// The last recorded heartbeat.
    pub fn last_beat(&self) -> Result<Option<UnixMillis>, StoreError> {
        Ok(self
            .meta
            .get("heartbeat")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    /// Moves the proving deadline of every assigned job still running at `since` (the
    /// gateway's last heartbeat) later by `outage` (the gateway could not take a proof while
    /// it was down), and every assigned job's deadline to at least `floor`. Returns the jobs
    /// moved.
    pub fn extend_deadlines(
        &self,
        since: UnixMillis,
        outage: u64,
        floor: UnixMillis,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let mut extended = Vec::new();
        for mut job in self.assigned_jobs()? {
            if let JobState::Assigned { deadline, .. } = &mut job.state {
                let before = *deadline;
                if *deadline >= since {
                    *deadline = deadline.saturating_add(outage);
                }
                *deadline = (*deadline).max(floor);
                if *deadline == before {
                    continue;
                }
                (&self.jobs, &self.job_index)
                    .transaction(|(jt, index)| tx_put_job(jt, index, &job))?;
                extended.push(job);
            }
        }
        Ok(extended)
    }

    /// Gives `prover` an account with `stake` if it has none yet.
    pub fn ensure_account(&self, prover: &PublicKey, stake: u64) -> Result<(), StoreError> {
        let fresh = enc(&Account {
            stake,
            ..Account::default()
        });
        // Only inserts when absent; an existing account is never reset.
        let _ =
            self.ledger
                .compare_and_swap(prover.as_bytes(), None as Option<&[u8]>, Some(fresh))?;
        Ok(())
    }

    /// A prover's account.
    pub fn account(&self, prover: &PublicKey) -> Result<Option<Account>, StoreError> {
        get(&self.ledger, "account", prover.as_bytes())
    }

    /// Every account.
    pub fn accounts(&self) -> Result<Vec<(PublicKey, Account)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.ledger.iter() {
            let (k, v) = kv?;
            let key: [u8; 32] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                what: "ledger key",
                reason: "not 32 bytes".into(),
            })?;
            out.push((PublicKey(key), dec("account", &v)?));
        }
        Ok(out)
    }
}
