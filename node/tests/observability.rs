//! The operator's endpoint on a real gateway and prover: `/healthz`, `/readyz` (not ready
//! without peers, ready with them) and `/metrics` after a task is proven, with the figures an
//! operator graphs (batches, bids, awards, proofs, jobs per state, proof times, peers, store).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::proving_supernet;
use lagrange_node::clock::now_ms;
use lagrange_node::http;
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::model::{TaskSpec, TaskStatus};
use lagrange_node::prover::{CostModel, ProverSettings};
use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{JobCategory, Keypair};

/// A plain HTTP/1.0 GET: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// The value of the sample `name` (exact, labels included), if present.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (n, v) = l.rsplit_once(' ')?;
        (n == name).then(|| v.parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_tell_an_operator_what_happened() {
    let net = proving_supernet("observed", 20_000).await;
    let gw = common::start_gateway(&net).await;
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let (gw_http, _gw_server) = http::serve(any_port, gw.metrics.clone()).await.unwrap();
    assert_eq!(get(gw_http, "/healthz").await.0, 200);
    let (status, why) = get(gw_http, "/readyz").await;
    assert_eq!(status, 503, "a gateway alone is not ready");
    assert!(why.contains("no peers"), "{why}");

    let settings = ProverSettings {
        capacity: 2,
        cost: CostModel {
            proving_ms: [(JobCategory::Small, 500)].into(),
            price_per_second: 200,
            margin_percent: 0,
        },
        hardware: HardwareSummary::default(),
        announce_every_ms: 1_000,
    };
    let prover = launch::start_prover(
        &Keypair::insecure_from_seed(1),
        net.supernet.clone(),
        net.workload.clone(),
        vec![gw.p2p_addr.clone()],
        settings,
        ParamFiles::default(),
    )
    .unwrap();
    let (pr_http, _pr_server) = http::serve(any_port, prover.metrics.clone()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while get(gw_http, "/readyz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let task = gw
        .gateway
        .submit(
            TaskSpec::Query {
                rows: (0..40).map(|i| (i, i)).collect(),
                lo: 0,
                hi: 100,
                category: JobCategory::Small,
            },
            1000,
            now_ms() + 60_000,
        )
        .await
        .unwrap();
    let done = gw
        .gateway
        .wait_final(&task.id, Duration::from_secs(60))
        .await
        .expect("the task did not finish");
    assert_eq!(done.status, TaskStatus::Done);
    let jobs = f64::from(task.jobs);

    let (status, m) = get(gw_http, "/metrics").await;
    assert_eq!(status, 200);
    let s = |name: &str| sample(&m, name).unwrap_or_else(|| panic!("no {name} in\n{m}"));
    let l = r#"{supernet="observed"}"#;
    assert!(s(&format!("lagrange_gateway_batches_total{l}")) >= 1.0);
    assert!(s(&format!("lagrange_gateway_commits_total{l}")) >= 1.0);
    assert!(s(&format!("lagrange_gateway_reveals_total{l}")) >= 1.0);
    assert_eq!(s(&format!("lagrange_gateway_awards_total{l}")), jobs);
    assert_eq!(
        s(r#"lagrange_gateway_proofs_total{supernet="observed",outcome="valid"}"#),
        jobs
    );
    assert_eq!(
        s(r#"lagrange_gateway_jobs{supernet="observed",state="verified"}"#),
        jobs
    );
    assert_eq!(
        s(r#"lagrange_gateway_jobs{supernet="observed",state="open"}"#),
        0.0
    );
    assert_eq!(
        s(r#"lagrange_gateway_tasks_total{supernet="observed",outcome="done"}"#),
        1.0
    );
    assert_eq!(s(&format!("lagrange_gateway_task_seconds_count{l}")), 1.0);
    assert!(s(&format!("lagrange_gateway_verify_seconds_count{l}")) >= 1.0);
    assert_eq!(
        s(r#"lagrange_gateway_job_seconds_count{supernet="observed",category="small"}"#),
        jobs
    );
    assert!(s(&format!("lagrange_gateway_paid_total{l}")) > 0.0);
    // Failure series exist at 0 before anything fails, so graphs start at zero.
    assert_eq!(
        s(r#"lagrange_gateway_reauctions_total{supernet="observed",reason="deadline"}"#),
        0.0
    );
    assert_eq!(
        s(r#"lagrange_gateway_slashes_total{supernet="observed",reason="invalid"}"#),
        0.0
    );
    assert!(s(&format!("lagrange_net_peers{l}")) >= 1.0);
    assert!(s("lagrange_store_size_bytes{supernet=\"observed\"}") >= 0.0);
    assert!(m.contains(r#"lagrange_node_info{version=""#));

    let (_, m) = get(pr_http, "/metrics").await;
    let s = |name: &str| sample(&m, name).unwrap_or_else(|| panic!("no {name} in\n{m}"));
    assert_eq!(s(&format!("lagrange_prover_wins_total{l}")), jobs);
    assert_eq!(
        s(r#"lagrange_prover_prove_seconds_count{supernet="observed",category="small"}"#),
        jobs
    );
    assert_eq!(
        s(r#"lagrange_prover_proofs_total{supernet="observed",outcome="accepted"}"#),
        jobs
    );
    assert_eq!(s(&format!("lagrange_prover_jobs_in_flight{l}")), 0.0);
    assert!(s(&format!("lagrange_prover_earned_total{l}")) > 0.0);
    assert_eq!(get(pr_http, "/readyz").await.0, 200);
    assert_eq!(get(gw_http, "/nowhere").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_port_in_use_names_the_flag_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let metrics = lagrange_node::metrics::NodeMetrics::new("prover");
    let err = http::serve(addr, metrics).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains(&addr.to_string()) && text.contains("give each node its own --metrics"),
        "{text}"
    );
}

/// Every metric the Grafana dashboard in `testnet/grafana/` graphs is one a node exports.
#[test]
fn the_grafana_dashboard_graphs_only_metrics_the_node_exports() {
    use lagrange_protocol::tokenomics::{Ledger, TokenomicsParams};
    let id = lagrange_protocol::SupernetId::new("g").unwrap();
    let metrics = lagrange_node::metrics::NodeMetrics::new("gateway+prover");
    let store = lagrange_node::store::Store::temporary().unwrap();
    store
        .init_tokens(0, || Ledger::genesis(TokenomicsParams::default(), &[]))
        .unwrap();
    let _ = metrics.add_gateway(&id, store);
    let _ = metrics.add_prover(&id);
    metrics.add_net(&id, Default::default());
    let exported = metrics.encode();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testnet/grafana/lagrange-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (i, _) in expr.match_indices("lagrange_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    assert!(names.len() > 10);
    for name in names {
        let base = name.trim_end_matches("_bucket");
        assert!(
            exported
                .lines()
                .any(|l| l.starts_with(&name) || l.starts_with(&format!("# TYPE {base} "))),
            "{name} is graphed but not exported"
        );
    }
}
