//! The prover state machine, driven directly with a clock of the test's own: which jobs it
//! bids on, when it reveals (whatever its clock says), how it learns of wins, how it backs
//! off, which results and assignments it refuses, and how a sealed bid outlives a crash
//! between commit and reveal.

use std::collections::BTreeMap;
use std::sync::Arc;

use lagrange_node::net::RequestToken;
use lagrange_node::prover::driver::{persist_bids, resume};
use lagrange_node::prover::{
    BidAnswer, CostModel, Input, Output, ProverCore, ProverSettings, SealedBid,
};
use lagrange_node::store::Store;
use lagrange_protocol::auction::{Award, AwardedJob};
use lagrange_protocol::commit::check_opening;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::{
    AuctionResult, BatchAnnouncement, BidCommit, BidKind, BidReceipt, GossipMessage,
    HardwareSummary, JobAssignment, JobSpec, ProofOutcome, Request, Response,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Signed, SupernetId, TaskId,
};

const GW: u64 = 100;
const ME: u64 = 1;

/// A gateway's `Assign` request through the core's input: its answer (an ack, or the
/// refusal's reason), with what else the core asks for added to `out`.
fn on_assignment(
    p: &mut ProverCore,
    gateway: libp2p::PeerId,
    assignment: &Signed<JobAssignment>,
    now: u64,
    out: &mut Vec<Output>,
) -> Result<(), String> {
    let request = Input::Request {
        peer: gateway,
        token: RequestToken::for_tests(0),
        request: Request::Assign(assignment.clone()),
    };
    let mut all = p.handle(request, now).into_iter();
    let Some(Output::Respond { response, .. }) = all.next() else {
        panic!("a request is answered first");
    };
    out.extend(all);
    match response {
        Response::Ack => Ok(()),
        Response::Refused { reason } => Err(reason),
        other => panic!("not an answer to an assignment: {other:?}"),
    }
}

fn key(seed: u64) -> Keypair {
    Keypair::insecure_from_seed(seed)
}

fn config() -> Arc<SupernetConfig> {
    Arc::new(SupernetConfig {
        id: SupernetId::new("p").unwrap(),
        gateways: vec![key(GW).peer_id()],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: EconomicsConfig::default(),
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: 5_000,
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

fn prover(capacity: u32) -> ProverCore {
    prover_salted(capacity, [7; 32])
}

/// A prover whose salts are all `salt`.
fn prover_salted(capacity: u32, salt: [u8; 32]) -> ProverCore {
    ProverCore::new(
        config(),
        key(ME),
        ProverSettings {
            capacity,
            cost: CostModel {
                proving_ms: [(JobCategory::Small, 500)].into(),
                price_per_second: 100,
                margin_percent: 0,
            },
            hardware: HardwareSummary::default(),
            announce_every_ms: 2_000,
        },
        Box::new(move || salt),
    )
}

fn job(i: u32) -> JobId {
    JobId::new(TaskId([9; 16]), i)
}

/// A batch of `jobs` announced at `at` on the gateway's clock, with default windows.
fn batch(seq: u64, jobs: u32, at: u64) -> Signed<BatchAnnouncement> {
    let cfg = config();
    Signed::sign(
        BatchAnnouncement {
            supernet: cfg.id.clone(),
            batch_id: BatchId::derive(&cfg.id, &key(GW).public(), seq),
            seq,
            jobs: (0..jobs)
                .map(|i| JobSpec {
                    job_id: job(i),
                    circuit: CircuitId::new("synthetic.small").unwrap(),
                    category: JobCategory::Small,
                    reserve_price: 100,
                    proving_window_ms: 5_000,
                    input_digest: Digest([0; 32]),
                    input_size: 4,
                })
                .collect(),
            announced_at: at,
            commit_deadline: at + 300,
            reveal_deadline: at + 600,
            weights: lagrange_protocol::merkle::WeightTree::empty().root(),
        },
        &key(GW),
    )
}

fn gossip(message: GossipMessage) -> Input {
    Input::Gossip {
        source: key(GW).peer_id(),
        message,
    }
}

fn result(batch: &BatchAnnouncement, won: &[u32]) -> Signed<AuctionResult> {
    Signed::sign(
        AuctionResult {
            supernet: batch.supernet.clone(),
            batch_id: batch.batch_id,
            award: Award {
                awarded: won
                    .iter()
                    .map(|i| AwardedJob {
                        job_id: job(*i),
                        prover: key(ME).public(),
                        price: 50,
                    })
                    .collect(),
                unawarded: vec![],
                non_revealers: vec![],
                transcript_hash: Digest([0; 32]),
            },
        },
        &key(GW),
    )
}

fn assignment(i: u32, deadline: u64, signer: u64) -> Signed<JobAssignment> {
    Signed::sign(
        JobAssignment {
            supernet: config().id.clone(),
            batch_id: BatchId([1; 16]),
            job_id: job(i),
            circuit: CircuitId::new("synthetic.small").unwrap(),
            prover: key(ME).public(),
            price: 50,
            input_digest: Digest([0; 32]),
            proving_deadline: deadline,
        },
        &key(signer),
    )
}

fn fetches(out: &[Output]) -> Vec<JobId> {
    out.iter()
        .filter_map(|o| match o {
            Output::FetchInput { job, .. } => Some(*job),
            _ => None,
        })
        .collect()
}

/// When (on the prover's own clock) its reveal first goes out for a batch the gateway
/// announced at 10 000 on its clock, received `latency` ms later, with the prover's clock
/// `skew` ms off the gateway's.
fn reveal_time(skew: i64, latency: u64) -> u64 {
    let mut p = prover(4);
    let b = batch(1, 2, 10_000);
    let received = (10_000 + latency).saturating_add_signed(skew);
    let out = p.handle(gossip(GossipMessage::Batch(b)), received);
    assert!(
        out.iter().any(|o| matches!(o, Output::SendCommit { .. })),
        "no bid with skew {skew}"
    );
    let mut t = received;
    loop {
        t += 5;
        let out = p.handle(Input::Tick, t);
        if out.iter().any(|o| matches!(o, Output::SendReveal { .. })) {
            return t;
        }
        assert!(t < received + 5_000, "never revealed");
    }
}

#[test]
fn the_reveal_goes_out_just_after_commits_close_whatever_the_provers_clock_says() {
    for skew in [-2_000i64, -500, 0, 500, 2_000] {
        let sent = reveal_time(skew, 40);
        // In the gateway's time: after the commit deadline (10 300), well before the reveal
        // deadline (10 600).
        let gateway_time = sent.saturating_add_signed(-skew);
        assert!(
            (10_300 + 40..10_600).contains(&gateway_time),
            "skew {skew}: revealed at gateway time {gateway_time}"
        );
    }
}

#[test]
fn a_refused_reveal_is_sent_again_with_backoff_until_the_auction_closes() {
    let mut p = prover(4);
    let b = batch(1, 1, 10_000);
    p.handle(gossip(GossipMessage::Batch(b.clone())), 10_010);
    let mut sends = Vec::new();
    let mut t = 10_010;
    while t < 13_500 {
        t += 5;
        for o in p.handle(Input::Tick, t) {
            if matches!(o, Output::SendReveal { .. }) {
                sends.push(t);
                p.handle(
                    Input::BidAnswered {
                        batch: b.payload.batch_id,
                        reveal: true,
                        result: BidAnswer::Refused(
                            "reveal arrived before the commit deadline".into(),
                        ),
                    },
                    t,
                );
            }
        }
    }
    assert!(sends.len() >= 4, "{sends:?}");
    // Backoff: the gaps grow.
    assert!(sends[2] - sends[1] > sends[1] - sends[0], "{sends:?}");
    // Nothing after the last moment the gateway counts a reveal (reveal deadline + grace).
    assert!(*sends.last().unwrap() <= 10_010 + 600 + 2_000);
    // Once acknowledged, it is not sent again.
    let mut p = prover(4);
    p.handle(gossip(GossipMessage::Batch(batch(2, 1, 20_000))), 20_010);
    let mut count = 0;
    for t in (20_015..22_000).step_by(5) {
        for o in p.handle(Input::Tick, t) {
            if let Output::SendReveal { reveal, .. } = o {
                count += 1;
                let receipt = BidReceipt {
                    supernet: reveal.payload.supernet.clone(),
                    batch_id: reveal.payload.batch_id,
                    kind: BidKind::Reveal,
                    bidder: reveal.signer,
                    bid: reveal.digest(),
                    weight: None,
                };
                p.handle(
                    Input::BidAnswered {
                        batch: reveal.payload.batch_id,
                        reveal: true,
                        result: BidAnswer::Taken(Box::new(Signed::sign(receipt, &key(9)))),
                    },
                    t,
                );
            }
        }
    }
    assert_eq!(count, 1);
}

#[test]
fn bids_go_on_at_most_free_capacity_and_a_refused_commit_frees_it() {
    let mut p = prover(2);
    let b1 = batch(1, 5, 10_000);
    let out = p.handle(gossip(GossipMessage::Batch(b1.clone())), 10_010);
    let Some(Output::SendCommit { .. }) =
        out.iter().find(|o| matches!(o, Output::SendCommit { .. }))
    else {
        panic!("no commit");
    };
    // Two jobs bid on: no room for another batch.
    let out = p.handle(gossip(GossipMessage::Batch(batch(2, 5, 10_100))), 10_110);
    assert!(out.is_empty(), "{out:?}");
    // The gateway refuses the commit (too late on its clock): the capacity is free again.
    p.handle(
        Input::BidAnswered {
            batch: b1.payload.batch_id,
            reveal: false,
            result: BidAnswer::Refused("commit arrived after the commit deadline".into()),
        },
        10_120,
    );
    let out = p.handle(gossip(GossipMessage::Batch(batch(3, 5, 10_200))), 10_210);
    assert!(out.iter().any(|o| matches!(o, Output::SendCommit { .. })));
}

#[test]
fn a_replayed_result_for_a_settled_batch_is_ignored() {
    let mut p = prover(4);
    let b = batch(1, 2, 10_000);
    p.handle(gossip(GossipMessage::Batch(b.clone())), 10_010);
    let won = result(&b.payload, &[0]);
    let out = p.handle(gossip(GossipMessage::Result(won.clone())), 10_700);
    assert_eq!(fetches(&out), vec![job(0)]);
    // The job is proven and paid...
    p.handle(
        Input::Verdict {
            job: job(0),
            outcome: ProofOutcome::Accepted { paid: 50 },
        },
        12_000,
    );
    assert!(p.held().is_empty());
    // ...and the same result, replayed by gossip later, takes nothing back.
    let out = p.handle(gossip(GossipMessage::Result(won)), 60_000);
    assert!(fetches(&out).is_empty(), "{out:?}");
    assert!(p.held().is_empty());
    // Nor does a result for a batch it never bid in.
    let other = batch(7, 2, 50_000);
    let out = p.handle(
        gossip(GossipMessage::Result(result(&other.payload, &[1]))),
        60_100,
    );
    assert!(fetches(&out).is_empty());
}

#[test]
fn an_overdue_result_makes_the_prover_ask_and_a_direct_assignment_is_taken_once() {
    let mut p = prover(4);
    let b = batch(1, 2, 10_000);
    p.handle(gossip(GossipMessage::Batch(b)), 10_010);
    let mut asked = None;
    for t in (10_015..14_000).step_by(25) {
        if p.handle(Input::Tick, t)
            .iter()
            .any(|o| matches!(o, Output::AskAssignments { .. }))
        {
            asked = Some(t);
            break;
        }
    }
    // Asked once the reveal window and its grace are over, and not before.
    let asked = asked.expect("never asked for assignments");
    assert!(asked > 10_010 + 600 + 2_000, "{asked}");
    assert!(p.open_bids().is_empty());
    // The gateway's answer: one job. Taken once, however often it is told.
    let mut out = Vec::new();
    on_assignment(
        &mut p,
        key(GW).peer_id(),
        &assignment(0, 20_000, GW),
        asked,
        &mut out,
    )
    .unwrap();
    assert_eq!(fetches(&out), vec![job(0)]);
    let mut again = Vec::new();
    on_assignment(
        &mut p,
        key(GW).peer_id(),
        &assignment(0, 20_000, GW),
        asked,
        &mut again,
    )
    .unwrap();
    assert!(again.is_empty());
    // An assignment signed by anyone but the Supernet's gateway is refused.
    let mut out = Vec::new();
    let forged = assignment(1, 20_000, 5);
    assert!(on_assignment(&mut p, key(5).peer_id(), &forged, asked, &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn while_the_gateway_is_down_the_prover_retries_until_the_deadline_and_at_once_when_it_returns() {
    let mut p = prover(4);
    let mut out = Vec::new();
    on_assignment(
        &mut p,
        key(GW).peer_id(),
        &assignment(0, 30_000, GW),
        10_000,
        &mut out,
    )
    .unwrap();
    // Every fetch fails: the gateway is down. The prover keeps trying, with backoff, past
    // the old limit of eight tries and past the deadline it knows (a restarted gateway
    // extends deadlines by its outage).
    let fail = |p: &mut ProverCore, job, t| {
        p.handle(
            Input::JobInputFailed {
                job,
                reason: "connection refused".into(),
                refused: false,
            },
            t,
        )
    };
    fail(&mut p, job(0), 10_000);
    let mut tries = 1;
    let mut t = 10_000;
    while t < 40_000 {
        t += 25;
        for o in p.handle(Input::Tick, t) {
            if let Output::FetchInput { job, .. } = o {
                tries += 1;
                fail(&mut p, job, t);
            }
        }
    }
    assert!(tries > 8, "{tries} tries");
    assert_eq!(p.held().len(), 1, "gave up while the gateway was down");
    // The gateway comes back: the prover retries at once, not at the end of its backoff.
    let out = p.handle(Input::Connected(key(GW).peer_id()), t);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::AskAssignments { .. }))
    );
    let out = p.handle(Input::Tick, t + 1);
    assert_eq!(fetches(&out), vec![job(0)]);
    // A gateway that answers "not yours" is believed at once.
    p.handle(
        Input::JobInputFailed {
            job: job(0),
            reason: "job is not assigned".into(),
            refused: true,
        },
        t + 2,
    );
    assert!(p.held().is_empty());
}

/// The commit a round of outputs sends directly, and where in the round.
fn sent_commit(out: &[Output]) -> Option<(usize, Signed<BidCommit>)> {
    out.iter().enumerate().find_map(|(i, o)| match o {
        Output::SendCommit { commit, .. } => Some((i, commit.clone())),
        _ => None,
    })
}

#[tokio::test]
async fn a_prover_restarted_between_commit_and_reveal_reveals_the_bid_it_committed() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(1, 2, 10_000);
    let batch_id = b.payload.batch_id;
    let commit = {
        let store = Store::open(dir.path()).unwrap();
        let mut p = prover_salted(4, [7; 32]);
        let out = p.handle(gossip(GossipMessage::Batch(b.clone())), 10_010);
        // The sealed bid is saved before the commit goes out, over gossip or directly.
        let saved = out
            .iter()
            .position(|o| matches!(o, Output::SaveBid(_)))
            .expect("the sealed bid is not saved");
        let published = out
            .iter()
            .position(|o| matches!(o, Output::Publish(GossipMessage::Commit(_))))
            .expect("no commit published");
        let (sent, commit) = sent_commit(&out).expect("no commit sent");
        assert!(saved < published && saved < sent, "{out:?}");
        persist_bids(&store, &out).await.unwrap();
        // The crash: the prover and its store go, before commits close. Nothing else is
        // written.
        drop(p);
        commit
    };
    // A new prover over the same store, whose salts differ: it cannot seal the bid again.
    let store = Store::open(dir.path()).unwrap();
    let mut p = prover_salted(4, [8; 32]);
    let (_, out) = resume(&mut p, &store, 10_200);
    assert!(p.open_bids().contains(&batch_id));
    // Commits have not closed yet: nothing is revealed so early.
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::SendReveal { .. } | Output::Publish(_))),
        "{out:?}"
    );
    let mut direct = None;
    let mut gossiped = None;
    let mut t = 10_200;
    while direct.is_none() && t < 13_000 {
        t += 5;
        for o in p.handle(Input::Tick, t) {
            match o {
                Output::SendReveal { reveal, .. } => direct = Some(reveal),
                Output::Publish(GossipMessage::Reveal(reveal)) => gossiped = Some(reveal),
                _ => {}
            }
        }
    }
    let direct = direct.expect("the restarted prover never revealed");
    // Revealed once commits closed (10 300), well within the reveal window (10 600).
    assert!((10_300..10_600).contains(&t), "revealed at {t}");
    // The reveal opens the commit sent before the crash, directly and over gossip.
    check_opening(&commit, &direct).unwrap();
    assert!(direct.verify_for(&config().id).is_ok());
    assert_eq!(gossiped.as_ref(), Some(&direct));
    // The auction settles: the prover takes the job it won in it, and forgets the bid.
    let out = p.handle(
        gossip(GossipMessage::Result(result(&b.payload, &[0]))),
        10_700,
    );
    assert_eq!(fetches(&out), vec![job(0)]);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::ForgetBid(id) if *id == batch_id))
    );
    persist_bids(&store, &out).await.unwrap();
    assert!(store.sealed_bids::<SealedBid>().unwrap().is_empty());
}

#[tokio::test]
async fn a_prover_still_loading_reveals_what_it_sealed_and_bids_only_once_ready() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(1, 2, 10_000);
    let commit = {
        let store = Store::open(dir.path()).unwrap();
        let mut p = prover(4);
        let out = p.handle(gossip(GossipMessage::Batch(b.clone())), 10_010);
        persist_bids(&store, &out).await.unwrap();
        sent_commit(&out).expect("no commit sent").1
    };
    // Restarted, its parameters still loading: it knows no proving time yet.
    let store = Store::open(dir.path()).unwrap();
    let mut p = ProverCore::new(
        config(),
        key(ME),
        ProverSettings {
            capacity: 4,
            cost: CostModel {
                proving_ms: BTreeMap::new(),
                price_per_second: 100,
                margin_percent: 0,
            },
            hardware: HardwareSummary::default(),
            announce_every_ms: 2_000,
        },
        Box::new(|| [8; 32]),
    );
    let (_, _) = resume(&mut p, &store, 10_050);
    let mut outputs = Vec::new();
    for t in (10_055..10_700).step_by(5) {
        outputs.extend(p.handle(Input::Tick, t));
    }
    // A batch it could bid in, had it a proving time.
    outputs.extend(p.handle(gossip(GossipMessage::Batch(batch(2, 2, 10_700))), 10_710));
    let revealed = outputs.iter().find_map(|o| match o {
        Output::SendReveal { reveal, .. } => Some(reveal),
        _ => None,
    });
    check_opening(&commit, revealed.expect("the sealed bid was not revealed")).unwrap();
    assert!(
        !outputs.iter().any(|o| matches!(
            o,
            Output::SaveBid(_)
                | Output::SendCommit { .. }
                | Output::Publish(GossipMessage::Availability(_) | GossipMessage::Commit(_))
        )),
        "announced or bid before it was ready: {outputs:?}"
    );
    // Ready: it announces at once, and bids in the next batch.
    let cost = CostModel {
        proving_ms: [(JobCategory::Small, 500)].into(),
        price_per_second: 100,
        margin_percent: 0,
    };
    let out = p.handle(Input::Ready(cost), 10_800);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Publish(GossipMessage::Availability(_)))),
        "{out:?}"
    );
    let out = p.handle(gossip(GossipMessage::Batch(batch(3, 2, 10_900))), 10_910);
    assert!(sent_commit(&out).is_some(), "{out:?}");
}

#[tokio::test]
async fn a_sealed_bid_is_forgotten_once_its_auction_is_over_and_not_revealed_after_it() {
    let store = Store::temporary().unwrap();
    // Settled by an overdue result: forgotten.
    let mut p = prover(4);
    let out = p.handle(gossip(GossipMessage::Batch(batch(1, 1, 10_000))), 10_010);
    persist_bids(&store, &out).await.unwrap();
    assert_eq!(store.sealed_bids::<SealedBid>().unwrap().len(), 1);
    for t in (10_015..14_000).step_by(25) {
        let out = p.handle(Input::Tick, t);
        persist_bids(&store, &out).await.unwrap();
    }
    assert!(p.open_bids().is_empty());
    assert!(store.sealed_bids::<SealedBid>().unwrap().is_empty());
    // A commit the gateway refused: forgotten at once.
    let b = batch(2, 1, 20_000);
    let out = p.handle(gossip(GossipMessage::Batch(b.clone())), 20_010);
    persist_bids(&store, &out).await.unwrap();
    let out = p.handle(
        Input::BidAnswered {
            batch: b.payload.batch_id,
            reveal: false,
            result: BidAnswer::Refused("commit arrived after the commit deadline".into()),
        },
        20_020,
    );
    persist_bids(&store, &out).await.unwrap();
    assert!(store.sealed_bids::<SealedBid>().unwrap().is_empty());
    // A prover down past the reveal window (and its grace) does not reveal after it, and
    // forgets the bid.
    let out = p.handle(gossip(GossipMessage::Batch(batch(3, 1, 30_000))), 30_010);
    persist_bids(&store, &out).await.unwrap();
    drop(p);
    let mut p = prover(4);
    let (_, out) = resume(&mut p, &store, 30_010 + 600 + 2_000 + 1);
    assert!(p.open_bids().is_empty());
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::SendReveal { .. } | Output::Publish(_))),
        "{out:?}"
    );
    persist_bids(&store, &out).await.unwrap();
    assert!(store.sealed_bids::<SealedBid>().unwrap().is_empty());
}
