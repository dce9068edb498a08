//! The auction transcript: a hash of exactly the inputs an award used.
//!
//! ```text
//! transcript = blake3-derive-key("lagrange-node v1 auction transcript",
//!     bincode(batch) ‖ n_commits ‖ bincode(commit)… ‖ n_reveals ‖ bincode(reveal)…
//!     ‖ bincode(eligibility))
//! ```
//!
//! Commits and reveals are hashed sorted by signer, then by message digest, so the hash does
//! not depend on arrival order. An [`AuctionResult`](crate::messages::AuctionResult) carries
//! this hash; [`crate::auction::verify_award`] checks first that the messages hash to it,
//! then recomputes the award from them.

use crate::canonical::canonical_bytes;
use crate::messages::{BatchAnnouncement, BidCommit, BidReveal, Eligibility};
use crate::signed::{Signed, SignedPayload};
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
