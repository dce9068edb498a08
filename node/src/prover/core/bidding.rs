//! Bidding: the cost model and announced settings, sealing bids on a batch the gateway
//! announces, committing them, revealing once commits close (again until the gateway takes
//! the reveal), the gateway's answers to bids sent directly, and the sealed bids saved
//! across a restart.

use std::collections::BTreeMap;

use libp2p::PeerId;
use tracing::{debug, info, warn};

use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::messages::{
    BatchAnnouncement, Bid, BidCommit, BidReveal, GossipMessage, HardwareSummary,
    MAX_COMMITS_PER_BATCH, Salt,
};
use lagrange_protocol::sortition::worth_committing;
use lagrange_protocol::{BatchId, JobCategory, JobId, Price, Signed, UnixMillis};

use serde::{Deserialize, Serialize};

use super::{BidAnswer, Output, PendingBid, ProverCore};

/// How a prover prices a job: its measured proving time for the category, times a price per
/// second, plus a margin. Categories without a measurement are not bid on.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    /// Measured proving time per category, in milliseconds.
    pub proving_ms: BTreeMap<JobCategory, u64>,
    /// Price asked per second of proving.
    pub price_per_second: u64,
    /// Margin on top, in percent.
    pub margin_percent: u64,
}

impl CostModel {
    /// The price asked for one job of `category`, or `None` if the prover does not serve it
    /// (or its price does not fit in 64 bits).
    pub fn price(&self, category: JobCategory) -> Option<Price> {
        let ms = u128::from(*self.proving_ms.get(&category)?);
        let base = (ms * u128::from(self.price_per_second))
            .div_ceil(1000)
            .max(1);
        let price = base + (base * u128::from(self.margin_percent)).div_ceil(100);
        Price::try_from(price).ok()
    }
}

/// What the prover announces about itself.
#[derive(Debug, Clone)]
pub struct ProverSettings {
    /// Jobs proven at once.
    pub capacity: u32,
    /// The pricing.
    pub cost: CostModel,
    /// The hardware summary it reports.
    pub hardware: HardwareSummary,
    /// How often it re-announces, in milliseconds.
    pub announce_every_ms: u64,
}

/// A sealed bid, as saved across restarts: all a prover needs to reveal it after a crash.
/// Times are on this prover's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBid {
    /// The batch bid in.
    pub batch: BatchId,
    /// The gateway's peer id, as bytes.
    pub gateway: Vec<u8>,
    /// The signed commit sent.
    pub commit: Signed<BidCommit>,
    /// The signed reveal that opens it (the bids and the salt).
    pub reveal: Signed<BidReveal>,
    /// When commits have closed at the gateway: the reveal goes out then.
    pub reveal_at: UnixMillis,
    /// The last moment the gateway counts a reveal.
    pub closes_at: UnixMillis,
    /// Proving window of each job bid on.
    pub windows: Vec<(JobId, u64)>,
}

impl ProverCore {
    /// Takes back the sealed bids saved before a restart: each one whose auction still counts
    /// reveals is revealed as usual (at once, if commits have closed), over gossip and
    /// directly, again until the gateway takes it; the others are forgotten.
    pub fn resume_bids(&mut self, saved: Vec<SealedBid>, now: UnixMillis) -> Vec<Output> {
        let mut out = Vec::new();
        for sealed in saved {
            let batch = sealed.batch;
            let gateway = PeerId::from_bytes(&sealed.gateway).ok();
            let ours = sealed.commit.signer == self.key.public()
                && sealed.commit.payload.batch_id == batch
                && sealed.reveal.payload.batch_id == batch;
            let (Some(gateway), true) = (gateway, ours) else {
                warn!(batch_id = %batch, "forgetting a saved sealed bid that is not ours");
                out.push(Output::ForgetBid(batch));
                continue;
            };
            if now > sealed.closes_at {
                info!(batch_id = %batch, "forgetting a sealed bid whose reveal window closed while stopped");
                out.push(Output::ForgetBid(batch));
                continue;
            }
            if self.bids.contains_key(&batch) {
                continue;
            }
            info!(batch_id = %batch, "resuming a sealed bid committed before the restart");
            let bid = self.bids.entry(batch).or_insert(PendingBid {
                gateway,
                commit: sealed.commit,
                reveal: sealed.reveal,
                receipts: Vec::new(),
                reveal_at: sealed.reveal_at,
                closes_at: sealed.closes_at,
                windows: sealed.windows.into_iter().collect(),
                published: false,
                acked: false,
                attempts: 0,
                retry_at: sealed.reveal_at,
            });
            reveal_if_due(bid, now, &mut out);
        }
        out
    }

    /// Jobs this prover may still bid on: capacity minus jobs held minus jobs bid on in
    /// auctions that have not settled.
    fn free_capacity(&self) -> usize {
        let bid: usize = self.bids.values().map(|b| b.windows.len()).sum();
        (self.settings.capacity as usize).saturating_sub(self.held.len() + bid)
    }

    pub(super) fn on_bid_answer(
        &mut self,
        batch: BatchId,
        reveal: bool,
        result: BidAnswer,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) {
        let Some(bid) = self.bids.get_mut(&batch) else {
            return;
        };
        // Keep a receipt only if it names this bid and the gateway's key; its signature is
        // checked by the audit, which ignores one that does not verify.
        if let BidAnswer::Taken(receipt) = &result {
            let digest = if reveal {
                bid.reveal.digest()
            } else {
                bid.commit.digest()
            };
            let for_this_bid = receipt.payload.bid == digest
                && receipt
                    .signer
                    .peer_id()
                    .is_ok_and(|peer| peer == bid.gateway);
            if for_this_bid {
                bid.receipts.push((**receipt).clone());
            }
        }
        match (reveal, result) {
            (true, BidAnswer::Taken(_)) => bid.acked = true,
            (false, BidAnswer::Taken(_)) => {
                info!(batch_id = %batch, peer = %bid.gateway, "bid committed");
            }
            (false, BidAnswer::Refused(reason)) => {
                // The gateway holds no commit of ours: there is no bid; free the capacity.
                warn!(batch_id = %batch, %reason, "the gateway did not take the commit");
                self.bids.remove(&batch);
                out.push(Output::ForgetBid(batch));
            }
            // The gossip copy may be in the book: keep the bid, and reveal as usual.
            (false, BidAnswer::Unanswered(reason)) => {
                debug!(batch_id = %batch, %reason, "no answer to the commit");
            }
            (true, BidAnswer::Refused(reason) | BidAnswer::Unanswered(reason)) => {
                bid.attempts = bid.attempts.saturating_add(1);
                if bid.attempts == 1 {
                    warn!(batch_id = %batch, %reason, "reveal not taken yet; sending it again");
                } else {
                    debug!(batch_id = %batch, %reason, attempts = bid.attempts, "reveal not taken yet");
                }
                bid.retry_at = now + 50 * u64::from(1u32 << bid.attempts.min(4));
            }
        }
    }

    pub(super) fn on_batch(
        &mut self,
        gateway: PeerId,
        signed: &Signed<BatchAnnouncement>,
        now: UnixMillis,
        out: &mut Vec<Output>,
    ) {
        let batch = &signed.payload;
        // The gateway's clock, seen from here: its announcement time against our receipt.
        self.offsets
            .entry(gateway)
            .or_default()
            .observe(batch.announced_at, now);
        let commit_deadline = self.local(&gateway, batch.commit_deadline);
        if now > commit_deadline || self.bids.contains_key(&batch.batch_id) {
            return;
        }
        // Bid on at most `free` jobs. Which ones: an order keyed by this prover's key, so
        // provers spread over a batch instead of all bidding on its first jobs.
        let free = self.free_capacity();
        let me = self.key.public();
        // A commit whose slot rank cannot hold a slot only costs everyone: skip the batch.
        // The weight is bounded by what the free capacity backs (without a minimum stake,
        // not bounded: always commit).
        let min_stake = self.supernet.economics.min_stake;
        let max_weight = match min_stake {
            0 => u64::MAX,
            m => m.saturating_mul(free as u64),
        };
        if !worth_committing(
            &signed.digest(),
            &me,
            max_weight,
            batch.weights.sum,
            MAX_COMMITS_PER_BATCH,
        ) {
            debug!(batch_id = %batch.batch_id, "slot rank past the batch's cut-off: not bidding");
            return;
        }
        let mut affordable: Vec<(blake3::Hash, Bid, u64)> = batch
            .jobs
            .iter()
            .filter_map(|spec| {
                let price = self.settings.cost.price(spec.category)?;
                (price <= spec.reserve_price).then(|| {
                    let mut h = blake3::Hasher::new();
                    h.update(me.as_bytes());
                    h.update(spec.job_id.task.as_bytes());
                    h.update(&spec.job_id.index.to_le_bytes());
                    (
                        h.finalize(),
                        Bid {
                            job_id: spec.job_id,
                            price,
                        },
                        spec.proving_window_ms,
                    )
                })
            })
            .collect();
        affordable.sort_by_key(|(rank, _, _)| *rank.as_bytes());
        affordable.truncate(free);
        if affordable.is_empty() {
            return;
        }
        let windows: BTreeMap<JobId, u64> =
            affordable.iter().map(|(_, b, w)| (b.job_id, *w)).collect();
        let bids: Vec<Bid> = affordable.into_iter().map(|(_, b, _)| b).collect();
        let jobs = bids.len();
        let salt = Salt((self.salt_source)());
        let (commit, reveal) = seal_bids(batch, &self.key.public(), bids, salt);
        debug!(batch_id = %batch.batch_id, jobs, "bidding");
        self.metrics.bid(jobs);
        // Reveal a little after commits close, measured on our clock from when we heard of
        // the batch, so neither skew nor a slow announcement makes it early.
        let reveal_window = batch.reveal_deadline.saturating_sub(batch.commit_deadline);
        let reveal_at = commit_deadline.saturating_add((reveal_window / 10).clamp(1, 100));
        let closes_at = self
            .local(&gateway, batch.reveal_deadline)
            .saturating_add(self.supernet.auction.reveal_grace_ms);
        let commit = Signed::sign(commit, &self.key);
        let reveal = Signed::sign(reveal, &self.key);
        // Saved before the commit goes out: a crash from here on still reveals.
        out.push(Output::SaveBid(Box::new(SealedBid {
            batch: batch.batch_id,
            gateway: gateway.to_bytes(),
            commit: commit.clone(),
            reveal: reveal.clone(),
            reveal_at,
            closes_at,
            windows: windows.iter().map(|(job, w)| (*job, *w)).collect(),
        })));
        self.bids.insert(
            batch.batch_id,
            PendingBid {
                gateway,
                commit: commit.clone(),
                reveal,
                receipts: Vec::new(),
                reveal_at,
                closes_at,
                windows,
                published: false,
                acked: false,
                attempts: 0,
                retry_at: reveal_at,
            },
        );
        out.push(Output::Publish(GossipMessage::Commit(commit.clone())));
        out.push(Output::SendCommit { gateway, commit });
    }
}

/// Reveals `bid` if commits have closed and the gateway still counts reveals: over gossip
/// once (for every peer to audit), and directly (for an answer) whenever a retry is due.
pub(super) fn reveal_if_due(bid: &mut PendingBid, now: UnixMillis, out: &mut Vec<Output>) {
    if now < bid.reveal_at || now > bid.closes_at {
        return;
    }
    if !bid.published {
        bid.published = true;
        out.push(Output::Publish(GossipMessage::Reveal(bid.reveal.clone())));
    }
    if !bid.acked && now >= bid.retry_at {
        bid.retry_at = UnixMillis::MAX;
        out.push(Output::SendReveal {
            gateway: bid.gateway,
            reveal: bid.reveal.clone(),
        });
    }
}
