//! The gateway's durable state in sled. This module is the one place that knows the layout.
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `tasks` | task id (16) | [`TaskRecord`](crate::model::TaskRecord) |
//! | `task_rows` | task id (16) | a query task's rows, kept apart from its record (read back with its spec) |
//! | `jobs` | task id (16) ‖ index (u32 BE) | [`JobRecord`](crate::model::JobRecord) |
//! | `job_index` | `o` ‖ job key, or `a` ‖ job key | empty: jobs waiting for a batch (`o`) and jobs assigned to a prover (`a`) |
//! | `job_index` | `n` ‖ state (1) | u64 BE: how many jobs are in that state (`n` alone: the counts are complete) |
//! | `live` | task id | empty: tasks neither done nor failed |
//! | `task_ages` | created at (u64 BE) ‖ task id | empty: every task by creation, for paging ([`Store::tasks_newest_first`]) |
//! | `inputs` | job key | the job's input bytes |
//! | `proofs` | job key | [`ProofRecord`] |
//! | `results` | task id | the aggregated result bytes |
//! | `events` | task id ‖ seq (u64 BE) | [`TaskEvent`](crate::model::TaskEvent) |
//! | `deliveries` | task id (16) | [`DeliveryRecord`](crate::model::DeliveryRecord): a result to deliver to a chain, and how far it got |
//! | `batches` | batch id (16) | [`BatchRecord`] |
//! | `bids` | batch id ‖ kind (1: commit, 2: reveal) ‖ signer (32) | the signed message |
//! | `ledger` | public key (32) | [`Account`](crate::model::Account) |
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

mod auctions;
mod deliveries;
mod jobs;
mod ledger;
mod meta;
mod prover;

mod retention;
mod schema;
mod tasks;
mod tokens;

use std::path::Path;

use sled::Tree;
use sled::transaction::TransactionError;

use lagrange_protocol::{JobId, PublicKey, TaskId};

pub use auctions::{AwardOutcome, BatchRecord};
pub use jobs::JobCounts;
pub use ledger::ProofRecord;
pub use retention::{Pruned, PrunedTotals};
pub use tasks::NewJob;
pub use tokens::{TaskPayments, TokenRules, TokenState};

// What `retention` and `tokens` reach through `super::`.
use jobs::tx_bump_count;
use schema::{
    ASSIGNED, OPEN, TxResult, abort, dec, enc, get, index_key, job_key, state_code, task_age_key,
    tx_get,
};

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
    /// A job write that its state does not allow (see [`JobState::may_become`](crate::model::JobState::may_become)).
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
    /// Results to deliver to a chain, by task.
    deliveries: Tree,
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
            deliveries: db.open_tree("deliveries")?,
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
}
