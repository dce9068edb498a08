//! Property tests of the auction rule and of `verify_award`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use lagrange_protocol::auction::{AwardAuditError, verify_award};
use lagrange_protocol::messages::{AuctionResult, BatchAnnouncement, BidCommit, BidReveal};
use lagrange_protocol::{
    Award, AwardedJob, Eligibility, JobCategory, JobId, ProverStanding, PublicKey, Signed, award,
};
use proptest::prelude::*;
use proptest::sample::SizeRange;

/// One generated auction: a batch, each prover's standing and bids, and who reveals.
#[derive(Debug, Clone)]
struct Scenario {
    reserves: Vec<u64>,
    categories: Vec<JobCategory>,
    provers: Vec<ProverCase>,
    excluded: Vec<(u32, usize)>,
}

#[derive(Debug, Clone)]
struct ProverCase {
    standing: ProverStanding,
    bids: BTreeMap<u32, u64>,
    commits: bool,
    reveals: bool,
}

const MIN_STAKE: u64 = 50;

fn category() -> impl Strategy<Value = JobCategory> {
    prop_oneof![
        Just(JobCategory::Small),
        Just(JobCategory::Medium),
        Just(JobCategory::Large)
    ]
}

fn scenario(max_capacity: u32) -> impl Strategy<Value = Scenario> {
    (1usize..10, 1usize..8).prop_flat_map(move |(n_jobs, n_provers)| {
        let jobs = (
            proptest::collection::vec(1u64..60, n_jobs),
            proptest::collection::vec(category(), n_jobs),
        );
        let prover = (
            prop::bool::weighted(0.9),
            prop_oneof![Just(MIN_STAKE - 1), MIN_STAKE..200],
            0..=max_capacity,
            proptest::collection::btree_set(category(), 1..=3),
            // Few distinct prices, so ties are common.
            proptest::collection::btree_map(
                0..n_jobs as u32,
                1u64..70,
                SizeRange::from(0..=n_jobs),
            ),
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.85),
        )
            .prop_map(
                |(allowlisted, stake, free_capacity, categories, bids, commits, reveals)| {
                    ProverCase {
                        standing: ProverStanding {
                            allowlisted,
                            stake,
                            free_capacity,
                            categories,
                            announcement: lagrange_protocol::Digest([0; 32]),
                        },
                        bids,
                        commits,
                        reveals,
                    }
                },
            );
        (
            jobs,
            proptest::collection::vec(prover, n_provers),
            proptest::collection::vec((0..n_jobs as u32, 0..n_provers), 0..3),
        )
            .prop_map(|((reserves, categories), provers, excluded)| Scenario {
                reserves,
                categories,
                provers,
                excluded,
            })
    })
}

struct Built {
    batch: Signed<BatchAnnouncement>,
    commits: Vec<Signed<BidCommit>>,
    reveals: Vec<Signed<BidReveal>>,
    eligibility: Eligibility,
}

fn build(s: &Scenario) -> Built {
    let batch = batch_with("s", 0, &s.reserves, &s.categories);
    let mut commits = Vec::new();
    let mut reveals = Vec::new();
    let mut eligibility = Eligibility {
        min_stake: MIN_STAKE,
        ..Default::default()
    };
    for (i, p) in s.provers.iter().enumerate() {
        let key = prover(i as u64);
        eligibility.provers.insert(key.public(), p.standing.clone());
        let prices: Vec<(u32, u64)> = p.bids.iter().map(|(&j, &price)| (j, price)).collect();
        let (c, r) = sealed(&key, &batch.payload, &prices, i as u8);
        if p.commits {
            commits.push(c);
            if p.reveals {
                reveals.push(r);
            }
        }
    }
    for &(j, p) in &s.excluded {
        eligibility
            .excluded
            .entry(job(j))
            .or_default()
            .insert(prover(p as u64).public());
    }
    Built {
        batch,
        commits,
        reveals,
        eligibility,
    }
}

/// Every bid the rule must consider valid, as (job, price, prover).
fn valid_bids(s: &Scenario, b: &Built) -> Vec<(JobId, u64, PublicKey)> {
    let mut out = Vec::new();
    for (i, p) in s.provers.iter().enumerate() {
        let key = prover(i as u64).public();
        let st = &p.standing;
        let eligible = p.commits
            && p.reveals
            && st.allowlisted
            && st.stake >= MIN_STAKE
            && st.free_capacity > 0;
        if !eligible {
            continue;
        }
        for (&j, &price) in &p.bids {
            let excluded = b
                .eligibility
                .excluded
                .get(&job(j))
                .is_some_and(|set| set.contains(&key));
            if price <= s.reserves[j as usize]
                && st.categories.contains(&s.categories[j as usize])
                && !excluded
            {
                out.push((job(j), price, key));
            }
        }
    }
    out
}

fn signed_result(b: &Built, award: Award) -> Signed<AuctionResult> {
    Signed::sign(AuctionResult::new(&b.batch.payload, award), &gateway())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn award_ignores_arrival_order(s in scenario(3), rot in 0usize..8) {
        let b = build(&s);
        let base = award(&b.batch.payload, &b.commits, &b.reveals, &b.eligibility).unwrap();
        let mut commits = b.commits.clone();
        let mut reveals = b.reveals.clone();
        commits.reverse();
        let len = reveals.len().max(1);
        reveals.rotate_left(rot % len);
        let shuffled = award(&b.batch.payload, &commits, &reveals, &b.eligibility).unwrap();
        prop_assert_eq!(base, shuffled);
    }

    #[test]
    fn award_respects_capacity_reserve_and_first_price(s in scenario(3)) {
        let b = build(&s);
        let a = award(&b.batch.payload, &b.commits, &b.reveals, &b.eligibility).unwrap();
        let valid = valid_bids(&s, &b);

        let mut wins: BTreeMap<PublicKey, Vec<u64>> = BTreeMap::new();
        for w in &a.awarded {
            wins.entry(w.prover).or_default().push(w.price);
            // Only valid bids win, and at the winner's own price (first price, reverse).
            prop_assert!(valid.contains(&(w.job_id, w.price, w.prover)), "invalid winner {:?}", w);
            let spec = b.batch.payload.job(&w.job_id).unwrap();
            prop_assert!(w.price <= spec.reserve_price);
        }
        for (p, prices) in &wins {
            let cap = b.eligibility.provers[p].free_capacity as usize;
            prop_assert!(prices.len() <= cap, "{} jobs over capacity {}", prices.len(), cap);
        }
        // Every job is either awarded or unawarded, never both.
        let awarded: BTreeSet<_> = a.awarded.iter().map(|w| w.job_id).collect();
        let unawarded: BTreeSet<_> = a.unawarded.iter().copied().collect();
        prop_assert!(awarded.is_disjoint(&unawarded));
        prop_assert_eq!(awarded.len() + unawarded.len(), s.reserves.len());

        // Minimum price: a cheaper valid bid than the winner's (or any valid bid on an
        // unawarded job) belongs to a prover whose capacity was already used up by jobs it
        // won at a price no higher than that bid.
        for (j, q, x) in &valid {
            let winner = a.awarded.iter().find(|w| w.job_id == *j);
            let beaten = winner.is_some_and(|w| w.price <= *q);
            if !beaten {
                let cap = b.eligibility.provers[x].free_capacity as usize;
                let xs = wins.get(x).cloned().unwrap_or_default();
                prop_assert!(
                    xs.len() == cap && xs.iter().all(|p| p <= q),
                    "bid {q} by {x} on {j} lost to {winner:?} without being capacity-bound"
                );
            }
        }
        // Non-revealers are exactly the committers without a reveal that offers something.
        let expected: BTreeSet<PublicKey> = s.provers.iter().enumerate()
            .filter(|(_, p)| p.commits && (!p.reveals || p.bids.is_empty()))
            .map(|(i, _)| prover(i as u64).public())
            .collect();
        prop_assert_eq!(a.non_revealers.iter().copied().collect::<BTreeSet<_>>(), expected);
    }

    #[test]
    fn without_capacity_limits_every_job_goes_to_the_minimum_price(s in scenario(3)) {
        let mut s = s;
        for p in &mut s.provers {
            p.standing.free_capacity = 64;
        }
        let b = build(&s);
        let a = award(&b.batch.payload, &b.commits, &b.reveals, &b.eligibility).unwrap();
        let valid = valid_bids(&s, &b);
        for spec in &b.batch.payload.jobs {
            let min = valid.iter().filter(|(j, _, _)| *j == spec.job_id).map(|(_, q, _)| *q).min();
            let got = a.awarded.iter().find(|w| w.job_id == spec.job_id).map(|w| w.price);
            prop_assert_eq!(min, got);
        }
    }

    #[test]
    fn verify_award_accepts_honest_and_rejects_altered(s in scenario(3), which in 0usize..7, pick in 0usize..64) {
        let b = build(&s);
        let honest = award(&b.batch.payload, &b.commits, &b.reveals, &b.eligibility).unwrap();
        let result = signed_result(&b, honest.clone());
        prop_assert_eq!(
            verify_award(&b.batch, &b.commits, &b.reveals, &b.eligibility, &result).unwrap(),
            honest.clone()
        );

        // Either the gateway publishes an altered award for the true inputs, or it computes
        // an honest-looking award over inputs it tampered with; the auditor holds the true
        // inputs either way.
        let mut altered = honest.clone();
        let mut hidden_inputs = None;
        let mut signer = gateway();
        match which {
            0 if !altered.awarded.is_empty() => {
                let i = pick % altered.awarded.len();
                altered.awarded[i].price += 1;
            }
            1 if !altered.awarded.is_empty() => {
                let i = pick % altered.awarded.len();
                let w = altered.awarded.remove(i);
                altered.unawarded.push(w.job_id);
            }
            2 if !altered.awarded.is_empty() => {
                let i = pick % altered.awarded.len();
                altered.awarded[i].prover = prover(99).public();
            }
            3 if !altered.unawarded.is_empty() => {
                let j = altered.unawarded.remove(pick % altered.unawarded.len());
                altered.awarded.push(AwardedJob { job_id: j, prover: prover(0).public(), price: 1 });
                altered.awarded.sort();
            }
            4 if !b.commits.is_empty() => {
                let mut commits = b.commits.clone();
                commits.remove(pick % commits.len());
                hidden_inputs = Some((commits, b.reveals.clone()));
            }
            5 if !b.reveals.is_empty() => {
                let mut reveals = b.reveals.clone();
                reveals.remove(pick % reveals.len());
                hidden_inputs = Some((b.commits.clone(), reveals));
            }
            6 => signer = prover(5),
            _ => altered.transcript_hash.0[pick % 32] ^= 1,
        }
        if let Some((commits, reveals)) = hidden_inputs {
            altered = award(&b.batch.payload, &commits, &reveals, &b.eligibility).unwrap();
        }
        let bad = Signed::sign(AuctionResult::new(&b.batch.payload, altered), &signer);
        let outcome = verify_award(&b.batch, &b.commits, &b.reveals, &b.eligibility, &bad);
        prop_assert!(outcome.is_err(), "altered award accepted (case {})", which);
    }
}

#[test]
fn audit_errors_name_the_deviation() {
    let b = build(&Scenario {
        reserves: vec![50, 50],
        categories: vec![JobCategory::Small; 2],
        provers: (0..2)
            .map(|i| ProverCase {
                standing: ProverStanding {
                    allowlisted: true,
                    stake: 100,
                    free_capacity: 2,
                    categories: [JobCategory::Small].into(),
                    announcement: lagrange_protocol::Digest([0; 32]),
                },
                bids: [(0, 10 + i), (1, 20 - i)].into(),
                commits: true,
                reveals: true,
            })
            .collect(),
        excluded: vec![],
    });
    let honest = award(&b.batch.payload, &b.commits, &b.reveals, &b.eligibility).unwrap();
    assert_eq!(honest.awarded.len(), 2);
    assert_eq!(honest.awarded[0].price, 10);
    assert_eq!(honest.awarded[1].price, 19);

    let mut swapped = honest.clone();
    swapped.awarded[0].prover = swapped.awarded[1].prover;
    assert!(matches!(
        verify_award(
            &b.batch,
            &b.commits,
            &b.reveals,
            &b.eligibility,
            &signed_result(&b, swapped)
        ),
        Err(AwardAuditError::AwardMismatch { .. })
    ));
    let partial = award(
        &b.batch.payload,
        &b.commits,
        &b.reveals[..1],
        &b.eligibility,
    )
    .unwrap();
    assert!(matches!(
        verify_award(
            &b.batch,
            &b.commits,
            &b.reveals,
            &b.eligibility,
            &signed_result(&b, partial)
        ),
        Err(AwardAuditError::TranscriptMismatch { .. })
    ));
}

#[test]
fn ties_are_broken_by_the_salted_seed_not_by_key_order() {
    // Two provers bid the same price on many jobs with capacity for all. Who wins each job
    // depends on the revealed salts, so neither key order nor job order decides it.
    let n = 32;
    let batch = batch(n);
    let mut eligibility = Eligibility {
        min_stake: 0,
        ..Default::default()
    };
    let standing = ProverStanding {
        allowlisted: true,
        stake: 1,
        free_capacity: n,
        categories: [JobCategory::Small].into(),
        announcement: lagrange_protocol::Digest([0; 32]),
    };
    let prices: Vec<(u32, u64)> = (0..n).map(|j| (j, 7)).collect();
    let mut winners_by_salt = Vec::new();
    for salt in [1u8, 2] {
        let mut commits = Vec::new();
        let mut reveals = Vec::new();
        for i in 0..2 {
            eligibility
                .provers
                .insert(prover(i).public(), standing.clone());
            let (c, r) = sealed(&prover(i), &batch.payload, &prices, salt + i as u8);
            commits.push(c);
            reveals.push(r);
        }
        let a = award(&batch.payload, &commits, &reveals, &eligibility).unwrap();
        let first = a
            .awarded
            .iter()
            .filter(|w| w.prover == prover(0).public())
            .count();
        assert!(first > 4 && first < 28, "prover 0 won {first} of {n} ties");
        winners_by_salt.push(a.awarded);
    }
    assert_ne!(winners_by_salt[0], winners_by_salt[1]);
}
