//! What the passing of time does: the prover re-announces its availability, reveals
//! bids once commits have closed, asks after auction results that are overdue, and retries
//! fetches and submissions whose backoff is over.

use std::collections::BTreeSet;

use tracing::debug;

use lagrange_protocol::messages::{GossipMessage, ProverAvailability};
use lagrange_protocol::{Signed, UnixMillis};

use super::bidding::reveal_if_due;
use super::{Output, ProverCore, Stage};

/// Own availability announcements kept for audits.
const KEPT_ANNOUNCEMENTS: usize = 16;

/// How long after the reveal window's close (and its grace) a missing result is asked for.
const RESULT_OVERDUE_MS: u64 = 500;

impl ProverCore {
    pub(super) fn tick(&mut self, now: UnixMillis, out: &mut Vec<Output>) {
        // Not ready (no proving times yet): nothing to offer.
        let ready = !self.settings.cost.proving_ms.is_empty();
        if ready && now >= self.next_announce {
            self.next_announce = now + self.settings.announce_every_ms;
            let announcement = Signed::sign(
                ProverAvailability {
                    supernet: self.supernet.id.clone(),
                    categories: self.settings.cost.proving_ms.keys().copied().collect(),
                    capacity: self.settings.capacity,
                    hardware: self.settings.hardware.clone(),
                    node_version: env!("CARGO_PKG_VERSION").to_string(),
                    announced_at: now,
                },
                &self.key,
            );
            if self.announcements.len() >= KEPT_ANNOUNCEMENTS {
                self.announcements.pop_front();
            }
            self.announcements.push_back(announcement.clone());
            out.push(Output::Publish(GossipMessage::Availability(announcement)));
        }
        // Reveals: once commits have closed at the gateway, over gossip (for every peer to
        // audit) and directly (for an answer), again until the gateway takes it.
        let mut ask = BTreeSet::new();
        self.bids.retain(|batch, bid| {
            if now > bid.closes_at.saturating_add(RESULT_OVERDUE_MS) {
                // No result heard: ask the gateway what this prover holds, and settle.
                debug!(batch_id = %batch, "auction result overdue; asking the gateway");
                ask.insert(bid.gateway);
                out.push(Output::ForgetBid(*batch));
                return false;
            }
            reveal_if_due(bid, now, out);
            true
        });
        out.extend(
            ask.into_iter()
                .map(|gateway| Output::AskAssignments { gateway }),
        );
        // Retries.
        for (job, held) in self.held.iter_mut() {
            if held.attempts == 0 || now < held.retry_at {
                continue;
            }
            held.retry_at = UnixMillis::MAX;
            match &held.stage {
                Stage::Fetching => out.push(Output::FetchInput {
                    gateway: held.gateway,
                    job: *job,
                }),
                Stage::Submitting(s) => out.push(Output::Submit {
                    gateway: held.gateway,
                    submission: (**s).clone(),
                }),
                Stage::Proving => {}
            }
        }
    }
}
