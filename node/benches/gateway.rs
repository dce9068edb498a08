//! Gateway benchmarks. Prints JSON and writes `target/bench-results/gateway.json`.
//!
//! - `throughput`: jobs per second through the gateway's bookkeeping: task intake, batch
//!   announcement, commits and reveals into the book and the store, the award, proof
//!   submissions (signature checked) and payment, aggregation bookkeeping, all with real sled
//!   writes. Simulated provers' own work (signing their bids and submissions) is done outside
//!   the timed region. **Proof verification is a labelled no-op here** (`NoopVerify`); its
//!   cost is measured separately by `cargo bench -p lagrange-circuits`.
//! - `scheduling`: 256 jobs over 32 simulated provers that each prove one job at a time in a
//!   fixed time, driven by the real gateway and prover state machines on a simulated clock
//!   with the default auction timing. Reports the makespan over the ideal (jobs / provers ×
//!   proving time).
//! - `idle_tick`: the cost of one timer tick (every 25 ms) while nothing falls due, with few
//!   and with many live tasks. The tick reads only what is due, so the two should be about
//!   the same; the ratio is printed.
//! - `auction_latency`: on the simulated clock, the time from announcement to award equals
//!   the configured windows plus at most one tick; the real-clock figure comes from the
//!   devnet (`lagrange-node devnet` prints both events).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

mod common;

use common::{NoopVerify, noop_follow_up};
use lagrange_node::gateway::{GatewayCore, Input as GIn, Output as GOut, Submission, SubmitError};
use lagrange_node::model::{TaskRecord, TaskSpec, TaskStatus};
use lagrange_node::net::RequestToken;
use lagrange_node::prover::{
    BidAnswer, CostModel, Input as PIn, Output as POut, ProverCore, ProverSettings,
};
use lagrange_node::store::Store;
use lagrange_node::workload::{Check, ProofBytes, Workload};
use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, Deposit, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::{
    Bid, GossipMessage, HardwareSummary, ProofSubmission, ProverAvailability, Request, Salt,
};
use lagrange_protocol::{BatchId, CircuitId, Digest, JobCategory, Keypair, Signed, SupernetId};
use serde_json::json;

/// The bytes the process has allocated and not freed, for the `history` phase.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a count is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The process's resident set, MiB (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / (1 << 20) as f64)
}

const GW: u64 = 1_000_000;

fn supernet(max_jobs: u32, deadline_ms: u64) -> Arc<SupernetConfig> {
    let key = |s| Keypair::insecure_from_seed(s).peer_id();
    Arc::new(SupernetConfig {
        id: SupernetId::new("bench").unwrap(),
        gateways: vec![key(GW)],
        allowlist: None,
        auction: AuctionConfig {
            max_jobs_per_batch: max_jobs,
            ..AuctionConfig::default()
        },
        // Stake recorded for every prover a run starts (seeds 0 to 63).
        economics: EconomicsConfig {
            deposits: (0..64)
                .map(|s| Deposit {
                    prover: key(s),
                    amount: 1000,
                })
                .collect(),
            ..EconomicsConfig::default()
        },
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: deadline_ms,
            reserve_price: 1000,
        }],
        circuits: vec![CircuitConfig {
            id: CircuitId::new("synthetic-v1/k12").unwrap(),
            category: JobCategory::Small,
            params_digest: Digest([0; 32]),
            r1cs_digest: None,
            wasm_digest: None,
            model: None,
        }],
    })
}

fn availability(cfg: &SupernetConfig, key: &Keypair, capacity: u32, at: u64) -> GossipMessage {
    GossipMessage::Availability(Signed::sign(
        ProverAvailability {
            supernet: cfg.id.clone(),
            categories: vec![JobCategory::Small],
            capacity,
            hardware: HardwareSummary::default(),
            node_version: "bench".into(),
            announced_at: at,
        },
        key,
    ))
}

/// One gateway call, its time added to `timed`.
/// A client's task through the core's input, split as the driver splits it.
fn submit_task(
    gw: &mut GatewayCore,
    spec: TaskSpec,
    max_fee_per_job: u64,
    deadline: u64,
    now: u64,
) -> Result<TaskRecord, SubmitError> {
    let submission = Submission::split(&NoopVerify, 0, spec, max_fee_per_job, deadline);
    match gw
        .handle(GIn::Submit(Box::new(submission)), now)
        .unwrap()
        .pop()
    {
        Some(GOut::Submitted { result, .. }) => result,
        other => panic!("a submission is answered: {other:?}"),
    }
}

fn run(gw: &mut GatewayCore, input: GIn, now: u64, timed: &mut Duration) -> Vec<GOut> {
    let t = Instant::now();
    let out = gw.handle(input, now).unwrap();
    *timed += t.elapsed();
    out
}

/// One auction round with simulated provers: they re-announce themselves, the gateway
/// announces a batch, each prover commits and reveals bids on its share, the award, and the
/// winners' proofs are checked, paid and aggregated. Returns the jobs proven.
fn round(
    gw: &mut GatewayCore,
    cfg: &SupernetConfig,
    keys: &[Keypair],
    per_prover: u32,
    now: &mut u64,
    token: &mut u64,
    timed: &mut Duration,
) -> u32 {
    let mut proven = 0;
    *now += cfg.auction.batch_interval_ms;
    // Provers re-announce themselves, as live ones do.
    for key in keys {
        run(
            gw,
            GIn::Gossip(availability(cfg, key, per_prover, *now)),
            *now,
            timed,
        );
    }
    let out = run(gw, GIn::Tick, *now, timed);
    let Some(batch) = out.iter().find_map(|o| match o {
        GOut::Publish(GossipMessage::Batch(b)) => Some(b.payload.clone()),
        _ => None,
    }) else {
        panic!("no batch announced");
    };
    // Each prover bids on its share of the batch (prover-side signing is not timed).
    let mut reveals = Vec::new();
    let mut commits = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let bids: Vec<Bid> = batch
            .jobs
            .iter()
            .skip(i)
            .step_by(keys.len())
            .map(|j| Bid {
                job_id: j.job_id,
                price: 100 + i as u64,
            })
            .collect();
        if bids.is_empty() {
            continue;
        }
        let (c, r) = seal_bids(&batch, &key.public(), bids, Salt([i as u8; 32]));
        commits.push(GossipMessage::Commit(Signed::sign(c, key)));
        reveals.push(GossipMessage::Reveal(Signed::sign(r, key)));
    }
    for c in commits {
        run(gw, GIn::Gossip(c), *now + 1, timed);
    }
    for r in reveals {
        run(gw, GIn::Gossip(r), batch.commit_deadline + 1, timed);
    }
    *now = batch.reveal_deadline + 1;
    let out = run(gw, GIn::Tick, *now, timed);
    let result = out
        .iter()
        .find_map(|o| match o {
            GOut::Publish(GossipMessage::Result(r)) => Some(r.payload.award.clone()),
            _ => None,
        })
        .expect("no award");
    // Winners submit (signing untimed); the gateway checks, "verifies" (no-op), pays.
    let by_key: BTreeMap<_, _> = keys.iter().map(|k| (k.public(), k)).collect();
    let submissions: Vec<_> = result
        .awarded
        .iter()
        .map(|w| {
            let key = by_key[&w.prover];
            Signed::sign(
                ProofSubmission {
                    supernet: cfg.id.clone(),
                    batch_id: batch.batch_id,
                    job_id: w.job_id,
                    proof: vec![0; 128],
                    public_inputs: vec![0; 64],
                },
                key,
            )
        })
        .collect();
    for s in submissions {
        *token += 1;
        let peer = s.signer.peer_id().unwrap();
        let out = run(
            gw,
            GIn::Request {
                peer,
                token: RequestToken::for_tests(*token),
                request: Request::SubmitProof(s),
            },
            *now,
            timed,
        );
        for o in out {
            if let GOut::Verify {
                token, submission, ..
            } = o
            {
                let out = run(
                    gw,
                    GIn::Verified {
                        token,
                        submission,
                        outcome: Check::Valid,
                    },
                    *now,
                    timed,
                );
                proven += 1;
                for o in out {
                    if let GOut::Aggregate { task, proofs } = o {
                        let result = NoopVerify
                            .aggregate(&task, &proofs)
                            .map_err(|e| e.to_string());
                        run(
                            gw,
                            GIn::Aggregated {
                                task: task.id,
                                result,
                            },
                            *now,
                            timed,
                        );
                    }
                }
            }
        }
    }
    proven
}

/// Jobs per second through the gateway core, with simulated provers.
fn throughput(jobs_total: u32, provers: u64) -> serde_json::Value {
    let batch_size = 512u32;
    let cfg = supernet(batch_size, 60_000);
    let keys: Vec<Keypair> = (0..provers).map(Keypair::insecure_from_seed).collect();
    let mut gw = GatewayCore::new(
        cfg.clone(),
        Keypair::insecure_from_seed(GW),
        Store::temporary().unwrap(),
    );
    gw.recover(0).unwrap();
    let per_prover = batch_size.div_ceil(provers as u32);
    let mut timed = Duration::ZERO;
    let mut now = 1_000u64;
    for key in &keys {
        run(
            &mut gw,
            GIn::Gossip(availability(&cfg, key, per_prover, now)),
            now,
            &mut timed,
        );
    }
    // Intake: tasks of 256 jobs.
    let t = Instant::now();
    for _ in 0..jobs_total.div_ceil(256) {
        submit_task(
            &mut gw,
            TaskSpec::Synthetic {
                jobs: 256,
                category: JobCategory::Small,
            },
            1000,
            u64::MAX / 2,
            now,
        )
        .unwrap();
    }
    timed += t.elapsed();
    let jobs_total = jobs_total.div_ceil(256) * 256;

    let mut token = 0u64;
    let mut proven = 0u32;
    let mut rounds = 0u32;
    while proven < jobs_total {
        rounds += 1;
        proven += round(
            &mut gw, &cfg, &keys, per_prover, &mut now, &mut token, &mut timed,
        );
    }
    let done = gw
        .store()
        .tasks()
        .unwrap()
        .iter()
        .filter(|t| t.status == TaskStatus::Done)
        .count();
    let secs = timed.as_secs_f64();
    json!({
        "jobs": jobs_total,
        "provers": provers,
        "batches": rounds,
        "tasks_done": done,
        "gateway_seconds": secs,
        "jobs_per_second": (jobs_total as f64 / secs).round(),
        "verification": "no-op (NoopVerify): bookkeeping only; see lagrange-circuits bench for verification cost",
        "target_jobs_per_second": 5000,
    })
}

/// Discrete-time simulation of the real gateway and prover state machines.
fn scheduling(jobs: u32, provers: u64, proving_ms: u64) -> serde_json::Value {
    let cfg = supernet(512, proving_ms * 3);
    let gw_key = Keypair::insecure_from_seed(GW);
    let gw_peer = gw_key.peer_id();
    let mut gw = GatewayCore::new(cfg.clone(), gw_key, Store::temporary().unwrap());
    gw.recover(0).unwrap();
    let mut salt = 0u8;
    let mut cores: Vec<ProverCore> = (0..provers)
        .map(|i| {
            ProverCore::new(
                cfg.clone(),
                Keypair::insecure_from_seed(i),
                ProverSettings {
                    capacity: 1,
                    cost: CostModel {
                        proving_ms: [(JobCategory::Small, proving_ms)].into(),
                        price_per_second: 10 + i,
                        margin_percent: 0,
                    },
                    hardware: HardwareSummary::default(),
                    announce_every_ms: 5_000,
                },
                Box::new(move || {
                    salt = salt.wrapping_add(1);
                    [salt; 32]
                }),
            )
        })
        .collect();
    let tick = 25u64;
    let mut now = 0u64;
    // Pending deliveries: (deliver at, to: None = gateway, Some(i) = prover i, input).
    enum To {
        Gw(GIn),
        Prover(usize, PIn),
    }
    let mut queue: VecDeque<(u64, To)> = VecDeque::new();
    let mut token = 0u64;
    // Who asked, and for a direct bid, its batch and whether it is a reveal.
    let mut tokens: BTreeMap<RequestToken, (usize, Option<(BatchId, bool)>)> = BTreeMap::new();
    let prover_of = |peer: &libp2p::PeerId| {
        (0..provers as usize).find(|i| Keypair::insecure_from_seed(*i as u64).peer_id() == *peer)
    };
    let start = now;
    let task = submit_task(
        &mut gw,
        TaskSpec::Synthetic {
            jobs,
            category: JobCategory::Small,
        },
        1000,
        u64::MAX / 2,
        now,
    )
    .unwrap()
    .id;
    let mut finished = None;
    while finished.is_none() && now < 3_600_000 {
        now += tick;
        // Deliver what is due, then tick everyone.
        let mut due: Vec<To> = Vec::new();
        let mut rest = VecDeque::new();
        while let Some((at, to)) = queue.pop_front() {
            if at <= now {
                due.push(to);
            } else {
                rest.push_back((at, to));
            }
        }
        queue = rest;
        due.push(To::Gw(GIn::Tick));
        for i in 0..cores.len() {
            due.push(To::Prover(i, PIn::Tick));
        }
        for to in due {
            match to {
                To::Gw(input) => {
                    for o in gw.handle(input, now).unwrap() {
                        match o {
                            GOut::Publish(m) => {
                                for i in 0..cores.len() {
                                    queue.push_back((
                                        now,
                                        To::Prover(
                                            i,
                                            PIn::Gossip {
                                                source: gw_peer,
                                                message: m.clone(),
                                            },
                                        ),
                                    ));
                                }
                            }
                            GOut::Respond { token, response } => {
                                if let Some(&(i, bid)) = tokens.get(&token) {
                                    use lagrange_protocol::messages::Response as R;
                                    let input = match (response, bid) {
                                        (R::JobInput { assignment, input }, _) => {
                                            PIn::JobInput { assignment, input }
                                        }
                                        (R::Verdict(v), _) => PIn::Verdict {
                                            job: v.payload.job_id,
                                            outcome: v.payload.outcome,
                                        },
                                        (R::Assignments { assignments }, _) => PIn::Assignments {
                                            gateway: gw_peer,
                                            assignments,
                                        },
                                        (R::Receipt(receipt), Some((batch, reveal))) => {
                                            PIn::BidAnswered {
                                                batch,
                                                reveal,
                                                result: BidAnswer::Taken(Box::new(receipt)),
                                            }
                                        }
                                        (R::Refused { reason }, Some((batch, reveal))) => {
                                            PIn::BidAnswered {
                                                batch,
                                                reveal,
                                                result: BidAnswer::Refused(reason),
                                            }
                                        }
                                        (other, _) => panic!("unexpected {other:?}"),
                                    };
                                    queue.push_back((now, To::Prover(i, input)));
                                }
                            }
                            GOut::Assign { prover, assignment } => {
                                if let Some(i) = prover_of(&prover) {
                                    queue.push_back((
                                        now,
                                        To::Prover(
                                            i,
                                            PIn::Assignments {
                                                gateway: gw_peer,
                                                assignments: vec![assignment],
                                            },
                                        ),
                                    ));
                                }
                            }
                            o @ (GOut::Verify { .. } | GOut::Aggregate { .. }) => {
                                if let Some(input) = noop_follow_up(o) {
                                    queue.push_back((now, To::Gw(input)));
                                }
                            }
                            GOut::TaskChanged(_)
                            | GOut::Equivocation { .. }
                            | GOut::Submitted { .. } => {}
                        }
                    }
                    if let Some(t) = gw.store().task(&task).unwrap()
                        && t.status == TaskStatus::Done
                    {
                        finished = Some(now);
                    }
                }
                To::Prover(i, input) => {
                    let peer = Keypair::insecure_from_seed(i as u64).peer_id();
                    for o in cores[i].handle(input, now) {
                        match o {
                            POut::Publish(m) => queue.push_back((now, To::Gw(GIn::Gossip(m)))),
                            // Auditing is the provers' own work, not the gateway's: skipped.
                            POut::FetchTranscript { .. } | POut::Audit { .. } => {}
                            // Nor is saving sealed bids against a crash.
                            POut::SaveBid(_) | POut::ForgetBid(_) => {}
                            // Assignments reach these provers as inputs, never as requests to answer.
                            POut::Respond { .. } => {}
                            POut::SendCommit { commit, .. } => {
                                token += 1;
                                tokens.insert(
                                    RequestToken::for_tests(token),
                                    (i, Some((commit.payload.batch_id, false))),
                                );
                                queue.push_back((
                                    now,
                                    To::Gw(GIn::Request {
                                        peer,
                                        token: RequestToken::for_tests(token),
                                        request: Request::Commit(commit),
                                    }),
                                ));
                            }
                            POut::SendReveal { reveal, .. } => {
                                token += 1;
                                tokens.insert(
                                    RequestToken::for_tests(token),
                                    (i, Some((reveal.payload.batch_id, true))),
                                );
                                queue.push_back((
                                    now,
                                    To::Gw(GIn::Request {
                                        peer,
                                        token: RequestToken::for_tests(token),
                                        request: Request::Reveal(reveal),
                                    }),
                                ));
                            }
                            POut::AskAssignments { .. } => {
                                token += 1;
                                tokens.insert(RequestToken::for_tests(token), (i, None));
                                queue.push_back((
                                    now,
                                    To::Gw(GIn::Request {
                                        peer,
                                        token: RequestToken::for_tests(token),
                                        request: Request::Assignments {
                                            supernet: cfg.id.clone(),
                                        },
                                    }),
                                ));
                            }
                            POut::FetchInput { job, .. } => {
                                token += 1;
                                tokens.insert(RequestToken::for_tests(token), (i, None));
                                queue.push_back((
                                    now,
                                    To::Gw(GIn::Request {
                                        peer,
                                        token: RequestToken::for_tests(token),
                                        request: Request::JobInput {
                                            supernet: cfg.id.clone(),
                                            job_id: job,
                                        },
                                    }),
                                ));
                            }
                            POut::Prove { job, .. } => {
                                queue.push_back((
                                    now + proving_ms,
                                    To::Prover(
                                        i,
                                        PIn::Proved {
                                            job,
                                            result: Ok(ProofBytes {
                                                proof: vec![0; 128],
                                                public_inputs: vec![],
                                            }),
                                        },
                                    ),
                                ));
                            }
                            POut::Submit { submission, .. } => {
                                token += 1;
                                tokens.insert(RequestToken::for_tests(token), (i, None));
                                queue.push_back((
                                    now,
                                    To::Gw(GIn::Request {
                                        peer,
                                        token: RequestToken::for_tests(token),
                                        request: Request::SubmitProof(submission),
                                    }),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let makespan = finished.expect("the task did not finish") - start;
    let ideal = (jobs as u64).div_ceil(provers) * proving_ms;
    json!({
        "jobs": jobs,
        "provers": provers,
        "proving_ms": proving_ms,
        "auction": {
            "batch_interval_ms": cfg.auction.batch_interval_ms,
            "commit_window_ms": cfg.auction.commit_window_ms,
            "reveal_window_ms": cfg.auction.reveal_window_ms,
        },
        "makespan_ms": makespan,
        "ideal_ms": ideal,
        "makespan_over_ideal": (makespan as f64 / ideal as f64 * 1000.0).round() / 1000.0,
        "target": 1.15,
    })
}

/// Mean cost of a tick that finds nothing due, with `live` unfinished tasks in the store,
/// and the cost of reading every live task once (what each tick did before deadlines were
/// indexed).
fn tick_with(live: u32) -> (Duration, Duration) {
    let cfg = supernet(64, 60_000);
    let mut gw = GatewayCore::new(
        cfg,
        Keypair::insecure_from_seed(GW),
        Store::temporary().unwrap(),
    );
    gw.recover(0).unwrap();
    for _ in 0..live {
        submit_task(
            &mut gw,
            TaskSpec::Synthetic {
                jobs: 1,
                category: JobCategory::Small,
            },
            1000,
            u64::MAX / 2,
            1_000,
        )
        .unwrap();
    }
    // The first tick announces a batch; the next ones, inside the batch interval, only look
    // for what is due.
    gw.handle(GIn::Tick, 1_000).unwrap();
    let ticks = 30u64;
    let t = Instant::now();
    for i in 1..=ticks {
        gw.handle(GIn::Tick, 1_000 + i * 25).unwrap();
    }
    let tick = t.elapsed() / ticks as u32;
    let t = Instant::now();
    let scanned = gw.store().unfinished_tasks().unwrap().len();
    let scan = t.elapsed();
    assert_eq!(scanned, live as usize);
    (tick, scan)
}

/// Tick cost with few and with many live tasks, in the same run.
fn idle_tick() -> serde_json::Value {
    let (few, _) = tick_with(16);
    let (many, scan) = tick_with(16_384);
    json!({
        "live_tasks_few": 16,
        "tick_us_few": few.as_secs_f64() * 1e6,
        "live_tasks_many": 16_384,
        "tick_us_many": many.as_secs_f64() * 1e6,
        "many_over_few": (many.as_secs_f64() / few.as_secs_f64() * 100.0).round() / 100.0,
        "full_scan_us_many": scan.as_secs_f64() * 1e6,
        "full_scan_over_tick": (scan.as_secs_f64() / many.as_secs_f64()).round(),
    })
}

/// The gateway's memory over a long history, with its store on disk, its page cache at
/// `cache_mb` and finished tasks kept `retention_ms` (0: forever): tasks of four jobs (the
/// soak's shape) go through every step one after another on the simulated clock, and the
/// live heap and resident set are sampled every `every` tasks. Without retention the store
/// grows with the history, and so does the memory its engine keeps beside the cache; with
/// it both level off.
fn history(tasks: u32, every: u32, cache_mb: u64, retention_ms: u64) -> serde_json::Value {
    let cfg = supernet(64, 60_000);
    let keys: Vec<Keypair> = (0..3).map(Keypair::insecure_from_seed).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut gw = GatewayCore::new(
        cfg.clone(),
        Keypair::insecure_from_seed(GW),
        Store::open_with_cache(dir.path(), cache_mb).unwrap(),
    )
    .with_retention(retention_ms);
    gw.recover(0).unwrap();
    let (mut now, mut token, mut timed) = (1_000u64, 0u64, Duration::ZERO);
    let mut samples = Vec::new();
    let sample = |done: u32| {
        json!({
            "tasks_done": done,
            "heap_mib": LIVE_BYTES.load(Relaxed) as f64 / (1 << 20) as f64,
            "rss_mib": rss_mib(),
        })
    };
    samples.push(sample(0));
    for done in 1..=tasks {
        submit_task(
            &mut gw,
            TaskSpec::Synthetic {
                jobs: 4,
                category: JobCategory::Small,
            },
            1000,
            u64::MAX / 2,
            now,
        )
        .unwrap();
        let mut proven = 0;
        while proven < 4 {
            proven += round(&mut gw, &cfg, &keys, 4, &mut now, &mut token, &mut timed);
        }
        if done % every == 0 {
            samples.push(sample(done));
        }
    }
    let store_mib = fs_size(dir.path()) as f64 / (1 << 20) as f64;
    // Growth between the middle and the end of the run, per thousand tasks: what a history
    // held in memory shows as a steady slope.
    let heap_at = |i: usize| samples[i]["heap_mib"].as_f64().unwrap_or(0.0);
    let (mid, last) = (samples.len() / 2, samples.len() - 1);
    let per_k = (heap_at(last) - heap_at(mid)) / f64::from(tasks - tasks / 2) * 1000.0;
    json!({
        "tasks": tasks,
        "simulated_hours": ((now as f64) / 3.6e6 * 10.0).round() / 10.0,
        "store_cache_mb": cache_mb,
        "retention_secs": retention_ms / 1000,
        "store_mib": (store_mib * 10.0).round() / 10.0,
        "heap_mib_start": heap_at(0),
        "heap_mib_mid": heap_at(mid),
        "heap_mib_end": heap_at(last),
        "heap_growth_mib_per_1000_tasks_second_half": (per_k * 100.0).round() / 100.0,
        "samples": samples,
    })
}

/// Bytes of the files under `dir`.
fn fs_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => fs_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("gateway benchmark: run with `cargo bench -p lagrange-node --bench gateway`");
        return;
    }
    // `cargo bench --bench gateway -- history` runs that phase alone.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |phase: &str| only.is_empty() || only.iter().any(|o| o == phase);
    let mut report = serde_json::Map::new();
    if wanted("history") {
        // Small cache first, so that the default cache's run starts from the same heap.
        let tasks = std::env::var("LAGRANGE_HISTORY_TASKS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4000);
        let default_cache = lagrange_node::store::DEFAULT_CACHE_MB;
        // Each task takes one auction round of the simulated clock (about 1.5 s): an hour
        // of retention holds about 2,400 tasks.
        let runs = [
            history(tasks, tasks / 20, default_cache, 0),
            history(tasks, tasks / 20, 4, 0),
            history(tasks, tasks / 20, default_cache, 3_600_000),
            history(tasks, tasks / 20, 4, 3_600_000),
        ];
        for run in &runs {
            let f = |k: &str| run[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "history: {} tasks, store cache {} MiB, retention {} s, {:.1} MiB on disk: heap {:.1} -> {:.1} -> {:.1} MiB (start, middle, end), {:.2} MiB per 1000 tasks in the second half",
                run["tasks"],
                run["store_cache_mb"],
                run["retention_secs"],
                f("store_mib"),
                f("heap_mib_start"),
                f("heap_mib_mid"),
                f("heap_mib_end"),
                f("heap_growth_mib_per_1000_tasks_second_half")
            );
        }
        report.insert("history".into(), json!(runs));
    }
    if wanted("throughput") {
        let throughput = throughput(8192, 64);
        println!("throughput: {throughput}");
        report.insert("throughput".into(), throughput);
    }
    if wanted("scheduling") {
        let scheduling = scheduling(256, 32, 10_000);
        println!("scheduling: {scheduling}");
        report.insert("scheduling".into(), scheduling);
    }
    if wanted("idle_tick") {
        let idle_tick = idle_tick();
        println!("idle_tick: {idle_tick}");
        report.insert("idle_tick".into(), idle_tick);
    }
    let cfg = AuctionConfig::default();
    report.insert(
        "auction_latency_simulated".into(),
        json!({
            "windows_ms": cfg.commit_window_ms + cfg.reveal_window_ms,
            "tick_ms": 25,
            "note": "announcement to award = commit + reveal windows + at most one tick; see the devnet output for wall-clock figures",
        }),
    );
    let report = serde_json::Value::Object(report);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("gateway.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    println!("wrote {}", path.display());
}
