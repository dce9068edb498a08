//! Commit-reveal through the `BidBook`: every way a bid can be refused.

mod common;

use common::*;
use lagrange_protocol::Signed;
use lagrange_protocol::book::{BidBook, BidError};
use lagrange_protocol::commit::RevealError;
use lagrange_protocol::messages::Bid;

const IN_COMMIT: u64 = COMMIT_DEADLINE - 1;
const IN_REVEAL: u64 = COMMIT_DEADLINE + 1;

#[test]
fn honest_commit_and_reveal_are_accepted() {
    let batch = batch(4);
    let mut book = new_book(&batch);
    let (c, r) = sealed(&prover(1), &batch.payload, &[(0, 10), (2, 20)], 7);
    book.accept_commit(c, IN_COMMIT).unwrap();
    book.accept_reveal(r, IN_REVEAL).unwrap();
    assert_eq!(book.commits().len(), 1);
    assert_eq!(book.reveals().len(), 1);
}

#[test]
fn tampered_reveal_is_rejected() {
    let batch = batch(4);
    let key = prover(1);
    let mut book = new_book(&batch);
    let (c, r) = sealed(&key, &batch.payload, &[(0, 10), (2, 20)], 7);
    book.accept_commit(c, IN_COMMIT).unwrap();

    // Lower price after seeing the market, re-signed by the prover itself.
    let mut lower = r.payload.clone();
    lower.bids[0].price = 5;
    assert_eq!(
        book.accept_reveal(Signed::sign(lower, &key), IN_REVEAL),
        Err(BidError::Reveal(RevealError::CommitmentMismatch))
    );
    // Another salt.
    let mut salted = r.payload.clone();
    salted.salt.0[0] ^= 1;
    assert_eq!(
        book.accept_reveal(Signed::sign(salted, &key), IN_REVEAL),
        Err(BidError::Reveal(RevealError::CommitmentMismatch))
    );
    // A bid slipped in without re-signing.
    let mut unsigned = r.clone();
    unsigned.payload.bids.push(Bid {
        job_id: job(3),
        price: 1,
    });
    assert!(matches!(
        book.accept_reveal(unsigned, IN_REVEAL),
        Err(BidError::Signature(_))
    ));
    // The honest one still goes through afterwards.
    book.accept_reveal(r, IN_REVEAL).unwrap();
}

#[test]
fn late_commit_is_rejected() {
    let batch = batch(2);
    let mut book = new_book(&batch);
    let (c, _) = sealed(&prover(1), &batch.payload, &[(0, 10)], 1);
    assert!(matches!(
        book.accept_commit(c.clone(), COMMIT_DEADLINE + 1),
        Err(BidError::LateCommit { .. })
    ));
    // The deadline itself is still in time.
    book.accept_commit(c, COMMIT_DEADLINE).unwrap();
}

#[test]
fn reveal_without_commit_is_rejected() {
    let batch = batch(2);
    let mut book = new_book(&batch);
    let (_, r) = sealed(&prover(1), &batch.payload, &[(0, 10)], 1);
    assert_eq!(
        book.accept_reveal(r, IN_REVEAL),
        Err(BidError::UnknownCommit(prover(1).public()))
    );
}

#[test]
fn reveal_by_another_signer_is_rejected() {
    let batch = batch(2);
    let mut book = new_book(&batch);
    let (c1, r1) = sealed(&prover(1), &batch.payload, &[(0, 10)], 1);
    let (c2, _) = sealed(&prover(2), &batch.payload, &[(0, 50)], 2);
    book.accept_commit(c1, IN_COMMIT).unwrap();
    book.accept_commit(c2, IN_COMMIT).unwrap();
    // Prover 2 copies prover 1's opened bids and signs them as its own: the commitment binds
    // the prover's key, so this does not open prover 2's commit.
    let stolen = Signed::sign(r1.payload.clone(), &prover(2));
    assert_eq!(
        book.accept_reveal(stolen, IN_REVEAL),
        Err(BidError::Reveal(RevealError::CommitmentMismatch))
    );
    // And prover 1's reveal re-labelled with prover 2's key fails its signature.
    let mut relabelled = r1;
    relabelled.signer = prover(2).public();
    assert!(matches!(
        book.accept_reveal(relabelled, IN_REVEAL),
        Err(BidError::Signature(_))
    ));
}

#[test]
fn early_late_and_conflicting_bids_are_rejected_and_resends_accepted() {
    let batch = batch(2);
    let mut book = new_book(&batch);
    let (c, r) = sealed(&prover(1), &batch.payload, &[(0, 10)], 1);
    let (other_c, other_r) = sealed(&prover(1), &batch.payload, &[(0, 11)], 9);
    book.accept_commit(c.clone(), IN_COMMIT).unwrap();
    // The same commit again (over gossip and directly) is fine; a second, different one is not.
    book.accept_commit(c, IN_COMMIT).unwrap();
    assert!(matches!(
        book.accept_commit(other_c, IN_COMMIT),
        Err(BidError::Duplicate(_))
    ));
    assert!(matches!(
        book.accept_reveal(r.clone(), COMMIT_DEADLINE),
        Err(BidError::EarlyReveal { .. })
    ));
    assert!(matches!(
        book.accept_reveal(r.clone(), REVEAL_DEADLINE + 1),
        Err(BidError::LateReveal { .. })
    ));
    book.accept_reveal(r.clone(), REVEAL_DEADLINE).unwrap();
    book.accept_reveal(r, REVEAL_DEADLINE).unwrap();
    assert!(matches!(
        book.accept_reveal(other_r, REVEAL_DEADLINE),
        Err(BidError::Duplicate(_))
    ));
}

#[test]
fn a_grace_counts_late_reveals_and_a_fully_revealed_book_closes_early() {
    let batch = batch(2);
    let mut book = new_book(&batch).with_reveal_grace(500);
    let (c1, r1) = sealed(&prover(1), &batch.payload, &[(0, 10)], 1);
    let (c2, r2) = sealed(&prover(2), &batch.payload, &[(1, 10)], 2);
    assert!(!book.can_close(IN_COMMIT));
    // An empty book is decided as soon as commits close.
    assert!(book.can_close(COMMIT_DEADLINE + 1));
    book.accept_commit(c1, IN_COMMIT).unwrap();
    book.accept_commit(c2, IN_COMMIT).unwrap();
    assert!(!book.can_close(COMMIT_DEADLINE + 1));
    book.accept_reveal(r1, IN_REVEAL).unwrap();
    // One reveal missing: the book waits for it through the grace, and no longer.
    assert!(!book.can_close(REVEAL_DEADLINE + 500));
    assert!(book.can_close(REVEAL_DEADLINE + 501));
    book.accept_reveal(r2.clone(), REVEAL_DEADLINE + 500)
        .unwrap();
    assert!(book.can_close(REVEAL_DEADLINE + 1));
    let mut strict = new_book(&batch).with_reveal_grace(500);
    strict
        .accept_commit(
            sealed(&prover(2), &batch.payload, &[(1, 10)], 2).0,
            IN_COMMIT,
        )
        .unwrap();
    assert!(matches!(
        strict.accept_reveal(r2, REVEAL_DEADLINE + 501),
        Err(BidError::LateReveal { .. })
    ));
}

#[test]
fn bids_cannot_be_replayed_into_another_batch_or_supernet() {
    let key = prover(1);
    let b1 = batch_with(
        "s",
        1,
        &[100, 100],
        &[lagrange_protocol::JobCategory::Small; 2],
    );
    let b2 = batch_with(
        "s",
        2,
        &[100, 100],
        &[lagrange_protocol::JobCategory::Small; 2],
    );
    let other = batch_with(
        "t",
        1,
        &[100, 100],
        &[lagrange_protocol::JobCategory::Small; 2],
    );
    let (c, r) = sealed(&key, &b1.payload, &[(0, 10)], 1);

    for target in [&b2, &other] {
        let mut book = new_book(target);
        assert_eq!(
            book.accept_commit(c.clone(), IN_COMMIT),
            Err(BidError::WrongBatch)
        );
        // Re-pointing the commit at the new batch breaks the signature...
        let mut moved = c.clone();
        moved.payload.batch_id = target.payload.batch_id;
        moved.payload.supernet = target.payload.supernet.clone();
        assert!(matches!(
            book.accept_commit(moved, IN_COMMIT),
            Err(BidError::Signature(_))
        ));
        // ...and even a prover re-signing the old commitment for the new batch can't open it
        // with the old reveal, because the commitment binds batch and Supernet.
        let mut resigned = c.payload.clone();
        resigned.batch_id = target.payload.batch_id;
        resigned.supernet = target.payload.supernet.clone();
        book.accept_commit(Signed::sign(resigned, &key), IN_COMMIT)
            .unwrap();
        let mut reveal = r.payload.clone();
        reveal.batch_id = target.payload.batch_id;
        reveal.supernet = target.payload.supernet.clone();
        assert_eq!(
            book.accept_reveal(Signed::sign(reveal, &key), IN_REVEAL),
            Err(BidError::Reveal(RevealError::CommitmentMismatch))
        );
    }
}

#[test]
fn bids_for_unknown_or_repeated_jobs_are_rejected() {
    let batch = batch(2);
    let key = prover(1);
    let mut book = new_book(&batch);
    let (c, r) = sealed(&key, &batch.payload, &[(0, 10), (7, 10)], 1);
    book.accept_commit(c, IN_COMMIT).unwrap();
    assert_eq!(
        book.accept_reveal(r, IN_REVEAL),
        Err(BidError::Reveal(RevealError::UnknownJob(job(7))))
    );

    let key2 = prover(2);
    let (c2, r2) = sealed(&key2, &batch.payload, &[(0, 10), (0, 9)], 1);
    book.accept_commit(c2, IN_COMMIT).unwrap();
    assert_eq!(
        book.accept_reveal(r2, IN_REVEAL),
        Err(BidError::Reveal(RevealError::UnsortedBids(job(0))))
    );
}

#[test]
fn a_full_batch_keeps_the_best_ranked_commits_whatever_their_order() {
    use lagrange_protocol::messages::MAX_COMMITS_PER_BATCH;
    let batch = batch(2);
    let cap = MAX_COMMITS_PER_BATCH as u64;
    // More committers than slots: the first comers are not the ones that keep them.
    let commits: Vec<_> = (1..=cap + 40)
        .map(|i| sealed(&prover(i), &batch.payload, &[(0, 10)], i as u8).0)
        .collect();
    let mut book = new_book(&batch);
    let mut refused = 0;
    for c in &commits {
        match book.accept_commit(c.clone(), IN_COMMIT) {
            Ok(_) => {}
            Err(BidError::Full) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        refused > 0,
        "some late commits rank worse than every one held"
    );
    assert_eq!(book.commits().len(), MAX_COMMITS_PER_BATCH);
    let mut ranked: Vec<_> = commits
        .iter()
        .map(|c| (book.slot_rank(&c.signer), c.signer))
        .collect();
    ranked.sort();
    let best: std::collections::BTreeSet<_> = ranked[..MAX_COMMITS_PER_BATCH]
        .iter()
        .map(|(_, p)| *p)
        .collect();
    let held: std::collections::BTreeSet<_> = book.commits().iter().map(|c| c.signer).collect();
    assert_eq!(held, best);
    // At least one of the first `cap` comers was pushed out by a later, better-ranked one.
    assert!(
        commits[..MAX_COMMITS_PER_BATCH]
            .iter()
            .any(|c| !held.contains(&c.signer))
    );

    // Arrival order changes nothing.
    let mut reversed = new_book(&batch);
    for c in commits.iter().rev() {
        let _ = reversed.accept_commit(c.clone(), IN_COMMIT);
    }
    assert_eq!(reversed.closed_set(), book.closed_set());

    // A commit already held is still taken again (over gossip and directly).
    let keeper = commits.iter().find(|c| held.contains(&c.signer)).unwrap();
    assert_eq!(book.accept_commit(keeper.clone(), IN_COMMIT), Ok(None));
    // The closed set is every commit held, sorted by digest.
    assert!(!book.commits_are_closed(IN_COMMIT));
    assert!(book.commits_are_closed(IN_REVEAL));
    let closed = book.closed_set();
    assert_eq!(closed.commits.len(), MAX_COMMITS_PER_BATCH);
    assert!(closed.commits.is_sorted());
    assert!(book.commits().iter().all(|c| closed.contains(&c.digest())));
}

/// A squatter stakes 300 keys at one unit each and commits with all of them before anyone
/// else, every batch; 100 honest provers hold the same stake at three units a key. The
/// slots follow the stake, not the order: over 20 batches the honest provers hold half of
/// them (a first-come book would have given them none), and a prover outside the weight
/// table holds no slot at all.
#[test]
fn hundreds_of_keys_committing_first_take_no_more_than_their_stake() {
    use lagrange_protocol::merkle::WeightTree;
    use lagrange_protocol::messages::MAX_COMMITS_PER_BATCH;
    let squatters: Vec<_> = (10_000..10_300).map(prover).collect();
    let honest: Vec<_> = (20_000..20_100).map(prover).collect();
    let table: std::collections::BTreeMap<_, _> = squatters
        .iter()
        .map(|k| (k.public(), 1))
        .chain(honest.iter().map(|k| (k.public(), 3)))
        .collect();
    let tree = WeightTree::new(&table).unwrap();
    let (mut honest_slots, batches) = (0usize, 20u64);
    for seq in 0..batches {
        let mut payload = batch_with("s", seq, &[10], &[lagrange_protocol::JobCategory::Small])
            .payload
            .clone();
        payload.weights = tree.root();
        let batch = Signed::sign(payload, &gateway());
        let mut book = BidBook::new(&batch, tree.clone()).unwrap();
        for key in squatters.iter().chain(&honest) {
            let (c, _) = sealed(key, &batch.payload, &[(0, 10)], seq as u8);
            let _ = book.accept_commit(c, IN_COMMIT);
        }
        assert_eq!(book.commits().len(), MAX_COMMITS_PER_BATCH);
        honest_slots += book
            .commits()
            .iter()
            .filter(|c| honest.iter().any(|k| k.public() == c.signer))
            .count();
        let outsider = prover(30_000);
        let (c, _) = sealed(&outsider, &batch.payload, &[(0, 10)], 0);
        assert_eq!(
            book.accept_commit(c, IN_COMMIT),
            Err(BidError::NoWeight(outsider.public()))
        );
    }
    let share = honest_slots as f64 / (batches as usize * MAX_COMMITS_PER_BATCH) as f64;
    assert!((0.45..=0.55).contains(&share), "honest share {share:.3}");
}

/// Issue 25, item 9: a reveal with no bids opens nothing. Its committer holds a slot without
/// an offer, and is a non-revealer (penalized) in the award.
#[test]
fn an_empty_reveal_is_refused_and_its_committer_is_a_non_revealer() {
    let batch = batch(2);
    let squatter = prover(1);
    let mut book = new_book(&batch);
    let (c, r) = sealed(&squatter, &batch.payload, &[], 1);
    book.accept_commit(c.clone(), IN_COMMIT).unwrap();
    assert_eq!(
        book.accept_reveal(r.clone(), IN_REVEAL),
        Err(BidError::Reveal(RevealError::NoBids))
    );
    // Even handed to the rule directly, the empty reveal does not count.
    let award = lagrange_protocol::auction::award(
        &batch.payload,
        &[c],
        &[r],
        &lagrange_protocol::auction::Eligibility::default(),
    )
    .unwrap();
    assert_eq!(award.non_revealers, vec![squatter.public()]);
}
