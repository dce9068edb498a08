//! Shared fixtures for the protocol's tests and benchmarks: deterministic keys, batches and
//! sealed bids.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use lagrange_protocol::book::BidBook;
use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::merkle::{SlotWeight, WeightTree};
use lagrange_protocol::messages::{
    BatchAnnouncement, Bid, BidCommit, BidReveal, HardwareSummary, JobSpec, ProverAvailability,
    Salt,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, PublicKey, Signed, SupernetId, TaskId,
};

pub const ANNOUNCED_AT: u64 = 1_000;
pub const COMMIT_DEADLINE: u64 = 2_000;
pub const REVEAL_DEADLINE: u64 = 3_000;

pub fn supernet(name: &str) -> SupernetId {
    SupernetId::new(name).unwrap()
}

pub fn gateway() -> Keypair {
    Keypair::insecure_from_seed(1_000_000)
}

pub fn prover(i: u64) -> Keypair {
    Keypair::insecure_from_seed(i)
}

/// How many test provers ([`prover`] `0..TEST_PROVERS`) the batches' weight table holds.
pub const TEST_PROVERS: u64 = 512;

/// The weight table of the test batches: provers `0..TEST_PROVERS`, prover `i` weighing
/// `1 + i % 4`.
pub fn weights() -> &'static WeightTree {
    static TREE: OnceLock<WeightTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let table: BTreeMap<_, _> = (0..TEST_PROVERS)
            .map(|i| (prover(i).public(), 1 + i % 4))
            .collect();
        WeightTree::new(&table).unwrap()
    })
}

/// An empty book for `batch` (built by [`batch_with`]), ranking with [`weights`].
pub fn new_book(batch: &Signed<BatchAnnouncement>) -> BidBook {
    BidBook::new(batch, weights().clone()).unwrap()
}

/// The proven weights of `provers` in [`weights`], as an award's eligibility carries them.
pub fn proven_weights<'a>(
    provers: impl IntoIterator<Item = &'a PublicKey>,
) -> BTreeMap<PublicKey, SlotWeight> {
    provers
        .into_iter()
        .filter_map(|p| Some((*p, weights().slot_weight(p)?)))
        .collect()
}

pub fn job(i: u32) -> JobId {
    JobId::new(TaskId([0xab; 16]), i)
}

/// A signed batch of `reserves.len()` jobs in `supernet`, job `i` with reserve `reserves[i]`
/// and category `categories[i]`.
pub fn batch_with(
    supernet_name: &str,
    seq: u64,
    reserves: &[u64],
    categories: &[JobCategory],
) -> Signed<BatchAnnouncement> {
    let gw = gateway();
    let supernet = supernet(supernet_name);
    let jobs = reserves
        .iter()
        .zip(categories)
        .enumerate()
        .map(|(i, (&reserve_price, &category))| JobSpec {
            job_id: job(i as u32),
            circuit: CircuitId::new(format!("synthetic.{category}")).unwrap(),
            category,
            reserve_price,
            proving_window_ms: 10_000,
            input_digest: Digest([i as u8; 32]),
            input_size: 1024,
        })
        .collect();
    Signed::sign(
        BatchAnnouncement {
            batch_id: BatchId::derive(&supernet, &gw.public(), seq),
            supernet,
            seq,
            jobs,
            announced_at: ANNOUNCED_AT,
            commit_deadline: COMMIT_DEADLINE,
            reveal_deadline: REVEAL_DEADLINE,
            weights: weights().root(),
        },
        &gw,
    )
}

/// A batch of `n` small jobs with reserve 100 in Supernet `s`.
pub fn batch(n: u32) -> Signed<BatchAnnouncement> {
    batch_with(
        "s",
        0,
        &vec![100; n as usize],
        &vec![JobCategory::Small; n as usize],
    )
}

/// The signed commit and reveal of `key` bidding `prices` (job index, price) on `batch`.
pub fn sealed(
    key: &Keypair,
    batch: &BatchAnnouncement,
    prices: &[(u32, u64)],
    salt_seed: u8,
) -> (Signed<BidCommit>, Signed<BidReveal>) {
    let bids = prices
        .iter()
        .map(|&(j, price)| Bid {
            job_id: job(j),
            price,
        })
        .collect();
    let (c, r) = seal_bids(batch, &key.public(), bids, Salt([salt_seed; 32]));
    (Signed::sign(c, key), Signed::sign(r, key))
}

/// The signed availability announcement of `key` in Supernet `s`: `capacity` small jobs at
/// once, announced at 500.
pub fn announcement(key: &Keypair, capacity: u32) -> Signed<ProverAvailability> {
    Signed::sign(
        ProverAvailability {
            supernet: supernet("s"),
            categories: vec![JobCategory::Small],
            capacity,
            hardware: HardwareSummary::default(),
            node_version: "test".into(),
            announced_at: 500,
        },
        key,
    )
}

pub mod honest;
