//! `BidBook`: the commits and reveals of one batch, accepted by the rules of their windows.
//!
//! The gateway keeps one book per open batch. A commit is accepted until the commit deadline
//! (inclusive), one per prover. A reveal is accepted after the commit deadline and until the
//! reveal deadline plus the book's grace (inclusive), only from a prover whose commit is in
//! the book, and only if it opens that commit. The same message arriving twice (over gossip
//! and directly) is accepted both times; a different second message is refused. The book can
//! close as soon as every commit is revealed ([`BidBook::can_close`]). Time is passed in by
//! the caller.
//!
//! At most [`MAX_COMMITS_PER_BATCH`] commits are held. Slots do not go to whoever commits
//! first: each prover has a stake-weighted **slot rank** in each batch
//! ([`crate::sortition`]), computed with its weight in the table the batch announcement
//! commits to (the book holds that table; a prover not in it holds no slot), and a full book
//! takes a new commit only if it ranks better than the worst one held, which then leaves.
//! The book's commits are therefore the best-ranked of all that arrived in the window,
//! whatever the order they came in, and an auditor checks any omission against the ranks
//! ([`crate::audit`]). When the commit window is over the gateway signs
//! [`BidBook::closed_set`] and gossips it before any reveal counts.
//!
//! `accept_*` check signatures one at a time with the strict rule, which is what the gateway
//! calls: whatever checked a message before (gossip validation batch-verifies, and a batch
//! check is randomized on crafted signatures), only a bid every auditor judges the same way
//! enters a transcript. The `*_preverified` variants are for callers that already made that
//! strict check.

use std::collections::BTreeMap;

use crate::auction::{AuctionError, Award, Eligibility, award};
use crate::commit::{RevealError, check_reveal};
use crate::keys::PublicKey;
use crate::merkle::{SlotWeight, WeightTree};
use crate::messages::{
    BatchAnnouncement, BidCommit, BidReveal, CommitsClosed, MAX_COMMITS_PER_BATCH,
};
use crate::signed::{Signed, SignedError};
use crate::sortition::{SlotRank, slot_rank};
use crate::{Digest, UnixMillis};

/// Why a commit or reveal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BidError {
    /// The signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignedError),
    /// For another batch or Supernet.
    #[error("message is for another batch or supernet")]
    WrongBatch,
    /// The commit arrived after the commit deadline.
    #[error("commit arrived at {now}, after the commit deadline {deadline}")]
    LateCommit {
        /// Arrival time.
        now: UnixMillis,
        /// The deadline.
        deadline: UnixMillis,
    },
    /// The reveal arrived while commits were still open, which would unseal the bid early.
    #[error("reveal arrived at {now}, before the commit deadline {deadline} passed")]
    EarlyReveal {
        /// Arrival time.
        now: UnixMillis,
        /// The commit deadline.
        deadline: UnixMillis,
    },
    /// The reveal arrived after the reveal deadline.
    #[error("reveal arrived at {now}, after the reveal deadline {deadline}")]
    LateReveal {
        /// Arrival time.
        now: UnixMillis,
        /// The deadline.
        deadline: UnixMillis,
    },
    /// A second commit or reveal from the same prover.
    #[error("prover {0} already sent one")]
    Duplicate(PublicKey),
    /// A reveal from a prover with no commit in the book.
    #[error("no commit from {0} for this batch")]
    UnknownCommit(PublicKey),
    /// A reveal that does not open its commit.
    #[error(transparent)]
    Reveal(#[from] RevealError),
    /// The batch already holds [`MAX_COMMITS_PER_BATCH`] commits, all ranked better.
    #[error("the batch already holds {MAX_COMMITS_PER_BATCH} commits, all of better slot rank")]
    Full,
    /// The prover has no weight in the batch's table (it was not a live, eligible prover
    /// when the batch was announced).
    #[error("{0} has no weight in this batch")]
    NoWeight(PublicKey),
    /// The weight table is not the one the batch announcement commits to.
    #[error("the weight table does not match the batch's weight root")]
    WrongWeights,
}

/// The accepted commits and reveals of one batch.
#[derive(Debug, Clone)]
pub struct BidBook {
    batch: BatchAnnouncement,
    /// Digest of the signed batch: the seed of the slot ranks.
    seed: Digest,
    /// The weights the slot ranks are computed with; its root is the batch's.
    weights: WeightTree,
    grace: UnixMillis,
    commits: BTreeMap<PublicKey, Signed<BidCommit>>,
    /// The slot rank of each held commit's signer.
    ranks: BTreeMap<PublicKey, SlotRank>,
    reveals: BTreeMap<PublicKey, Signed<BidReveal>>,
}

impl BidBook {
    /// An empty book for `batch`, whose commit slots are ranked with `weights` (the table
    /// whose root the batch announces).
    pub fn new(batch: &Signed<BatchAnnouncement>, weights: WeightTree) -> Result<Self, BidError> {
        if weights.root() != batch.payload.weights {
            return Err(BidError::WrongWeights);
        }
        Ok(Self {
            batch: batch.payload.clone(),
            seed: batch.digest(),
            weights,
            grace: 0,
            commits: BTreeMap::new(),
            ranks: BTreeMap::new(),
            reveals: BTreeMap::new(),
        })
    }

    /// Counts reveals up to `grace` ms after the reveal deadline.
    pub fn with_reveal_grace(mut self, grace: UnixMillis) -> Self {
        self.grace = grace;
        self
    }

    /// The batch.
    pub fn batch(&self) -> &BatchAnnouncement {
        &self.batch
    }

    /// The last moment a reveal is counted: the reveal deadline plus the grace.
    pub fn closes_at(&self) -> UnixMillis {
        self.batch.reveal_deadline.saturating_add(self.grace)
    }

    /// Whether the auction can be decided at `now`: commits are closed and every committer
    /// has revealed (nothing can change any more), or the last reveal moment has passed.
    pub fn can_close(&self, now: UnixMillis) -> bool {
        let all_revealed = self.commits.keys().all(|k| self.reveals.contains_key(k));
        (now > self.batch.commit_deadline && all_revealed) || now > self.closes_at()
    }

    /// Checks the signature, then [`BidBook::accept_commit_preverified`].
    pub fn accept_commit(
        &mut self,
        commit: Signed<BidCommit>,
        now: UnixMillis,
    ) -> Result<Option<PublicKey>, BidError> {
        commit.verify()?;
        self.accept_commit_preverified(commit, now)
    }

    /// Accepts a commit whose signature the caller has already verified. When the book is
    /// full and the commit ranks better than the worst held, that one leaves the book and
    /// its signer is returned.
    pub fn accept_commit_preverified(
        &mut self,
        commit: Signed<BidCommit>,
        now: UnixMillis,
    ) -> Result<Option<PublicKey>, BidError> {
        let c = &commit.payload;
        if c.supernet != self.batch.supernet || c.batch_id != self.batch.batch_id {
            return Err(BidError::WrongBatch);
        }
        if now > self.batch.commit_deadline {
            return Err(BidError::LateCommit {
                now,
                deadline: self.batch.commit_deadline,
            });
        }
        if let Some(held) = self.commits.get(&commit.signer) {
            return if *held == commit {
                Ok(None)
            } else {
                Err(BidError::Duplicate(commit.signer))
            };
        }
        let rank = self
            .slot_rank(&commit.signer)
            .ok_or(BidError::NoWeight(commit.signer))?;
        let mut evicted = None;
        if self.commits.len() >= MAX_COMMITS_PER_BATCH {
            let worst = self.ranks.values().max().copied().ok_or(BidError::Full)?;
            if rank >= worst {
                return Err(BidError::Full);
            }
            let worst = *worst.prover();
            self.commits.remove(&worst);
            self.ranks.remove(&worst);
            evicted = Some(worst);
        }
        self.ranks.insert(commit.signer, rank);
        self.commits.insert(commit.signer, commit);
        Ok(evicted)
    }

    /// The slot rank of `prover` in this batch, if it has a weight in it.
    pub fn slot_rank(&self, prover: &PublicKey) -> Option<SlotRank> {
        let weight = self.weights.weight(prover).filter(|w| *w > 0)?;
        Some(slot_rank(&self.seed, prover, weight))
    }

    /// `prover`'s weight with its proof against the batch's root, if it has one.
    pub fn slot_weight(&self, prover: &PublicKey) -> Option<SlotWeight> {
        self.weights.slot_weight(prover)
    }

    /// The proven weights of the held commits' signers, as an award's eligibility carries
    /// them.
    pub fn committer_weights(&self) -> BTreeMap<PublicKey, SlotWeight> {
        self.commits
            .keys()
            .filter_map(|p| Some((*p, self.slot_weight(p)?)))
            .collect()
    }

    /// Whether the commit window is over at `now` (no commit can join any more).
    pub fn commits_are_closed(&self, now: UnixMillis) -> bool {
        now > self.batch.commit_deadline
    }

    /// The closed commit set: the digests of the accepted commits, sorted. Meaningful once
    /// [`BidBook::commits_are_closed`].
    pub fn closed_set(&self) -> CommitsClosed {
        let mut commits: Vec<_> = self.commits.values().map(Signed::digest).collect();
        commits.sort();
        CommitsClosed {
            supernet: self.batch.supernet.clone(),
            batch_id: self.batch.batch_id,
            commits,
        }
    }

    /// Checks the signature, then [`BidBook::accept_reveal_preverified`].
    pub fn accept_reveal(
        &mut self,
        reveal: Signed<BidReveal>,
        now: UnixMillis,
    ) -> Result<(), BidError> {
        reveal.verify()?;
        self.accept_reveal_preverified(reveal, now)
    }

    /// Accepts a reveal whose signature the caller has already verified.
    pub fn accept_reveal_preverified(
        &mut self,
        reveal: Signed<BidReveal>,
        now: UnixMillis,
    ) -> Result<(), BidError> {
        let r = &reveal.payload;
        if r.supernet != self.batch.supernet || r.batch_id != self.batch.batch_id {
            return Err(BidError::WrongBatch);
        }
        if now <= self.batch.commit_deadline {
            return Err(BidError::EarlyReveal {
                now,
                deadline: self.batch.commit_deadline,
            });
        }
        if let Some(held) = self.reveals.get(&reveal.signer) {
            return if *held == reveal {
                Ok(())
            } else {
                Err(BidError::Duplicate(reveal.signer))
            };
        }
        if now > self.closes_at() {
            return Err(BidError::LateReveal {
                now,
                deadline: self.closes_at(),
            });
        }
        let commit = self
            .commits
            .get(&reveal.signer)
            .ok_or(BidError::UnknownCommit(reveal.signer))?;
        check_reveal(&self.batch, commit, &reveal)?;
        self.reveals.insert(reveal.signer, reveal);
        Ok(())
    }

    /// The accepted commit of `prover`, if any.
    pub fn commit_of(&self, prover: &PublicKey) -> Option<&Signed<BidCommit>> {
        self.commits.get(prover)
    }

    /// The accepted commits.
    pub fn commits(&self) -> Vec<Signed<BidCommit>> {
        self.commits.values().cloned().collect()
    }

    /// The accepted reveals, by signer.
    pub fn reveals(&self) -> Vec<Signed<BidReveal>> {
        self.reveals.values().cloned().collect()
    }

    /// Runs [`award`] over the book's contents.
    pub fn award(&self, eligibility: &Eligibility) -> Result<Award, AuctionError> {
        award(&self.batch, &self.commits(), &self.reveals(), eligibility)
    }
}
