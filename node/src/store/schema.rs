//! How the store's records sit in sled: the keys of its trees, the encoding of its values,
//! and the small read helpers every topic file shares, in and out of transactions. The trees
//! themselves are listed in the module docs of [`super`].

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Tree;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionalTree,
};

use lagrange_protocol::canonical::canonical_bytes;
use lagrange_protocol::{BatchId, JobId, PublicKey, TaskId, UnixMillis};

use super::StoreError;

use crate::model::JobState;

/// A task's key in `task_ages`: creation time (BE), then id.
pub(super) fn task_age_key(at: UnixMillis, id: &TaskId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&at.to_be_bytes());
    key[8..].copy_from_slice(id.as_bytes());
    key
}

pub(super) const COMMIT: u8 = 1;
pub(super) const REVEAL: u8 = 2;

pub(super) fn job_key(job: &JobId) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(job.task.as_bytes());
    k[16..].copy_from_slice(&job.index.to_be_bytes());
    k
}

pub(super) fn job_from_key(k: &[u8]) -> Option<JobId> {
    let task: [u8; 16] = k.get(..16)?.try_into().ok()?;
    let index: [u8; 4] = k.get(16..20)?.try_into().ok()?;
    Some(JobId::new(TaskId(task), u32::from_be_bytes(index)))
}

pub(super) fn event_key(task: &TaskId, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(task.as_bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(super) fn bid_key(batch: &BatchId, kind: u8, signer: &PublicKey) -> [u8; 49] {
    let mut k = [0u8; 49];
    k[..16].copy_from_slice(batch.as_bytes());
    k[16] = kind;
    k[17..].copy_from_slice(signer.as_bytes());
    k
}

pub(super) fn enc<T: Serialize>(value: &T) -> Vec<u8> {
    canonical_bytes(value)
}

pub(super) fn dec<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice::<T, _>(bytes, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| StoreError::Corrupt {
            what,
            reason: e.to_string(),
        })
}

/// Reads and decodes one record.
pub(super) fn get<T: DeserializeOwned>(
    tree: &Tree,
    what: &'static str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|b| dec(what, &b)).transpose()
}

pub(super) type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

pub(super) fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

pub(super) fn tx_get<T: DeserializeOwned>(
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

pub(super) const OPEN: u8 = b'o';
pub(super) const ASSIGNED: u8 = b'a';

pub(super) fn index_key(tag: u8, job: &JobId) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = tag;
    k[1..].copy_from_slice(&job_key(job));
    k
}

pub(super) const COUNT: u8 = b'n';

/// The one-byte code of a job state in the per-state counts.
pub(super) fn state_code(state: &JobState) -> u8 {
    match state {
        JobState::Open => 0,
        JobState::Auctioning { .. } => 1,
        JobState::Assigned { .. } => 2,
        JobState::Verified { .. } => 3,
        JobState::Cancelled => 4,
    }
}

pub(super) fn read_count(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}
