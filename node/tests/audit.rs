//! Dishonest gateways are caught, over loopback libp2p with real proofs. A gateway made to
//! cheat one way (drop an acknowledged reveal, omit an acknowledged commit, inflate a
//! prover's capacity, use a commit outside its closed set) runs an auction; an honest
//! prover's audit finds the deviation and keeps the evidence on disk; and a third party,
//! given only that file, confirms it (`lagrange-node audit FILE`).

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::prover_settings as settings;
use common::proving_supernet;
use lagrange_node::clock::now_ms;
use lagrange_node::gateway::Misbehavior;
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::model::TaskSpec;
use lagrange_node::net::NetConfig;
use lagrange_node::store::Store;
use lagrange_node::tools::client::Finding;
use lagrange_protocol::audit::{AuditError, Deviation};
use lagrange_protocol::{JobCategory, Keypair, PublicKey};

/// The first evidence file that appears in `dir`, waiting up to a minute.
async fn evidence_in(dir: &Path) -> PathBuf {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(file) = std::fs::read_dir(dir)
            .ok()
            .and_then(|mut entries| entries.find_map(|e| e.ok().map(|e| e.path())))
        {
            return file;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no evidence was kept in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs one query task with a gateway cheating as `cheat` says (given the two provers'
/// keys), and returns the deviation found in the evidence that prover `auditor` (0 or 1)
/// keeps, as a third party reads it from the file alone.
async fn caught(
    name: &str,
    cheat: impl FnOnce(PublicKey, PublicKey) -> Misbehavior,
    auditor: usize,
) -> Deviation {
    let net = proving_supernet(name, 20_000).await;
    let keys: Vec<Keypair> = (1..=2).map(Keypair::insecure_from_seed).collect();
    let gw = launch::start_misbehaving_gateway(
        &Keypair::insecure_from_seed(0),
        net.supernet.clone(),
        Store::temporary().unwrap(),
        net.workload.clone(),
        NetConfig::local(),
        None,
        ParamFiles::default(),
        cheat(keys[0].public(), keys[1].public()),
    )
    .await
    .unwrap();
    let dirs: Vec<_> = keys.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let _provers: Vec<_> = keys
        .iter()
        .zip(&dirs)
        .enumerate()
        .map(|(i, (key, dir))| {
            let mut cfg = NetConfig::local();
            cfg.bootnodes = vec![gw.p2p_addr.clone()];
            launch::start_prover_with(
                key,
                net.supernet.clone(),
                net.workload.clone(),
                cfg,
                // Prover 1 is the cheaper.
                settings(100 + 100 * i as u64),
                ParamFiles::default(),
                Some(Store::open(&dir.path().join("store")).unwrap()),
            )
            .unwrap()
        })
        .collect();
    // Both provers known (announcing opens an account), so the first auction sees them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !keys
        .iter()
        .all(|k| gw.gateway.store().account(&k.public()).unwrap().is_some())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "provers never announced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.gateway
        .submit(
            TaskSpec::Query {
                rows: (0..12).map(|i| (i, i * 10)).collect(),
                lo: 2,
                hi: 9,
                category: JobCategory::Small,
            },
            1000,
            now_ms() + 60_000,
        )
        .await
        .unwrap();
    let file = evidence_in(&dirs[auditor].path().join("evidence")).await;
    // The third party: only the file.
    match lagrange_node::tools::client::audit(&file).unwrap() {
        Finding::Auction(Err(AuditError::Deviation {
            gateway, deviation, ..
        })) => {
            assert_eq!(gateway, Keypair::insecure_from_seed(0).public());
            *deviation
        }
        other => panic!("the evidence does not prove a deviation: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_a_dropped_reveal_is_caught_by_its_prover() {
    let deviation = caught(
        "audit-drop",
        |victim, _| Misbehavior {
            drop_reveals_of: Some(victim),
            ..Misbehavior::default()
        },
        0,
    )
    .await;
    assert_eq!(
        deviation,
        Deviation::RevealDropped {
            prover: Keypair::insecure_from_seed(1).public()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_an_omitted_bid_is_caught_by_its_prover() {
    let deviation = caught(
        "audit-omit",
        |victim, _| Misbehavior {
            omit_commits_of: Some(victim),
            ..Misbehavior::default()
        },
        0,
    )
    .await;
    assert_eq!(
        deviation,
        Deviation::CommitOmitted {
            prover: Keypair::insecure_from_seed(1).public()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_an_inflated_capacity_is_caught_by_the_prover_it_names() {
    let deviation = caught(
        "audit-inflate",
        |_, friend| Misbehavior {
            // More than the 2 it announced, within the 10 its stake backs.
            inflate_capacity_of: Some((friend, 5)),
            ..Misbehavior::default()
        },
        1,
    )
    .await;
    assert!(
        matches!(
            deviation,
            Deviation::CapacityInflated { prover, claimed: 5, announced: 2 }
                if prover == Keypair::insecure_from_seed(2).public()
        ),
        "{deviation:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_a_commit_outside_the_closed_set_is_caught_by_another_bidder() {
    let deviation = caught(
        "audit-late",
        |_, friend| Misbehavior {
            late_commit_of: Some(friend),
            ..Misbehavior::default()
        },
        0,
    )
    .await;
    assert_eq!(
        deviation,
        Deviation::CommitAfterClose {
            prover: Keypair::insecure_from_seed(2).public()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_any_past_batch_of_an_honest_gateway_over_its_api() {
    use lagrange_node::model::{TaskEventKind, TaskStatus};
    let net = proving_supernet("audit-api", 20_000).await;
    let gw = launch::start_gateway(
        &Keypair::insecure_from_seed(0),
        net.supernet.clone(),
        Store::temporary().unwrap(),
        net.workload.clone(),
        NetConfig::local(),
        Some("127.0.0.1:0".parse().unwrap()),
        ParamFiles::default(),
    )
    .await
    .unwrap();
    let _prover = launch::start_prover(
        &Keypair::insecure_from_seed(1),
        net.supernet.clone(),
        net.workload.clone(),
        vec![gw.p2p_addr.clone()],
        settings(100),
        ParamFiles::default(),
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let key = Keypair::insecure_from_seed(1).public();
    while gw.gateway.store().account(&key).unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the prover never announced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let task = gw
        .gateway
        .submit(
            TaskSpec::Query {
                rows: (0..6).map(|i| (i, i)).collect(),
                lo: 0,
                hi: 9,
                category: JobCategory::Small,
            },
            1000,
            now_ms() + 60_000,
        )
        .await
        .unwrap();
    let mut changes = gw.gateway.changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while gw.gateway.store().task(&task.id).unwrap().unwrap().status != TaskStatus::Done {
        tokio::time::timeout_at(deadline, changes.changed())
            .await
            .expect("the task never finished")
            .unwrap();
    }
    let batch = gw
        .gateway
        .store()
        .events(&task.id, 0)
        .unwrap()
        .into_iter()
        .find_map(|e| match e.kind {
            TaskEventKind::AuctionClosed { batch, .. } => Some(batch),
            _ => None,
        })
        .expect("an auction closed");
    let url = format!("http://{}", gw.grpc_addr.unwrap());
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("batch.evidence");
    let Finding::Auction(Ok(award)) = lagrange_node::tools::client::audit_batch(
        &url,
        "audit-api",
        &batch.to_string(),
        Some(&file),
    )
    .await
    .unwrap() else {
        panic!("an honest gateway passes");
    };
    assert!(!award.awarded.is_empty());
    // The fetched transcript, kept as a file, passes offline too.
    assert!(matches!(
        lagrange_node::tools::client::audit(&file).unwrap(),
        Finding::Auction(Ok(_))
    ));
    // A batch the gateway never awarded is not found.
    let err = lagrange_node::tools::client::audit_batch(&url, "audit-api", &"00".repeat(16), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no transcript"), "{err}");
}
