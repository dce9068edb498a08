//! Two gateways in one Supernet, over real libp2p on loopback: each keeps its own tasks,
//! auctions and ledger, and one prover serves both within one capacity.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{peer, prover_settings, proving_supernet};
use lagrange_node::clock::now_ms;
use lagrange_node::launch::{self, GatewayNode, ParamFiles};
use lagrange_node::model::{TaskEventKind, TaskSpec, TaskStatus};
use lagrange_node::net::NetConfig;
use lagrange_node::store::Store;
use lagrange_node::workload::Workload;
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::{JobCategory, Keypair, TaskId};

const A: u64 = 0;
const B: u64 = 20;
const PROVER: u64 = 1;

/// The proving Supernet with gateways `A` and `B`, jobs due `deadline_ms` after their award.
async fn two_gateway_supernet(name: &str, deadline_ms: u64) -> common::Proving {
    let mut net = proving_supernet(name, deadline_ms).await;
    let mut config = SupernetConfig::clone(&net.supernet);
    config.gateways.push(peer(B));
    net.supernet = Arc::new(config);
    net
}

async fn gateway<W: Workload>(seed: u64, net: &common::Proving, workload: Arc<W>) -> GatewayNode {
    launch::start_gateway(
        &Keypair::insecure_from_seed(seed),
        net.supernet.clone(),
        Store::temporary().unwrap(),
        workload,
        NetConfig::local(),
        None,
        ParamFiles::default(),
    )
    .await
    .unwrap()
}

/// The prover, proving one job at a time, knowing both gateways; returned once both have
/// its account (it announced itself to each).
async fn prover(net: &common::Proving, a: &GatewayNode, b: &GatewayNode) -> launch::ProverNode {
    let mut settings = prover_settings(100);
    settings.capacity = 1;
    let node = launch::start_prover(
        &Keypair::insecure_from_seed(PROVER),
        net.supernet.clone(),
        net.workload.clone(),
        vec![a.p2p_addr.clone(), b.p2p_addr.clone()],
        settings,
        ParamFiles::default(),
    )
    .unwrap();
    let key = Keypair::insecure_from_seed(PROVER).public();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for gw in [a, b] {
        while gw.gateway.store().account(&key).unwrap().is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the prover never announced itself to both gateways"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    node
}

/// A query over `rows` rows: one small chunk job per 32 rows.
async fn submit(gw: &GatewayNode, rows: u64) -> TaskId {
    let spec = TaskSpec::Query {
        rows: (0..rows).map(|i| (i, i)).collect(),
        lo: 0,
        hi: u64::MAX,
        category: JobCategory::Small,
    };
    gw.gateway
        .submit(spec, 1000, now_ms() + 120_000)
        .await
        .unwrap()
        .id
}

/// Waits until `task` is done at `gw`, at most `within`.
async fn done(gw: &GatewayNode, task: &TaskId, within: Duration) {
    let mut changes = gw.gateway.changes();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match gw.gateway.store().task(task).unwrap().unwrap().status {
            TaskStatus::Done => return,
            TaskStatus::Failed { reason } => panic!("task {task} failed: {reason}"),
            TaskStatus::Proving => {}
        }
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .unwrap_or_else(|_| panic!("task {task} not done within {within:?}"))
            .unwrap();
    }
}

/// Every job of `task` at `gw` was awarded once and proven by the prover, nothing failed.
fn proven_by_the_prover_without_a_failure(gw: &GatewayNode, task: &TaskId, jobs: usize) {
    let me = Keypair::insecure_from_seed(PROVER).public();
    let events = gw.gateway.store().events(task, 0).unwrap();
    let proven = events
        .iter()
        .filter(|e| matches!(e.kind, TaskEventKind::Proven { prover, .. } if prover == me))
        .count();
    assert_eq!(proven, jobs, "{events:#?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, TaskEventKind::Failed { .. })),
        "{events:#?}"
    );
    let account = gw.gateway.store().account(&me).unwrap().unwrap();
    assert_eq!((account.jobs_paid, account.slashed), (jobs as u64, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_of_one_supernet_share_a_prover_each_with_its_own_tasks_and_ledger() {
    let net = two_gateway_supernet("two-gateways", 20_000).await;
    let a = gateway(A, &net, net.workload.clone()).await;
    let b = gateway(B, &net, net.workload.clone()).await;
    let _prover = prover(&net, &a, &b).await;
    let (ta, tb) = (submit(&a, 64).await, submit(&b, 64).await);
    done(&a, &ta, Duration::from_secs(90)).await;
    done(&b, &tb, Duration::from_secs(90)).await;
    // Each gateway knows its own task only, paid the prover for its own two jobs, and
    // the prover proved all four, one at a time (capacity 1).
    assert!(a.gateway.store().task(&tb).unwrap().is_none());
    assert!(b.gateway.store().task(&ta).unwrap().is_none());
    proven_by_the_prover_without_a_failure(&a, &ta, 2);
    proven_by_the_prover_without_a_failure(&b, &tb, 2);
}
