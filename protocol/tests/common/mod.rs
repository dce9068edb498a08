//! Shared fixtures for the protocol's tests and benchmarks: deterministic keys, batches and
//! sealed bids.
#![allow(dead_code)]

use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::messages::{
    BatchAnnouncement, Bid, BidCommit, BidReveal, HardwareSummary, JobSpec, ProverAvailability,
    Salt,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Signed, SupernetId, TaskId,
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
