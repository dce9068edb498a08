//! Jobs and the job index: reading jobs, listing the open and assigned ones, and the one
//! write path ([`tx_put_job`]) that keeps the index and the per-state counts in step with
//! every job's state.

use sled::transaction::TransactionalTree;

use lagrange_protocol::{JobId, TaskId};

use super::schema::{
    ASSIGNED, COUNT, OPEN, TxResult, abort, dec, enc, get, index_key, job_from_key, job_key,
    read_count, state_code, tx_get,
};
use super::{ProofRecord, Store, StoreError};
use crate::model::{JobRecord, JobState};

pub(super) fn tx_job(jobs: &TransactionalTree, job: &JobId) -> TxResult<JobRecord> {
    match tx_get::<JobRecord>(jobs, "job", &job_key(job))? {
        Some(r) => Ok(r),
        None => abort(StoreError::UnknownJob(*job)),
    }
}

pub(super) fn tx_bump_count(index: &TransactionalTree, code: u8, up: bool) -> TxResult<()> {
    let key = [COUNT, code];
    let n = read_count(index.get(key)?);
    let n = if up { n + 1 } else { n.saturating_sub(1) };
    index.insert(&key[..], &n.to_be_bytes()[..])?;
    Ok(())
}

/// Writes a job and keeps the job index (open and assigned jobs, and the count of jobs in
/// each state) in step with its state.
pub(super) fn tx_put_job(
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

impl Store {
    /// Stores written before the per-state counts existed get them here, once.
    pub(super) fn count_jobs_once(&self) -> Result<(), StoreError> {
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
}
