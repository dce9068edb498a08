//! Auditing auctions: an honest gateway passes, and each way a gateway can cheat an honest
//! prover (drop its reveal, omit its bid, inflate a rival's capacity, take a commit after
//! the closed set) is found and named by `audit`, from the evidence bytes alone.

mod common;

use std::collections::BTreeMap;

use common::*;
use lagrange_protocol::auction::{Eligibility, ProverStanding, award};
use lagrange_protocol::audit::{AuditError, Deviation, Evidence, EvidenceError, audit};
use lagrange_protocol::messages::{
    AuctionResult, AuctionTranscript, BatchAnnouncement, BidCommit, BidKind, BidReceipt, BidReveal,
    CommitsClosed, ProverAvailability,
};
use lagrange_protocol::{JobCategory, Signed};

/// Three provers bid on two jobs: prover 1 lowest, then 2, then 3.
struct Auction {
    batch: Signed<BatchAnnouncement>,
    commits: Vec<Signed<BidCommit>>,
    reveals: Vec<Signed<BidReveal>>,
    eligibility: Eligibility,
    announcements: Vec<Signed<ProverAvailability>>,
}

fn auction() -> Auction {
    let batch = batch(2);
    let mut commits = Vec::new();
    let mut reveals = Vec::new();
    let mut provers = BTreeMap::new();
    let mut announcements = Vec::new();
    for (i, price) in [(1u64, 10u64), (2, 20), (3, 30)] {
        let key = prover(i);
        let (c, r) = sealed(&key, &batch.payload, &[(0, price), (1, price)], i as u8);
        commits.push(c);
        reveals.push(r);
        let a = announcement(&key, 1);
        provers.insert(
            key.public(),
            ProverStanding {
                allowlisted: true,
                stake: 100,
                free_capacity: 1,
                categories: [JobCategory::Small].into(),
                announcement: a.digest(),
            },
        );
        announcements.push(a);
    }
    Auction {
        batch,
        commits,
        reveals,
        eligibility: Eligibility {
            min_stake: 10,
            weights: proven_weights(provers.keys()),
            provers,
            ..Default::default()
        },
        announcements,
    }
}

fn closed_set(commits: &[Signed<BidCommit>]) -> Signed<CommitsClosed> {
    let mut digests: Vec<_> = commits.iter().map(Signed::digest).collect();
    digests.sort();
    Signed::sign(
        CommitsClosed {
            supernet: supernet("s"),
            batch_id: batch(2).payload.batch_id,
            commits: digests,
        },
        &gateway(),
    )
}

fn receipt<T: lagrange_protocol::SignedPayload>(
    bid: &Signed<T>,
    kind: BidKind,
) -> Signed<BidReceipt> {
    Signed::sign(
        BidReceipt {
            supernet: supernet("s"),
            batch_id: batch(2).payload.batch_id,
            kind,
            bidder: bid.signer,
            bid: bid.digest(),
            weight: (kind == BidKind::Commit)
                .then(|| weights().slot_weight(&bid.signer))
                .flatten(),
        },
        &gateway(),
    )
}

/// The transcript a gateway signs for these inputs (its result follows the rule for them).
fn transcript(
    a: &Auction,
    closed: &[Signed<BidCommit>],
    commits: Vec<Signed<BidCommit>>,
    reveals: Vec<Signed<BidReveal>>,
    eligibility: Eligibility,
) -> AuctionTranscript {
    let award = award(&a.batch.payload, &commits, &reveals, &eligibility).unwrap();
    AuctionTranscript {
        batch: a.batch.clone(),
        closed: closed_set(closed),
        commits,
        reveals,
        eligibility,
        result: Signed::sign(AuctionResult::new(&a.batch.payload, award), &gateway()),
    }
}

/// What prover `i` (0-based) holds: its receipts, its bids and its announcement.
fn evidence_of(a: &Auction, i: usize, transcript: AuctionTranscript) -> Evidence {
    Evidence {
        transcript,
        receipts: vec![
            receipt(&a.commits[i], BidKind::Commit),
            receipt(&a.reveals[i], BidKind::Reveal),
        ],
        commits: vec![a.commits[i].clone()],
        reveals: vec![a.reveals[i].clone()],
        availability: vec![a.announcements[i].clone()],
    }
}

/// The audit's deviation, checked again by a third party from the evidence bytes.
fn deviation(evidence: &Evidence) -> Deviation {
    let third_party = Evidence::from_bytes(&evidence.to_bytes()).unwrap();
    assert_eq!(audit(&third_party), audit(evidence));
    match audit(evidence) {
        Err(AuditError::Deviation {
            deviation, gateway, ..
        }) => {
            assert_eq!(gateway, self::gateway().public());
            *deviation
        }
        other => panic!("expected a deviation, got {other:?}"),
    }
}

#[test]
fn an_honest_auction_passes_for_every_bidder() {
    let a = auction();
    let t = transcript(
        &a,
        &a.commits,
        a.commits.clone(),
        a.reveals.clone(),
        a.eligibility.clone(),
    );
    for i in 0..3 {
        let award = audit(&evidence_of(&a, i, t.clone())).unwrap();
        // Each of the two cheapest provers wins one job (capacity 1).
        assert_eq!(award.awarded.len(), 2);
        assert!(award.non_revealers.is_empty());
    }
}

#[test]
fn a_dropped_reveal_is_found() {
    let a = auction();
    // The gateway counts prover 1 (the cheapest) as a non-revealer.
    let t = transcript(
        &a,
        &a.commits,
        a.commits.clone(),
        a.reveals[1..].to_vec(),
        a.eligibility.clone(),
    );
    assert_eq!(
        t.result.payload.award.non_revealers,
        vec![prover(1).public()]
    );
    assert_eq!(
        deviation(&evidence_of(&a, 0, t)),
        Deviation::RevealDropped {
            prover: prover(1).public()
        }
    );
    // Keeping the reveal in the transcript but naming the prover anyway breaks the rule.
    let mut t = transcript(
        &a,
        &a.commits,
        a.commits.clone(),
        a.reveals.clone(),
        a.eligibility.clone(),
    );
    t.result.payload.award.non_revealers = vec![prover(1).public()];
    t.result = Signed::sign(t.result.payload.clone(), &gateway());
    assert!(matches!(
        deviation(&evidence_of(&a, 0, t)),
        Deviation::Award(_)
    ));
}

#[test]
fn an_omitted_bid_is_found() {
    let a = auction();
    // Prover 1's commit got a receipt, but neither the closed set nor the award has it.
    let t = transcript(
        &a,
        &a.commits[1..],
        a.commits[1..].to_vec(),
        a.reveals[1..].to_vec(),
        a.eligibility.clone(),
    );
    let mut evidence = evidence_of(&a, 0, t);
    evidence.receipts.truncate(1);
    assert_eq!(
        deviation(&evidence),
        Deviation::CommitOmitted {
            prover: prover(1).public()
        }
    );
}

#[test]
fn an_inflated_capacity_is_found() {
    let a = auction();
    // Provers 1 and 2 are given no room, and prover 3 (the dearest), which announced one
    // slot, two: it takes both jobs.
    let mut eligibility = a.eligibility.clone();
    for (i, room) in [(1u64, 0u32), (2, 0), (3, 2)] {
        eligibility
            .provers
            .get_mut(&prover(i).public())
            .unwrap()
            .free_capacity = room;
    }
    let t = transcript(
        &a,
        &a.commits,
        a.commits.clone(),
        a.reveals.clone(),
        eligibility,
    );
    // Prover 3 holds its own announcement, and so does anyone it gossiped to.
    assert_eq!(
        deviation(&evidence_of(&a, 2, t)),
        Deviation::CapacityInflated {
            prover: prover(3).public(),
            claimed: 2,
            announced: 1
        }
    );
}

#[test]
fn a_capacity_beyond_the_stake_is_found_from_the_snapshot_alone() {
    let a = auction();
    // Stake 100 at a minimum of 10 backs 10 jobs at once; the snapshot claims 11.
    let mut eligibility = a.eligibility.clone();
    eligibility
        .provers
        .get_mut(&prover(2).public())
        .unwrap()
        .free_capacity = 11;
    let t = transcript(
        &a,
        &a.commits,
        a.commits.clone(),
        a.reveals.clone(),
        eligibility,
    );
    // Anyone can tell, with no announcement in hand.
    let mut evidence = evidence_of(&a, 0, t);
    evidence.availability.clear();
    assert_eq!(
        deviation(&evidence),
        Deviation::CapacityBeyondStake {
            prover: prover(2).public(),
            claimed: 11,
            backed: 10
        }
    );
}

#[test]
fn a_commit_after_the_closed_set_is_found() {
    let a = auction();
    // The closed set had provers 1 and 2; a friend's commit (prover 3) joined afterwards.
    let t = transcript(
        &a,
        &a.commits[..2],
        a.commits.clone(),
        a.reveals.clone(),
        a.eligibility.clone(),
    );
    assert_eq!(
        deviation(&evidence_of(&a, 0, t)),
        Deviation::CommitAfterClose {
            prover: prover(3).public()
        }
    );
    // And a commit of the closed set left out of the award.
    let t = transcript(
        &a,
        &a.commits,
        a.commits[..2].to_vec(),
        a.reveals[..2].to_vec(),
        a.eligibility.clone(),
    );
    let mut evidence = evidence_of(&a, 0, t);
    evidence.commits.push(a.commits[2].clone());
    assert_eq!(
        deviation(&evidence),
        Deviation::CommitDropped {
            prover: prover(3).public()
        }
    );
}

#[test]
fn evidence_that_does_not_bind_the_gateway_proves_nothing() {
    let a = auction();
    let honest = transcript(
        &a,
        &a.commits,
        a.commits.clone(),
        a.reveals.clone(),
        a.eligibility.clone(),
    );
    // A transcript that does not hash to the signed result (someone edited it).
    let mut edited = honest.clone();
    edited.reveals.pop();
    assert!(matches!(
        audit(&evidence_of(&a, 0, edited)),
        Err(AuditError::Unattributable(_))
    ));
    // A closed set signed by someone else.
    let mut forged = honest.clone();
    forged.closed = Signed::sign(forged.closed.payload.clone(), &prover(9));
    assert!(matches!(
        audit(&evidence_of(&a, 0, forged)),
        Err(AuditError::Unattributable(_))
    ));
    // Receipts signed by someone else are ignored, so they accuse no one.
    let t = transcript(
        &a,
        &a.commits[1..],
        a.commits[1..].to_vec(),
        a.reveals[1..].to_vec(),
        a.eligibility.clone(),
    );
    let mut evidence = evidence_of(&a, 0, t);
    evidence.receipts = vec![Signed::sign(
        evidence.receipts[0].payload.clone(),
        &prover(1),
    )];
    assert!(audit(&evidence).is_ok());
    // Files: bad magic, trailing bytes, truncation.
    let bytes = evidence_of(&a, 0, honest).to_bytes();
    assert_eq!(
        Evidence::from_bytes(&bytes[1..]),
        Err(EvidenceError::BadMagic)
    );
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        Evidence::from_bytes(&long),
        Err(EvidenceError::Malformed(_))
    ));
    assert!(matches!(
        Evidence::from_bytes(&bytes[..bytes.len() - 10]),
        Err(EvidenceError::Malformed(_))
    ));
}
