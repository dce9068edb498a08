//! No honest prover is ever penalized. The real gateway and prover state machines run
//! together in a seeded, discrete-time simulation of the network between them: messages take
//! time, auction results can be lost, provers' clocks disagree with the gateway's, the gateway
//! can be down for longer than a proving window and come back on its store, and its verifier
//! can fail. Every prover here is honest, so none may ever be slashed or penalized; every job
//! is paid at most once, only for a verified proof, after its task ended only under an
//! assignment it held then; and every task ends done or failed with a reason.
//!
//! Proof checking is a stand-in (a proof is valid when its bytes say "valid"); the real
//! Groth16 path is exercised by the end-to-end tests.

mod common;

use common::SubmitTask;
use common::stand_in::StandIn;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use libp2p::PeerId;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use lagrange_node::gateway::{GatewayCore, Input as GIn, Output as GOut};
use lagrange_node::model::{JobState, TaskEventKind, TaskSpec, TaskStatus};
use lagrange_node::net::RequestToken;
use lagrange_node::prover::{
    BidAnswer, CostModel, Input as PIn, Output as POut, ProverCore, ProverSettings,
};
use lagrange_node::store::Store;
use lagrange_node::workload::Workload;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::{GossipMessage, HardwareSummary, Request, Response};
use lagrange_protocol::{BatchId, CircuitId, Digest, JobCategory, Keypair, SupernetId, TaskId};

const GW: u64 = 100;
const PROVING_WINDOW_MS: u64 = 5_000;
const TICK_MS: u64 = 25;

fn key(seed: u64) -> Keypair {
    Keypair::insecure_from_seed(seed)
}

fn config(provers: u64) -> Arc<SupernetConfig> {
    Arc::new(SupernetConfig {
        id: SupernetId::new("honest").unwrap(),
        gateways: vec![key(GW).peer_id()],
        allowlist: Some(
            (1..=provers)
                .chain([GW])
                .map(|s| key(s).peer_id())
                .collect(),
        ),
        auction: AuctionConfig::default(),
        economics: EconomicsConfig {
            genesis_stake: 1000,
            min_stake: 100,
            slash_amount: 300,
            non_reveal_penalty: 50,
            deposits: Vec::new(),
            tokens: None,
        },
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: PROVING_WINDOW_MS,
            reserve_price: 100,
        }],
        circuits: vec![CircuitConfig {
            id: CircuitId::new("synthetic.small").unwrap(),
            category: JobCategory::Small,
            params_digest: Digest([0; 32]),
            r1cs_digest: None,
            wasm_digest: None,
            model: None,
        }],
    })
}

/// What can go wrong in one run.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// Each prover's clock minus the gateway's, in ms.
    skews: Vec<i64>,
    /// Lose every auction result gossiped with this probability (percent).
    drop_results_percent: u32,
    /// Gateway down from this time (ms after start) for this long.
    outage: Option<(u64, u64)>,
    /// The gateway's verifier cannot check anything between these times.
    blind: Option<(u64, u64)>,
    /// Extra one-way latency, up to this many ms on top of 5 ms.
    jitter_ms: u64,
}

/// Where a message goes.
enum To {
    Gateway(GIn),
    Prover(usize, PIn),
}

/// What a request to the gateway was, to route its answer.
#[derive(Clone, Copy)]
enum Asked {
    Bid(BatchId, bool),
    Transcript(BatchId),
    Input(lagrange_protocol::JobId),
    Submit(lagrange_protocol::JobId),
    Assignments,
}

struct Sim {
    cfg: Arc<SupernetConfig>,
    store: Store,
    workload: Arc<StandIn>,
    gateway: Option<GatewayCore>,
    provers: Vec<ProverCore>,
    faults: Faults,
    rng: ChaCha8Rng,
    now: u64,
    queue: VecDeque<(u64, To)>,
    asked: BTreeMap<RequestToken, (usize, Asked)>,
    next_token: u64,
    proving_ms: u64,
    /// Auctions the provers audited (all must pass: the gateway is honest).
    audits: usize,
}

impl Sim {
    fn new(provers: u64, faults: Faults, seed: u64) -> Self {
        let cfg = config(provers);
        let store = Store::temporary().unwrap();
        let workload = Arc::new(StandIn::default());
        let cores = (1..=provers)
            .map(|i| {
                let mut salt = i as u8;
                ProverCore::new(
                    cfg.clone(),
                    key(i),
                    ProverSettings {
                        capacity: 2,
                        cost: CostModel {
                            proving_ms: [(JobCategory::Small, 400)].into(),
                            price_per_second: 100 + 10 * i,
                            margin_percent: 0,
                        },
                        hardware: HardwareSummary::default(),
                        announce_every_ms: 2_000,
                    },
                    Box::new(move || {
                        salt = salt.wrapping_add(31);
                        [salt; 32]
                    }),
                )
            })
            .collect();
        let mut sim = Self {
            cfg: cfg.clone(),
            store: store.clone(),
            workload: workload.clone(),
            gateway: None,
            provers: cores,
            faults,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 1_000_000,
            queue: VecDeque::new(),
            asked: BTreeMap::new(),
            next_token: 0,
            proving_ms: 400,
            audits: 0,
        };
        sim.start_gateway();
        sim
    }

    fn start_gateway(&mut self) {
        let mut gw = GatewayCore::new(self.cfg.clone(), key(GW), self.store.clone());
        let out = gw.recover(self.now).unwrap();
        self.gateway = Some(gw);
        self.gateway_outputs(out);
    }

    fn prover_clock(&self, i: usize) -> u64 {
        let skew = self.faults.skews.get(i).copied().unwrap_or(0);
        self.now.saturating_add_signed(skew)
    }

    fn latency(&mut self) -> u64 {
        5 + if self.faults.jitter_ms > 0 {
            self.rng.gen_range(0..=self.faults.jitter_ms)
        } else {
            0
        }
    }

    fn send(&mut self, to: To) {
        let at = self.now + self.latency();
        self.queue.push_back((at, to));
    }

    fn submit(&mut self, jobs: u32, deadline_in: u64) -> TaskId {
        let now = self.now;
        let gw = self.gateway.as_mut().expect("the gateway is up");
        gw.submit_task(
            &*self.workload,
            TaskSpec::Synthetic {
                jobs,
                category: JobCategory::Small,
            },
            500,
            now + deadline_in,
            now,
        )
        .unwrap()
        .id
    }

    fn gateway_outputs(&mut self, out: Vec<GOut>) {
        for o in out {
            match o {
                GOut::Publish(message) => {
                    if matches!(message, GossipMessage::Result(_))
                        && self.rng.gen_range(0..100) < self.faults.drop_results_percent
                    {
                        continue;
                    }
                    for i in 0..self.provers.len() {
                        self.send(To::Prover(
                            i,
                            PIn::Gossip {
                                source: key(GW).peer_id(),
                                message: message.clone(),
                            },
                        ));
                    }
                }
                GOut::Respond { token, response } => {
                    let Some((i, asked)) = self.asked.remove(&token) else {
                        continue;
                    };
                    let input = answer(asked, response);
                    if let Some(input) = input {
                        self.send(To::Prover(i, input));
                    }
                }
                GOut::Assign { prover, assignment } => {
                    if let Some(i) = prover_index(&prover, self.provers.len()) {
                        self.send(To::Prover(
                            i,
                            PIn::Assignments {
                                gateway: key(GW).peer_id(),
                                assignments: vec![assignment],
                            },
                        ));
                    }
                }
                GOut::Verify {
                    token,
                    job,
                    input,
                    submission,
                } => {
                    let outcome = self
                        .workload
                        .verify(&[(job, input, submission.payload.clone())])
                        .remove(0);
                    self.send(To::Gateway(GIn::Verified {
                        token,
                        submission,
                        outcome,
                    }));
                }
                GOut::Aggregate { task, proofs } => {
                    let result = self
                        .workload
                        .aggregate(&task, &proofs)
                        .map_err(|e| e.to_string());
                    self.send(To::Gateway(GIn::Aggregated {
                        task: task.id,
                        result,
                    }));
                }
                GOut::TaskChanged(_) | GOut::Equivocation { .. } | GOut::Submitted { .. } => {}
            }
        }
    }

    fn request(&mut self, i: usize, asked: Asked, request: Request) {
        self.next_token += 1;
        let token = RequestToken::for_tests(self.next_token);
        self.asked.insert(token, (i, asked));
        self.send(To::Gateway(GIn::Request {
            peer: key(i as u64 + 1).peer_id(),
            token,
            request,
        }));
    }

    fn prover_outputs(&mut self, i: usize, out: Vec<POut>) {
        let supernet = self.cfg.id.clone();
        for o in out {
            match o {
                POut::Publish(message) => self.send(To::Gateway(GIn::Gossip(message))),
                // These provers never crash: their sealed bids need no saving.
                POut::SaveBid(_) | POut::ForgetBid(_) => {}
                // Assignments reach these provers as inputs, never as requests to answer.
                POut::Respond { .. } => {}
                POut::SendCommit { commit, .. } => {
                    let batch = commit.payload.batch_id;
                    self.request(i, Asked::Bid(batch, false), Request::Commit(commit));
                }
                POut::SendReveal { reveal, .. } => {
                    let batch = reveal.payload.batch_id;
                    self.request(i, Asked::Bid(batch, true), Request::Reveal(reveal));
                }
                POut::AskAssignments { .. } => self.request(
                    i,
                    Asked::Assignments,
                    Request::Assignments {
                        supernet: supernet.clone(),
                    },
                ),
                POut::FetchInput { job, .. } => self.request(
                    i,
                    Asked::Input(job),
                    Request::JobInput {
                        supernet: supernet.clone(),
                        job_id: job,
                    },
                ),
                POut::Prove { job, .. } => {
                    let at = self.now + self.proving_ms;
                    self.queue.push_back((
                        at,
                        To::Prover(
                            i,
                            PIn::Proved {
                                job,
                                result: self
                                    .workload
                                    .prove(&CircuitId::new("x").unwrap(), &[])
                                    .map_err(|e| e.to_string()),
                            },
                        ),
                    ));
                }
                POut::Submit { submission, .. } => {
                    let job = submission.payload.job_id;
                    self.request(i, Asked::Submit(job), Request::SubmitProof(submission));
                }
                POut::FetchTranscript { batch, .. } => self.request(
                    i,
                    Asked::Transcript(batch),
                    Request::Transcript {
                        supernet: supernet.clone(),
                        batch_id: batch,
                    },
                ),
                // The gateway here is honest: every audit must pass.
                POut::Audit { evidence, .. } => {
                    if let Err(e) = lagrange_protocol::audit::audit(&evidence) {
                        panic!("an honest gateway was accused: {e}");
                    }
                    self.audits += 1;
                }
            }
        }
    }

    fn gateway_down(&self) -> bool {
        self.faults
            .outage
            .is_some_and(|(from, len)| self.now >= from && self.now < from + len)
    }

    /// Runs until `until` (ms after the start of the simulation's clock).
    fn run_until(&mut self, until: u64) {
        while self.now < until {
            self.now += TICK_MS;
            let blind = self
                .faults
                .blind
                .is_some_and(|(from, to)| self.now >= from && self.now < to);
            self.workload.set_blind(blind);
            let down = self.gateway_down();
            if down && self.gateway.is_some() {
                // The process dies: its memory is gone, its store stays, and every request
                // it had not answered fails at its sender (the connection is reset).
                self.gateway = None;
                for (_, (i, asked)) in std::mem::take(&mut self.asked) {
                    if let Some(input) = unreachable(asked) {
                        self.send(To::Prover(i, input));
                    }
                }
            }
            if !down && self.gateway.is_none() {
                self.start_gateway();
            }
            let mut due = Vec::new();
            let mut rest = VecDeque::new();
            while let Some((at, to)) = self.queue.pop_front() {
                if at <= self.now {
                    due.push(to);
                } else {
                    rest.push_back((at, to));
                }
            }
            self.queue = rest;
            due.push(To::Gateway(GIn::Tick));
            for i in 0..self.provers.len() {
                due.push(To::Prover(i, PIn::Tick));
            }
            for to in due {
                match to {
                    To::Gateway(input) => {
                        let Some(gw) = self.gateway.as_mut() else {
                            // Down: a request fails at the sender, anything else is lost.
                            if let GIn::Request { token, .. } = input
                                && let Some((i, asked)) = self.asked.remove(&token)
                                && let Some(input) = unreachable(asked)
                            {
                                self.send(To::Prover(i, input));
                            }
                            continue;
                        };
                        let out = gw.handle(input, self.now).unwrap();
                        self.gateway_outputs(out);
                    }
                    To::Prover(i, input) => {
                        let now = self.prover_clock(i);
                        let out = self.provers[i].handle(input, now);
                        self.prover_outputs(i, out);
                    }
                }
            }
        }
    }

    /// Runs until every task is final and every assignment a failed task honoured has
    /// ended, or panics after `limit` ms.
    fn finish(&mut self, tasks: &[TaskId], limit: u64) {
        let end = self.now + limit;
        while !tasks.iter().all(|t| {
            self.store
                .task(t)
                .unwrap()
                .is_some_and(|r| r.status.is_final())
        }) || self.store.job_counts().unwrap().assigned > 0
        {
            assert!(self.now < end, "tasks still running after {limit} ms");
            let next = self.now + 1_000;
            self.run_until(next);
        }
    }

    /// The invariants that hold whatever happened.
    fn check_invariants(&self, tasks: &[TaskId]) {
        let mut paid_total = 0u64;
        for task in tasks {
            let record = self.store.task(task).unwrap().unwrap();
            let jobs = self.store.jobs_of(task).unwrap();
            let events = self.store.events(task, 0).unwrap();
            match &record.status {
                TaskStatus::Done => assert!(
                    jobs.iter()
                        .all(|j| matches!(j.state, JobState::Verified { .. })),
                    "a done task with unverified jobs"
                ),
                TaskStatus::Failed { reason } => {
                    assert!(!reason.is_empty());
                    assert!(
                        jobs.iter().all(|j| matches!(
                            j.state,
                            JobState::Verified { .. } | JobState::Cancelled
                        )),
                        "a failed task with live jobs: {jobs:?}"
                    );
                    // After the task ended, only a job then assigned (its signed assignment
                    // honoured) is paid, and the client is billed nothing.
                    let end = events
                        .iter()
                        .position(|e| matches!(e.kind, TaskEventKind::Aborted { .. }))
                        .expect("a failed task has its Aborted event");
                    let mut held = std::collections::BTreeSet::new();
                    for e in &events[..end] {
                        match e.kind {
                            TaskEventKind::Awarded { job, .. } => {
                                held.insert(job);
                            }
                            TaskEventKind::Proven { job, .. }
                            | TaskEventKind::Failed { job, .. } => {
                                held.remove(&job);
                            }
                            _ => {}
                        }
                    }
                    for e in &events[end..] {
                        if let TaskEventKind::Proven { job, .. } = e.kind {
                            assert!(held.contains(&job), "{job} paid after the task failed");
                        }
                    }
                    assert_eq!(record.billed(), 0, "a failed task was billed");
                }
                TaskStatus::Proving => panic!("task {task} never ended"),
            }
            // Each job paid at most once, and the client owes exactly what was paid.
            let mut paid: BTreeMap<lagrange_protocol::JobId, u64> = BTreeMap::new();
            let mut fees = 0u64;
            for e in &events {
                if let TaskEventKind::Proven { job, price, .. } = e.kind {
                    *paid.entry(job).or_default() += 1;
                    fees += price;
                }
            }
            assert!(paid.values().all(|n| *n == 1), "a job paid twice");
            assert_eq!(record.fees, fees);
            assert_eq!(record.verified as usize, paid.len());
            paid_total += fees;
        }
        // The ledger agrees, and no honest prover lost anything.
        let failures: Vec<_> = tasks
            .iter()
            .flat_map(|t| self.store.events(t, 0).unwrap())
            .filter(|e| matches!(e.kind, TaskEventKind::Failed { .. }))
            .map(|e| (e.at, e.kind))
            .collect();
        let mut balances = 0u64;
        for (prover, account) in self.store.accounts().unwrap() {
            assert_eq!(
                (
                    account.stake,
                    account.slashed,
                    account.failures,
                    account.non_reveals
                ),
                (1000, 0, 0, 0),
                "honest prover {prover} was penalized: {failures:?}"
            );
            balances += account.balance;
        }
        assert_eq!(balances, paid_total);
        let counts = self.store.job_counts().unwrap();
        assert_eq!(
            (counts.open, counts.auctioning, counts.assigned),
            (0, 0, 0),
            "jobs left behind"
        );
    }

    fn done(&self, task: &TaskId) -> bool {
        self.store.task(task).unwrap().unwrap().status == TaskStatus::Done
    }
}

fn prover_index(peer: &PeerId, n: usize) -> Option<usize> {
    (0..n).find(|i| key(*i as u64 + 1).peer_id() == *peer)
}

/// A prover's input for the gateway's answer.
fn answer(asked: Asked, response: Response) -> Option<PIn> {
    Some(match (asked, response) {
        (Asked::Transcript(batch), Response::Transcript(t)) => PIn::Transcript {
            batch,
            result: Ok(t),
        },
        (Asked::Transcript(batch), Response::Refused { reason }) => PIn::Transcript {
            batch,
            result: Err(reason),
        },
        (Asked::Bid(batch, reveal), Response::Receipt(receipt)) => PIn::BidAnswered {
            batch,
            reveal,
            result: BidAnswer::Taken(Box::new(receipt)),
        },
        (Asked::Bid(batch, reveal), Response::Refused { reason }) => PIn::BidAnswered {
            batch,
            reveal,
            result: BidAnswer::Refused(reason),
        },
        (_, Response::JobInput { assignment, input }) => PIn::JobInput { assignment, input },
        (Asked::Input(job), Response::Refused { reason }) => PIn::JobInputFailed {
            job,
            reason,
            refused: true,
        },
        (_, Response::Verdict(v)) => PIn::Verdict {
            job: v.payload.job_id,
            outcome: v.payload.outcome,
        },
        (Asked::Submit(job), Response::Refused { reason }) => PIn::SubmitFailed { job, reason },
        (_, Response::Assignments { assignments }) => PIn::Assignments {
            gateway: key(GW).peer_id(),
            assignments,
        },
        _ => return None,
    })
}

/// A prover's input for a request that found the gateway down.
fn unreachable(asked: Asked) -> Option<PIn> {
    let reason = "connection refused".to_string();
    Some(match asked {
        Asked::Bid(batch, reveal) => PIn::BidAnswered {
            batch,
            reveal,
            result: BidAnswer::Unanswered(reason),
        },
        Asked::Input(job) => PIn::JobInputFailed {
            job,
            reason,
            refused: false,
        },
        Asked::Submit(job) => PIn::SubmitFailed { job, reason },
        Asked::Transcript(batch) => PIn::Transcript {
            batch,
            result: Err(reason),
        },
        Asked::Assignments => return None,
    })
}

#[test]
fn winners_whose_auction_results_are_all_lost_still_prove_and_are_paid() {
    let faults = Faults {
        drop_results_percent: 100,
        ..Faults::default()
    };
    let mut sim = Sim::new(3, faults, 1);
    sim.run_until(sim.now + 500);
    let tasks: Vec<_> = (0..3).map(|_| sim.submit(4, 120_000)).collect();
    sim.finish(&tasks, 60_000);
    assert!(tasks.iter().all(|t| sim.done(t)));
    sim.check_invariants(&tasks);
}

#[test]
fn a_gateway_down_longer_than_the_proving_window_penalizes_nobody() {
    let mut sim = Sim::new(3, Faults::default(), 2);
    sim.run_until(sim.now + 500);
    let tasks: Vec<_> = (0..2).map(|_| sim.submit(4, 300_000)).collect();
    // Down 20 s (four proving windows) from the moment the first jobs are awarded.
    let mut awarded = false;
    while !awarded {
        sim.run_until(sim.now + TICK_MS);
        awarded = sim.store.job_counts().unwrap().assigned > 0;
    }
    sim.faults.outage = Some((sim.now + 100, 4 * PROVING_WINDOW_MS));
    sim.finish(&tasks, 120_000);
    assert!(tasks.iter().all(|t| sim.done(t)));
    sim.check_invariants(&tasks);
}

#[test]
fn provers_two_seconds_behind_or_ahead_of_the_gateway_still_win_and_reveal() {
    let faults = Faults {
        skews: vec![-2_000, 2_000, -500, 500],
        jitter_ms: 150,
        ..Faults::default()
    };
    let mut sim = Sim::new(4, faults, 3);
    sim.run_until(sim.now + 500);
    let tasks: Vec<_> = (0..4).map(|_| sim.submit(6, 120_000)).collect();
    sim.finish(&tasks, 90_000);
    assert!(tasks.iter().all(|t| sim.done(t)));
    sim.check_invariants(&tasks);
    // Every prover took part: skew kept none of them out.
    let paid = sim.store.accounts().unwrap();
    assert!(
        paid.iter().filter(|(_, a)| a.jobs_paid > 0).count() >= 3,
        "{paid:?}"
    );
    // They audited the auctions they bid in, skewed clocks and all, and every audit passed
    // (a failing one panics).
    assert!(sim.audits >= tasks.len(), "{} audits", sim.audits);
}

#[test]
fn a_verifier_outage_on_the_gateway_penalizes_nobody() {
    let mut sim = Sim::new(2, Faults::default(), 4);
    let start = sim.now;
    sim.faults.blind = Some((start, start + 2 * PROVING_WINDOW_MS));
    sim.run_until(sim.now + 500);
    let tasks = vec![sim.submit(3, 120_000)];
    sim.finish(&tasks, 60_000);
    assert!(sim.done(&tasks[0]));
    sim.check_invariants(&tasks);
}

proptest! {
    // A fixed seed: CI runs the same 64 cases every time (raise PROPTEST_CASES by hand to
    // explore further; failures found that way are kept in honest.proptest-regressions).
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x1a9_2a9e),
        ..ProptestConfig::default()
    })]

    /// Random interleavings of submissions, ticks, bids, proofs, deadlines (some inside a
    /// running auction), lost results, skewed clocks, a gateway restart and a blind verifier.
    #[test]
    fn whatever_happens_no_job_is_lost_or_paid_twice_and_no_honest_prover_pays(
        seed in any::<u64>(),
        skews in proptest::collection::vec(-2_000i64..=2_000, 3),
        drop_results_percent in 0u32..=60,
        outage in proptest::option::of((2_000u64..20_000, 1_000u64..15_000)),
        blind in proptest::option::of((0u64..10_000, 500u64..6_000)),
        tasks in proptest::collection::vec((1u32..=5, 1_500u64..60_000, 0u64..8_000), 1..=4),
    ) {
        let faults = Faults { skews, drop_results_percent, outage: None, blind: None, jitter_ms: 100 };
        let mut sim = Sim::new(3, faults, seed);
        let start = sim.now;
        sim.faults.outage = outage.map(|(at, len)| (start + at, len));
        sim.faults.blind = blind.map(|(at, len)| (start + at, start + at + len));
        let mut ids = Vec::new();
        for (jobs, deadline_in, after) in tasks {
            let at = start + after;
            sim.run_until(at);
            while sim.gateway.is_none() {
                sim.run_until(sim.now + TICK_MS);
            }
            ids.push(sim.submit(jobs, deadline_in));
        }
        sim.finish(&ids, 200_000);
        sim.check_invariants(&ids);
    }
}
