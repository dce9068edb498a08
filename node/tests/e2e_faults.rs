//! End to end with faults, over loopback libp2p with real proofs: a prover dies right after
//! winning; its jobs are re-auctioned after the deadline, the task still completes, and the
//! dead prover is slashed and unpaid.

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::prover_settings as settings;
use common::{Hooked, proving_supernet};
use lagrange_node::clock::now_ms;
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::model::{TaskEventKind, TaskSpec, TaskStatus};
use lagrange_node::net::NetConfig;
use lagrange_node::store::Store;
use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{JobCategory, Keypair};

/// Waits until the gateway has heard every one of `keys` announce itself (announcing opens
/// a ledger account), so the first auction already sees them all.
async fn wait_known(gw: &launch::GatewayNode, keys: &[&Keypair]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !keys
        .iter()
        .all(|k| gw.gateway.store().account(&k.public()).unwrap().is_some())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "provers never announced themselves"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_prover_killed_after_winning_is_slashed_and_its_jobs_reauctioned() {
    let net = proving_supernet("faults", 4_000).await;
    let (workload, supernet) = (net.workload.clone(), net.supernet.clone());
    let gw = common::start_gateway(&net).await;
    let keys: Vec<Keypair> = (1..=3).map(Keypair::insecure_from_seed).collect();
    // Prover 1 is the cheapest, so it wins first.
    let mut provers: Vec<Option<launch::ProverNode>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Some(
                launch::start_prover(
                    k,
                    supernet.clone(),
                    workload.clone(),
                    vec![gw.p2p_addr.clone()],
                    settings(100 + 100 * i as u64),
                    ParamFiles::default(),
                )
                .unwrap(),
            )
        })
        .collect();

    wait_known(&gw, &keys.iter().collect::<Vec<_>>()).await;
    let task = gw
        .gateway
        .submit(
            TaskSpec::Query {
                rows: (0..40).map(|i| (i, i * 10)).collect(),
                lo: 5,
                hi: 30,
                category: JobCategory::Small,
            },
            1000,
            now_ms() + 90_000,
        )
        .await
        .unwrap();

    // Wait until prover 1 wins something, then kill it.
    let victim = keys[0].public();
    let mut changes = gw.gateway.changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let won =
            gw.gateway.store().events(&task.id, 0).unwrap().iter().any(
                |e| matches!(e.kind, TaskEventKind::Awarded { prover, .. } if prover == victim),
            );
        if won {
            break;
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("prover 1 never won")
            .unwrap();
    }
    provers[0].take().unwrap().kill().await;

    let record = gw
        .gateway
        .wait_final(&task.id, Duration::from_secs(90))
        .await
        .expect("the task did not finish");
    assert_eq!(record.status, TaskStatus::Done);
    let events = gw.gateway.store().events(&task.id, 0).unwrap();
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        TaskEventKind::Failed { prover, reason, .. } if *prover == victim && reason.contains("deadline")
    )));
    let dead = gw.gateway.store().account(&victim).unwrap().unwrap();
    assert_eq!(dead.balance, 0, "a dead prover is never paid");
    assert!(dead.slashed > 0);
    // Nobody was paid twice: exactly one payment per job.
    let payments = events
        .iter()
        .filter(|e| matches!(e.kind, TaskEventKind::Proven { .. }))
        .count();
    assert_eq!(payments as u32, task.jobs);
    let answer = delivered_answer(&workload, &gw, &task.id);
    let expected: u128 = (5..=30u128).map(|k| k * 10).sum();
    assert_eq!((answer.sum, answer.count), (expected, 26));
}

/// The answer the gateway delivered for `task`, checked against the task's own spec.
fn delivered_answer(
    workload: &lagrange_node::circuit_workload::CircuitWorkload,
    gw: &launch::GatewayNode,
    task: &lagrange_protocol::TaskId,
) -> lagrange_circuits::Answer {
    let store = gw.gateway.store();
    let record = store.task(task).unwrap().unwrap();
    let result = store.result(task).unwrap().unwrap();
    let spec = gw.gateway.store().task_spec(&record.id).unwrap().unwrap();
    workload.check_result(&spec, &result).unwrap()
}

/// Submits `spec` and waits up to `secs` seconds for the task to end.
async fn run_to_end(
    gw: &launch::GatewayNode,
    spec: TaskSpec,
    secs: u64,
) -> (
    lagrange_node::model::TaskRecord,
    lagrange_node::model::TaskRecord,
) {
    let task = gw
        .gateway
        .submit(spec, 1000, now_ms() + 90_000)
        .await
        .unwrap();
    let record = gw
        .gateway
        .wait_final(&task.id, Duration::from_secs(secs))
        .await
        .expect("the task did not finish");
    (task, record)
}

fn query_task() -> TaskSpec {
    TaskSpec::Query {
        rows: (0..40).map(|i| (i, i * 10)).collect(),
        lo: 5,
        hi: 30,
        category: JobCategory::Small,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_prover_submitting_invalid_proofs_is_slashed_and_the_job_reauctioned() {
    let net = proving_supernet("forgery", 20_000).await;
    let gw = common::start_gateway(&net).await;
    let forger_key = Keypair::insecure_from_seed(1);
    let _forger = launch::start_prover(
        &forger_key,
        net.supernet.clone(),
        Arc::new(Hooked {
            // A real proof with two of its bytes swapped.
            after: Box::new(|p| p.proof.swap(0, 40)),
            ..Hooked::new(net.workload.clone())
        }),
        vec![gw.p2p_addr.clone()],
        settings(50),
        ParamFiles::default(),
    )
    .unwrap();
    let honest_key = Keypair::insecure_from_seed(2);
    let _honest = launch::start_prover(
        &honest_key,
        net.supernet.clone(),
        net.workload.clone(),
        vec![gw.p2p_addr.clone()],
        settings(300),
        ParamFiles::default(),
    )
    .unwrap();
    wait_known(&gw, &[&forger_key, &honest_key]).await;
    let (task, record) = run_to_end(&gw, query_task(), 90).await;
    assert_eq!(record.status, TaskStatus::Done);
    let forger = gw
        .gateway
        .store()
        .account(&forger_key.public())
        .unwrap()
        .unwrap();
    assert_eq!(forger.balance, 0, "invalid proofs are never paid");
    assert!(forger.failures >= 1 && forger.slashed >= 100, "{forger:?}");
    let events = gw.gateway.store().events(&task.id, 0).unwrap();
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        TaskEventKind::Failed { prover, reason, .. } if *prover == forger_key.public() && reason.contains("invalid proof")
    )));
    let answer = delivered_answer(&net.workload, &gw, &task.id);
    assert_eq!(answer.count, 26);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_restarted_gateway_finishes_the_task_replays_history_and_pays_once() {
    use lagrange_node::api::pb::{self, gateway_client::GatewayClient};
    use libp2p::multiaddr::Protocol;

    let net = proving_supernet("restart", 20_000).await;
    let dir = tempfile::tempdir().unwrap();
    let gw_key = Keypair::insecure_from_seed(0);
    let start = |store: Store, cfg: NetConfig| {
        launch::start_gateway(
            &gw_key,
            net.supernet.clone(),
            store,
            net.workload.clone(),
            cfg,
            Some("127.0.0.1:0".parse().unwrap()),
            ParamFiles::default(),
        )
    };
    let gw = start(Store::open(dir.path()).unwrap(), NetConfig::local())
        .await
        .unwrap();
    let bootnode = gw.p2p_addr.clone();
    let _provers: Vec<_> = (1..=2u64)
        .map(|i| {
            launch::start_prover(
                &Keypair::insecure_from_seed(i),
                net.supernet.clone(),
                net.workload.clone(),
                vec![bootnode.clone()],
                settings(100 * i),
                ParamFiles::default(),
            )
            .unwrap()
        })
        .collect();
    let rows: Vec<(u64, u64)> = (0..200).map(|i| (i % 50, i)).collect();
    let task = gw
        .gateway
        .submit(
            TaskSpec::Query {
                rows,
                lo: 10,
                hi: 20,
                category: JobCategory::Small,
            },
            1000,
            now_ms() + 120_000,
        )
        .await
        .unwrap();
    assert_eq!(task.jobs, 7);

    // Let at least one proof in, then take the gateway down mid-task.
    let mut changes = gw.gateway.changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let proven = |gw: &launch::GatewayNode| {
        gw.gateway
            .store()
            .events(&task.id, 0)
            .unwrap()
            .iter()
            .filter(|e| matches!(e.kind, TaskEventKind::Proven { .. }))
            .count()
    };
    while proven(&gw) == 0 {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("no proof before the restart")
            .unwrap();
    }
    assert_ne!(
        gw.gateway.store().task(&task.id).unwrap().unwrap().status,
        TaskStatus::Done,
        "the task finished before the restart; make it longer"
    );
    let port = bootnode
        .iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    gw.shutdown().await;

    // Same directory, same address: provers find it again by themselves.
    let mut cfg = NetConfig::local();
    cfg.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
    let gw = start(Store::open(dir.path()).unwrap(), cfg).await.unwrap();
    let mut client = GatewayClient::connect(format!("http://{}", gw.grpc_addr.unwrap()))
        .await
        .unwrap();
    let mut stream = client
        .watch_task(pb::WatchTaskRequest {
            task_id: task.id.to_string(),
            from_seq: 0,
            snapshot: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while let Some(event) = tokio::time::timeout_at(deadline, stream.message())
        .await
        .expect("the task did not finish after the restart")
        .unwrap()
    {
        events.push(event);
    }
    // The stream replayed history from the first event and ended with completion.
    assert_eq!(events[0].seq, 0);
    assert_eq!(events[0].kind, "submitted");
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(events.last().unwrap().kind, "completed");
    // Every job paid exactly once, across the restart.
    let paid: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "proven")
        .map(|e| e.job_id.as_str())
        .collect();
    let unique: std::collections::BTreeSet<_> = paid.iter().collect();
    assert_eq!((paid.len(), unique.len()), (7, 7));
    let answer = delivered_answer(&net.workload, &gw, &task.id);
    assert_eq!(answer.count, 44);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_restarted_prover_resumes_the_jobs_it_held() {
    let net = proving_supernet("resume", 30_000).await;
    let gw = common::start_gateway(&net).await;
    let key = Keypair::insecure_from_seed(1);
    let state = tempfile::tempdir().unwrap();
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = || {
        let mut cfg = NetConfig::local();
        cfg.bootnodes = vec![gw.p2p_addr.clone()];
        launch::start_prover_with(
            &key,
            net.supernet.clone(),
            Arc::new(Hooked {
                // Every proof takes at least two seconds; count the ones started.
                before: Box::new({
                    let started = started.clone();
                    move || {
                        started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_secs(2));
                    }
                }),
                ..Hooked::new(net.workload.clone())
            }),
            cfg,
            settings(100),
            ParamFiles::default(),
            Some(Store::open(state.path()).unwrap()),
        )
        .unwrap()
    };
    let prover = start();
    wait_known(&gw, &[&key]).await;
    let task = gw
        .gateway
        .submit(query_task(), 1000, now_ms() + 90_000)
        .await
        .unwrap();

    // Kill the prover once it has fetched its inputs and started proving.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while started.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the prover never started proving"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    prover.kill().await;
    // The same prover comes back on the same state directory and finishes what it held.
    let _prover = start();
    let record = gw
        .gateway
        .wait_final(&task.id, Duration::from_secs(60))
        .await
        .expect("the task did not finish");
    assert_eq!(record.status, TaskStatus::Done);
    let account = gw.gateway.store().account(&key.public()).unwrap().unwrap();
    assert_eq!(account.failures, 0, "{account:?}");
    assert_eq!(account.jobs_paid, u64::from(task.jobs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_bidder_that_commits_but_never_reveals_is_penalized_and_wins_nothing() {
    use lagrange_node::net::{NetEvent, Network};
    use lagrange_protocol::Signed;
    use lagrange_protocol::commit::seal_bids;
    use lagrange_protocol::messages::{Bid, GossipMessage, ProverAvailability, Salt};

    let net = proving_supernet("silent", 20_000).await;
    let gw = common::start_gateway(&net).await;
    let honest = Keypair::insecure_from_seed(2);
    let _honest = launch::start_prover(
        &honest,
        net.supernet.clone(),
        net.workload.clone(),
        vec![gw.p2p_addr.clone()],
        settings(300),
        ParamFiles::default(),
    )
    .unwrap();

    // The silent bidder: a bare network member that announces itself, commits the lowest
    // price to every batch, and never reveals.
    let silent = Keypair::insecure_from_seed(3);
    let (mut silent_net, mut events) = Network::new(silent.to_libp2p(), 256);
    let mut cfg = NetConfig::local();
    cfg.bootnodes = vec![gw.p2p_addr.clone()];
    let handle = silent_net.join((*net.supernet).clone(), cfg).unwrap();
    let supernet_id = net.supernet.id.clone();
    let announce = Signed::sign(
        ProverAvailability {
            supernet: supernet_id.clone(),
            categories: vec![JobCategory::Small],
            capacity: 8,
            hardware: HardwareSummary::default(),
            node_version: "silent".into(),
            announced_at: now_ms(),
        },
        &silent,
    );
    let h = handle.clone();
    let key = silent.clone();
    let bidder = tokio::spawn(async move {
        let _ = h.publish(GossipMessage::Availability(announce)).await;
        while let Some(event) = events.recv().await {
            if let NetEvent::Gossip {
                message: GossipMessage::Batch(batch),
                ..
            } = event
            {
                let bids = batch
                    .payload
                    .jobs
                    .iter()
                    .map(|j| Bid {
                        job_id: j.job_id,
                        price: 1,
                    })
                    .collect();
                let (commit, _never_sent) =
                    seal_bids(&batch.payload, &key.public(), bids, Salt([9; 32]));
                let _ = h
                    .publish(GossipMessage::Commit(Signed::sign(commit, &key)))
                    .await;
            }
        }
    });
    wait_known(&gw, &[&honest, &silent]).await;

    let (task, record) = run_to_end(&gw, query_task(), 60).await;
    assert_eq!(record.status, TaskStatus::Done);
    let account = gw
        .gateway
        .store()
        .account(&silent.public())
        .unwrap()
        .unwrap();
    assert_eq!(account.balance, 0, "{account:?}");
    assert_eq!(account.jobs_paid, 0);
    assert!(account.non_reveals >= 1, "{account:?}");
    assert!(account.stake < 1000, "{account:?}");
    let events = gw.gateway.store().events(&task.id, 0).unwrap();
    assert!(events.iter().any(|e| matches!(
        e.kind,
        TaskEventKind::AuctionClosed { non_revealers, .. } if non_revealers >= 1
    )));
    assert!(!events.iter().any(|e| matches!(
        e.kind,
        TaskEventKind::Awarded { prover, .. } if prover == silent.public()
    )));
    bidder.abort();
    silent_net.leave(&supernet_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_gateway_stopped_while_verifying_finishes_the_check_and_pays_the_prover() {
    let net = proving_supernet("graceful", 20_000).await;
    let dir = tempfile::tempdir().unwrap();
    // The gateway's verification waits at a gate the test opens.
    let (entered_tx, entered) = std::sync::mpsc::sync_channel(1);
    let (open, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let workload = Arc::new(Hooked {
        checking: Box::new(move || {
            let _ = entered_tx.try_send(());
            let _ = gate.lock().unwrap().recv_timeout(common::TIMEOUT);
        }),
        ..Hooked::new(net.workload.clone())
    });
    let gw = launch::start_gateway(
        &Keypair::insecure_from_seed(0),
        net.supernet.clone(),
        Store::open(dir.path()).unwrap(),
        workload,
        NetConfig::local(),
        None,
        ParamFiles::default(),
    )
    .await
    .unwrap();
    let key = Keypair::insecure_from_seed(1);
    let prover = launch::start_prover(
        &key,
        net.supernet.clone(),
        net.workload.clone(),
        vec![gw.p2p_addr.clone()],
        settings(100),
        ParamFiles::default(),
    )
    .unwrap();
    wait_known(&gw, &[&key]).await;
    let task = gw
        .gateway
        .submit(
            TaskSpec::Query {
                rows: (0..20).map(|i| (i, i)).collect(),
                lo: 0,
                hi: 10,
                category: JobCategory::Small,
            },
            1000,
            now_ms() + 90_000,
        )
        .await
        .unwrap();
    // The proof is in and being checked: stop the gateway now.
    tokio::task::spawn_blocking(move || entered.recv_timeout(common::TIMEOUT))
        .await
        .unwrap()
        .expect("no proof reached verification");
    let mut stopping = Box::pin(gw.shutdown());
    assert!(futures::poll!(&mut stopping).is_pending());
    // The check completes after the stop was asked for; the gateway records it before it goes.
    open.send(()).unwrap();
    tokio::time::timeout(common::TIMEOUT, stopping)
        .await
        .expect("the gateway did not stop");
    prover.kill().await;
    let store = Store::open(dir.path()).unwrap();
    let jobs = store.jobs_of(&task.id).unwrap();
    assert!(
        jobs.iter()
            .all(|j| matches!(j.state, lagrange_node::model::JobState::Verified { .. })),
        "{jobs:?}"
    );
    let account = store.account(&key.public()).unwrap().unwrap();
    assert!(account.balance > 0 && account.slashed == 0, "{account:?}");
}
