//! Micro-benchmarks of the protocol's hot paths: verifying signed bids (one by one and in
//! batches) and computing the award of a 256-job, 64-prover batch.
//!
//! `cargo bench -p lagrange-protocol` prints throughput as elements per second.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lagrange_protocol::messages::{BatchAnnouncement, BidCommit, BidReveal};
use lagrange_protocol::{Eligibility, JobCategory, ProverStanding, Signed, award};

const JOBS: u32 = 256;
const PROVERS: u64 = 64;

/// A batch with every prover's commit and reveal, and their eligibility.
struct Market {
    batch: BatchAnnouncement,
    commits: Vec<Signed<BidCommit>>,
    reveals: Vec<Signed<BidReveal>>,
    eligibility: Eligibility,
}

/// 64 provers, each bidding on every job of a 256-job batch, with commit and reveal.
fn market() -> Market {
    let batch = batch(JOBS);
    let mut eligibility = Eligibility {
        min_stake: 10,
        ..Default::default()
    };
    let mut commits = Vec::new();
    let mut reveals = Vec::new();
    for p in 0..PROVERS {
        let key = prover(p);
        // Each prover bids on every job with a price that varies by prover and job.
        let prices: Vec<(u32, u64)> = (0..JOBS)
            .map(|j| (j, 20 + (p * 7 + u64::from(j) * 13) % 80))
            .collect();
        let (c, r) = sealed(&key, &batch.payload, &prices, p as u8);
        commits.push(c);
        reveals.push(r);
        eligibility.provers.insert(
            key.public(),
            ProverStanding {
                allowlisted: true,
                stake: 100,
                free_capacity: 8,
                categories: [JobCategory::Small].into(),
                announcement: lagrange_protocol::Digest([0; 32]),
            },
        );
    }
    Market {
        batch: batch.payload,
        commits,
        reveals,
        eligibility,
    }
}

/// Small reveals, as a prover sends when it bids on a few jobs.
fn bids(n: u64) -> Vec<Signed<BidReveal>> {
    let batch = batch(16);
    (0..n)
        .map(|p| {
            let prices = [(0, 10 + p), (5, 20), (9, 30), (15, 40)];
            sealed(&prover(p), &batch.payload, &prices, p as u8).1
        })
        .collect()
}

fn verify_bids(c: &mut Criterion) {
    let reveals = bids(1024);
    let mut g = c.benchmark_group("verify_signed_bids");
    g.throughput(Throughput::Elements(reveals.len() as u64));
    g.bench_function("one_by_one", |b| {
        b.iter(|| {
            for r in &reveals {
                r.verify().unwrap();
            }
        })
    });
    for chunk in [64usize, 1024] {
        g.bench_function(format!("batch_of_{chunk}"), |b| {
            b.iter(|| {
                for part in reveals.chunks(chunk) {
                    Signed::verify_batch(part).unwrap();
                }
            })
        });
    }
    g.finish();
}

fn award_batch(c: &mut Criterion) {
    let Market {
        batch,
        commits,
        reveals,
        eligibility,
    } = market();
    let mut g = c.benchmark_group("award");
    g.throughput(Throughput::Elements(1));
    g.bench_function("256_jobs_64_provers", |b| {
        b.iter(|| black_box(award(black_box(&batch), &commits, &reveals, &eligibility)).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = verify_bids, award_batch
}
criterion_main!(benches);
