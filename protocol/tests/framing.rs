//! Evidence frames no honest party (issue 25).
//!
//! The audit is only worth something if nothing a third party can change binds the gateway.
//! These tests take what an honest gateway signed and alter copies of it the ways anyone can
//! (bit flips, truncation, duplicated, dropped, reordered and grafted messages, swapped and
//! flipped signatures, edited payloads, a second announcement with the same time): not one
//! alteration may turn into a proven deviation. The tests that catch a dishonest gateway
//! (`audit.rs`, and the last test here) show the audit still finds every real one.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use common::honest::{honest_bundles, mutate};
use common::*;
use lagrange_protocol::auction::AwardAuditError;
use lagrange_protocol::auction::{Eligibility, ProverStanding, award};
use lagrange_protocol::audit::{AuditError, Deviation, Evidence, audit};
use lagrange_protocol::merkle::SlotWeight;
use lagrange_protocol::messages::{
    AuctionResult, AuctionTranscript, BatchAnnouncement, BidCommit, BidKind, BidReceipt,
    CommitsClosed, MAX_COMMITS_PER_BATCH,
};
use lagrange_protocol::{JobCategory, Keypair, PublicKey, Signed};
use proptest::prelude::*;

fn bundles() -> &'static [Evidence] {
    static BUNDLES: OnceLock<Vec<Evidence>> = OnceLock::new();
    BUNDLES.get_or_init(|| honest_bundles(1, 6, true))
}

fn is_deviation(verdict: &Result<lagrange_protocol::Award, AuditError>) -> bool {
    matches!(verdict, Err(AuditError::Deviation { .. }))
}

#[test]
fn every_honest_bundle_passes_its_audit() {
    let all = bundles();
    assert!(all.len() > 20);
    for (i, e) in all.iter().enumerate() {
        assert!(audit(e).is_ok(), "bundle {i}: {:?}", audit(e));
    }
    // The overflowing auction's bundles include receipted commits that were pushed out.
    assert!(all.iter().any(|e| {
        e.commits
            .first()
            .is_some_and(|c| !e.transcript.closed.payload.contains(&c.digest()))
            && e.receipts.iter().any(|r| r.payload.kind == BidKind::Commit)
    }));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// No alteration of an honest gateway's evidence proves a deviation.
    #[test]
    fn no_alteration_of_honest_evidence_proves_a_deviation(
        pick in 0usize..1_000,
        ops in prop::collection::vec(any::<u8>(), 4..48),
    ) {
        let all = bundles();
        if let Some(altered) = mutate(all, pick, &ops) {
            let verdict = audit(&altered);
            prop_assert!(!is_deviation(&verdict), "framed: {:?}", verdict);
        }
    }
}

/// Three provers bid on two jobs through a book; the honest transcript and its pieces.
struct Honest {
    keys: Vec<Keypair>,
    transcript: AuctionTranscript,
}

fn honest(cancel_second_job: bool) -> Honest {
    let batch = batch(2);
    let mut book = new_book(&batch);
    let keys: Vec<Keypair> = (1..=3).map(prover).collect();
    let mut provers = BTreeMap::new();
    let mut reveals = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let price = 10 * (i as u64 + 1);
        let (c, r) = sealed(key, &batch.payload, &[(0, price), (1, price)], i as u8);
        book.accept_commit(c, COMMIT_DEADLINE).unwrap();
        reveals.push(r);
        let a = announcement(key, 1);
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
    }
    let closed = Signed::sign(book.closed_set(), &gateway());
    for r in reveals {
        book.accept_reveal(r, REVEAL_DEADLINE).unwrap();
    }
    let mut eligibility = Eligibility {
        min_stake: 10,
        weights: proven_weights(provers.keys()),
        provers,
        ..Default::default()
    };
    if cancel_second_job {
        eligibility.cancelled.insert(job(1));
    }
    let award = book.award(&eligibility).unwrap();
    let transcript = AuctionTranscript {
        batch: batch.clone(),
        closed,
        commits: book.commits(),
        reveals: book.reveals(),
        eligibility,
        result: Signed::sign(AuctionResult::new(&batch.payload, award), &gateway()),
    };
    Honest { keys, transcript }
}

/// Item 1: a flipped bit in a prover's signature, or a repeated reveal, in a copy of an
/// honest transcript proved that the gateway deviated ("bad signature on commits"); it
/// proves nothing.
#[test]
fn a_corrupted_copy_of_an_honest_transcript_does_not_frame_the_gateway() {
    let h = honest(false);
    assert!(audit(&Evidence::from_transcript(h.transcript.clone())).is_ok());

    let mut flipped = h.transcript.clone();
    flipped.commits[0].signature.0[5] ^= 0x10;
    let verdict = audit(&Evidence::from_transcript(flipped));
    assert!(
        matches!(verdict, Err(AuditError::Unattributable(_))),
        "{verdict:?}"
    );

    let mut repeated = h.transcript.clone();
    repeated.reveals.push(repeated.reveals[0].clone());
    let verdict = audit(&Evidence::from_transcript(repeated));
    assert!(
        matches!(verdict, Err(AuditError::Unattributable(_))),
        "{verdict:?}"
    );

    let mut flipped_reveal = h.transcript.clone();
    flipped_reveal.reveals[2].signature.0[63] ^= 1;
    let verdict = audit(&Evidence::from_transcript(flipped_reveal));
    assert!(
        matches!(verdict, Err(AuditError::Unattributable(_))),
        "{verdict:?}"
    );
}

/// Item 1, the other side: a gateway that itself signs a transcript holding a bad signature
/// (it took a forged bid) is still caught.
#[test]
fn a_gateway_that_signs_a_forged_bid_is_caught() {
    let h = honest(false);
    let mut t = h.transcript.clone();
    t.reveals[0].signature.0[5] ^= 0x10;
    let awarded = award(&t.batch.payload, &t.commits, &t.reveals, &t.eligibility).unwrap();
    t.result = Signed::sign(AuctionResult::new(&t.batch.payload, awarded), &gateway());
    match audit(&Evidence::from_transcript(t)) {
        Err(AuditError::Deviation { deviation, .. }) => assert!(matches!(
            *deviation,
            Deviation::Award(AwardAuditError::Signature {
                what: "reveals",
                ..
            })
        )),
        other => panic!("expected a deviation, got {other:?}"),
    }
}

/// Item 2: a prover signs two announcements with the same time and different capacities,
/// gossips the larger and keeps the smaller. The gateway's standing names the digest of the
/// one it received, so the other proves nothing.
#[test]
fn a_second_announcement_with_the_same_time_does_not_frame_the_gateway() {
    let h = honest(false);
    let key = &h.keys[0];
    let mut t = h.transcript.clone();
    // The gateway received capacity 2 and gave the prover room for 2.
    let sent = announcement(key, 2);
    let kept = announcement(key, 1);
    assert_eq!(sent.payload.announced_at, kept.payload.announced_at);
    let standing = t.eligibility.provers.get_mut(&key.public()).unwrap();
    standing.free_capacity = 2;
    standing.announcement = sent.digest();
    let awarded = award(&t.batch.payload, &t.commits, &t.reveals, &t.eligibility).unwrap();
    t.result = Signed::sign(AuctionResult::new(&t.batch.payload, awarded), &gateway());

    let mut framing = Evidence::from_transcript(t.clone());
    framing.availability = vec![kept];
    assert!(audit(&framing).is_ok(), "{:?}", audit(&framing));

    // The announcement the standing names still bounds it: a gateway that inflates the
    // room beyond what that very announcement says is caught.
    let standing = t.eligibility.provers.get_mut(&key.public()).unwrap();
    standing.free_capacity = 3;
    let awarded = award(&t.batch.payload, &t.commits, &t.reveals, &t.eligibility).unwrap();
    t.result = Signed::sign(AuctionResult::new(&t.batch.payload, awarded), &gateway());
    let mut caught = Evidence::from_transcript(t);
    caught.availability = vec![sent];
    match audit(&caught) {
        Err(AuditError::Deviation { deviation, .. }) => assert_eq!(
            *deviation,
            Deviation::CapacityInflated {
                prover: key.public(),
                claimed: 3,
                announced: 2
            }
        ),
        other => panic!("expected a deviation, got {other:?}"),
    }
}

/// The transcript a gateway signs for `batch` when it holds the commits `kept` (none
/// revealed), with the committers' proven `weights`: its closed set and its award.
fn holding(
    batch: &Signed<BatchAnnouncement>,
    kept: Vec<Signed<BidCommit>>,
    weights: BTreeMap<PublicKey, SlotWeight>,
) -> AuctionTranscript {
    let mut digests: Vec<_> = kept.iter().map(Signed::digest).collect();
    digests.sort();
    let closed = CommitsClosed {
        supernet: batch.payload.supernet.clone(),
        batch_id: batch.payload.batch_id,
        commits: digests,
    };
    let eligibility = Eligibility {
        weights,
        ..Default::default()
    };
    let awarded = award(&batch.payload, &kept, &[], &eligibility).unwrap();
    AuctionTranscript {
        batch: batch.clone(),
        closed: Signed::sign(closed, &gateway()),
        commits: kept,
        reveals: vec![],
        eligibility,
        result: Signed::sign(AuctionResult::new(&batch.payload, awarded), &gateway()),
    }
}

/// Item 9: a full batch pushes out receipted commits of worse slot rank; their receipts
/// prove nothing. A receipted commit that ranks better than one kept is still an omission.
#[test]
fn a_commit_pushed_out_by_better_ranked_ones_is_no_omission() {
    let batch = batch(1);
    let mut book = new_book(&batch);
    let n = MAX_COMMITS_PER_BATCH as u64 + 4;
    let mut receipts = BTreeMap::new();
    let mut commits = Vec::new();
    for i in 1..=n {
        let (c, _) = sealed(&prover(i), &batch.payload, &[(0, 10)], i as u8);
        if book.accept_commit(c.clone(), COMMIT_DEADLINE).is_ok() {
            let receipt = Signed::sign(
                BidReceipt {
                    supernet: supernet("s"),
                    batch_id: batch.payload.batch_id,
                    kind: BidKind::Commit,
                    bidder: c.signer,
                    bid: c.digest(),
                    weight: book.slot_weight(&c.signer),
                },
                &gateway(),
            );
            receipts.insert(c.signer, receipt);
        }
        commits.push(c);
    }
    let closed = Signed::sign(book.closed_set(), &gateway());
    let eligibility = Eligibility {
        weights: book.committer_weights(),
        ..Default::default()
    };
    let result = Signed::sign(
        AuctionResult::new(&batch.payload, book.award(&eligibility).unwrap()),
        &gateway(),
    );
    let transcript = AuctionTranscript {
        batch: batch.clone(),
        closed,
        commits: book.commits(),
        reveals: vec![],
        eligibility,
        result,
    };
    let pushed: Vec<_> = commits
        .iter()
        .filter(|c| receipts.contains_key(&c.signer))
        .filter(|c| !transcript.closed.payload.contains(&c.digest()))
        .collect();
    assert!(!pushed.is_empty(), "a receipted commit was pushed out");
    for c in pushed {
        let mut e = Evidence::from_transcript(transcript.clone());
        e.receipts = vec![receipts[&c.signer].clone()];
        e.commits = vec![c.clone()];
        assert!(audit(&e).is_ok(), "{:?}", audit(&e));
    }

    // A gateway that leaves out the best-ranked commit, receipt and all, is caught.
    let best = commits
        .iter()
        .min_by_key(|c| book.slot_rank(&c.signer))
        .unwrap();
    let kept: Vec<_> = book
        .commits()
        .into_iter()
        .filter(|c| c.signer != best.signer)
        .collect();
    let weights = proven_weights(kept.iter().map(|c| &c.signer));
    let mut e = Evidence::from_transcript(holding(&batch, kept, weights));
    e.receipts = vec![receipts[&best.signer].clone()];
    match audit(&e) {
        Err(AuditError::Deviation { deviation, .. }) => assert_eq!(
            *deviation,
            Deviation::CommitOmitted {
                prover: best.signer
            }
        ),
        other => panic!("expected a deviation, got {other:?}"),
    }
}

/// A full batch whose gateway filled its slots first come, first served (or by any rule
/// but the weighted ranks): the receipt of a better-ranked commit it turned away after
/// acknowledging it shows the deviation. And a held commit whose weight the transcript does
/// not prove against the batch's root (missing, or another weight) is a deviation too.
#[test]
fn a_gateway_that_fills_slots_by_another_rule_is_caught() {
    let batch = batch(1);
    let n = MAX_COMMITS_PER_BATCH as u64 * 2;
    let commits: Vec<_> = (1..=n)
        .map(|i| sealed(&prover(i), &batch.payload, &[(0, 10)], i as u8).0)
        .collect();
    // The rule's book sees every commit; the cheat keeps the first 128 to arrive.
    let mut rule = new_book(&batch);
    for c in &commits {
        let _ = rule.accept_commit(c.clone(), COMMIT_DEADLINE);
    }
    let kept: Vec<_> = commits[..MAX_COMMITS_PER_BATCH].to_vec();
    let turned_away = commits[MAX_COMMITS_PER_BATCH..]
        .iter()
        .find(|c| rule.commit_of(&c.signer).is_some())
        .expect("some late commit ranks among the best 128");
    let cheat = |kept: Vec<Signed<BidCommit>>, weights| holding(&batch, kept, weights);
    let first_come = cheat(kept.clone(), proven_weights(kept.iter().map(|c| &c.signer)));
    // Without a receipt nothing binds the gateway to a commit it says it never saw.
    assert!(audit(&Evidence::from_transcript(first_come.clone())).is_ok());
    let mut e = Evidence::from_transcript(first_come);
    e.receipts = vec![Signed::sign(
        BidReceipt {
            supernet: supernet("s"),
            batch_id: batch.payload.batch_id,
            kind: BidKind::Commit,
            bidder: turned_away.signer,
            bid: turned_away.digest(),
            weight: weights().slot_weight(&turned_away.signer),
        },
        &gateway(),
    )];
    match audit(&e) {
        Err(AuditError::Deviation { deviation, .. }) => assert_eq!(
            *deviation,
            Deviation::CommitOmitted {
                prover: turned_away.signer
            }
        ),
        other => panic!("expected a deviation, got {other:?}"),
    }

    // A slot held without its weight, or with a weight the root does not prove.
    let mut unproven = proven_weights(kept.iter().map(|c| &c.signer));
    let victim = kept[3].signer;
    unproven.remove(&victim);
    let mut inflated = proven_weights(kept.iter().map(|c| &c.signer));
    if let Some(w) = inflated.get_mut(&victim) {
        w.weight += 100;
    }
    for weights in [unproven, inflated] {
        match audit(&Evidence::from_transcript(cheat(kept.clone(), weights))) {
            Err(AuditError::Deviation { deviation, .. }) => {
                assert_eq!(*deviation, Deviation::SlotWeightUnproven { prover: victim })
            }
            other => panic!("expected a deviation, got {other:?}"),
        }
    }
}

/// Item 10: a job cancelled while its auction ran is barred to everyone by one entry, not
/// one per prover: the transcript does not grow with the provers.
#[test]
fn a_cancelled_job_is_listed_once_and_left_unawarded() {
    let h = honest(true);
    let award = audit(&Evidence::from_transcript(h.transcript.clone())).unwrap();
    assert_eq!(award.unawarded, vec![job(1)]);
    assert!(h.transcript.eligibility.excluded.is_empty());
    assert_eq!(h.transcript.eligibility.cancelled.len(), 1);
}
