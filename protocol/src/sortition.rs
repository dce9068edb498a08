//! Commit slots by stake-weighted sortition: who may commit to a batch, decided by a public
//! seed and each prover's weight, not by who is fastest or holds the most keys.
//!
//! A batch offers `slots` draws. Draw `j` is won by prover `p` when the hash of
//! `(seed, p, j)`, read as a fraction of one, falls below `weight(p) / total`: each draw is
//! an independent trial per prover, so the number of draws `p` wins is binomial with mean
//! `slots · weight(p) / total`. That mean depends on `p`'s own weight and the total only:
//! how the rest of the stake is split among keys, and the order in which anyone commits,
//! change nothing of it. A squatter who splits its stake over hundreds of keys wins, over
//! all of them, as many draws on average as one key with the same stake would; every other
//! prover keeps its expected share.
//!
//! A prover's **weight** is the stake that backs jobs it can take now: its stake, bounded
//! by `free_capacity · min_stake` (a prover that can take one job does not weigh as much as
//! its whole stake), and nothing when it is not eligible. Everything here is integer
//! arithmetic on hashes, so every peer and auditor computes the same draws.
//!
//! Checking one prover's draws costs `slots` hashes and needs only its own weight and the
//! total; with the weight table committed to in a [`crate::merkle`] sum tree, both come
//! with a logarithmic proof. No one needs the whole table except who audits everything.

use crate::Digest;
use crate::keys::PublicKey;

/// A batch's sortition: the seed, how many draws and the total weight they are drawn
/// against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// The public per-batch seed (fixed by the gateway's signed announcement).
    pub seed: Digest,
    /// How many draws the batch offers.
    pub slots: u32,
    /// The sum of every eligible prover's weight.
    pub total: u64,
}

/// The weight a prover draws with: its stake, bounded by what its free capacity backs
/// (`free_capacity · min_stake`; without a minimum stake, the whole stake), and none when it
/// has no free capacity or is below the minimum stake.
pub fn weight(stake: u64, free_capacity: u32, min_stake: u64) -> u64 {
    if free_capacity == 0 || stake < min_stake {
        return 0;
    }
    match min_stake {
        0 => stake,
        m => stake.min(m.saturating_mul(u64::from(free_capacity))),
    }
}

impl Draw {
    /// How many of the draws `prover`, of `weight`, wins. A weight of at least the total
    /// wins every draw; a weight of zero, none.
    pub fn won(&self, prover: &PublicKey, weight: u64) -> u32 {
        if weight == 0 || self.total == 0 {
            return 0;
        }
        if weight >= self.total {
            return self.slots;
        }
        let mut h = blake3::Hasher::new_derive_key("lagrange-node v1 commit slot draw");
        h.update(self.seed.as_bytes());
        h.update(prover.as_bytes());
        let base = h.finalize();
        // Draw j's fraction is x / 2^64 for x from the keyed hash of j; it wins when
        // x / 2^64 < weight / total, that is x · total < weight · 2^64 (exact in u128).
        let bound = u128::from(weight) << 64;
        (0..self.slots)
            .filter(|j| {
                let mut d = blake3::Hasher::new_keyed(base.as_bytes());
                d.update(&j.to_le_bytes());
                let x = u64::from_le_bytes(
                    d.finalize().as_bytes()[..8].try_into().unwrap_or([0xff; 8]),
                );
                u128::from(x) * u128::from(self.total) < bound
            })
            .count() as u32
    }
}

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

    #[test]
    fn weight_is_stake_bounded_by_what_free_capacity_backs() {
        assert_eq!(weight(1_000, 4, 100), 400);
        assert_eq!(weight(250, 4, 100), 250);
        assert_eq!(weight(1_000, 0, 100), 0);
        assert_eq!(weight(99, 4, 100), 0);
        assert_eq!(weight(1_000, 1, 0), 1_000);
        assert_eq!(weight(u64::MAX, u32::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn edges_win_all_or_nothing() {
        let d = Draw {
            seed: seed(1),
            slots: 50,
            total: 1_000,
        };
        assert_eq!(d.won(&key(1), 0), 0);
        assert_eq!(d.won(&key(1), 1_000), 50);
        assert_eq!(d.won(&key(1), u64::MAX), 50);
        assert_eq!(Draw { total: 0, ..d }.won(&key(1), 5), 0);
    }

    /// Over many batches each prover's share of the draws is its share of the weight:
    /// 100 provers, 20 each at stakes of 1 to 5 units, 256 draws a batch, 400 batches.
    /// (The smallest group expects 6,827 draws, a standard deviation of 1.2%: the 5%
    /// bound is four of them.)
    #[test]
    fn shares_of_draws_follow_shares_of_weight() {
        let provers: Vec<(PublicKey, u64)> = (0..100).map(|i| (key(i), 1 + i % 5)).collect();
        let total: u64 = provers.iter().map(|(_, w)| w).sum();
        let mut won = vec![0u64; provers.len()];
        let mut all = 0u64;
        for batch in 0..400 {
            let d = Draw {
                seed: seed(batch),
                slots: 256,
                total,
            };
            for (i, (p, w)) in provers.iter().enumerate() {
                let n = u64::from(d.won(p, *w));
                won[i] += n;
                all += n;
            }
        }
        // The draws handed out average the slots offered.
        let offered = 400.0 * 256.0;
        assert!(
            (all as f64 / offered - 1.0).abs() < 0.01,
            "{all} of {offered}"
        );
        for stake in 1..=5u64 {
            let (got, weight): (u64, u64) = provers
                .iter()
                .zip(&won)
                .filter(|((_, w), _)| *w == stake)
                .fold((0, 0), |(g, w), ((_, s), n)| (g + n, w + s));
            let share = got as f64 / all as f64;
            let expected = weight as f64 / total as f64;
            assert!(
                (share / expected - 1.0).abs() < 0.05,
                "stake {stake}: share {share:.5}, weight share {expected:.5}"
            );
        }
    }

    /// A squatter splitting its stake over 300 keys wins as much as one key of that stake
    /// would, and leaves an honest prover's share where it was.
    #[test]
    fn splitting_stake_over_many_keys_changes_no_ones_share() {
        let honest = key(1);
        let (honest_w, squat_w, rest_w) = (50u64, 3_000u64, 6_950u64);
        let total = honest_w + squat_w + rest_w;
        let squatters: Vec<PublicKey> = (1_000..1_300).map(key).collect();
        let whale = key(2_000);
        let batches = 2_000u64;
        let (mut honest_split, mut honest_whole, mut squat_split, mut squat_whole) =
            (0u64, 0u64, 0u64, 0u64);
        for batch in 0..batches {
            let d = Draw {
                seed: seed(batch),
                slots: 64,
                total,
            };
            // The honest prover's draws do not even depend on how others split: the same
            // call either way.
            honest_split += u64::from(d.won(&honest, honest_w));
            honest_whole += u64::from(d.won(&honest, honest_w));
            squat_split += squatters
                .iter()
                .map(|k| u64::from(d.won(k, squat_w / 300)))
                .sum::<u64>();
            squat_whole += u64::from(d.won(&whale, squat_w));
        }
        assert_eq!(honest_split, honest_whole);
        let expect = |w: u64| (batches * 64) as f64 * w as f64 / total as f64;
        assert!((honest_split as f64 / expect(honest_w) - 1.0).abs() < 0.1);
        assert!((squat_split as f64 / expect(squat_w) - 1.0).abs() < 0.03);
        assert!((squat_whole as f64 / expect(squat_w) - 1.0).abs() < 0.03);
    }
}
