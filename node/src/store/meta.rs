//! The gateway's entries in the `meta` tree: its sequence counters for batches and tasks, and
//! its heartbeat, with the deadline extension that makes up for the time it was down.

use sled::Transactional;

use lagrange_protocol::UnixMillis;

use super::jobs::tx_put_job;
use super::{Store, StoreError};
use crate::model::{JobRecord, JobState};

impl Store {
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
}
