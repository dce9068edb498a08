//! Commit-reveal for sealed bids.
//!
//! A prover commits to its whole bid vector for a batch with
//!
//! ```text
//! commitment = blake3-derive-key("lagrange-node v1 bid commitment",
//!                                bincode(supernet, batch id, prover key, bids, salt))
//! ```
//!
//! Binding the Supernet, the batch and the prover's own key into the hash means a commitment
//! (or its reveal) can't be replayed into another Supernet or batch, nor claimed by another
//! prover. The 32-byte random salt hides the bids until the reveal.

use crate::Digest;
use crate::canonical::canonical_bytes;
use crate::ids::{BatchId, JobId, SupernetId};
use crate::keys::PublicKey;
use crate::messages::{BatchAnnouncement, Bid, BidCommit, BidReveal, Salt};
use crate::signed::Signed;

/// Why a reveal does not open a commit, or its bids break the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevealError {
    /// Reveal and commit were signed by different keys.
    #[error("reveal signed by {reveal}, commit by {commit}")]
    SignerMismatch {
        /// The commit's signer.
        commit: PublicKey,
        /// The reveal's signer.
        reveal: PublicKey,
    },
    /// Reveal and commit name different batches or Supernets.
    #[error("reveal is for another batch or supernet than its commit")]
    BatchMismatch,
    /// The bids and salt do not hash to the commitment.
    #[error("bids and salt do not match the commitment")]
    CommitmentMismatch,
    /// A bid for a job the batch does not offer.
    #[error("bid for job {0}, which the batch does not offer")]
    UnknownJob(JobId),
    /// Bids not sorted by job id, or two bids for one job.
    #[error("bids are not sorted by job id or bid twice on job {0}")]
    UnsortedBids(JobId),
    /// A reveal with no bids: it offers nothing, so it counts as no reveal (a commit slot
    /// held without an offer is squatted, and pays the non-reveal penalty).
    #[error("the reveal holds no bids")]
    NoBids,
}

/// The commitment to `bids` by `prover` for `batch_id` in `supernet`.
pub fn commit_bids(
    supernet: &SupernetId,
    batch_id: &BatchId,
    prover: &PublicKey,
    bids: &[Bid],
    salt: &Salt,
) -> Digest {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 bid commitment");
    h.update(&canonical_bytes(&(supernet, batch_id, prover, bids, salt)));
    Digest(*h.finalize().as_bytes())
}

/// Builds the unsigned commit and reveal for `bids`, sorting them by job id. The caller
/// signs both and sends the reveal only after the commit deadline.
pub fn seal_bids(
    batch: &BatchAnnouncement,
    prover: &PublicKey,
    mut bids: Vec<Bid>,
    salt: Salt,
) -> (BidCommit, BidReveal) {
    bids.sort_by_key(|b| b.job_id);
    let commitment = commit_bids(&batch.supernet, &batch.batch_id, prover, &bids, &salt);
    (
        BidCommit {
            supernet: batch.supernet.clone(),
            batch_id: batch.batch_id,
            commitment,
        },
        BidReveal {
            supernet: batch.supernet.clone(),
            batch_id: batch.batch_id,
            bids,
            salt,
        },
    )
}

/// Checks that `reveal` opens `commit`: same signer, same batch and Supernet, and the bids
/// and salt hash to the commitment. Signatures are not checked here.
pub fn check_opening(
    commit: &Signed<BidCommit>,
    reveal: &Signed<BidReveal>,
) -> Result<(), RevealError> {
    if commit.signer != reveal.signer {
        return Err(RevealError::SignerMismatch {
            commit: commit.signer,
            reveal: reveal.signer,
        });
    }
    let (c, r) = (&commit.payload, &reveal.payload);
    if c.supernet != r.supernet || c.batch_id != r.batch_id {
        return Err(RevealError::BatchMismatch);
    }
    let expected = commit_bids(&r.supernet, &r.batch_id, &reveal.signer, &r.bids, &r.salt);
    if expected != c.commitment {
        return Err(RevealError::CommitmentMismatch);
    }
    Ok(())
}

/// Checks that `bids` are not empty, sorted by job id, one per job, and only for jobs of
/// `batch`.
pub fn check_bids(batch: &BatchAnnouncement, bids: &[Bid]) -> Result<(), RevealError> {
    if bids.is_empty() {
        return Err(RevealError::NoBids);
    }
    for pair in bids.windows(2) {
        if pair[0].job_id >= pair[1].job_id {
            return Err(RevealError::UnsortedBids(pair[1].job_id));
        }
    }
    for bid in bids {
        if batch.job(&bid.job_id).is_none() {
            return Err(RevealError::UnknownJob(bid.job_id));
        }
    }
    Ok(())
}

/// [`check_opening`] and [`check_bids`] together: is `reveal` a valid opening of `commit`
/// for `batch`?
pub fn check_reveal(
    batch: &BatchAnnouncement,
    commit: &Signed<BidCommit>,
    reveal: &Signed<BidReveal>,
) -> Result<(), RevealError> {
    if reveal.payload.batch_id != batch.batch_id || reveal.payload.supernet != batch.supernet {
        return Err(RevealError::BatchMismatch);
    }
    check_opening(commit, reveal)?;
    check_bids(batch, &reveal.payload.bids)
}
