//! Auditing a gateway's auction from signed messages alone.
//!
//! An [`Evidence`] bundle holds an auction's transcript as the gateway served it (batch,
//! closed commit set, commits, reveals, eligibility snapshot and signed result) and what the
//! auditor holds itself: the gateway's [`BidReceipt`]s for bids sent to it, those bids, and
//! provers' signed availability announcements. [`audit`] recomputes the award and checks
//! every promise the gateway signed:
//!
//! 1. **Attribution.** The batch, the closed set and the result are signed by one gateway
//!    key and name the same batch; otherwise nothing in the bundle can be held against the
//!    gateway ([`AuditError::Unattributable`]).
//! 2. **The award.** [`verify_award`] first recomputes the transcript hash, which the
//!    gateway signed in its result. A transcript that does not hash to it proves nothing
//!    (the gateway's answer to a transcript request is not signed, and anyone can change the
//!    bytes of a copy). Only then are the messages themselves judged: in a transcript the
//!    gateway signed, a bad signature, a duplicate or an award the rule does not give is a
//!    deviation.
//! 3. **The closed set.** Every commit the award used is in the signed closed set
//!    ([`Deviation::CommitAfterClose`]), and every commit of the set was used
//!    ([`Deviation::CommitDropped`]).
//! 4. **Slots.** Every commit the award used holds its slot with a weight proven against
//!    the weight root of the signed batch ([`Deviation::SlotWeightUnproven`]); a commit the
//!    gateway gave a receipt for, with the weight its receipt proves, is in the closed set,
//!    unless the set is full of commits of better slot rank ([`crate::sortition`]), which
//!    may push a receipted commit out ([`Deviation::CommitOmitted`]); a reveal it gave a
//!    receipt for was used and its signer is not named a non-revealer
//!    ([`Deviation::RevealDropped`]).
//! 5. **Capacity.** A standing's free capacity is at most what its stake backs (one job per
//!    `min_stake`, [`Deviation::CapacityBeyondStake`]); and a standing names the digest of
//!    the availability announcement it comes from, whose signed capacity bounds it too
//!    ([`Deviation::CapacityInflated`]).
//!
//! **The rule of evidence.** Only what the gateway signed can prove that it deviated: its
//! batch, closed set, result (and with it the transcript hash) and receipts. Whatever does
//! not check against those is [`AuditError::Unattributable`], never a deviation, so no copy
//! of an honest gateway's transcript, however it is altered, frames it. A deviation is
//! proven by the bundle alone: a third party runs the same [`audit`] on the same bytes
//! ([`Evidence::to_bytes`], [`Evidence::from_bytes`]) and reaches the same verdict.

use serde::{Deserialize, Serialize};

use crate::auction::{Award, AwardAuditError, backed_slots, verify_award};
use crate::canonical::canonical_bytes;
use crate::messages::{
    AuctionTranscript, BidCommit, BidKind, BidReceipt, BidReveal, MAX_COMMITS_PER_BATCH,
    ProverAvailability,
};
use crate::signed::Signed;
use crate::sortition::slot_rank;
use crate::{BatchId, PublicKey};

/// Largest evidence file [`Evidence::from_bytes`] reads.
pub const MAX_EVIDENCE_BYTES: usize = 16 << 20;

const MAGIC: &[u8; 8] = b"LGRNEVD1";

/// An auction's transcript and what an auditor holds about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The transcript as the gateway served it.
    pub transcript: AuctionTranscript,
    /// The gateway's receipts for bids sent to it.
    pub receipts: Vec<Signed<BidReceipt>>,
    /// Commits the receipts are for.
    pub commits: Vec<Signed<BidCommit>>,
    /// Reveals the receipts are for.
    pub reveals: Vec<Signed<BidReveal>>,
    /// Availability announcements standings refer to.
    pub availability: Vec<Signed<ProverAvailability>>,
}

/// A broken promise, proven by the signed messages of an [`Evidence`] bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Deviation {
    /// The award is not what the rule gives for the transcript the gateway signed, or the
    /// transcript holds messages an honest gateway refuses (bad signatures, duplicates,
    /// bids for other batches).
    #[error("the award does not follow the rule: {0}")]
    Award(AwardAuditError),
    /// A commit the award used was not in the closed set: accepted after the commit
    /// window closed.
    #[error("the commit of {prover} was not in the closed set but was used")]
    CommitAfterClose {
        /// Its signer.
        prover: PublicKey,
    },
    /// A commit of the closed set the award did not use.
    #[error("a commit of the closed set (by {prover}) was left out of the award")]
    CommitDropped {
        /// Its signer, when the auditor holds the commit; else the gateway's own key.
        prover: PublicKey,
    },
    /// A commit the gateway acknowledged is missing from the closed set, which had room for
    /// it (it was not full, or held a commit of worse slot rank).
    #[error("the commit of {prover} has the gateway's receipt but is not in the closed set")]
    CommitOmitted {
        /// Its signer.
        prover: PublicKey,
    },
    /// A commit the award used whose signer's weight is not proven against the batch's
    /// weight root: it held a slot the rule gives only to provers in the table.
    #[error("the commit of {prover} holds a slot without a proven weight")]
    SlotWeightUnproven {
        /// Its signer.
        prover: PublicKey,
    },
    /// A reveal the gateway acknowledged was not counted.
    #[error("the reveal of {prover} has the gateway's receipt but was counted as a non-reveal")]
    RevealDropped {
        /// Its signer.
        prover: PublicKey,
    },
    /// A standing with more free capacity than its stake backs (one job per `min_stake`).
    #[error("the standing of {prover} claims {claimed} free slots; its stake backs {backed}")]
    CapacityBeyondStake {
        /// The prover.
        prover: PublicKey,
        /// Free capacity in the snapshot.
        claimed: u32,
        /// Jobs its stake backs.
        backed: u32,
    },
    /// A standing with more free capacity than the prover announced.
    #[error(
        "the standing of {prover} claims {claimed} free slots; its announcement says {announced}"
    )]
    CapacityInflated {
        /// The prover.
        prover: PublicKey,
        /// Free capacity in the snapshot.
        claimed: u32,
        /// Capacity in the signed announcement the standing names.
        announced: u32,
    },
}

/// Why an audit did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The gateway deviated; the bundle proves it.
    #[error("gateway {gateway} deviated in batch {batch}: {deviation}")]
    Deviation {
        /// The gateway's key.
        gateway: PublicKey,
        /// The batch.
        batch: BatchId,
        /// What it did.
        deviation: Box<Deviation>,
    },
    /// The bundle does not bind the gateway (signatures, or a transcript that does not
    /// hash to the signed result): it proves nothing either way.
    #[error("the evidence does not bind the gateway: {0}")]
    Unattributable(String),
}

/// Why an evidence file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Larger than [`MAX_EVIDENCE_BYTES`].
    #[error("evidence of {0} bytes is larger than the limit")]
    TooLarge(usize),
    /// Not an evidence file.
    #[error("not an evidence file (bad magic)")]
    BadMagic,
    /// The body does not decode.
    #[error("malformed evidence: {0}")]
    Malformed(String),
}

/// An evidence file: `magic`, then the canonical encoding of `value`.
pub(crate) fn to_file<T: Serialize>(magic: &[u8; 8], value: &T) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend(canonical_bytes(value));
    out
}

/// Reads an evidence file that starts with `magic`, with the size limit and nothing left
/// over.
pub(crate) fn from_file<T: serde::de::DeserializeOwned>(
    magic: &[u8; 8],
    bytes: &[u8],
) -> Result<T, EvidenceError> {
    if bytes.len() > MAX_EVIDENCE_BYTES {
        return Err(EvidenceError::TooLarge(bytes.len()));
    }
    decode_limited(bytes.strip_prefix(magic).ok_or(EvidenceError::BadMagic)?)
}

impl Evidence {
    /// The file form: magic, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_file(MAGIC, self)
    }

    /// Reads the file form, with a size limit and nothing left over.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EvidenceError> {
        from_file(MAGIC, bytes)
    }

    /// A bundle of a transcript alone, as any peer can fetch it: it shows the award, the
    /// closed set and attribution (receipts and announcements are the provers' own).
    pub fn from_transcript(transcript: AuctionTranscript) -> Self {
        Self {
            transcript,
            receipts: Vec::new(),
            commits: Vec::new(),
            reveals: Vec::new(),
            availability: Vec::new(),
        }
    }
}

/// Reads a transcript in its canonical encoding (as the gateway's API serves it), with the
/// evidence size limit and nothing left over.
pub fn transcript_from_bytes(bytes: &[u8]) -> Result<AuctionTranscript, EvidenceError> {
    decode_limited(bytes)
}

fn decode_limited<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, EvidenceError> {
    let config = bincode::config::standard().with_limit::<MAX_EVIDENCE_BYTES>();
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(bytes, config)
        .map_err(|e| EvidenceError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(EvidenceError::Malformed("trailing bytes".into()));
    }
    Ok(value)
}

/// Audits the auction of `evidence`, as described in the module docs. Returns the award
/// the rule gives when the gateway kept every promise the bundle shows.
pub fn audit(evidence: &Evidence) -> Result<Award, AuditError> {
    let t = &evidence.transcript;
    let gateway = t.batch.signer;
    let batch_id = t.batch.payload.batch_id;
    let unattributable = |why: String| AuditError::Unattributable(why);
    let deviated = |deviation| AuditError::Deviation {
        gateway,
        batch: batch_id,
        deviation: Box::new(deviation),
    };

    // 1. Attribution.
    t.batch
        .verify()
        .map_err(|e| unattributable(format!("batch: {e}")))?;
    t.closed
        .verify()
        .map_err(|e| unattributable(format!("closed set: {e}")))?;
    if t.closed.signer != gateway
        || t.closed.payload.batch_id != batch_id
        || t.closed.payload.supernet != t.batch.payload.supernet
    {
        return Err(unattributable(
            "the closed set is not the batch gateway's".into(),
        ));
    }

    // 2. The award, against the transcript the gateway signed in its result.
    let award = match verify_award(&t.batch, &t.commits, &t.reveals, &t.eligibility, &t.result) {
        Ok(award) => award,
        Err(
            e @ (AwardAuditError::GatewayMismatch { .. }
            | AwardAuditError::WrongBatch
            | AwardAuditError::TranscriptMismatch { .. }),
        ) => return Err(unattributable(e.to_string())),
        Err(AwardAuditError::Signature { what, source }) if what == "batch" || what == "result" => {
            return Err(unattributable(format!("{what}: {source}")));
        }
        Err(e) => return Err(deviated(Deviation::Award(e))),
    };

    // 3. The closed set.
    let closed = &t.closed.payload;
    for commit in &t.commits {
        if !closed.contains(&commit.digest()) {
            return Err(deviated(Deviation::CommitAfterClose {
                prover: commit.signer,
            }));
        }
    }
    let used: Vec<_> = t.commits.iter().map(Signed::digest).collect();
    for digest in &closed.commits {
        if !used.contains(digest) {
            let prover = evidence
                .commits
                .iter()
                .find(|c| c.digest() == *digest)
                .map_or(gateway, |c| c.signer);
            return Err(deviated(Deviation::CommitDropped { prover }));
        }
    }

    // 4. Slots: every held commit's weight proven; a full set may have pushed out a
    // receipted commit of worse slot rank.
    let seed = t.batch.digest();
    let root = &t.batch.payload.weights;
    let mut worst_rank = None;
    for commit in &t.commits {
        let proven = t
            .eligibility
            .weights
            .get(&commit.signer)
            .filter(|w| w.weight > 0 && w.verify(root, &commit.signer));
        let Some(proven) = proven else {
            return Err(deviated(Deviation::SlotWeightUnproven {
                prover: commit.signer,
            }));
        };
        let rank = slot_rank(&seed, &commit.signer, proven.weight);
        worst_rank = worst_rank.max(Some(rank));
    }
    let full = closed.commits.len() >= MAX_COMMITS_PER_BATCH;
    for receipt in &evidence.receipts {
        let r = &receipt.payload;
        if receipt.signer != gateway
            || r.batch_id != batch_id
            || r.supernet != t.batch.payload.supernet
            || receipt.verify().is_err()
        {
            continue;
        }
        match r.kind {
            BidKind::Commit => {
                let rank = r
                    .weight
                    .as_ref()
                    .filter(|w| w.verify(root, &r.bidder))
                    .map(|w| slot_rank(&seed, &r.bidder, w.weight));
                let outranked = full && rank.is_some_and(|r| worst_rank.is_some_and(|w| r > w));
                if !closed.contains(&r.bid) && !outranked {
                    return Err(deviated(Deviation::CommitOmitted { prover: r.bidder }));
                }
            }
            BidKind::Reveal => {
                let counted = t.reveals.iter().any(|x| x.digest() == r.bid)
                    && !award.non_revealers.contains(&r.bidder);
                if !counted {
                    return Err(deviated(Deviation::RevealDropped { prover: r.bidder }));
                }
            }
        }
    }

    // 5. Capacity: never beyond what the stake backs, nor what the prover announced.
    for (prover, standing) in &t.eligibility.provers {
        let backed = backed_slots(standing.stake, t.eligibility.min_stake);
        if standing.free_capacity > backed {
            return Err(deviated(Deviation::CapacityBeyondStake {
                prover: *prover,
                claimed: standing.free_capacity,
                backed,
            }));
        }
    }
    for announcement in &evidence.availability {
        let a = &announcement.payload;
        let Some(standing) = t.eligibility.provers.get(&announcement.signer) else {
            continue;
        };
        if a.supernet != t.batch.payload.supernet
            || standing.announcement != announcement.digest()
            || announcement.verify().is_err()
        {
            continue;
        }
        if standing.free_capacity > a.capacity {
            return Err(deviated(Deviation::CapacityInflated {
                prover: announcement.signer,
                claimed: standing.free_capacity,
                announced: a.capacity,
            }));
        }
    }
    Ok(award)
}
