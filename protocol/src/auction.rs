//! The auction rule: a batched, first-price, sealed-bid **reverse** auction.
//!
//! [`award`] is a pure, deterministic function of the batch, the accepted commits and
//! reveals, and the provers' eligibility. Every peer that holds the same inputs computes the
//! same award and the same transcript hash.
//!
//! # The rule
//!
//! 1. **Openings.** A reveal counts only if its signer has a commit in the input, it opens
//!    that commit ([`crate::commit::check_opening`]) and its bids are sorted, unique and for
//!    jobs of the batch. Every committer without a counting reveal is a *non-revealer*.
//!    A reveal with no bids opens nothing: its committer is a non-revealer too (a commit
//!    that holds a slot must be a real offer).
//! 2. **Valid bids.** A bid `(job, price)` of revealer `p` is valid when `p` is eligible
//!    (allowlisted, stake ≥ `min_stake`, free capacity > 0), serves the job's category, is not
//!    excluded from that job (an earlier failure on it, or the job was cancelled), and
//!    `price ≤ reserve_price`.
//! 3. **Order.** Valid bids are sorted by `(price, tie-break, job id, prover key)`, lowest
//!    first. The tie-break is `blake3(seed ‖ job id ‖ prover key)`, where the seed hashes the
//!    batch id and the salts of all counting reveals. Salts are fixed in commits before any
//!    reveal is seen, so no prover can steer the seed; withholding a reveal to change it costs
//!    the non-reveal penalty and removes the withholder's own bids.
//! 4. **Greedy assignment.** Walking that order, a bid wins its job if the job is still open
//!    and the prover still has free capacity. The winner is paid its own bid (first price).
//!
//! [`verify_award`] is anyone's check of a gateway's signed result against the same inputs.
//!
//! Consequences, all property-tested: the result does not depend on the order of the inputs;
//! no prover gets more jobs than its capacity; no award is above its reserve; and each job
//! goes to the lowest valid price among provers that still had capacity when it was reached,
//! which is the lowest valid price outright whenever capacity does not bind.

use std::collections::BTreeMap;

use crate::Digest;
use crate::commit::{check_bids, check_opening};
use crate::ids::{BatchId, JobId, SupernetId};
use crate::keys::PublicKey;
use crate::messages::{AuctionResult, BatchAnnouncement, BidCommit, BidReveal};
pub use crate::messages::{Award, AwardedJob, Eligibility, ProverStanding};
use crate::signed::{Signed, SignedError};
use crate::transcript::transcript_hash;

impl Eligibility {
    fn standing(&self, prover: &PublicKey) -> Option<&ProverStanding> {
        self.provers
            .get(prover)
            .filter(|s| s.allowlisted && s.stake >= self.min_stake && s.free_capacity > 0)
    }

    fn is_excluded(&self, job: &JobId, prover: &PublicKey) -> bool {
        self.cancelled.contains(job)
            || self
                .excluded
                .get(job)
                .is_some_and(|set| set.contains(prover))
    }
}

/// How many jobs at once `stake` backs: one per `min_stake` (without a minimum, no bound).
/// A standing's free capacity never exceeds it.
pub fn backed_slots(stake: u64, min_stake: u64) -> u32 {
    match stake.checked_div(min_stake) {
        Some(slots) => u32::try_from(slots).unwrap_or(u32::MAX),
        None => u32::MAX,
    }
}

/// Inputs that no honest gateway would pass to the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuctionError {
    /// A commit or reveal for another batch or Supernet.
    #[error("{what} by {signer} is for another batch or supernet")]
    ForeignMessage {
        /// `commit` or `reveal`.
        what: &'static str,
        /// Its signer.
        signer: PublicKey,
    },
    /// Two commits, or two reveals, by one prover.
    #[error("two {what}s by {signer}")]
    Duplicate {
        /// `commit` or `reveal`.
        what: &'static str,
        /// The signer.
        signer: PublicKey,
    },
}

fn index_by_signer<'a, T>(
    items: &'a [Signed<T>],
    what: &'static str,
    belongs: impl Fn(&T) -> bool,
) -> Result<BTreeMap<PublicKey, &'a Signed<T>>, AuctionError> {
    let mut map = BTreeMap::new();
    for item in items {
        if !belongs(&item.payload) {
            return Err(AuctionError::ForeignMessage {
                what,
                signer: item.signer,
            });
        }
        if map.insert(item.signer, item).is_some() {
            return Err(AuctionError::Duplicate {
                what,
                signer: item.signer,
            });
        }
    }
    Ok(map)
}

fn is_for(batch: &BatchAnnouncement, supernet: &SupernetId, batch_id: &BatchId) -> bool {
    *supernet == batch.supernet && *batch_id == batch.batch_id
}

/// Runs the auction rule described in the module docs.
///
/// Signatures are not checked here: the gateway checks them as messages arrive (see
/// [`crate::book::BidBook`]) and auditors check them in [`crate::auction::verify_award`].
pub fn award(
    batch: &BatchAnnouncement,
    commits: &[Signed<BidCommit>],
    reveals: &[Signed<BidReveal>],
    eligibility: &Eligibility,
) -> Result<Award, AuctionError> {
    let commits_by = index_by_signer(commits, "commit", |c| {
        is_for(batch, &c.supernet, &c.batch_id)
    })?;
    let reveals_by = index_by_signer(reveals, "reveal", |r| {
        is_for(batch, &r.supernet, &r.batch_id)
    })?;

    // 1. Openings that count, in key order.
    let opened: Vec<&Signed<BidReveal>> = reveals_by
        .iter()
        .filter(|(signer, reveal)| {
            commits_by.get(*signer).is_some_and(|commit| {
                check_opening(commit, reveal).is_ok()
                    && check_bids(batch, &reveal.payload.bids).is_ok()
            })
        })
        .map(|(_, reveal)| *reveal)
        .collect();
    let non_revealers: Vec<PublicKey> = commits_by
        .keys()
        .filter(|signer| !opened.iter().any(|r| r.signer == **signer))
        .copied()
        .collect();

    // 2. and 3. Valid bids in award order.
    let seed = tie_break_seed(&batch.batch_id, &opened);
    let mut order: Vec<([u8; 32], AwardedJob)> = Vec::new();
    for reveal in &opened {
        let prover = reveal.signer;
        let Some(standing) = eligibility.standing(&prover) else {
            continue;
        };
        for bid in &reveal.payload.bids {
            let Some(spec) = batch.job(&bid.job_id) else {
                continue;
            };
            if bid.price <= spec.reserve_price
                && standing.categories.contains(&spec.category)
                && !eligibility.is_excluded(&bid.job_id, &prover)
            {
                let tie = tie_break(&seed, &bid.job_id, &prover);
                order.push((
                    tie,
                    AwardedJob {
                        job_id: bid.job_id,
                        prover,
                        price: bid.price,
                    },
                ));
            }
        }
    }
    order.sort_unstable_by(|(ta, a), (tb, b)| {
        (a.price, ta, a.job_id, a.prover).cmp(&(b.price, tb, b.job_id, b.prover))
    });

    // 4. Greedy assignment.
    let mut left: BTreeMap<PublicKey, u32> = BTreeMap::new();
    let mut won: BTreeMap<JobId, AwardedJob> = BTreeMap::new();
    for (_, bid) in order {
        if won.contains_key(&bid.job_id) {
            continue;
        }
        let free = left.entry(bid.prover).or_insert_with(|| {
            eligibility
                .provers
                .get(&bid.prover)
                .map_or(0, |s| s.free_capacity)
        });
        if *free == 0 {
            continue;
        }
        *free -= 1;
        won.insert(bid.job_id, bid);
    }

    let unawarded = batch
        .jobs
        .iter()
        .map(|j| j.job_id)
        .filter(|id| !won.contains_key(id))
        .collect();
    Ok(Award {
        awarded: won.into_values().collect(),
        unawarded,
        non_revealers,
        transcript_hash: transcript_hash(batch, commits, reveals, eligibility),
    })
}

fn tie_break_seed(batch_id: &BatchId, opened: &[&Signed<BidReveal>]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 auction tie-break seed");
    h.update(batch_id.as_bytes());
    for reveal in opened {
        h.update(reveal.signer.as_bytes());
        h.update(reveal.payload.salt.as_bytes());
    }
    *h.finalize().as_bytes()
}

fn tie_break(seed: &[u8; 32], job: &JobId, prover: &PublicKey) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(seed);
    h.update(job.task.as_bytes());
    h.update(&job.index.to_le_bytes());
    h.update(prover.as_bytes());
    *h.finalize().as_bytes()
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
