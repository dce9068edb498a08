//! The auction transcript: a hash of exactly the inputs an award used, and the audit check.
//!
//! ```text
//! transcript = blake3-derive-key("lagrange-node v1 auction transcript",
//!     bincode(batch) ‖ n_commits ‖ bincode(commit)… ‖ n_reveals ‖ bincode(reveal)…
//!     ‖ bincode(eligibility))
//! ```
//!
//! Commits and reveals are hashed sorted by signer, then by message digest, so the hash does
//! not depend on arrival order. An [`AuctionResult`] carries this hash; [`verify_award`]
//! checks first that the messages hash to it, then recomputes the award from them.

use crate::auction::{AuctionError, Award, Eligibility, award};
use crate::codec::canonical_bytes;
use crate::messages::{AuctionResult, BatchAnnouncement, BidCommit, BidReveal};
use crate::signed::{Signed, SignedError, SignedPayload};
use crate::{Digest, PublicKey};

fn sorted<T: SignedPayload>(items: &[Signed<T>]) -> Vec<&Signed<T>> {
    let mut v: Vec<(PublicKey, Digest, &Signed<T>)> =
        items.iter().map(|m| (m.signer, m.digest(), m)).collect();
    v.sort_by_key(|m| (m.0, m.1));
    v.into_iter().map(|(_, _, m)| m).collect()
}

/// The transcript hash of an auction's inputs.
pub fn transcript_hash(
    batch: &BatchAnnouncement,
    commits: &[Signed<BidCommit>],
    reveals: &[Signed<BidReveal>],
    eligibility: &Eligibility,
) -> Digest {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 auction transcript");
    h.update(&canonical_bytes(batch));
    h.update(&(commits.len() as u64).to_le_bytes());
    for c in sorted(commits) {
        h.update(&canonical_bytes(c));
    }
    h.update(&(reveals.len() as u64).to_le_bytes());
    for r in sorted(reveals) {
        h.update(&canonical_bytes(r));
    }
    h.update(&canonical_bytes(eligibility));
    Digest(*h.finalize().as_bytes())
}

/// How an auction result fails the audit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwardAuditError {
    /// A signature in the transcript does not verify.
    #[error("bad signature on {what}: {source}")]
    Signature {
        /// Which message.
        what: &'static str,
        /// The failure.
        source: SignedError,
    },
    /// The result was signed by someone other than the batch's gateway.
    #[error("result signed by {result}, batch by {batch}")]
    GatewayMismatch {
        /// The batch's signer.
        batch: PublicKey,
        /// The result's signer.
        result: PublicKey,
    },
    /// The result names another batch or Supernet.
    #[error("result is for another batch or supernet")]
    WrongBatch,
    /// The inputs are not ones an honest gateway would use.
    #[error(transparent)]
    Inputs(#[from] AuctionError),
    /// The messages do not hash to the result's transcript hash.
    #[error("transcript hash mismatch: result claims {claimed}, messages give {computed}")]
    TranscriptMismatch {
        /// In the result.
        claimed: Digest,
        /// Recomputed.
        computed: Digest,
    },
    /// Same transcript, different award: the gateway deviated from the rule.
    #[error("award deviates from the rule")]
    AwardMismatch {
        /// What the rule gives.
        expected: Box<Award>,
    },
}

/// Checks a gateway's signed [`AuctionResult`] against the signed batch, commits and reveals
/// and the eligibility snapshot. Returns the recomputed award when everything matches.
///
/// The order of the checks is what makes the verdict safe to publish: first what binds the
/// gateway (its signatures on the batch and the result, the same batch, and the transcript
/// hash it signed, recomputed from the messages), and only then what the messages say. So
/// any change a third party makes to the messages (a flipped bit in a prover's signature, a
/// repeated or dropped reveal) ends in [`AwardAuditError::TranscriptMismatch`], which proves
/// nothing, and the errors after it ([`AwardAuditError::Signature`] on a commit or reveal,
/// [`AwardAuditError::Inputs`], [`AwardAuditError::AwardMismatch`]) are about inputs the
/// gateway itself signed. Every signature is checked with the strict single-message rule, as
/// the gateway checks the bids it takes: a batch check is randomized on crafted signatures,
/// and a verdict must not depend on the draw.
pub fn verify_award(
    batch: &Signed<BatchAnnouncement>,
    commits: &[Signed<BidCommit>],
    reveals: &[Signed<BidReveal>],
    eligibility: &Eligibility,
    result: &Signed<AuctionResult>,
) -> Result<Award, AwardAuditError> {
    let sig = |what| move |source| AwardAuditError::Signature { what, source };
    batch.verify().map_err(sig("batch"))?;
    result.verify().map_err(sig("result"))?;
    if batch.signer != result.signer {
        return Err(AwardAuditError::GatewayMismatch {
            batch: batch.signer,
            result: result.signer,
        });
    }
    if result.payload.batch_id != batch.payload.batch_id
        || result.payload.supernet != batch.payload.supernet
    {
        return Err(AwardAuditError::WrongBatch);
    }
    let claimed = &result.payload.award;
    let computed = transcript_hash(&batch.payload, commits, reveals, eligibility);
    if computed != claimed.transcript_hash {
        return Err(AwardAuditError::TranscriptMismatch {
            claimed: claimed.transcript_hash,
            computed,
        });
    }

    // From here on the messages are the ones the gateway signed for.
    for commit in commits {
        commit.verify().map_err(sig("commits"))?;
    }
    for reveal in reveals {
        reveal.verify().map_err(sig("reveals"))?;
    }
    let expected = award(&batch.payload, commits, reveals, eligibility)?;
    if expected != *claimed {
        return Err(AwardAuditError::AwardMismatch {
            expected: Box::new(expected),
        });
    }
    Ok(expected)
}

impl AuctionResult {
    /// The result message for `award` of `batch`.
    pub fn new(batch: &BatchAnnouncement, award: Award) -> Self {
        Self {
            supernet: batch.supernet.clone(),
            batch_id: batch.batch_id,
            award,
        }
    }
}
