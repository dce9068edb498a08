//! An honest gateway's auctions as evidence, and the ways anyone can alter a copy of it.
//!
//! Shared by the framing property test (`protocol/tests/framing.rs`) and the
//! `honest_evidence` fuzz target, which includes this file by path: it uses only the
//! protocol's public API and no other crate.
//!
//! [`honest_bundles`] runs a few auctions of one gateway the way the gateway does: commits
//! and reveals go through a [`BidBook`] (receipts are signed for those it takes), the closed
//! set is signed when commits close, the award comes from the book against an eligibility
//! snapshot whose standings name the digest of each prover's signed announcement, and the
//! result is signed. Some provers commit and never reveal, some jobs are cancelled or barred
//! to a prover, and one auction has more committers than commit slots, so receipted commits
//! are pushed out by better-ranked ones. Each prover's bundle holds the transcript, its
//! receipts, bids and announcement; an auditor's holds the transcript alone.
//!
//! [`mutate`] applies a program of edits to a bundle: bit flips and truncation of its bytes,
//! duplicated, dropped, reordered and grafted messages (from other bundles of the same
//! gateway), swapped and flipped signatures, and edited payloads. None of these is something
//! the gateway signed, so none may ever turn into a proven deviation.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use lagrange_protocol::auction::{Eligibility, ProverStanding};
use lagrange_protocol::audit::Evidence;
use lagrange_protocol::book::BidBook;
use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::merkle::{SlotWeight, WeightTree};
use lagrange_protocol::messages::{
    AuctionResult, AuctionTranscript, BatchAnnouncement, Bid, BidKind, BidReceipt, HardwareSummary,
    JobSpec, MAX_COMMITS_PER_BATCH, ProverAvailability, Salt,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Signed, SignedPayload, SupernetId,
    TaskId,
};

const COMMIT_DEADLINE: u64 = 2_000;
const REVEAL_DEADLINE: u64 = 3_000;

/// A small deterministic generator (splitmix64), so no random-number crate is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn supernet() -> SupernetId {
    SupernetId::new("honest").unwrap()
}

fn gateway() -> Keypair {
    Keypair::insecure_from_seed(7_000_000)
}

fn announcement(key: &Keypair, capacity: u32) -> Signed<ProverAvailability> {
    Signed::sign(
        ProverAvailability {
            supernet: supernet(),
            categories: vec![JobCategory::Small],
            capacity,
            hardware: HardwareSummary::default(),
            node_version: "honest".into(),
            announced_at: 500,
        },
        key,
    )
}

fn receipt<T: SignedPayload>(
    bid: &Signed<T>,
    batch_id: BatchId,
    kind: BidKind,
    weight: Option<SlotWeight>,
) -> Signed<BidReceipt> {
    Signed::sign(
        BidReceipt {
            supernet: supernet(),
            batch_id,
            kind,
            bidder: bid.signer,
            bid: bid.digest(),
            weight,
        },
        &gateway(),
    )
}

/// One honest auction (`seq` of the gateway) with `provers` bidders on `jobs` jobs: one
/// bundle per prover, then the auditor's.
fn auction(seq: u64, provers: u64, jobs: u32, rng: &mut Rng) -> Vec<Evidence> {
    let gw = gateway();
    let specs: Vec<JobSpec> = (0..jobs)
        .map(|i| JobSpec {
            job_id: JobId::new(TaskId([seq as u8; 16]), i),
            circuit: CircuitId::new("synthetic.small").unwrap(),
            category: JobCategory::Small,
            reserve_price: 50 + rng.below(50),
            proving_window_ms: 10_000,
            input_digest: Digest([i as u8; 32]),
            input_size: 64,
        })
        .collect();
    // The weight table: every bidder of this auction, at one to three units.
    let prover_key = |p: u64| Keypair::insecure_from_seed(seq * 10_000 + p + 1);
    let table: BTreeMap<_, _> = (0..provers)
        .map(|p| (prover_key(p).public(), 10 * (1 + p % 3)))
        .collect();
    let weights = WeightTree::new(&table).unwrap();
    let batch = Signed::sign(
        BatchAnnouncement {
            batch_id: BatchId::derive(&supernet(), &gw.public(), seq),
            supernet: supernet(),
            seq,
            jobs: specs.clone(),
            announced_at: 1_000,
            commit_deadline: COMMIT_DEADLINE,
            reveal_deadline: REVEAL_DEADLINE,
            weights: weights.root(),
        },
        &gw,
    );
    let batch_id = batch.payload.batch_id;
    let mut book = BidBook::new(&batch, weights).unwrap();
    let mut standings = BTreeMap::new();
    let mut held: Vec<Held> = Vec::new();
    for p in 0..provers {
        let key = prover_key(p);
        let capacity = 1 + rng.below(3) as u32;
        let a = announcement(&key, capacity);
        standings.insert(
            key.public(),
            ProverStanding {
                allowlisted: true,
                stake: 100,
                // Jobs already in flight leave less room than announced.
                free_capacity: capacity - rng.below(u64::from(capacity)) as u32,
                categories: [JobCategory::Small].into(),
                announcement: a.digest(),
            },
        );
        let mut bids: Vec<Bid> = Vec::new();
        for s in &specs {
            if rng.below(3) > 0 {
                bids.push(Bid {
                    job_id: s.job_id,
                    price: 1 + rng.below(s.reserve_price + 10),
                });
            }
        }
        if bids.is_empty() {
            bids.push(Bid {
                job_id: specs[0].job_id,
                price: 10,
            });
        }
        let mut salt = [0u8; 32];
        salt[..8].copy_from_slice(&rng.next().to_le_bytes());
        let (c, r) = seal_bids(&batch.payload, &key.public(), bids, Salt(salt));
        let (c, r) = (Signed::sign(c, &key), Signed::sign(r, &key));
        let mut receipts = Vec::new();
        if book.accept_commit(c.clone(), COMMIT_DEADLINE).is_ok() {
            receipts.push(receipt(
                &c,
                batch_id,
                BidKind::Commit,
                book.slot_weight(&c.signer),
            ));
        }
        held.push(Held {
            commit: c,
            reveal: r,
            receipts,
            announcement: a,
            reveals: rng.below(5) > 0,
        });
    }
    let closed = Signed::sign(book.closed_set(), &gw);
    for h in &mut held {
        if h.reveals
            && book
                .accept_reveal(h.reveal.clone(), REVEAL_DEADLINE)
                .is_ok()
        {
            h.receipts
                .push(receipt(&h.reveal, batch_id, BidKind::Reveal, None));
        }
    }
    let mut eligibility = Eligibility {
        min_stake: 10,
        provers: standings,
        weights: book.committer_weights(),
        ..Default::default()
    };
    if jobs > 1 && rng.below(2) == 0 {
        eligibility.cancelled.insert(specs[1].job_id);
    }
    if let Some(first) = held.first()
        && rng.below(2) == 0
    {
        eligibility
            .excluded
            .insert(specs[0].job_id, BTreeSet::from([first.commit.signer]));
    }
    let award = book.award(&eligibility).unwrap();
    let result = Signed::sign(AuctionResult::new(&batch.payload, award), &gw);
    let transcript = AuctionTranscript {
        batch,
        closed,
        commits: book.commits(),
        reveals: book.reveals(),
        eligibility,
        result,
    };
    let mut bundles: Vec<Evidence> = held
        .into_iter()
        .map(|h| Evidence {
            transcript: transcript.clone(),
            receipts: h.receipts,
            commits: vec![h.commit],
            reveals: if h.reveals { vec![h.reveal] } else { vec![] },
            availability: vec![h.announcement],
        })
        .collect();
    bundles.push(Evidence::from_transcript(transcript));
    bundles
}

struct Held {
    commit: Signed<lagrange_protocol::messages::BidCommit>,
    reveal: Signed<lagrange_protocol::messages::BidReveal>,
    receipts: Vec<Signed<BidReceipt>>,
    announcement: Signed<ProverAvailability>,
    reveals: bool,
}

/// Bundles of honest auctions of one gateway: `small` auctions of 2 to 5 provers, then
/// (when `overflow`) one with more committers than commit slots.
pub fn honest_bundles(seed: u64, small: u64, overflow: bool) -> Vec<Evidence> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for seq in 0..small {
        let provers = 2 + rng.below(4);
        let jobs = 1 + rng.below(4) as u32;
        out.extend(auction(seq, provers, jobs, &mut rng));
    }
    if overflow {
        let provers = MAX_COMMITS_PER_BATCH as u64 + 8;
        let all = auction(small, provers, 3, &mut rng);
        // Keep the bundles of the provers whose receipted commit was pushed out, a few that
        // kept their slot, and the auditor's.
        let (pushed, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|e| {
            e.commits
                .first()
                .is_some_and(|c| !e.transcript.closed.payload.contains(&c.digest()))
        });
        out.extend(pushed.into_iter().take(4));
        out.extend(kept.into_iter().rev().take(3));
    }
    out
}

/// Applies the edit program `ops` to `bundles[pick]`, drawing grafts from the other bundles.
/// `None` when the edited bytes no longer decode (a malformed file, which proves nothing).
pub fn mutate(bundles: &[Evidence], pick: usize, ops: &[u8]) -> Option<Evidence> {
    let mut e = bundles[pick % bundles.len()].clone();
    for op in ops.chunks_exact(4) {
        let [kind, a, b, c] = [op[0], op[1], op[2], op[3]];
        let (a, b, c) = (a as usize, b as usize, c as usize);
        let donor = &bundles[(a + b) % bundles.len()];
        let t = &mut e.transcript;
        match kind % 16 {
            0 => {
                let mut bytes = e.to_bytes();
                let at = (a << 16 | b << 8 | c) % bytes.len();
                bytes[at] ^= 1 << (c % 8);
                e = Evidence::from_bytes(&bytes).ok()?;
            }
            1 => {
                let bytes = e.to_bytes();
                let keep = bytes.len() * a / 256;
                e = Evidence::from_bytes(&bytes[..keep]).ok()?;
            }
            2 => edit_list(&mut t.commits, b % 4, a, c, &donor.transcript.commits),
            3 => edit_list(&mut t.reveals, b % 4, a, c, &donor.transcript.reveals),
            4 => edit_list(&mut e.receipts, b % 4, a, c, &donor.receipts),
            5 => edit_list(&mut e.availability, b % 4, a, c, &donor.availability),
            6 => edit_list(&mut e.commits, b % 4, a, c, &donor.commits),
            7 => edit_list(&mut e.reveals, b % 4, a, c, &donor.reveals),
            8 => edit_list(
                &mut t.closed.payload.commits,
                b % 4,
                a,
                c,
                &donor.transcript.closed.payload.commits,
            ),
            9 => {
                // Swap signatures between two messages (of any kinds).
                let mut sigs: Vec<_> = signatures(&mut e);
                let n = sigs.len();
                if n > 1 {
                    let (i, j) = (a % n, c % n);
                    let (si, sj) = (*sigs[i], *sigs[j]);
                    *sigs[i] = sj;
                    *sigs[j] = si;
                }
            }
            10 => {
                let mut sigs = signatures(&mut e);
                let n = sigs.len();
                if n > 0 {
                    sigs[a % n].0[b % 64] ^= 1 << (c % 8);
                }
            }
            11 => {
                // Another signer's key on a message.
                let keys: Vec<_> = donor.transcript.commits.iter().map(|m| m.signer).collect();
                if let (Some(key), false) = (keys.get(a % keys.len().max(1)), t.reveals.is_empty())
                {
                    let n = t.reveals.len();
                    t.reveals[c % n].signer = *key;
                }
            }
            12 => {
                // Edit the eligibility snapshot: room, stake, bars, cancellations.
                let el = &mut t.eligibility;
                let n = el.provers.len().max(1);
                if let Some(s) = el.provers.values_mut().nth(a % n) {
                    match c % 4 {
                        0 => s.free_capacity = s.free_capacity.wrapping_add(1 + b as u32),
                        1 => s.stake = s.stake.saturating_sub(b as u64),
                        2 => s.announcement.0[b % 32] ^= 1,
                        _ => s.allowlisted = !s.allowlisted,
                    }
                }
                if c % 7 == 0 {
                    el.cancelled.clear();
                    el.excluded.clear();
                }
            }
            13 => {
                // Edit a reveal's bids or a commit's commitment.
                let (nr, nc) = (t.reveals.len().max(1), t.commits.len().max(1));
                if let Some(r) = t.reveals.get_mut(a % nr) {
                    match c % 3 {
                        0 => r.payload.bids.clear(),
                        1 => {
                            if let Some(bid) = r.payload.bids.first_mut() {
                                bid.price = b as u64;
                            }
                        }
                        _ => r.payload.salt.0[b % 32] ^= 1,
                    }
                } else if let Some(cm) = t.commits.get_mut(a % nc) {
                    cm.payload.commitment.0[b % 32] ^= 1;
                }
            }
            14 => {
                // Graft a whole part of another bundle's transcript.
                let d = &donor.transcript;
                match c % 4 {
                    0 => t.closed = d.closed.clone(),
                    1 => t.result = d.result.clone(),
                    2 => t.batch = d.batch.clone(),
                    _ => t.eligibility = d.eligibility.clone(),
                }
            }
            _ => {
                // Edit the result's award (the gateway's signature then fails).
                let award = &mut t.result.payload.award;
                match c % 3 {
                    0 => award.non_revealers.clear(),
                    1 => award.awarded.truncate(a % 3),
                    _ => award.transcript_hash.0[b % 32] ^= 1,
                }
            }
        }
    }
    Some(e)
}

/// Duplicates (0), drops (1), reorders (2) or grafts (3) an element of `list`.
fn edit_list<T: Clone>(list: &mut Vec<T>, how: usize, a: usize, c: usize, donor: &[T]) {
    match how {
        0 if !list.is_empty() => {
            let item = list[a % list.len()].clone();
            list.insert(c % (list.len() + 1), item);
        }
        1 if !list.is_empty() => {
            list.remove(a % list.len());
        }
        2 if list.len() > 1 => {
            let n = list.len();
            list.swap(a % n, c % n);
        }
        3 if !donor.is_empty() => {
            let item = donor[a % donor.len()].clone();
            list.insert(c % (list.len() + 1), item);
        }
        _ => {}
    }
}

/// Every signature in a bundle, to swap or flip.
fn signatures(e: &mut Evidence) -> Vec<&mut lagrange_protocol::keys::Signature> {
    let t = &mut e.transcript;
    let mut out = vec![
        &mut t.batch.signature,
        &mut t.closed.signature,
        &mut t.result.signature,
    ];
    out.extend(t.commits.iter_mut().map(|m| &mut m.signature));
    out.extend(t.reveals.iter_mut().map(|m| &mut m.signature));
    out.extend(e.receipts.iter_mut().map(|m| &mut m.signature));
    out.extend(e.commits.iter_mut().map(|m| &mut m.signature));
    out.extend(e.reveals.iter_mut().map(|m| &mut m.signature));
    out.extend(e.availability.iter_mut().map(|m| &mut m.signature));
    out
}
