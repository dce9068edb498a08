//! Scale simulation: one gateway and 100, 1,000 or 10,000 provers, driven through the real
//! gateway and prover state machines (real signatures, commit-reveal, the weighted slot
//! rule, the audit's transcripts, a real sled store) on a simulated clock, over a
//! simulated network with latency and loss. Prints JSON and writes
//! `target/bench-results/scale.json`.
//!
//! What is simulated: the network (each message arrives after a latency of 20–40 ms; 1% of
//! gossip copies and of direct requests are lost, a lost request failing after 2 s as a
//! timeout would), the clock, and proving (a prover's job takes its own time, 0.8x to 1.3x
//! of the base, with one or two jobs at once). What is not: **proof verification** (a
//! labelled no-op, see `lagrange-circuits`' benches for its cost) and the provers' audits
//! beyond one in [`AUDIT_EVERY`] (each audit re-verifies every signature of a transcript;
//! the bytes of every transcript fetched are counted).
//!
//! Figures per run:
//! - `makespan_over_ideal`: from the first task's submission to the last task's result,
//!   over the fluid bound `jobs / Σ (capacity_i / proving_time_i)`;
//! - `gateway_jobs_per_second`: jobs over the time spent inside the gateway core's `handle`
//!   (intake, auctions, bids with their signature checks, weight tables, awards, proof
//!   submissions with their signature checks, payments, aggregation bookkeeping, the
//!   transcripts it serves, every sled write): the gateway's bookkeeping, verification
//!   excluded;
//! - bytes per batch: gossiped (every node receives each gossiped message once: this is
//!   what each node takes in per batch), served by the gateway in answers, and the
//!   transcript bytes each auditing prover fetched;
//! - commits per batch (the gateway's signature checks), slots held and jobs won by stake
//!   level, against the stake;
//! - honest penalties (there must be none: every prover here is honest).
//!
//! `cargo bench -p lagrange-node --bench scale` runs 100 and 1,000 provers with 10 jobs
//! each; `LAGRANGE_SCALE_MAX=10000` adds 10,000, `LAGRANGE_SCALE_MIN` skips the smaller
//! sizes, `LAGRANGE_SCALE_JOBS_PER_PROVER` sets the jobs (at most 100,000).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{NoopVerify, noop_follow_up};
use lagrange_node::gateway::{GatewayCore, Input as GIn, Output as GOut, Reader, Submission};
use lagrange_node::model::{TaskSpec, TaskStatus};
use lagrange_node::net::RequestToken;
use lagrange_node::prover::{
    BidAnswer, CostModel, Input as PIn, Output as POut, ProverCore, ProverSettings,
};
use lagrange_node::store::Store;
use lagrange_node::workload::ProofBytes;
use lagrange_protocol::audit::audit;
use lagrange_protocol::canonical::canonical_bytes;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, Deposit, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::{GossipMessage, HardwareSummary, Request, Response};
use lagrange_protocol::sortition::slot_rank;
use lagrange_protocol::{CircuitId, Digest, JobCategory, Keypair, PublicKey, SupernetId};
use libp2p::PeerId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

/// The gateway's key seed (provers are seeds `0..n`).
const GW: u64 = 10_000_000;
/// One prover audit in this many is run (all transcripts are fetched and counted).
const AUDIT_EVERY: u64 = 50;
/// The minimum stake; prover `i` stakes `1 + i % 4` times it, at least what its capacity
/// needs backed.
const MIN_STAKE: u64 = 100;
/// Jobs of one synthetic task.
const TASK_JOBS: u32 = 1_024;
const GW_TICK_MS: u64 = 25;
const PROVER_TICK_MS: u64 = 100;
/// When a lost request is given up.
const REQUEST_TIMEOUT_MS: u64 = 2_000;

/// Prover `i`'s stake, capacity and proving time for `base_ms`.
fn prover_shape(i: u64, base_ms: u64) -> (u64, u32, u64) {
    let capacity = 1 + u32::from(i.is_multiple_of(3));
    let stake = MIN_STAKE * (1 + i % 4).max(u64::from(capacity));
    let proving_ms = base_ms * (80 + (i * 37) % 51) / 100;
    (stake, capacity, proving_ms)
}

fn supernet(n: u64, auction: AuctionConfig, base_ms: u64) -> Arc<SupernetConfig> {
    let key = |s| Keypair::insecure_from_seed(s).peer_id();
    Arc::new(SupernetConfig {
        id: SupernetId::new("scale").unwrap(),
        gateways: vec![key(GW)],
        allowlist: None,
        auction,
        economics: EconomicsConfig {
            min_stake: MIN_STAKE,
            deposits: (0..n)
                .map(|i| Deposit {
                    prover: key(i),
                    amount: prover_shape(i, base_ms).0,
                })
                .collect(),
            ..EconomicsConfig::default()
        },
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: base_ms * 4,
            reserve_price: 1_000_000,
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

/// Something arriving at a node.
enum Event {
    Gateway(GIn),
    Prover(usize, PIn),
}

/// A request a prover sent, waiting for the gateway's answer.
enum Asked {
    Bid {
        prover: usize,
        batch: lagrange_protocol::BatchId,
        reveal: bool,
    },
    Input {
        prover: usize,
        job: lagrange_protocol::JobId,
    },
    Submit {
        prover: usize,
        job: lagrange_protocol::JobId,
    },
    Assignments {
        prover: usize,
    },
    Transcript {
        prover: usize,
        batch: lagrange_protocol::BatchId,
    },
}

#[derive(Default)]
struct Counts {
    batches: u64,
    gossip_bytes: u64,
    served_bytes: u64,
    transcripts: u64,
    transcript_bytes: u64,
    commits: u64,
    most_commits: u64,
    audit_outputs: u64,
    audits: u64,
    audit_failures: u64,
}

struct Sim {
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    gateway: GatewayCore,
    gateway_time: Duration,
    reader: Reader,
    read_time: Duration,
    gateway_peer: PeerId,
    provers: Vec<ProverCore>,
    keys: Vec<PublicKey>,
    peers: Vec<PeerId>,
    index: HashMap<PeerId, usize>,
    proving_ms: Vec<u64>,
    asked: BTreeMap<RequestToken, Asked>,
    next_token: u64,
    rng: ChaCha20Rng,
    loss: f64,
    latency_ms: u64,
    counts: Counts,
    commits_this_batch: BTreeMap<lagrange_protocol::BatchId, u64>,
    slots_by_prover: Vec<u64>,
    supernet: Arc<SupernetConfig>,
}

impl Sim {
    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay, self.seq), event);
    }

    fn latency(&mut self) -> u64 {
        self.latency_ms + self.rng.gen_range(0..=self.latency_ms)
    }

    fn lost(&mut self) -> bool {
        self.rng.gen_bool(self.loss)
    }

    fn gateway(&mut self, input: GIn) {
        // Transcripts and assignment lists are read from the store off the core's thread,
        // as the driver serves them: timed apart.
        if let GIn::Request {
            peer,
            token,
            request,
        } = &input
            && Reader::serves(request)
        {
            let started = Instant::now();
            let response = self.reader.answer(*peer, request).expect("gateway store");
            self.read_time += started.elapsed();
            if let Some(response) = response {
                self.on_gateway_output(GOut::Respond {
                    token: *token,
                    response,
                });
            }
            return;
        }
        let started = Instant::now();
        let out = self.gateway.handle(input, self.now).expect("gateway store");
        self.gateway_time += started.elapsed();
        for o in out {
            self.on_gateway_output(o);
        }
    }

    fn on_gateway_output(&mut self, o: GOut) {
        match o {
            GOut::Publish(m) => {
                self.counts.gossip_bytes += canonical_bytes(&m).len() as u64;
                match &m {
                    GossipMessage::Batch(_) => self.counts.batches += 1,
                    GossipMessage::CommitsClosed(c) => {
                        self.commits_this_batch.remove(&c.payload.batch_id);
                    }
                    _ => {}
                }
                for i in 0..self.provers.len() {
                    if self.lost() {
                        continue;
                    }
                    let delay = self.latency();
                    let source = self.gateway_peer;
                    self.at(
                        delay,
                        Event::Prover(
                            i,
                            PIn::Gossip {
                                source,
                                message: m.clone(),
                            },
                        ),
                    );
                }
            }
            GOut::Respond { token, response } => {
                let bytes = canonical_bytes(&response).len() as u64;
                self.counts.served_bytes += bytes;
                if let Response::Transcript(_) = &response {
                    self.counts.transcripts += 1;
                    self.counts.transcript_bytes += bytes;
                }
                if let Some(asked) = self.asked.remove(&token) {
                    let delay = self.latency();
                    let (prover, input) = answer(asked, response, self.gateway_peer);
                    self.at(delay, Event::Prover(prover, input));
                }
            }
            GOut::Assign { prover, assignment } => {
                if let Some(&i) = self.index.get(&prover)
                    && !self.lost()
                {
                    let delay = self.latency();
                    let gateway = self.gateway_peer;
                    self.at(
                        delay,
                        Event::Prover(
                            i,
                            PIn::Assignments {
                                gateway,
                                assignments: vec![assignment],
                            },
                        ),
                    );
                }
            }
            // Verification is the labelled no-op of this benchmark.
            o @ (GOut::Verify { .. } | GOut::Aggregate { .. }) => {
                if let Some(input) = noop_follow_up(o) {
                    self.at(0, Event::Gateway(input));
                }
            }
            GOut::TaskChanged(_) | GOut::Equivocation { .. } | GOut::Submitted { .. } => {}
        }
    }

    /// Sends `request` from prover `i` to the gateway; a lost one fails after the timeout.
    fn request(&mut self, i: usize, request: Request, asked: Asked) {
        self.next_token += 1;
        let token = RequestToken::for_tests(self.next_token);
        if self.lost() {
            if let Some(input) = failed(asked) {
                self.at(REQUEST_TIMEOUT_MS, Event::Prover(i, input));
            }
            return;
        }
        self.asked.insert(token, asked);
        let peer = self.peers[i];
        let delay = self.latency();
        self.at(
            delay,
            Event::Gateway(GIn::Request {
                peer,
                token,
                request,
            }),
        );
    }

    fn prover(&mut self, i: usize, input: PIn) {
        let out = self.provers[i].handle(input, self.now);
        for o in out {
            match o {
                POut::Publish(m) => {
                    self.counts.gossip_bytes += canonical_bytes(&m).len() as u64;
                    if let GossipMessage::Commit(c) = &m {
                        let n = self
                            .commits_this_batch
                            .entry(c.payload.batch_id)
                            .or_default();
                        *n += 1;
                        self.counts.commits += 1;
                        self.counts.most_commits = self.counts.most_commits.max(*n);
                    }
                    if !self.lost() {
                        let delay = self.latency();
                        self.at(delay, Event::Gateway(GIn::Gossip(m)));
                    }
                }
                POut::SendCommit { commit, .. } => {
                    let asked = Asked::Bid {
                        prover: i,
                        batch: commit.payload.batch_id,
                        reveal: false,
                    };
                    self.request(i, Request::Commit(commit), asked);
                }
                POut::SendReveal { reveal, .. } => {
                    let asked = Asked::Bid {
                        prover: i,
                        batch: reveal.payload.batch_id,
                        reveal: true,
                    };
                    self.request(i, Request::Reveal(reveal), asked);
                }
                POut::AskAssignments { .. } => {
                    let supernet = self.supernet.id.clone();
                    self.request(
                        i,
                        Request::Assignments { supernet },
                        Asked::Assignments { prover: i },
                    );
                }
                POut::FetchInput { job, .. } => {
                    let supernet = self.supernet.id.clone();
                    self.request(
                        i,
                        Request::JobInput {
                            supernet,
                            job_id: job,
                        },
                        Asked::Input { prover: i, job },
                    );
                }
                POut::Prove { job, .. } => {
                    let proved = PIn::Proved {
                        job,
                        result: Ok(ProofBytes {
                            proof: vec![0; 128],
                            public_inputs: vec![0; 64],
                        }),
                    };
                    let ms = self.proving_ms[i];
                    self.at(ms, Event::Prover(i, proved));
                }
                POut::Submit { submission, .. } => {
                    let job = submission.payload.job_id;
                    self.request(
                        i,
                        Request::SubmitProof(submission),
                        Asked::Submit { prover: i, job },
                    );
                }
                POut::FetchTranscript { batch, .. } => {
                    let supernet = self.supernet.id.clone();
                    self.request(
                        i,
                        Request::Transcript {
                            supernet,
                            batch_id: batch,
                        },
                        Asked::Transcript { prover: i, batch },
                    );
                }
                POut::Audit { evidence, .. } => {
                    // Slots held, from the transcripts the provers audit: their own commit.
                    let me = self.keys[i];
                    if evidence.transcript.commits.iter().any(|c| c.signer == me) {
                        self.slots_by_prover[i] += 1;
                    }
                    self.counts.audit_outputs += 1;
                    if self.counts.audit_outputs.is_multiple_of(AUDIT_EVERY) {
                        self.counts.audits += 1;
                        if audit(&evidence).is_err() {
                            self.counts.audit_failures += 1;
                        }
                    }
                }
                POut::Respond { .. } | POut::SaveBid(_) | POut::ForgetBid(_) => {}
            }
        }
    }
}

/// The prover's input for the gateway's `response` to what it `asked`.
fn answer(asked: Asked, response: Response, gateway: PeerId) -> (usize, PIn) {
    match (asked, response) {
        (
            Asked::Bid {
                prover,
                batch,
                reveal,
            },
            Response::Receipt(r),
        ) => (
            prover,
            PIn::BidAnswered {
                batch,
                reveal,
                result: BidAnswer::Taken(Box::new(r)),
            },
        ),
        (
            Asked::Bid {
                prover,
                batch,
                reveal,
            },
            other,
        ) => (
            prover,
            PIn::BidAnswered {
                batch,
                reveal,
                result: BidAnswer::Refused(format!("{other:?}")),
            },
        ),
        (Asked::Input { prover, .. }, Response::JobInput { assignment, input }) => {
            (prover, PIn::JobInput { assignment, input })
        }
        (Asked::Input { prover, job }, other) => (
            prover,
            PIn::JobInputFailed {
                job,
                reason: format!("{other:?}"),
                refused: true,
            },
        ),
        (Asked::Submit { prover, .. }, Response::Verdict(v)) => (
            prover,
            PIn::Verdict {
                job: v.payload.job_id,
                outcome: v.payload.outcome,
            },
        ),
        (Asked::Submit { prover, job }, other) => (
            prover,
            PIn::SubmitFailed {
                job,
                reason: format!("{other:?}"),
            },
        ),
        (Asked::Assignments { prover }, Response::Assignments { assignments }) => (
            prover,
            PIn::Assignments {
                gateway,
                assignments,
            },
        ),
        (Asked::Assignments { prover }, _) => (
            prover,
            PIn::Assignments {
                gateway,
                assignments: vec![],
            },
        ),
        (Asked::Transcript { prover, batch }, Response::Transcript(t)) => (
            prover,
            PIn::Transcript {
                batch,
                result: Ok(t),
            },
        ),
        (Asked::Transcript { prover, batch }, other) => (
            prover,
            PIn::Transcript {
                batch,
                result: Err(format!("{other:?}")),
            },
        ),
    }
}

/// What a prover hears when its request is lost: the timeout's failure.
fn failed(asked: Asked) -> Option<PIn> {
    let reason = "timed out".to_string();
    match asked {
        Asked::Bid { batch, reveal, .. } => Some(PIn::BidAnswered {
            batch,
            reveal,
            result: BidAnswer::Unanswered(reason),
        }),
        Asked::Input { job, .. } => Some(PIn::JobInputFailed {
            job,
            reason,
            refused: false,
        }),
        Asked::Submit { job, .. } => Some(PIn::SubmitFailed { job, reason }),
        Asked::Transcript { batch, .. } => Some(PIn::Transcript {
            batch,
            result: Err(reason),
        }),
        Asked::Assignments { .. } => None,
    }
}

/// One run: `n` provers, `jobs` jobs, proving `base_ms` on average.
fn run(n: u64, jobs: u32, base_ms: u64, auction: AuctionConfig) -> serde_json::Value {
    let started = Instant::now();
    let cfg = supernet(n, auction, base_ms);
    let gw_key = Keypair::insecure_from_seed(GW);
    let gateway_peer = gw_key.peer_id();
    let mut gateway = GatewayCore::new(cfg.clone(), gw_key, Store::temporary().unwrap());
    gateway.recover(0).unwrap();
    let mut shapes = Vec::new();
    let mut provers = Vec::new();
    let mut peers = Vec::new();
    for i in 0..n {
        let (stake, capacity, proving_ms) = prover_shape(i, base_ms);
        shapes.push((stake, capacity, proving_ms));
        let key = Keypair::insecure_from_seed(i);
        peers.push(key.peer_id());
        let mut salt = i.to_le_bytes().repeat(4);
        provers.push(ProverCore::new(
            cfg.clone(),
            key,
            ProverSettings {
                capacity,
                cost: CostModel {
                    proving_ms: [(JobCategory::Small, proving_ms)].into(),
                    price_per_second: 10,
                    margin_percent: 0,
                },
                hardware: HardwareSummary::default(),
                announce_every_ms: 5_000,
            },
            Box::new(move || {
                salt[0] = salt[0].wrapping_add(1);
                salt[1] = salt[1].wrapping_add(u8::from(salt[0] == 0));
                let mut s = [0u8; 32];
                s.copy_from_slice(&salt[..32]);
                s
            }),
        ));
    }
    let index = peers.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut sim = Sim {
        now: 0,
        seq: 0,
        queue: BTreeMap::new(),
        reader: gateway.reader(),
        read_time: Duration::ZERO,
        gateway,
        gateway_time: Duration::ZERO,
        gateway_peer,
        provers,
        keys: (0..n)
            .map(|i| Keypair::insecure_from_seed(i).public())
            .collect(),
        peers,
        index,
        proving_ms: shapes.iter().map(|s| s.2).collect(),
        asked: BTreeMap::new(),
        next_token: 0,
        rng: ChaCha20Rng::seed_from_u64(n),
        loss: 0.01,
        latency_ms: 20,
        counts: Counts::default(),
        commits_this_batch: BTreeMap::new(),
        slots_by_prover: vec![0; n as usize],
        supernet: cfg.clone(),
    };
    // Provers start and announce themselves; a second later the tasks arrive.
    for i in 0..n as usize {
        sim.prover(i, PIn::Tick);
    }
    sim.now = 1_000;
    let submitted_at = sim.now;
    let mut left = jobs;
    let mut tasks = 0;
    while left > 0 {
        let size = left.min(TASK_JOBS);
        left -= size;
        tasks += 1;
        let submission = Submission::split(
            &NoopVerify,
            0,
            TaskSpec::Synthetic {
                jobs: size,
                category: JobCategory::Small,
            },
            1_000_000,
            u64::MAX / 2,
        );
        sim.gateway(GIn::Submit(Box::new(submission)));
    }
    let ideal_ms = jobs as f64
        / shapes
            .iter()
            .map(|(_, c, t)| f64::from(*c) / *t as f64)
            .sum::<f64>();
    let give_up = submitted_at + (ideal_ms * 20.0) as u64 + 120_000;
    let mut finished = None;
    let (mut next_gw_tick, mut next_prover_tick, mut next_check) = (sim.now, sim.now, sim.now);
    while finished.is_none() && sim.now < give_up {
        // The next moment anything happens.
        let next_event = sim.queue.keys().next().map_or(u64::MAX, |k| k.0);
        sim.now = next_event.min(next_gw_tick).min(next_prover_tick);
        while let Some(entry) = sim.queue.first_entry() {
            if entry.key().0 > sim.now {
                break;
            }
            match entry.remove() {
                Event::Gateway(input) => sim.gateway(input),
                Event::Prover(i, input) => sim.prover(i, input),
            }
        }
        if sim.now >= next_gw_tick {
            sim.gateway(GIn::Tick);
            next_gw_tick += GW_TICK_MS;
        }
        if sim.now >= next_prover_tick {
            for i in 0..n as usize {
                sim.prover(i, PIn::Tick);
            }
            next_prover_tick += PROVER_TICK_MS;
        }
        if sim.now >= next_check {
            next_check += 500;
            let done = sim
                .gateway
                .store()
                .tasks()
                .unwrap()
                .iter()
                .filter(|t| t.status == TaskStatus::Done)
                .count();
            if done == tasks {
                finished = Some(sim.now);
            }
        }
    }
    let accounts = sim.gateway.store().accounts().unwrap();
    let by_key: HashMap<PublicKey, u64> = (0..n)
        .map(|i| (Keypair::insecure_from_seed(i).public(), i))
        .collect();
    // Jobs won and slots held by capacity (1 or 2 jobs at once), against the weight the
    // slot rule gives (stake bounded by what the capacity backs: here the capacity's).
    let mut won = [0u64; 2];
    let mut slots = [0u64; 2];
    let mut weight = [0u64; 2];
    for (i, (s, c, _)) in shapes.iter().enumerate() {
        let level = (*c - 1) as usize;
        weight[level] += (*s).min(u64::from(*c) * MIN_STAKE);
        slots[level] += sim.slots_by_prover[i];
    }
    let (mut penalties, mut slashed) = (0u64, 0u64);
    for (key, account) in &accounts {
        if let Some(&i) = by_key.get(key) {
            won[(shapes[i as usize].1 - 1) as usize] += account.jobs_paid;
        }
        penalties += account.failures + account.non_reveals;
        slashed += account.slashed;
    }
    let share = |v: &[u64; 2]| {
        let total: u64 = v.iter().sum();
        v.iter()
            .map(|x| (*x as f64 / total.max(1) as f64 * 1e4).round() / 1e4)
            .collect::<Vec<_>>()
    };
    let makespan = finished.map(|f| f - submitted_at);
    let c = &sim.counts;
    let batches = c.batches.max(1) as f64;
    let gateway_s = sim.gateway_time.as_secs_f64();
    json!({
        "provers": n,
        "jobs": jobs,
        "tasks": tasks,
        "base_proving_ms": base_ms,
        "auction": {
            "batch_interval_ms": cfg.auction.batch_interval_ms,
            "commit_window_ms": cfg.auction.commit_window_ms,
            "reveal_window_ms": cfg.auction.reveal_window_ms,
            "max_jobs_per_batch": cfg.auction.max_jobs_per_batch,
        },
        "network": { "latency_ms": "20-40", "loss": sim.loss },
        "finished": finished.is_some(),
        "makespan_ms": makespan,
        "ideal_ms": ideal_ms.round(),
        "makespan_over_ideal": makespan.map(|m| (m as f64 / ideal_ms * 1000.0).round() / 1000.0),
        "gateway_seconds": gateway_s,
        "gateway_read_seconds_off_core": sim.read_time.as_secs_f64(),
        "gateway_jobs_per_second": (f64::from(jobs) / gateway_s).round(),
        "verification": "excluded: a labelled no-op (NoopVerify); signature checks included",
        "batches": c.batches,
        "gossip_bytes_per_batch_per_node": (c.gossip_bytes as f64 / batches).round(),
        "served_bytes_per_batch": (c.served_bytes as f64 / batches).round(),
        "commits_per_batch": (c.commits as f64 / batches * 10.0).round() / 10.0,
        "most_commits_in_a_batch": c.most_commits,
        "transcripts_fetched": c.transcripts,
        "audit_bytes_per_fetch": (c.transcript_bytes as f64 / c.transcripts.max(1) as f64).round(),
        "audit_bytes_per_prover": (c.transcript_bytes as f64 / n as f64).round(),
        "audits_run": c.audits,
        "audits_failed": c.audit_failures,
        "by_capacity_1_and_2": {
            "weight_share": share(&weight),
            "slot_share": share(&slots),
            "win_share": share(&won),
        },
        "honest_penalties": penalties,
        "slashed": slashed,
        "simulation_seconds": started.elapsed().as_secs_f64().round(),
    })
}

/// Slot shares of the weighted rule alone, over many batches: `n` provers at four stake
/// levels, 128 slots each batch; the largest relative gap between a level's share of slots
/// and its share of stake.
fn slot_fairness(n: u64, batches: u64) -> serde_json::Value {
    let provers: Vec<(PublicKey, u64)> = (0..n)
        .map(|i| (Keypair::insecure_from_seed(i).public(), 1 + i % 4))
        .collect();
    let mut slots = [0u64; 4];
    for b in 0..batches {
        let seed = Digest(*blake3::hash(&b.to_le_bytes()).as_bytes());
        let mut ranks: Vec<_> = provers
            .iter()
            .map(|(p, w)| (slot_rank(&seed, p, *w), *w))
            .collect();
        let cut = ranks.len().min(128);
        ranks.select_nth_unstable_by(cut.saturating_sub(1), |a, b| a.0.cmp(&b.0));
        for (_, w) in &ranks[..cut] {
            slots[(*w - 1) as usize] += 1;
        }
    }
    let total_w: u64 = provers.iter().map(|(_, w)| w).sum();
    let all: u64 = slots.iter().sum();
    let gap = (1..=4u64)
        .map(|w| {
            let weight: u64 = provers.iter().filter(|p| p.1 == w).map(|p| p.1).sum();
            let expected = weight as f64 / total_w as f64;
            (slots[(w - 1) as usize] as f64 / all as f64 / expected - 1.0).abs()
        })
        .fold(0.0, f64::max);
    json!({
        "provers": n,
        "batches": batches,
        "largest_gap_between_slot_and_stake_share": (gap * 1e4).round() / 1e4,
    })
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale benchmark: run with `cargo bench -p lagrange-node --bench scale`");
        return;
    }
    let max: u64 = std::env::var("LAGRANGE_SCALE_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let auction = AuctionConfig {
        batch_interval_ms: 250,
        max_jobs_per_batch: 512,
        ..AuctionConfig::default()
    };
    let per_prover: u64 = std::env::var("LAGRANGE_SCALE_JOBS_PER_PROVER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let min: u64 = std::env::var("LAGRANGE_SCALE_MIN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut runs = Vec::new();
    for n in [100u64, 1_000, 10_000]
        .into_iter()
        .filter(|n| (min..=max).contains(n))
    {
        let jobs = (n * per_prover).min(100_000) as u32;
        let r = run(n, jobs, 20_000, auction.clone());
        println!("scale: {r}");
        runs.push(r);
    }
    // (At 128 provers or fewer every committer holds a slot: nothing to share.)
    let fairness: Vec<_> = [1_000u64, 10_000]
        .into_iter()
        .map(|n| slot_fairness(n, 1_000))
        .collect();
    println!("slot fairness: {}", json!(fairness));
    let report = json!({ "runs": runs, "slot_fairness": fairness });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    let _ = std::fs::create_dir_all(&dir);
    let name = std::env::var("LAGRANGE_SCALE_OUT").unwrap_or_else(|_| "scale.json".into());
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", path.display());
}
