//! The prover's own state in its store: the jobs it holds and its sealed bids not yet
//! settled. The records are the prover's, opaque here; the store only keys them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use lagrange_protocol::{BatchId, JobId};

use super::schema::{dec, enc, job_key};
use super::{Store, StoreError};

impl Store {
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
}
