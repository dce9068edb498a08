//! End to end with faults, over loopback libp2p with real proofs: a prover dies right after
//! winning; its jobs are re-auctioned after the deadline, the task still completes, and the
//! dead prover is slashed and unpaid.

use std::sync::Arc;
use std::time::Duration;

use lagrange_node::circuit_workload::{CircuitWorkload, circuit_for};
use lagrange_node::gateway::driver::now_ms;
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::net::NetConfig;
use lagrange_node::prover::{CostModel, ProverSettings};
use lagrange_node::store::{Store, TaskEventKind, TaskSpec, TaskStatus};
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{JobCategory, Keypair, SupernetId};

fn settings(price_per_second: u64) -> ProverSettings {
    ProverSettings {
        capacity: 2,
        cost: CostModel {
            proving_ms: [(JobCategory::Small, 500)].into(),
            price_per_second,
            margin_percent: 0,
        },
        hardware: HardwareSummary::default(),
        announce_every_ms: 2_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_prover_killed_after_winning_is_slashed_and_its_jobs_reauctioned() {
    let params = tempfile::tempdir().unwrap();
    let spec = circuit_for(true, JobCategory::Small);
    let dir = params.path().to_path_buf();
    let (workload, pins) =
        tokio::task::spawn_blocking(move || CircuitWorkload::insecure_devnet(&dir, &[spec], 7))
            .await
            .unwrap()
            .unwrap();
    let workload = Arc::new(workload);
    let gw_key = Keypair::insecure_from_seed(0);
    let supernet = Arc::new(SupernetConfig {
        id: SupernetId::new("faults").unwrap(),
        gateways: vec![gw_key.peer_id()],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: EconomicsConfig::default(),
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: 4_000,
            reserve_price: 1000,
        }],
        circuits: pins
            .into_iter()
            .map(|(id, params_digest)| CircuitConfig {
                id,
                category: JobCategory::Small,
                params_digest,
            })
            .collect(),
    });
    let gw = launch::start_gateway(
        &gw_key,
        supernet.clone(),
        Store::temporary().unwrap(),
        workload.clone(),
        NetConfig::local(),
        None,
        ParamFiles::default(),
    )
    .await
    .unwrap();
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
    provers[0].take().unwrap().kill();

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
    let result = gw.gateway.store().result(&task.id).unwrap().unwrap();
    let answer = workload.check_result(&record.spec, &result).unwrap();
    let expected: u128 = (5..=30u128).map(|k| k * 10).sum();
    assert_eq!((answer.sum, answer.count), (expected, 26));
}
