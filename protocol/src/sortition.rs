//! Commit slots by stake-weighted sortition: which provers' commits a batch holds when more
//! arrive than it has slots, decided by a public seed and each prover's weight, not by who
//! is fastest or holds the most keys.
//!
//! Each prover draws a **ticket** per batch, a hash of the batch's signed announcement and
//! its key read as a fraction `u` of one, unknown to anyone before the batch is out. Its
//! **slot rank** is `u / weight`, lower first; a full batch keeps the best-ranked commits
//! of all that arrived in its window, in whatever order they came ([`crate::book`]).
//!
//! Why this rule. `P(u / w ≤ x) = w · x` for `w · x ≤ 1`: when the slots are contended (the
//! cut-off rank `x` is small) a prover's chance of a slot, and so its expected share of
//! slots over many batches, is proportional to its weight. A squatter who splits a stake
//! over `k` keys has `k` chances of `w / k` each: together they expect the same `w · x`
//! slots (and by Bernoulli's inequality at most the same chance of at least one), and they
//! push the cut-off exactly as far as one key of that stake would, so every other prover's
//! expected share stays where it was. Committing first buys nothing: the order of arrival
//! is not an input. (A single key whose weight alone passes the cut-off is sure of its one
//! slot; a stake that large is better spread over keys, which then get its proportional
//! share, no more.)
//!
//! Everything is integer arithmetic: `u_a / w_a < u_b / w_b` is `u_a · w_b < u_b · w_a` in
//! 128 bits, so every peer and auditor ranks the same way. The weights a batch ranks with
//! are fixed before any commit, in the [`crate::merkle`] sum tree whose root the gateway
//! signs into the batch announcement; a committer's weight then comes with a logarithmic
//! proof, and no one needs the whole table except who audits everything.

use std::cmp::Ordering;

use crate::Digest;
use crate::keys::PublicKey;

/// The weight a prover ranks with: its stake, bounded by what its free capacity backs
/// (`capacity · min_stake`; without a minimum stake, the whole stake), and none when it has
/// no room or is below the minimum stake.
pub fn weight(stake: u64, capacity: u32, min_stake: u64) -> u64 {
    if capacity == 0 || stake < min_stake {
        return 0;
    }
    match min_stake {
        0 => stake,
        m => stake.min(m.saturating_mul(u64::from(capacity))),
    }
}

/// A prover's place for a batch's commit slots: lower ranks keep their slots. Ordered by
/// `ticket / weight` (exactly), then by key; a weight of zero ranks after every other.
#[derive(Debug, Clone, Copy)]
pub struct SlotRank {
    /// `u · 2^64 - 1`, the ticket's fraction of one scaled to 64 bits (at least 1).
    ticket: u64,
    weight: u64,
    prover: PublicKey,
}

/// `prover`'s slot rank, with `weight`, in the batch whose signed announcement has digest
/// `batch` ([`crate::signed::Signed::digest`]).
pub fn slot_rank(batch: &Digest, prover: &PublicKey, weight: u64) -> SlotRank {
    let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 commit slot ticket");
    h.update(batch.as_bytes());
    h.update(prover.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&h.finalize().as_bytes()[..8]);
    SlotRank {
        // A ticket of zero would rank first at any weight, even the smallest.
        ticket: u64::from_le_bytes(bytes).max(1),
        weight,
        prover: *prover,
    }
}

impl SlotRank {
    /// The prover ranked.
    pub fn prover(&self) -> &PublicKey {
        &self.prover
    }

    /// The weight it ranks with.
    pub fn weight(&self) -> u64 {
        self.weight
    }
}

/// How far past the expected cut-off a prover still commits ([`worth_committing`]).
pub const COMMIT_MARGIN: u64 = 4;

/// Whether a prover whose weight is at most `max_weight` should commit to a batch whose
/// weight table totals `total`, with `slots` commit slots. When every prover in the table
/// commits, the cut-off rank is about `slots / total`; a rank past [`COMMIT_MARGIN`] times
/// that almost never holds a slot, so its commit would only cost the gateway a signature
/// check and every peer a gossiped message. Provers who skip such batches keep the commits
/// of a batch near `COMMIT_MARGIN · slots` however large the network, while anyone who could
/// have held a slot still commits. (An upper bound on the weight only makes a prover commit
/// more often; the gateway ranks with the table's weight either way. No rule forces this:
/// it is each prover's own saving.)
pub fn worth_committing(
    batch: &Digest,
    prover: &PublicKey,
    max_weight: u64,
    total: u64,
    slots: usize,
) -> bool {
    if max_weight == 0 {
        return false;
    }
    let rank = slot_rank(batch, prover, max_weight);
    // ticket / 2^64 / w ≤ margin · slots / total, that is ticket · total / 2^64 ≤
    // margin · slots · w (the left side floored, which errs toward committing).
    let left = (u128::from(rank.ticket) * u128::from(total)) >> 64;
    let right = u128::from(COMMIT_MARGIN)
        .saturating_mul(slots as u128)
        .saturating_mul(u128::from(max_weight));
    left <= right
}

impl Ord for SlotRank {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_fraction = match (self.weight, other.weight) {
            (0, 0) => Ordering::Equal,
            (0, _) => Ordering::Greater,
            (_, 0) => Ordering::Less,
            (a, b) => (u128::from(self.ticket) * u128::from(b))
                .cmp(&(u128::from(other.ticket) * u128::from(a))),
        };
        by_fraction.then_with(|| self.prover.cmp(&other.prover))
    }
}

impl PartialOrd for SlotRank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SlotRank {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SlotRank {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    fn key(i: u64) -> PublicKey {
        Keypair::insecure_from_seed(i).public()
    }

    fn seed(batch: u64) -> Digest {
        Digest(*blake3::hash(&batch.to_le_bytes()).as_bytes())
    }

    /// The provers holding the `slots` best ranks of `batch`.
    fn winners(batch: u64, provers: &[(PublicKey, u64)], slots: usize) -> Vec<PublicKey> {
        let s = seed(batch);
        let mut ranks: Vec<SlotRank> = provers.iter().map(|(p, w)| slot_rank(&s, p, *w)).collect();
        ranks.sort_unstable();
        ranks.truncate(slots);
        ranks.iter().map(|r| *r.prover()).collect()
    }

    #[test]
    fn weight_is_stake_bounded_by_what_capacity_backs() {
        assert_eq!(weight(1_000, 4, 100), 400);
        assert_eq!(weight(250, 4, 100), 250);
        assert_eq!(weight(1_000, 0, 100), 0);
        assert_eq!(weight(99, 4, 100), 0);
        assert_eq!(weight(1_000, 1, 0), 1_000);
        assert_eq!(weight(u64::MAX, u32::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn ranks_compare_exactly_and_zero_weight_comes_last() {
        let s = seed(1);
        let (a, b) = (key(1), key(2));
        // The same ticket over a larger weight ranks better.
        assert!(slot_rank(&s, &a, 10) < slot_rank(&s, &a, 9));
        assert!(slot_rank(&s, &a, 1) < slot_rank(&s, &b, 0));
        assert!(slot_rank(&s, &b, u64::MAX) < slot_rank(&s, &a, 0));
        assert_eq!(slot_rank(&s, &a, 7), slot_rank(&s, &a, 7));
        // Doubling both weights keeps the order.
        let (x, y) = (slot_rank(&s, &a, 3), slot_rank(&s, &b, 5));
        let (x2, y2) = (slot_rank(&s, &a, 6), slot_rank(&s, &b, 10));
        assert_eq!(x.cmp(&y), x2.cmp(&y2));
        assert_ne!(x.cmp(&y), Ordering::Equal);
    }

    /// With every prover committing only when [`worth_committing`] says so, a batch still
    /// fills its slots with exactly the provers it would have held, and receives a number of
    /// commits that does not grow with the network.
    #[test]
    fn skipping_hopeless_commits_changes_no_slot_and_bounds_the_commits() {
        for n in [100u64, 1_000, 10_000] {
            let provers: Vec<(PublicKey, u64)> = (0..n).map(|i| (key(i), 1 + i % 5)).collect();
            let total: u64 = provers.iter().map(|(_, w)| w).sum();
            let mut most = 0;
            for batch in 0..20 {
                let s = seed(batch);
                let committing: Vec<(PublicKey, u64)> = provers
                    .iter()
                    .copied()
                    .filter(|(p, w)| worth_committing(&s, p, *w, total, 128))
                    .collect();
                most = most.max(committing.len());
                assert_eq!(
                    winners(batch, &committing, 128),
                    winners(batch, &provers, 128),
                    "{n} provers, batch {batch}"
                );
            }
            // About COMMIT_MARGIN · 128 = 512 commits at most, whatever the size.
            assert!(most <= 600, "{n} provers: {most} commits");
        }
    }

    /// Over many batches each stake level's share of slots is its share of the weight:
    /// 1,000 provers, 200 each at stakes of 1 to 5 units, 128 slots a batch, 600 batches.
    /// (The smallest group expects 5,120 slots, a standard deviation of 1.4%: the 5% bound
    /// is more than three of them.)
    #[test]
    fn shares_of_slots_follow_shares_of_weight() {
        let provers: Vec<(PublicKey, u64)> = (0..1_000).map(|i| (key(i), 1 + i % 5)).collect();
        let total: u64 = provers.iter().map(|(_, w)| w).sum();
        let weight_of: std::collections::BTreeMap<PublicKey, u64> =
            provers.iter().copied().collect();
        let mut won = [0u64; 6];
        for batch in 0..600 {
            for p in winners(batch, &provers, 128) {
                won[weight_of[&p] as usize] += 1;
            }
        }
        let all: u64 = won.iter().sum();
        assert_eq!(all, 600 * 128);
        for stake in 1..=5u64 {
            let share = won[stake as usize] as f64 / all as f64;
            let expected = (200 * stake) as f64 / total as f64;
            assert!(
                (share / expected - 1.0).abs() < 0.05,
                "stake {stake}: share {share:.5}, weight share {expected:.5}"
            );
        }
    }

    /// A squatter splitting its stake (30% of all) over 300 keys gets its share of the
    /// slots and no more, and every other prover keeps its own: shares follow weights
    /// with the squatter present, within a few percent over 1,500 batches of 64 slots.
    #[test]
    fn a_squatter_with_hundreds_of_keys_gets_its_share_and_no_more() {
        let honest: Vec<(PublicKey, u64)> = (0..500).map(|i| (key(i), 14)).collect();
        let squatters: Vec<(PublicKey, u64)> = (1_000..1_300).map(|i| (key(i), 10)).collect();
        let everyone: Vec<(PublicKey, u64)> = squatters.iter().chain(&honest).copied().collect();
        let (honest_w, squat_w) = (500 * 14, 300 * 10);
        let total = (honest_w + squat_w) as f64;
        let batches = 1_500;
        let (mut honest_slots, mut squat_slots, mut first) = (0u64, 0u64, 0u64);
        for batch in 0..batches {
            for p in winners(batch, &everyone, 64) {
                if squatters.iter().any(|(s, _)| *s == p) {
                    squat_slots += 1;
                } else {
                    honest_slots += 1;
                    first += u64::from(p == honest[0].0);
                }
            }
        }
        let slots = (batches * 64) as f64;
        let squat_share = squat_slots as f64 / slots;
        assert!(
            (squat_share / (squat_w as f64 / total) - 1.0).abs() < 0.03,
            "squatters hold {squat_share:.4} of the slots with 0.3 of the weight"
        );
        assert!((honest_slots as f64 / slots / (honest_w as f64 / total) - 1.0).abs() < 0.03);
        // One honest prover (expects 1.4‰ of 96,000 slots: 134, sd 8.6%): within 30%.
        let expect_one = slots * 14.0 / total;
        assert!(
            (first as f64 / expect_one - 1.0).abs() < 0.3,
            "{first} against {expect_one:.0}"
        );
    }
}
