//! Client API latency while a big task is in flight (`cargo bench -p lagrange-node --bench
//! api`). Prints JSON and writes `target/bench-results/api.json`.
//!
//! A gateway with the real coprocessor workload serves gRPC on loopback. A client calls
//! `ListTasks` and then `GetResult` back to back, first for a few seconds with only small
//! tasks known (the baseline), then from the moment a 65,536-row query task is submitted
//! (its split hashes every row) until several seconds after it is stored and being
//! auctioned. Reports `SubmitTask`'s own time and the p50, p99 and maximum latency of
//! each phase, and the ratio of the loaded p99 to the baseline's, measured in the same run.
//! No prover joins: the big task's jobs stay on the market, auctioned batch after batch,
//! which is the gateway's steady work while a task waits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lagrange_node::api::pb::{self, gateway_client::GatewayClient};
use lagrange_node::circuit_workload::{CircuitWorkload, circuit_for};
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::net::NetConfig;
use lagrange_node::store::Store;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::{JobCategory, Keypair, SupernetId};
use serde_json::json;
use tonic::transport::Channel;

const ROWS: u64 = 65_536;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// ListTasks then GetResult, back to back, until `until`; each call's latency in ms.
async fn probe(client: &mut GatewayClient<Channel>, task: &str, until: Instant) -> Vec<f64> {
    let mut ms = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        client
            .list_tasks(pb::ListTasksRequest {
                limit: 20,
                ..Default::default()
            })
            .await
            .expect("ListTasks");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        client
            .get_result(pb::GetResultRequest {
                task_id: task.to_string(),
            })
            .await
            .expect("GetResult");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms
}

fn summary(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let r = |x: f64| (x * 1000.0).round() / 1000.0;
    json!({
        "calls": ms.len(),
        "p50_ms": r(percentile(&ms, 0.5)),
        "p99_ms": r(percentile(&ms, 0.99)),
        "max_ms": r(ms.last().copied().unwrap_or(f64::NAN)),
    })
}

fn query(rows: u64) -> pb::SubmitTaskRequest {
    pb::SubmitTaskRequest {
        supernet: "api-bench".into(),
        category: pb::Category::Small.into(),
        task: Some(pb::submit_task_request::Task::Query(pb::QueryTask {
            rows: (0..rows)
                .map(|i| pb::Row {
                    key: i % 1000,
                    value: i,
                })
                .collect(),
            lo: 10,
            hi: 500,
        })),
        max_fee_per_job: 1000,
        deadline_ms: 600_000,
        deliver_to: None,
    }
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("api benchmark: run with `cargo bench -p lagrange-node --bench api`");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(run());
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("api.json"), format!("{text}\n")));
    if let Err(e) = written {
        eprintln!("could not write {}: {e}", dir.display());
    }
}

async fn run() -> serde_json::Value {
    let params = tempfile::tempdir().expect("tempdir");
    let dir = params.path().to_path_buf();
    let spec = circuit_for(true, JobCategory::Small);
    let (workload, pins) =
        tokio::task::spawn_blocking(move || CircuitWorkload::insecure_devnet(&dir, &[spec], 7))
            .await
            .expect("setup")
            .expect("setup");
    let gateway_key = Keypair::insecure_from_seed(0);
    let supernet = Arc::new(SupernetConfig {
        id: SupernetId::new("api-bench").expect("id"),
        gateways: vec![gateway_key.peer_id()],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: EconomicsConfig::default(),
        categories: vec![CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: 10_000,
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
    let store_dir = tempfile::tempdir().expect("tempdir");
    let gw = launch::start_gateway(
        &gateway_key,
        supernet,
        Store::open(store_dir.path()).expect("store"),
        Arc::new(workload),
        NetConfig::local(),
        Some("127.0.0.1:0".parse().expect("addr")),
        ParamFiles::default(),
    )
    .await
    .expect("gateway");
    let url = format!("http://{}", gw.grpc_addr.expect("grpc"));
    let mut client = GatewayClient::connect(url.clone()).await.expect("connect");
    // A few small tasks, and the baseline.
    let mut small = String::new();
    for _ in 0..3 {
        small = client
            .submit_task(query(64))
            .await
            .expect("small task")
            .into_inner()
            .task_id;
    }
    let baseline = probe(&mut client, &small, Instant::now() + Duration::from_secs(5)).await;

    // The big task, submitted from another connection while this one probes.
    let submitted = tokio::spawn(async move {
        let mut other = GatewayClient::connect(url).await.expect("connect");
        let request = query(ROWS);
        let t = Instant::now();
        let response = other
            .submit_task(request)
            .await
            .expect("big task")
            .into_inner();
        (t.elapsed().as_secs_f64() * 1e3, response.jobs)
    });
    let loaded = probe(
        &mut client,
        &small,
        Instant::now() + Duration::from_secs(15),
    )
    .await;
    let (submit_ms, jobs) = submitted.await.expect("submit");
    let baseline = summary(baseline);
    let loaded = summary(loaded);
    let ratio = loaded["p99_ms"].as_f64().unwrap_or(f64::NAN)
        / baseline["p99_ms"].as_f64().unwrap_or(f64::NAN);
    json!({
        "rows": ROWS,
        "jobs": jobs,
        "submit_ms": (submit_ms * 1000.0).round() / 1000.0,
        "baseline": baseline,
        "with_big_task": loaded,
        "p99_ratio": (ratio * 1000.0).round() / 1000.0,
        "target_p99_ms": 50,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}
