//! The gateway state machine, driven directly: auctions, payment, penalties, re-auctions and
//! restarts. Proof checking is a stand-in here (a proof is valid when its bytes say
//! "valid"); the real Groth16 path is exercised by the end-to-end tests.

mod common;

use common::SubmitTask;
use common::stand_in::StandIn;
use std::collections::BTreeMap;
use std::sync::Arc;

use lagrange_node::gateway::{GatewayCore, Input, Output};
use lagrange_node::model::{JobState, TaskEventKind, TaskSpec, TaskStatus};
use lagrange_node::net::RequestToken;
use lagrange_node::store::Store;
use lagrange_node::workload::Workload;
use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, Deposit, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::{
    BatchAnnouncement, Bid, GossipMessage, HardwareSummary, ProofOutcome, ProofSubmission,
    ProverAvailability, Request, Response, Salt,
};
use lagrange_protocol::{CircuitId, Digest, JobCategory, Keypair, Signed, SupernetId, TaskId};

const GW: u64 = 100;

fn key(seed: u64) -> Keypair {
    Keypair::insecure_from_seed(seed)
}

fn config() -> Arc<SupernetConfig> {
    Arc::new(SupernetConfig {
        id: SupernetId::new("gw").unwrap(),
        gateways: vec![key(GW).peer_id()],
        allowlist: Some((1..=5).chain([GW]).map(|s| key(s).peer_id()).collect()),
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
            proving_deadline_ms: 5000,
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

/// A gateway and a clock.
struct Harness {
    gw: GatewayCore,
    workload: Arc<StandIn>,
    now: u64,
    next_token: u64,
    published: Vec<GossipMessage>,
}

impl Harness {
    fn new(store: Store) -> Self {
        Self::with_config(store, config())
    }

    fn with_config(store: Store, config: Arc<SupernetConfig>) -> Self {
        Self::started_at(store, config, 10_000)
    }

    /// A gateway (re)started at `now`.
    fn started_at(store: Store, config: Arc<SupernetConfig>, now: u64) -> Self {
        let workload = Arc::new(StandIn::default());
        // The fake clock moves in leaps: they are not stalls.
        let gw = GatewayCore::new(config, key(GW), store).with_stall_limit(None);
        Self::with_core(gw, workload, now)
    }

    fn with_core(mut gw: GatewayCore, workload: Arc<StandIn>, now: u64) -> Self {
        gw.recover(now).unwrap();
        Self {
            gw,
            workload,
            now,
            next_token: 0,
            published: vec![],
        }
    }

    fn run(&mut self, input: Input) -> Vec<Output> {
        let out = self.gw.handle(input, self.now).unwrap();
        let mut rest = Vec::new();
        for o in out {
            match o {
                Output::Publish(m) => self.published.push(m),
                Output::Aggregate { task, proofs } => {
                    let result = self
                        .workload
                        .aggregate(&task, &proofs)
                        .map_err(|e| e.to_string());
                    rest.extend(self.run(Input::Aggregated {
                        task: task.id,
                        result,
                    }));
                }
                other => rest.push(other),
            }
        }
        rest
    }

    fn tick_at(&mut self, now: u64) -> Vec<Output> {
        self.now = now;
        self.run(Input::Tick)
    }

    fn announce(&mut self, seed: u64, capacity: u32) {
        let a = Signed::sign(
            ProverAvailability {
                supernet: config().id.clone(),
                categories: vec![JobCategory::Small],
                capacity,
                hardware: HardwareSummary::default(),
                node_version: "test".into(),
                announced_at: self.now,
            },
            &key(seed),
        );
        self.run(Input::Gossip(GossipMessage::Availability(a)));
    }

    fn last_batch(&self) -> BatchAnnouncement {
        self.published
            .iter()
            .rev()
            .find_map(|m| match m {
                GossipMessage::Batch(b) => Some(b.payload.clone()),
                _ => None,
            })
            .expect("no batch published")
    }

    /// Prover `seed` bids `price` on every job of the last batch. Returns the reveal to send.
    fn commit(&mut self, seed: u64, price: u64) -> GossipMessage {
        let batch = self.last_batch();
        let bids = batch
            .jobs
            .iter()
            .map(|j| Bid {
                job_id: j.job_id,
                price,
            })
            .collect();
        let (c, r) = seal_bids(&batch, &key(seed).public(), bids, Salt([seed as u8; 32]));
        self.run(Input::Gossip(GossipMessage::Commit(Signed::sign(
            c,
            &key(seed),
        ))));
        GossipMessage::Reveal(Signed::sign(r, &key(seed)))
    }

    fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        // Tokens are opaque to the core; any unique value will do.
        unsafe_token(self.next_token)
    }

    /// Prover `seed` submits `proof` for job `index` of `task`; returns the verdict.
    /// The task's status in the store.
    fn status(&self, task: &TaskId) -> TaskStatus {
        self.gw.store().task(task).unwrap().unwrap().status
    }

    fn submit(&mut self, seed: u64, task: TaskId, index: u32, proof: &[u8]) -> ProofOutcome {
        match self.answer(seed, task, index, proof, &StandIn::default()) {
            Response::Verdict(v) => v.payload.outcome,
            other => panic!("no verdict: {other:?}"),
        }
    }

    /// Prover `seed` submits `proof` for job `index` of `task`, checked by `check` (the
    /// driver's job, done here synchronously); returns the gateway's answer.
    fn answer(
        &mut self,
        seed: u64,
        task: TaskId,
        index: u32,
        proof: &[u8],
        check: &dyn Workload,
    ) -> Response {
        let job_id = lagrange_protocol::JobId::new(task, index);
        let batch_id = match self.gw.store().job(&job_id).unwrap().map(|j| j.state) {
            Some(JobState::Assigned { batch, .. }) => batch,
            _ => lagrange_protocol::BatchId([0; 16]),
        };
        let submission = Signed::sign(
            ProofSubmission {
                supernet: config().id.clone(),
                batch_id,
                job_id,
                proof: proof.to_vec(),
                public_inputs: vec![],
            },
            &key(seed),
        );
        let token = self.token();
        let mut out = self.run(Input::Request {
            peer: key(seed).peer_id(),
            token,
            request: Request::SubmitProof(submission),
        });
        if let Some(pos) = out.iter().position(|o| matches!(o, Output::Verify { .. })) {
            let Output::Verify {
                token,
                job,
                input,
                submission,
            } = out.remove(pos)
            else {
                unreachable!()
            };
            let outcome = check
                .verify(&[(job, input, submission.payload.clone())])
                .remove(0);
            out = self.run(Input::Verified {
                token,
                submission,
                outcome,
            });
        }
        out.into_iter()
            .find_map(|o| match o {
                Output::Respond { response, .. } => Some(response),
                _ => None,
            })
            .expect("no answer")
    }
}

fn unsafe_token(n: u64) -> RequestToken {
    lagrange_node::net::RequestToken::for_tests(n)
}

fn submit_task(h: &mut Harness, jobs: u32) -> TaskId {
    let now = h.now;
    h.gw.submit_task(
        &*h.workload,
        TaskSpec::Synthetic {
            jobs,
            category: JobCategory::Small,
        },
        150,
        now + 60_000,
        now,
    )
    .unwrap()
    .id
}

/// Runs one auction: announce at `t`, the given (prover, price) commit and reveal, award.
fn auction(h: &mut Harness, t: u64, bids: &[(u64, u64)]) {
    h.tick_at(t);
    let reveals: Vec<_> = bids.iter().map(|&(s, p)| h.commit(s, p)).collect();
    h.now = t + 350;
    for r in reveals {
        h.run(Input::Gossip(r));
    }
    h.tick_at(t + 700);
}

fn balances(h: &Harness) -> BTreeMap<u64, (u64, u64)> {
    (1..=5)
        .filter_map(|s| {
            h.gw.store()
                .account(&key(s).public())
                .unwrap()
                .map(|a| (s, (a.balance, a.stake)))
        })
        .collect()
}

#[test]
fn lowest_bidder_wins_and_is_paid_exactly_its_bid() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    h.announce(2, 4);
    let task = submit_task(&mut h, 2);
    auction(&mut h, 11_000, &[(1, 80), (2, 60)]);
    let jobs = h.gw.store().jobs_of(&task).unwrap();
    for job in &jobs {
        assert!(
            matches!(job.state, JobState::Assigned { prover, price: 60, .. } if prover == key(2).public())
        );
    }
    assert_eq!(
        h.submit(2, task, 0, b"valid"),
        ProofOutcome::Accepted { paid: 60 }
    );
    assert_eq!(
        h.submit(2, task, 1, b"valid"),
        ProofOutcome::Accepted { paid: 60 }
    );
    assert_eq!(balances(&h)[&2], (120, 1000));
    assert_eq!(balances(&h)[&1], (0, 1000));
    // The client owes exactly what the prover was paid.
    assert_eq!(h.gw.store().task(&task).unwrap().unwrap().fees, 120);
    assert_eq!(h.status(&task), TaskStatus::Done);
    assert_eq!(h.gw.store().result(&task).unwrap().unwrap(), b"2 proofs");
    // A second submission of a paid job earns nothing.
    assert_eq!(h.submit(2, task, 0, b"valid"), ProofOutcome::NotAssigned);
    assert_eq!(balances(&h)[&2], (120, 1000));
}

#[test]
fn a_prover_that_commits_but_does_not_reveal_is_penalized_and_wins_nothing() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    h.announce(2, 4);
    let task = submit_task(&mut h, 1);
    h.tick_at(11_000);
    let _withheld = h.commit(1, 10);
    let reveal = h.commit(2, 90);
    h.now = 11_350;
    h.run(Input::Gossip(reveal));
    // The book waits through the grace for the missing reveal, then awards.
    h.tick_at(11_700);
    assert!(matches!(
        h.gw.store().jobs_of(&task).unwrap()[0].state,
        JobState::Auctioning { .. }
    ));
    h.tick_at(11_600 + config().auction.reveal_grace_ms + 1);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert!(matches!(job.state, JobState::Assigned { prover, .. } if prover == key(2).public()));
    let silent = h.gw.store().account(&key(1).public()).unwrap().unwrap();
    assert_eq!(
        (silent.stake, silent.non_reveals, silent.balance),
        (950, 1, 0)
    );
}

#[test]
fn an_invalid_proof_is_slashed_and_the_job_reauctioned_without_that_prover() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    h.announce(2, 4);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50), (2, 70)]);
    let verdict = h.submit(1, task, 0, b"forged");
    assert!(
        matches!(verdict, ProofOutcome::Rejected { .. }),
        "{verdict:?}"
    );
    assert_eq!(balances(&h)[&1], (0, 700));
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert_eq!(job.state, JobState::Open);
    // Next batch: prover 1 still bids lowest but is barred from this job.
    auction(&mut h, 12_000, &[(1, 50), (2, 70)]);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert!(
        matches!(job.state, JobState::Assigned { prover, price: 70, .. } if prover == key(2).public())
    );
    assert_eq!(
        h.submit(2, task, 0, b"valid"),
        ProofOutcome::Accepted { paid: 70 }
    );
    assert_eq!(h.status(&task), TaskStatus::Done);
}

#[test]
fn a_missed_deadline_is_slashed_unpaid_and_reauctioned() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    h.announce(2, 4);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50), (2, 70)]);
    // Prover 1 won and went silent; its deadline passes and the job goes straight into
    // the next batch.
    h.tick_at(11_700 + 5_001);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert!(
        matches!(job.state, JobState::Auctioning { .. }),
        "{:?}",
        job.state
    );
    assert!(job.excluded.contains(&key(1).public()));
    let reveal = h.commit(2, 70);
    h.now = 16_701 + 350;
    h.run(Input::Gossip(reveal));
    h.tick_at(16_701 + 700);
    assert_eq!(
        h.submit(2, task, 0, b"valid"),
        ProofOutcome::Accepted { paid: 70 }
    );
    // The late prover comes back: nothing for it.
    assert_eq!(h.submit(1, task, 0, b"valid"), ProofOutcome::NotAssigned);
    assert_eq!(balances(&h)[&1], (0, 700));
    let events = h.gw.store().events(&task, 0).unwrap();
    assert!(events.iter().any(
        |e| matches!(&e.kind, TaskEventKind::Failed { reason, .. } if reason.contains("deadline"))
    ));
    assert_eq!(h.status(&task), TaskStatus::Done);
}

#[test]
fn a_restarted_gateway_finishes_the_task_and_pays_nobody_twice() {
    let dir = tempfile::tempdir().unwrap();
    let task;
    {
        let mut h = Harness::new(Store::open(dir.path()).unwrap());
        h.announce(1, 4);
        task = submit_task(&mut h, 2);
        auction(&mut h, 11_000, &[(1, 40)]);
        assert_eq!(
            h.submit(1, task, 0, b"valid"),
            ProofOutcome::Accepted { paid: 40 }
        );
        // A second batch is open when the gateway dies.
        h.tick_at(12_000);
    }
    let mut h = Harness::new(Store::open(dir.path()).unwrap());
    h.now = 12_500;
    h.announce(1, 4);
    // The paid job stays paid; the assigned one can still be submitted.
    assert_eq!(h.submit(1, task, 0, b"valid"), ProofOutcome::NotAssigned);
    let jobs = h.gw.store().jobs_of(&task).unwrap();
    assert!(matches!(jobs[1].state, JobState::Assigned { .. }));
    // The restarted gateway has no batch of its own yet; submit against the assignment.
    h.published.clear();
    auction(&mut h, 13_000, &[]);
    assert_eq!(
        h.submit(1, task, 1, b"valid"),
        ProofOutcome::Accepted { paid: 40 }
    );
    assert_eq!(h.status(&task), TaskStatus::Done);
    assert_eq!(balances(&h)[&1], (80, 1000));
    let paid =
        h.gw.store()
            .events(&task, 0)
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e.kind, TaskEventKind::Proven { .. }))
            .count();
    assert_eq!(paid, 2);
}

#[test]
fn unwon_jobs_rise_toward_the_client_fee_and_fail_at_the_deadline() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    let now = h.now;
    let task =
        h.gw.submit_task(
            &*h.workload,
            TaskSpec::Synthetic {
                jobs: 1,
                category: JobCategory::Small,
            },
            120,
            now + 5_000,
            now,
        )
        .unwrap()
        .id;
    // Prover 1 wants 118: above the 100 reserve, within the client's 120.
    auction(&mut h, 11_000, &[(1, 118)]);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert_eq!(
        (job.state.clone(), job.reserve_price),
        (JobState::Open, 120)
    );
    auction(&mut h, 12_000, &[(1, 118)]);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert!(matches!(job.state, JobState::Assigned { price: 118, .. }));

    // Nobody bids on a second task; it fails at its deadline with a reason.
    let now = h.now;
    let lonely =
        h.gw.submit_task(
            &*h.workload,
            TaskSpec::Synthetic {
                jobs: 1,
                category: JobCategory::Small,
            },
            120,
            now + 3_000,
            now,
        )
        .unwrap()
        .id;
    auction(&mut h, 13_000, &[]);
    h.tick_at(now + 3_001);
    // Offered at the client's cap of 120 and still unwon: the reason says the cap is the
    // problem, so the client knows what to change.
    match h.status(&lonely) {
        TaskStatus::Failed { reason } => {
            assert!(reason.contains("deadline"), "{reason}");
            assert!(
                reason.starts_with(lagrange_node::gateway::core::FEE_CAP_TOO_LOW)
                    && reason.contains("of 120 per job"),
                "{reason}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn bad_tasks_are_refused() {
    let mut h = Harness::new(Store::temporary().unwrap());
    let now = h.now;
    let spec = TaskSpec::Synthetic {
        jobs: 1,
        category: JobCategory::Small,
    };
    assert!(
        h.gw.submit_task(&*h.workload, spec.clone(), 0, now + 1000, now)
            .is_err()
    );
    assert!(h.gw.submit_task(&*h.workload, spec, 10, now, now).is_err());
    let empty = TaskSpec::Synthetic {
        jobs: 0,
        category: JobCategory::Small,
    };
    assert!(
        h.gw.submit_task(&*h.workload, empty, 10, now + 1000, now)
            .is_err()
    );
    let large = TaskSpec::Synthetic {
        jobs: 1,
        category: JobCategory::Large,
    };
    let err =
        h.gw.submit_task(&*h.workload, large, 10, now + 1000, now)
            .unwrap_err();
    assert!(err.to_string().contains("not served"), "{err}");
}

#[test]
fn a_job_whose_only_prover_is_barred_gets_its_bar_lifted_and_is_still_proven() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50)]);
    assert!(matches!(
        h.submit(1, task, 0, b"forged"),
        ProofOutcome::Rejected { .. }
    ));
    // The only prover is barred: nobody can win, so the bar is lifted...
    auction(&mut h, 12_000, &[(1, 50)]);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert_eq!(job.state, JobState::Open);
    assert!(job.excluded.is_empty());
    // ...and the slashed prover may try again, and is paid for a valid proof.
    auction(&mut h, 13_000, &[(1, 50)]);
    assert_eq!(
        h.submit(1, task, 0, b"valid"),
        ProofOutcome::Accepted { paid: 50 }
    );
    assert_eq!(balances(&h)[&1], (50, 700));
}

// ---- no honest prover is penalized for the gateway's faults ----

/// A valid proof from prover `seed`, checked by `check`; the gateway's answer.
fn submit_checked(
    h: &mut Harness,
    seed: u64,
    task: TaskId,
    index: u32,
    check: &dyn Workload,
) -> Response {
    h.answer(seed, task, index, b"valid", check)
}

#[test]
fn a_proof_the_gateway_cannot_check_costs_its_prover_nothing() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50)]);
    // The gateway's verifier is broken: the proof is neither rejected nor paid...
    let answer = submit_checked(&mut h, 1, task, 0, &StandIn::blind());
    assert!(
        matches!(&answer, Response::Refused { reason } if reason.contains("could not check")),
        "{answer:?}"
    );
    // ...and the deadline passing is not held against a proof that came in time.
    h.tick_at(11_700 + 5_001);
    assert_eq!(balances(&h)[&1], (0, 1000));
    assert!(matches!(
        h.gw.store().jobs_of(&task).unwrap()[0].state,
        JobState::Assigned { .. }
    ));
    // Once the gateway can check again, the resubmitted proof is paid.
    let answer = submit_checked(&mut h, 1, task, 0, &StandIn::default());
    assert!(matches!(answer, Response::Verdict(_)), "{answer:?}");
    assert_eq!(balances(&h)[&1], (50, 1000));
}

#[test]
fn a_job_input_the_gateway_lost_fails_the_task_and_slashes_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let task;
    {
        let mut h = Harness::new(Store::open(dir.path()).unwrap());
        h.announce(1, 4);
        task = submit_task(&mut h, 1);
        auction(&mut h, 11_000, &[(1, 50)]);
    }
    // Damage: the input is gone from the store.
    {
        let started = std::time::Instant::now();
        let db = loop {
            match sled::open(dir.path()) {
                Ok(db) => break db,
                // The closed store's lock is released within a flush interval.
                Err(_) if started.elapsed() < lagrange_node::store::LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        };
        let inputs = db.open_tree("inputs").unwrap();
        inputs.clear().unwrap();
        db.flush().unwrap();
    }
    let mut h = Harness::new(Store::open(dir.path()).unwrap());
    let answer = submit_checked(&mut h, 1, task, 0, &StandIn::default());
    assert!(matches!(answer, Response::Refused { .. }), "{answer:?}");
    match h.status(&task) {
        TaskStatus::Failed { reason } => assert!(reason.contains("lost the input"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }
    let account = h.gw.store().account(&key(1).public()).unwrap().unwrap();
    assert_eq!((account.stake, account.failures), (1000, 0));
}

#[test]
fn a_job_cancelled_during_its_auction_is_never_awarded_reoffered_or_paid() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    let now = h.now;
    let task =
        h.gw.submit_task(
            &*h.workload,
            TaskSpec::Synthetic {
                jobs: 2,
                category: JobCategory::Small,
            },
            150,
            12_500,
            now,
        )
        .unwrap()
        .id;
    // The batch opens at 11 000 (its reveals are due at 11 600, leaving the task time to be
    // proven); the reveal is late, so the auction waits through its grace, and the client's
    // deadline passes at 12 500, inside the auction.
    h.tick_at(11_000);
    let reveal = h.commit(1, 50);
    h.tick_at(12_501);
    assert!(h.status(&task).is_final());
    h.now = 12_550;
    h.run(Input::Gossip(reveal));
    h.tick_at(12_600);
    for job in h.gw.store().jobs_of(&task).unwrap() {
        assert_eq!(job.state, JobState::Cancelled, "{:?}", job.id);
    }
    // Later batches offer nothing; nobody is paid and the client owes nothing.
    h.published.clear();
    for t in [13_000, 14_000, 15_000] {
        h.tick_at(t);
    }
    assert!(
        !h.published
            .iter()
            .any(|m| matches!(m, GossipMessage::Batch(_)))
    );
    assert_eq!(h.gw.store().task(&task).unwrap().unwrap().fees, 0);
    assert_eq!(balances(&h)[&1], (0, 1000));
    let counts = h.gw.store().job_counts().unwrap();
    assert_eq!((counts.open, counts.auctioning, counts.assigned), (0, 0, 0));
}

#[test]
fn money_at_the_limits_is_refused_at_the_edge_and_never_wraps() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    let now = h.now;
    let spec = |jobs| TaskSpec::Synthetic {
        jobs,
        category: JobCategory::Small,
    };
    let err =
        h.gw.submit_task(&*h.workload, spec(2), u64::MAX, now + 60_000, now)
            .unwrap_err();
    assert!(err.to_string().contains("64 bits"), "{err}");
    // One job may cost up to u64::MAX: the reserve rises without overflowing, and a bid
    // above the configured reserve wins once the reserve has risen to it.
    let task =
        h.gw.submit_task(&*h.workload, spec(1), u64::MAX, now + 10_000_000, now)
            .unwrap()
            .id;
    let mut t = 11_000;
    while !matches!(
        h.gw.store().jobs_of(&task).unwrap()[0].state,
        JobState::Assigned { .. }
    ) {
        h.now = t - 1;
        h.announce(1, 4);
        auction(&mut h, t, &[(1, u64::MAX - 1)]);
        t += 1_000;
        let j = &h.gw.store().jobs_of(&task).unwrap()[0];
        assert!(
            t < 400_000,
            "the reserve never reached the bid: {} {:?}",
            j.reserve_price,
            j.state
        );
    }
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert_eq!(job.reserve_price, u64::MAX);
    let answer = submit_checked(&mut h, 1, task, 0, &StandIn::default());
    assert!(matches!(answer, Response::Verdict(_)), "{answer:?}");
    assert_eq!(balances(&h)[&1].0, u64::MAX - 1);
    // A prover's cost model that overflows asks nothing rather than a wrapped price.
    let cost = lagrange_node::prover::CostModel {
        proving_ms: [(JobCategory::Small, u64::MAX)].into(),
        price_per_second: u64::MAX,
        margin_percent: 100,
    };
    assert_eq!(cost.price(JobCategory::Small), None);
}

#[test]
fn a_job_waiting_for_a_busy_prover_keeps_its_price_and_its_history_stays_short() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 1);
    let task = submit_task(&mut h, 5);
    // One prover with room for one job: each batch offers one job, never all five.
    auction(&mut h, 11_000, &[(1, 60)]);
    let batch = h.last_batch();
    assert_eq!(batch.jobs.len(), 1);
    for t in [12_000, 13_000, 14_000, 15_000] {
        auction(&mut h, t, &[(1, 60)]);
    }
    // The prover is busy: nothing else was offered, and the waiting jobs kept their price.
    assert_eq!(h.last_batch().batch_id, batch.batch_id);
    for job in h.gw.store().jobs_of(&task).unwrap().iter().skip(1) {
        assert_eq!(
            (job.state.clone(), job.reserve_price),
            (JobState::Open, 100)
        );
    }
    // Prove them one after another; a waiting job writes nothing while it waits.
    let mut t = 16_000;
    for i in 0..5 {
        let assigned =
            h.gw.store()
                .jobs_of(&task)
                .unwrap()
                .into_iter()
                .position(|j| matches!(j.state, JobState::Assigned { .. }))
                .expect("a job is assigned");
        assert_eq!(
            h.submit(1, task, assigned as u32, b"valid"),
            ProofOutcome::Accepted { paid: 60 },
            "job {i}"
        );
        h.announce(1, 1);
        auction(&mut h, t, &[(1, 60)]);
        t += 1_000;
    }
    let record = h.gw.store().task(&task).unwrap().unwrap();
    assert_eq!(record.status, TaskStatus::Done);
    // Submitted, then per job: offered, closed, awarded, proven; then completed.
    assert!(record.events <= 2 + 4 * 5, "{} events", record.events);
}

/// An open Supernet: anyone may join, and only provers 1 to 3 have recorded deposits.
fn open_config() -> Arc<SupernetConfig> {
    let mut cfg = (*config()).clone();
    cfg.allowlist = None;
    cfg.economics.deposits = (1..=3)
        .map(|s| Deposit {
            prover: key(s).peer_id(),
            amount: 1000,
        })
        .collect();
    Arc::new(cfg)
}

/// Runs one auction of a two-job task in an open Supernet where provers 1 to 3 bid, and
/// `sybils` fresh keys announce themselves, commit lower prices, and reveal. Returns the
/// published result.
fn open_auction(sybils: u64) -> (Harness, Signed<lagrange_protocol::messages::AuctionResult>) {
    let mut h = Harness::with_config(Store::temporary().unwrap(), open_config());
    for s in 1..=3 {
        h.announce(s, 4);
    }
    let sybil = |i: u64| key(1_000_000 + i);
    for i in 0..sybils {
        let a = Signed::sign(
            ProverAvailability {
                supernet: open_config().id.clone(),
                categories: vec![JobCategory::Small],
                capacity: 64,
                hardware: HardwareSummary::default(),
                node_version: "sybil".into(),
                announced_at: h.now,
            },
            &sybil(i),
        );
        h.run(Input::Gossip(GossipMessage::Availability(a)));
    }
    submit_task(&mut h, 2);
    h.tick_at(11_000);
    let mut reveals: Vec<_> = [(1, 90), (2, 70), (3, 80)]
        .iter()
        .map(|&(s, p)| h.commit(s, p))
        .collect();
    let batch = h.last_batch();
    for i in 0..sybils {
        let bids = batch
            .jobs
            .iter()
            .map(|j| Bid {
                job_id: j.job_id,
                price: 1,
            })
            .collect();
        let (c, r) = seal_bids(&batch, &sybil(i).public(), bids, Salt([7; 32]));
        h.run(Input::Gossip(GossipMessage::Commit(Signed::sign(
            c,
            &sybil(i),
        ))));
        reveals.push(GossipMessage::Reveal(Signed::sign(r, &sybil(i))));
    }
    h.now = 11_350;
    for r in reveals {
        h.run(Input::Gossip(r));
    }
    h.tick_at(11_700);
    let result = h
        .published
        .iter()
        .rev()
        .find_map(|m| match m {
            GossipMessage::Result(r) => Some(r.clone()),
            _ => None,
        })
        .expect("the result was published");
    (h, result)
}

#[test]
fn five_thousand_sybil_commits_change_no_award_and_earn_nothing() {
    let (_, honest) = open_auction(0);
    let (h, flooded) = open_auction(5_000);
    // The result still publishes, within a gossip frame, with the same award.
    assert!(lagrange_protocol::codec::encode(&GossipMessage::Result(flooded.clone())).is_ok());
    assert_eq!(flooded.payload.award, honest.payload.award);
    assert!(
        flooded
            .payload
            .award
            .awarded
            .iter()
            .all(|w| w.prover == key(2).public() && w.price == 70)
    );
    assert!(flooded.payload.award.non_revealers.is_empty());
    // No Sybil got an account (so no stake, no balance, no ledger entry to keep).
    let accounts = h.gw.store().accounts().unwrap();
    assert_eq!(accounts.len(), 3, "{} accounts", accounts.len());
    // The closed commit set holds only the three staked provers.
    let closed = h
        .published
        .iter()
        .find_map(|m| match m {
            GossipMessage::CommitsClosed(c) => Some(c.payload.commits.len()),
            _ => None,
        })
        .expect("the closed set was published");
    assert_eq!(closed, 3);
}

#[test]
fn a_prover_wins_no_more_jobs_at_once_than_its_stake_backs() {
    let mut h = Harness::new(Store::temporary().unwrap());
    // Stake 1000 at a minimum of 100 backs 10 jobs at once, whatever it announces.
    h.announce(1, 50);
    let task = submit_task(&mut h, 16);
    auction(&mut h, 11_000, &[(1, 80)]);
    let held =
        h.gw.store()
            .jobs_of(&task)
            .unwrap()
            .iter()
            .filter(|j| matches!(j.state, JobState::Assigned { .. }))
            .count();
    assert_eq!(held, 10);
}

#[test]
fn a_second_different_commit_is_refused_kept_as_evidence_and_costs_no_stake() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    let task = submit_task(&mut h, 1);
    h.tick_at(11_000);
    let reveal = h.commit(1, 90);
    // The same prover seals other bids for the same batch.
    let batch = h.last_batch();
    let bids = vec![Bid {
        job_id: batch.jobs[0].job_id,
        price: 10,
    }];
    let (second, _) = seal_bids(&batch, &key(1).public(), bids, Salt([9; 32]));
    let token = h.token();
    let out = h.run(Input::Request {
        peer: key(1).peer_id(),
        token,
        request: Request::Commit(Signed::sign(second, &key(1))),
    });
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Respond {
            response: Response::Refused { .. },
            ..
        }
    )));
    let evidence = out
        .iter()
        .find_map(|o| match o {
            Output::Equivocation { evidence, .. } => Some(evidence.clone()),
            _ => None,
        })
        .expect("the equivocation is kept");
    // A third party checks it from its bytes alone.
    let read = lagrange_protocol::equivocation::Equivocation::from_bytes(&evidence.to_bytes());
    assert_eq!(
        read.unwrap().check().unwrap(),
        (key(1).public(), batch.batch_id)
    );
    // The same commit sent again is a resend, not an equivocation.
    let first = evidence.first.clone();
    let out = h.run(Input::Gossip(GossipMessage::Commit(first)));
    assert!(!out.iter().any(|o| matches!(o, Output::Equivocation { .. })));
    // The first commit stands: its reveal wins, and no stake is taken.
    h.now = 11_350;
    h.run(Input::Gossip(reveal));
    h.tick_at(11_700);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert!(
        matches!(job.state, JobState::Assigned { prover, price, .. } if prover == key(1).public() && price == 90)
    );
    assert_eq!(balances(&h)[&1].1, 1000);
}

#[test]
fn token_epochs_end_on_the_gateway_clock_and_a_slash_leaves_the_ledger_stake_equal() {
    use lagrange_protocol::config::{Deposit, TokensConfig};
    use lagrange_protocol::tokenomics::{Bond, TokenomicsParams};
    let mut config = (*config()).clone();
    config.economics.deposits = [1, 2]
        .map(|seed| Deposit {
            prover: key(seed).peer_id(),
            amount: 1000,
        })
        .to_vec();
    // 36,500 a year over 365 one-second epochs: 100 an epoch, all to this Supernet.
    config.economics.tokens = Some(TokensConfig {
        epoch_ms: 1000,
        genesis_budget: 0,
        rules: TokenomicsParams {
            annual_emission: 36_500,
            ..TokenomicsParams::default()
        },
        allocations: vec![],
        delegations: vec![],
    });
    let id = config.id.clone();
    let mut h = Harness::with_config(Store::temporary().unwrap(), Arc::new(config));
    fn h_ledger(h: &Harness) -> lagrange_protocol::tokenomics::Ledger {
        h.gw.store().tokens().unwrap().unwrap().ledger
    }
    let l = h_ledger(&h);
    assert_eq!((l.epoch(), l.budget(&id)), (0, 0));

    // Prover 1 wins and misses its deadline: 300 slashed from its stake, in the gateway's
    // account and in the ledger alike (burnt, by default).
    h.announce(1, 4);
    h.announce(2, 4);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50), (2, 70)]);
    h.tick_at(11_700 + 5_001);
    assert!(
        h.gw.store().jobs_of(&task).unwrap()[0]
            .excluded
            .contains(&key(1).public())
    );
    let account = h.gw.store().account(&key(1).public()).unwrap().unwrap();
    let l = h_ledger(&h);
    assert_eq!(account.stake, 700);
    assert_eq!(l.bonded(&id, &key(1).public(), Bond::Stake), 700);
    assert_eq!(l.supply().burned, 300);
    assert_eq!(l.supply().total(), l.supply().placed());
    // Genesis was at 10,000: by 16,701 six epochs are over, each emitting 100 into the
    // budget.
    assert_eq!(
        (l.epoch(), l.budget(&id), l.supply().emitted),
        (6, 600, 600)
    );
}

#[test]
fn a_finished_task_and_its_auction_are_pruned_after_the_retention_period_and_a_live_one_never() {
    let retention = 60_000;
    let mut h = Harness::new(Store::temporary().unwrap());
    h.gw = GatewayCore::new(config(), key(GW), h.gw.store().clone())
        .with_retention(retention)
        .with_stall_limit(None);
    h.gw.recover(h.now).unwrap();
    h.announce(1, 4);
    let done = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 80)]);
    let batch = h.last_batch().batch_id;
    assert_eq!(
        h.submit(1, done, 0, b"valid"),
        ProofOutcome::Accepted { paid: 80 }
    );
    let finished_at = h.now;
    // A task still proving when the first one's retention runs out.
    let live = {
        let now = h.now;
        h.gw.submit_task(
            &*h.workload,
            TaskSpec::Synthetic {
                jobs: 1,
                category: JobCategory::Small,
            },
            150,
            now + 10 * retention,
            now,
        )
        .unwrap()
        .id
    };
    // Just inside the period, everything is there, for the client and for auditors.
    h.tick_at(finished_at + retention - 1_000);
    let store = h.gw.store().clone();
    assert!(store.task(&done).unwrap().is_some());
    assert!(store.result(&done).unwrap().is_some());
    assert!(store.transcript(&batch).unwrap().is_some());
    // A heartbeat after it, the task and its auction are gone whole; the paid prover's
    // account is not touched.
    h.tick_at(finished_at + retention + 2_000);
    assert!(store.task(&done).unwrap().is_none());
    assert!(store.result(&done).unwrap().is_none());
    assert!(store.jobs_of(&done).unwrap().is_empty());
    assert!(store.events(&done, 0).unwrap().is_empty());
    assert!(store.batch(&batch).unwrap().is_none());
    assert!(store.transcript(&batch).unwrap().is_none());
    assert_eq!(balances(&h)[&1], (80, 1000));
    // The ledger keeps the payment; the totals of what was pruned account for it.
    let totals = store.pruned_totals().unwrap();
    assert_eq!(
        (totals.tasks, totals.done, totals.jobs_paid, totals.paid),
        (1, 1, 1, 80)
    );
    // Live tasks are never pruned, however old.
    h.tick_at(finished_at + 5 * retention);
    assert!(store.task(&live).unwrap().is_some());
    assert_eq!(store.unfinished_tasks().unwrap().len(), 1);
}

// ---- the task's deadline, its assignments and its bill (issue 25, items 5, 6 and 13) ----

/// The test Supernet with a proving window of `window_ms`.
fn config_with_window(window_ms: u64) -> Arc<SupernetConfig> {
    let mut c = (*config()).clone();
    c.categories[0].proving_deadline_ms = window_ms;
    Arc::new(c)
}

/// A synthetic task of `jobs` jobs with fee cap `cap`, due at `deadline`.
fn submit_due(h: &mut Harness, jobs: u32, cap: u64, deadline: u64) -> TaskId {
    let now = h.now;
    h.gw.submit_task(
        &*h.workload,
        TaskSpec::Synthetic {
            jobs,
            category: JobCategory::Small,
        },
        cap,
        deadline,
        now,
    )
    .unwrap()
    .id
}

fn failure(h: &Harness, task: &TaskId) -> String {
    match h.gw.store().task(task).unwrap().unwrap().status {
        TaskStatus::Failed { reason } => reason,
        other => panic!("task {task} is {other:?}, not failed"),
    }
}

/// Submits a valid proof for every assigned job of `tasks`, from its prover.
fn prove_assigned(h: &mut Harness, tasks: &[TaskId]) {
    for task in tasks {
        for job in h.gw.store().jobs_of(task).unwrap() {
            if let JobState::Assigned { prover, price, .. } = job.state {
                let seed = (1..=5).find(|s| key(*s).public() == prover).unwrap();
                assert_eq!(
                    h.submit(seed, *task, job.id.index, b"valid"),
                    ProofOutcome::Accepted { paid: price }
                );
            }
        }
    }
}

#[test]
fn an_assignment_never_outlives_its_task_so_an_on_time_proof_completes_it() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    // Due at 13 000; the window is 5 000, the auction's reveals are due at 11 600.
    let task = submit_due(&mut h, 1, 150, 13_000);
    auction(&mut h, 11_000, &[(1, 50)]);
    // The batch announced the window the task leaves, and the signed assignment ends with
    // the task: the task cannot fail while the prover still has time under the gateway's
    // word.
    assert_eq!(h.last_batch().jobs[0].proving_window_ms, 1_400);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    match job.state {
        JobState::Assigned { deadline, .. } => assert!(deadline <= 13_000, "{deadline}"),
        ref other => panic!("{other:?}"),
    }
    h.now = 12_900;
    assert_eq!(
        h.submit(1, task, 0, b"valid"),
        ProofOutcome::Accepted { paid: 50 }
    );
    assert_eq!(h.status(&task), TaskStatus::Done);
}

#[test]
fn a_job_is_not_offered_when_its_task_leaves_no_time_to_prove_it() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    h.now = 11_000;
    // 300 ms would be left after the auction: under a tenth of the 5 000 ms window.
    let task = submit_due(&mut h, 1, 150, 11_900);
    h.tick_at(11_000);
    assert!(
        !h.published
            .iter()
            .any(|m| matches!(m, GossipMessage::Batch(_))),
        "a job was offered that could not be proven in time"
    );
    h.tick_at(11_901);
    let reason = failure(&h, &task);
    assert!(
        !reason.starts_with(lagrange_node::gateway::core::FEE_CAP_TOO_LOW),
        "{reason}"
    );
    assert!(reason.contains("room"), "{reason}");
    assert_eq!(balances(&h)[&1], (0, 1000));
}

#[test]
fn an_on_time_proof_under_a_signed_assignment_is_paid_after_its_task_failed() {
    let dir = tempfile::tempdir().unwrap();
    let task;
    {
        let mut h = Harness::new(Store::open(dir.path()).unwrap());
        h.announce(1, 1);
        h.announce(2, 1);
        task = submit_due(&mut h, 2, 150, 18_000);
        auction(&mut h, 11_000, &[(1, 40), (2, 40)]);
        for job in h.gw.store().jobs_of(&task).unwrap() {
            assert!(matches!(job.state, JobState::Assigned { .. }), "{job:?}");
        }
        // The gateway dies.
    }
    // Back after an outage: the assignments' deadlines move later by it (the gateway could
    // take no proof meanwhile), past the client's deadline, which does not move.
    let mut h = Harness::started_at(Store::open(dir.path()).unwrap(), config(), 15_000);
    h.announce(1, 1);
    h.announce(2, 1);
    h.tick_at(18_001);
    let reason = failure(&h, &task);
    assert!(reason.contains("still being proven"), "{reason}");
    let held_by = |h: &Harness, seed: u64| {
        h.gw.store()
            .jobs_of(&task)
            .unwrap()
            .into_iter()
            .find(|j| matches!(j.state, JobState::Assigned { prover, .. } if prover == key(seed).public()))
            .unwrap()
    };
    let (first, second) = (held_by(&h, 1), held_by(&h, 2));
    // Prover 1's proof comes in time under its signed assignment: it is paid.
    h.now = 18_500;
    assert_eq!(
        h.submit(1, task, first.id.index, b"valid"),
        ProofOutcome::Accepted { paid: 40 }
    );
    assert_eq!(balances(&h)[&1], (40, 1000));
    let record = h.gw.store().task(&task).unwrap().unwrap();
    assert!(matches!(record.status, TaskStatus::Failed { .. }));
    assert_eq!(record.fees, 40);
    // Prover 2 never proves: its assignment ends, the job is cancelled and, the task being
    // over, nobody is slashed for it.
    let JobState::Assigned { deadline, .. } = second.state else {
        unreachable!()
    };
    h.tick_at(deadline + 1);
    assert_eq!(
        h.gw.store().job(&second.id).unwrap().unwrap().state,
        JobState::Cancelled
    );
    let silent = h.gw.store().account(&key(2).public()).unwrap().unwrap();
    assert_eq!(
        (silent.stake, silent.failures, silent.balance),
        (1000, 0, 0)
    );
    let counts = h.gw.store().job_counts().unwrap();
    assert_eq!(
        (counts.assigned, counts.verified, counts.cancelled),
        (0, 1, 1)
    );
}

#[test]
fn a_failed_task_is_not_billed_and_a_done_one_is_billed_what_its_proofs_cost() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 1);
    h.announce(2, 1);
    let failed = submit_due(&mut h, 3, 150, 13_000);
    auction(&mut h, 11_000, &[(1, 40), (2, 60)]);
    prove_assigned(&mut h, &[failed]);
    h.tick_at(13_001);
    let record = h.gw.store().task(&failed).unwrap().unwrap();
    assert!(matches!(record.status, TaskStatus::Failed { .. }));
    // The provers were paid for the two proofs; the client, who gets no result, owes
    // nothing: the gateway bears the 100.
    assert_eq!((record.fees, record.billed()), (100, 0));
    assert_eq!(balances(&h)[&1].0 + balances(&h)[&2].0, 100);
    let done = submit_due(&mut h, 1, 150, 30_000);
    auction(&mut h, 15_000, &[(1, 40)]);
    prove_assigned(&mut h, &[done]);
    let record = h.gw.store().task(&done).unwrap().unwrap();
    assert_eq!(record.status, TaskStatus::Done);
    assert_eq!((record.fees, record.billed()), (40, 40));
}

#[test]
fn a_failed_aggregation_is_retried_before_the_task_fails() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    // The aggregator fails once, then works.
    h.workload.fail_aggregations(1);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50)]);
    assert_eq!(
        h.submit(1, task, 0, b"valid"),
        ProofOutcome::Accepted { paid: 50 }
    );
    assert_eq!(
        h.status(&task),
        TaskStatus::Proving,
        "one failed aggregation failed a fully proven task"
    );
    for t in [12_000, 13_000, 14_000] {
        h.tick_at(t);
    }
    assert_eq!(h.status(&task), TaskStatus::Done);
    assert_eq!(h.gw.store().result(&task).unwrap().unwrap(), b"1 proofs");

    // An aggregator that keeps failing fails the task, after a bounded number of tries.
    h.workload.fail_aggregations(u32::MAX);
    let stuck = submit_task(&mut h, 1);
    auction(&mut h, 15_000, &[(1, 50)]);
    assert_eq!(
        h.submit(1, stuck, 0, b"valid"),
        ProofOutcome::Accepted { paid: 50 }
    );
    for t in (16_000..=30_000).step_by(1_000) {
        h.tick_at(t);
    }
    let reason = failure(&h, &stuck);
    assert!(reason.starts_with("aggregation failed 3 times"), "{reason}");
    h.workload.fail_aggregations(0);
}

#[test]
fn six_tasks_short_of_capacity_before_their_deadline_are_not_blamed_on_their_fee_cap() {
    // The run: six 2-job tasks due in 5 s with a fee cap of 50, two provers (room
    // for one job each) bidding 35.
    let mut h = Harness::with_config(Store::temporary().unwrap(), config_with_window(3_000));
    h.announce(1, 1);
    h.announce(2, 1);
    let tasks: Vec<TaskId> = (0..6).map(|_| submit_due(&mut h, 2, 50, 15_000)).collect();
    for t in [10_000, 11_000, 12_000, 13_000, 14_000] {
        auction(&mut h, t, &[(1, 35), (2, 35)]);
        prove_assigned(&mut h, &tasks);
    }
    h.tick_at(15_000);
    h.tick_at(15_001);
    let statuses: Vec<TaskStatus> = tasks
        .iter()
        .map(|t| h.gw.store().task(t).unwrap().unwrap().status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == TaskStatus::Done).count(),
        5,
        "{statuses:?}"
    );
    let sixth = tasks
        .iter()
        .find(|t| h.gw.store().task(t).unwrap().unwrap().status != TaskStatus::Done)
        .unwrap();
    // Provers bid 35 under the cap of 50: what the sixth lacked was room before its
    // deadline, and the reason says so.
    let reason = failure(&h, sixth);
    assert!(
        !reason.starts_with(lagrange_node::gateway::core::FEE_CAP_TOO_LOW),
        "{reason}"
    );
    assert!(
        reason.starts_with("no prover had room for its jobs before the deadline"),
        "{reason}"
    );
    assert!(reason.contains("0 of 2 jobs proven"), "{reason}");
}

#[test]
fn bids_within_the_fee_cap_that_found_no_room_are_not_called_a_priced_out_task() {
    let mut h = Harness::new(Store::temporary().unwrap());
    // Prover 1 has room for one job; prover 3 has room but never bids.
    h.announce(1, 1);
    h.announce(3, 1);
    let task = submit_due(&mut h, 2, 50, 15_000);
    // Prover 1 bids 35 on both jobs and wins one: the other drew a bid within the cap.
    auction(&mut h, 10_000, &[(1, 35)]);
    // Prover 1 is slow: it proves its job just before the deadline, while the other job is
    // offered again and again to a prover that does not bid.
    for t in [11_000, 12_000, 13_000, 14_000] {
        auction(&mut h, t, &[]);
    }
    h.now = 14_900;
    prove_assigned(&mut h, &[task]);
    h.tick_at(15_001);
    let reason = failure(&h, &task);
    assert!(
        !reason.starts_with(lagrange_node::gateway::core::FEE_CAP_TOO_LOW),
        "{reason}"
    );
    assert!(reason.contains("room"), "{reason}");
    assert!(reason.contains("1 of 2 jobs proven"), "{reason}");
}

/// The commits-closed set published last.
fn last_closed_set(h: &Harness) -> lagrange_protocol::messages::CommitsClosed {
    h.published
        .iter()
        .rev()
        .find_map(|m| match m {
            GossipMessage::CommitsClosed(c) => Some(c.payload.clone()),
            _ => None,
        })
        .expect("no closed set published")
}

#[test]
fn a_clock_stepped_back_takes_no_commit_the_signed_closed_set_left_out() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    h.announce(2, 4);
    let task = submit_task(&mut h, 1);
    h.tick_at(11_000);
    let first = h.commit(1, 50);
    // The commit window (300 ms) is over: the closed set is signed with prover 1 alone.
    h.tick_at(11_301);
    assert_eq!(last_closed_set(&h).commits.len(), 1);
    // The wall clock steps back 200 ms: prover 2's commit would look in time.
    h.now = 11_100;
    let second = h.commit(2, 40);
    h.now = 11_350;
    h.run(Input::Gossip(first));
    h.run(Input::Gossip(second));
    h.tick_at(11_700);
    // The award agrees with what the gateway signed: prover 2 committed after the set
    // closed and wins nothing.
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    assert!(
        matches!(job.state, JobState::Assigned { prover, price: 50, .. } if prover == key(1).public()),
        "{:?}",
        job.state
    );
}

#[test]
fn a_restart_with_its_clock_set_back_never_signs_an_earlier_batch() {
    let dir = tempfile::tempdir().unwrap();
    let first;
    {
        let mut h = Harness::new(Store::open(dir.path()).unwrap());
        h.announce(1, 4);
        submit_task(&mut h, 1);
        // Announced between two heartbeats.
        h.tick_at(10_500);
        first = h.last_batch();
    }
    // The gateway restarts with its clock set back by a few hundred milliseconds (its
    // harness recovers at 10,000).
    let mut h = Harness::new(Store::open(dir.path()).unwrap());
    h.now = 10_100;
    h.announce(1, 4);
    h.tick_at(10_200);
    let second = h.last_batch();
    assert_ne!(second.batch_id, first.batch_id);
    assert!(
        second.announced_at >= first.announced_at
            && second.commit_deadline >= first.commit_deadline,
        "batch {} announced at {} after one announced at {}",
        second.seq,
        second.announced_at,
        first.announced_at
    );
}

/// Prover `seed`'s signed submission of `proof` for job `index` of `task`.
fn submission(h: &Harness, seed: u64, task: TaskId, index: u32, proof: &[u8]) -> Request {
    let job_id = lagrange_protocol::JobId::new(task, index);
    let batch_id = match h.gw.store().job(&job_id).unwrap().map(|j| j.state) {
        Some(JobState::Assigned { batch, .. }) => batch,
        other => panic!("job not assigned: {other:?}"),
    };
    Request::SubmitProof(Signed::sign(
        ProofSubmission {
            supernet: config().id.clone(),
            batch_id,
            job_id,
            proof: proof.to_vec(),
            public_inputs: vec![],
        },
        &key(seed),
    ))
}

#[test]
fn a_proof_that_arrived_in_time_is_accepted_however_late_the_gateway_gets_to_it() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50)]);
    // The proving deadline is 16,700. A tick queued at 16,650 and the proof that arrived at
    // 16,680 are handled two seconds late, by a gateway that fell behind.
    let out = h.gw.handle_arrived(Input::Tick, 16_650, 18_700).unwrap();
    assert!(
        !out.iter().any(|o| matches!(o, Output::TaskChanged(_))),
        "{out:?}"
    );
    let request = submission(&h, 1, task, 0, b"valid");
    let token = h.token();
    let out =
        h.gw.handle_arrived(
            Input::Request {
                peer: key(1).peer_id(),
                token,
                request,
            },
            16_680,
            18_710,
        )
        .unwrap();
    let Some(Output::Verify {
        token,
        job,
        input,
        submission,
    }) = out.into_iter().find(|o| matches!(o, Output::Verify { .. }))
    else {
        panic!("a proof that arrived in time was not checked");
    };
    let outcome = StandIn::default()
        .verify(&[(job, input, submission.payload.clone())])
        .remove(0);
    h.now = 18_720;
    let out = h.run(Input::Verified {
        token,
        submission,
        outcome,
    });
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Respond { response: Response::Verdict(v), .. }
                if v.payload.outcome == ProofOutcome::Accepted { paid: 50 }
        )),
        "{out:?}"
    );
    assert_eq!(balances(&h)[&1], (50, 1000));
}

#[test]
fn a_stall_longer_than_the_proving_window_slashes_nobody() {
    // Stalls are noticed, as in a running gateway.
    let workload = Arc::new(StandIn::default());
    let gw = GatewayCore::new(config(), key(GW), Store::temporary().unwrap());
    let mut h = Harness::with_core(gw, workload, 10_000);
    h.announce(1, 4);
    let task = submit_task(&mut h, 1);
    auction(&mut h, 11_000, &[(1, 50)]);
    // The gateway stalls (or its machine sleeps) for ten seconds, twice the proving window
    // of the job it just assigned (deadline 16,700).
    let out = h.tick_at(21_700);
    let job = &h.gw.store().jobs_of(&task).unwrap()[0];
    let JobState::Assigned {
        prover, deadline, ..
    } = job.state
    else {
        panic!("the stall cost the prover its job: {:?}", job.state);
    };
    assert_eq!(prover, key(1).public());
    assert!(deadline > 21_700, "deadline {deadline}");
    // The winner is told its new deadline.
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Assign { assignment, .. } if assignment.payload.proving_deadline == deadline
    )));
    h.now = 21_750;
    assert_eq!(
        h.submit(1, task, 0, b"valid"),
        ProofOutcome::Accepted { paid: 50 }
    );
    assert_eq!(balances(&h)[&1], (50, 1000));
}

#[test]
fn transcripts_and_assignment_lists_are_answered_apart_from_the_core() {
    let mut h = Harness::new(Store::temporary().unwrap());
    h.announce(1, 4);
    h.announce(2, 4);
    let task = submit_task(&mut h, 2);
    auction(&mut h, 11_000, &[(1, 50)]);
    let batch_id = h.last_batch().batch_id;
    let reader = h.gw.reader();
    let supernet = config().id.clone();
    // Answered on a thread of its own while the core goes on with its inputs here.
    let asked = {
        let supernet = supernet.clone();
        std::thread::spawn(move || {
            let ask = |seed: u64, request: Request| {
                reader
                    .answer(key(seed).peer_id(), &request)
                    .unwrap()
                    .expect("a read")
            };
            let assignments = |seed| {
                ask(
                    seed,
                    Request::Assignments {
                        supernet: supernet.clone(),
                    },
                )
            };
            let transcript = ask(
                2,
                Request::Transcript {
                    supernet: supernet.clone(),
                    batch_id,
                },
            );
            (assignments(1), assignments(2), transcript)
        })
    };
    h.tick_at(11_725);
    let (mine, theirs, transcript) = asked.join().unwrap();
    // Each prover sees only its own assignments; anyone sees an awarded batch's transcript.
    let Response::Assignments { assignments } = mine else {
        panic!("{mine:?}")
    };
    assert_eq!(assignments.len(), 2);
    assert!(
        assignments
            .iter()
            .all(|a| a.payload.prover == key(1).public()
                && a.payload.job_id.task == task
                && a.verify().is_ok())
    );
    assert!(matches!(theirs, Response::Assignments { assignments } if assignments.is_empty()));
    assert!(matches!(transcript, Response::Transcript(t) if t.batch.payload.batch_id == batch_id));
    // The core gives the same answers to a caller that hands it these requests.
    let token = h.token();
    let out = h.run(Input::Request {
        peer: key(1).peer_id(),
        token,
        request: Request::Assignments { supernet },
    });
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Respond { response: Response::Assignments { assignments }, .. } if assignments.len() == 2
    )));
}
