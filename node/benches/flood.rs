//! A flood against a gateway (`cargo bench -p lagrange-node --bench flood`). Prints JSON and
//! writes `target/bench-results/flood.json`.
//!
//! An open Supernet: a gateway with the real coprocessor workload, two staked provers, and
//! four members without stake that, for `LAGRANGE_FLOOD_SECS` seconds (default 60), send
//! the gateway valid, signed availability announcements and requests (catch-up and
//! transcript requests for batches it never awarded) as fast as they can, over real
//! libp2p on loopback. Meanwhile clients submit query tasks, which must all complete.
//! Reports what was sent, what the gateway's network layer accepted, rate-limited and
//! refused, the tasks' fate, and the process's resident memory (everything runs in this
//! process: gateway, provers and flooders) sampled every second, against the bound stated
//! in `rss_bound_mib`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lagrange_node::circuit_workload::{CircuitWorkload, circuit_for};
use lagrange_node::clock::now_ms;
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::model::{TaskSpec, TaskStatus};
use lagrange_node::net::{NetConfig, Network};
use lagrange_node::prover::{CostModel, ProverSettings};
use lagrange_node::store::Store;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, Deposit, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::{GossipMessage, HardwareSummary, ProverAvailability, Request};
use lagrange_protocol::{BatchId, JobCategory, Keypair, Signed, SupernetId};
use serde_json::json;

/// The stated bound on the process's resident memory growth under the flood.
const RSS_BOUND_MIB: u64 = 256;

const FLOODERS: u64 = 4;

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("flood benchmark: run with `cargo bench -p lagrange-node --bench flood`");
        return;
    }
    let secs: u64 = std::env::var("LAGRANGE_FLOOD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // The child process: flood the gateway at this address, print what was sent.
    if let Ok(target) = std::env::var("LAGRANGE_FLOOD_TARGET") {
        let kind = std::env::var("LAGRANGE_FLOOD_KIND").unwrap_or_else(|_| "both".into());
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let sent = runtime.block_on(flood(&target, secs, &kind));
        println!("{sent}");
        return;
    }
    // What the flooders send: `gossip`, `requests` or (default) both.
    let kind = std::env::var("LAGRANGE_FLOOD_KIND").unwrap_or_else(|_| "both".into());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(run(secs, &kind));
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("flood.json"), format!("{text}\n")));
    if let Err(e) = written {
        eprintln!("could not write {}: {e}", dir.display());
    }
}

async fn run(secs: u64, kind: &str) -> serde_json::Value {
    let params = tempfile::tempdir().expect("tempdir");
    let dir = params.path().to_path_buf();
    let spec = circuit_for(true, JobCategory::Small);
    let (workload, pins) =
        tokio::task::spawn_blocking(move || CircuitWorkload::insecure_devnet(&dir, &[spec], 7))
            .await
            .expect("setup")
            .expect("setup");
    let workload = Arc::new(workload);
    let key = Keypair::insecure_from_seed;
    let supernet = Arc::new(SupernetConfig {
        id: SupernetId::new("flood").expect("id"),
        gateways: vec![key(0).peer_id()],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: EconomicsConfig {
            deposits: (1..=2)
                .map(|s| Deposit {
                    prover: key(s).peer_id(),
                    amount: 1000,
                })
                .collect(),
            ..EconomicsConfig::default()
        },
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: 20_000,
            reserve_price: 1000,
        }],
        circuits: pins
            .into_iter()
            .map(|(id, params_digest)| CircuitConfig {
                id,
                category: JobCategory::Small,
                params_digest,
                r1cs_digest: None,
                wasm_digest: None,
                model: None,
            })
            .collect(),
    });
    let gw = launch::start_gateway(
        &key(0),
        supernet.clone(),
        Store::temporary().expect("store"),
        workload.clone(),
        NetConfig::local(),
        None,
        ParamFiles::default(),
    )
    .await
    .expect("gateway");
    let _provers: Vec<_> = (1..=2)
        .map(|s| {
            launch::start_prover(
                &key(s),
                supernet.clone(),
                workload.clone(),
                vec![gw.p2p_addr.clone()],
                ProverSettings {
                    capacity: 2,
                    cost: CostModel {
                        proving_ms: [(JobCategory::Small, 500)].into(),
                        price_per_second: 100 * s,
                        margin_percent: 0,
                    },
                    hardware: HardwareSummary::default(),
                    announce_every_ms: 2_000,
                },
                ParamFiles::default(),
            )
            .expect("prover")
        })
        .collect();
    let stats = gw.net.shared_stats();
    let rss_before = rss_mib();

    // The flooders run in a child process (this program again), so the memory measured
    // here is the gateway's and the provers', not the flooders'.
    let child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .arg("--bench")
        .env("LAGRANGE_FLOOD_TARGET", gw.p2p_addr.to_string())
        .env("LAGRANGE_FLOOD_SECS", secs.to_string())
        .env("LAGRANGE_FLOOD_KIND", kind)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flooders");
    let until = Instant::now() + Duration::from_secs(secs);
    // Honest tasks, submitted while the flood runs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut tasks = Vec::new();
    for t in 0..3u64 {
        let task = gw
            .gateway
            .submit(
                TaskSpec::Query {
                    rows: (0..24).map(|i| (i, i * (t + 1))).collect(),
                    lo: 2,
                    hi: 20,
                    category: JobCategory::Small,
                },
                1000,
                now_ms() + 120_000,
            )
            .await
            .expect("submit");
        tasks.push(task.id);
    }
    let mut rss_peak = rss_mib();
    let mut samples = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_mib();
        rss_peak = rss_peak.max(rss);
        samples.push(rss);
    }
    let sent: serde_json::Value = tokio::task::spawn_blocking(move || {
        let out = child.wait_with_output().expect("flooders");
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    })
    .await
    .expect("flooders");
    // The tasks finish (the flood is over by now, or they finished during it).
    let deadline = Instant::now() + Duration::from_secs(120);
    let done_during_flood = tasks
        .iter()
        .filter(|t| {
            gw.gateway.store().task(t).ok().flatten().map(|r| r.status) == Some(TaskStatus::Done)
        })
        .count();
    while Instant::now() < deadline
        && !tasks.iter().all(|t| {
            gw.gateway.store().task(t).ok().flatten().map(|r| r.status) == Some(TaskStatus::Done)
        })
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done = tasks
        .iter()
        .filter(|t| {
            gw.gateway.store().task(t).ok().flatten().map(|r| r.status) == Some(TaskStatus::Done)
        })
        .count();
    let growth = rss_peak.saturating_sub(rss_before);
    json!({
        "seconds": secs,
        "flooders": FLOODERS,
        "kind": kind,
        "sent": sent,
        "gateway_network": {
            "gossip_accepted": stats.gossip_accepted.get(),
            "gossip_rate_limited": stats.gossip_rate_limited.get(),
            "gossip_ignored_busy": stats.gossip_ignored_busy.get(),
            "requests_refused": stats.requests_refused.get(),
            "events_dropped": stats.events_dropped.get(),
            "inbound_pending_at_end": stats.inbound_pending(),
        },
        "ledger_accounts": gw.gateway.store().accounts().map(|a| a.len()).unwrap_or(0),
        "tasks": tasks.len(),
        "tasks_done_during_flood": done_during_flood,
        "tasks_done": done,
        "rss_mib": {
            "before": rss_before,
            "peak": rss_peak,
            "growth": growth,
            "samples": samples,
        },
        "rss_bound_mib": RSS_BOUND_MIB,
        "within_bound": growth <= RSS_BOUND_MIB,
    })
}

/// Floods the gateway at `target` from [`FLOODERS`] members without stake for `secs`
/// seconds; returns what was sent.
async fn flood(target: &str, secs: u64, kind: &str) -> serde_json::Value {
    let (send_gossip, send_requests) = (kind != "requests", kind != "gossip");
    let key = Keypair::insecure_from_seed;
    let supernet = SupernetConfig {
        id: SupernetId::new("flood").expect("id"),
        gateways: vec![key(0).peer_id()],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: EconomicsConfig::default(),
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: 20_000,
            reserve_price: 1000,
        }],
        circuits: vec![],
    };
    let target: libp2p::Multiaddr = target.parse().expect("address");
    let sent_gossip = Arc::new(AtomicU64::new(0));
    let sent_requests = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut flooders = Vec::new();
    for f in 0..FLOODERS {
        let seed = 100 + f;
        let (mut net, mut events) = Network::new(key(seed).to_libp2p(), 1024);
        let mut cfg = NetConfig::local();
        cfg.bootnodes = vec![target.clone()];
        let handle = net.join(supernet.clone(), cfg).expect("join");
        // Nobody reads a flooder's events; drain them so the swarm never stalls on them.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let (gossip, requests) = (sent_gossip.clone(), sent_requests.clone());
        let gateway = key(0).peer_id();
        let id = supernet.id.clone();
        flooders.push(tokio::spawn(async move {
            let _net = net;
            let mut at = 0u64;
            while Instant::now() < until {
                at += 1;
                let a = Signed::sign(
                    ProverAvailability {
                        supernet: id.clone(),
                        categories: vec![JobCategory::Small],
                        capacity: 1000,
                        hardware: HardwareSummary::default(),
                        node_version: "flood".into(),
                        announced_at: at,
                    },
                    &key(seed),
                );
                if send_gossip && handle.publish(GossipMessage::Availability(a)).await.is_ok() {
                    gossip.fetch_add(1, Ordering::Relaxed);
                }
                if send_requests {
                    // Requests without waiting for answers: many in flight at once.
                    for r in [
                        Request::CatchUp {
                            supernet: id.clone(),
                        },
                        Request::Transcript {
                            supernet: id.clone(),
                            batch_id: BatchId([at as u8; 16]),
                        },
                    ] {
                        let h = handle.clone();
                        requests.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            let _ = h.request(gateway, r).await;
                        });
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for f in flooders {
        let _ = f.await;
    }
    json!({
        "availability": sent_gossip.load(Ordering::Relaxed),
        "requests": sent_requests.load(Ordering::Relaxed),
    })
}
