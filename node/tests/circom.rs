//! Bring your own circuit: a circom circuit (the committed square-chain fixture, made by
//! `circuits/fixtures/circom/make.sh` with the pinned circom compiler and snarkjs) is added
//! to a Supernet with `circuit add`, and witnesses are submitted over gRPC to a gateway
//! with two provers over real libp2p on loopback; every returned proof is checked by
//! `snarkjs groth16 verify`. Bad witnesses are refused at submission with INVALID_ARGUMENT
//! and a message naming the problem, and nothing is stored or auctioned for them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod common;

use lagrange_node::api::pb::{self, gateway_client::GatewayClient, submit_task_request::Task};
use lagrange_node::circuit_workload::{CircuitWorkload, TaskResult, circom_paths};
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::net::NetConfig;
use lagrange_node::prover::{CostModel, ProverSettings};
use lagrange_node::store::Store;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, Deposit, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{CircuitId, Digest, JobCategory, Keypair, SupernetId};
use tonic::Code;

const CIRCUIT: &str = "circom/square-chain";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../circuits/fixtures/circom")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

/// A parameter directory holding the circuit as `circuit add` leaves it, and the Supernet
/// config pinning it.
fn served() -> (tempfile::TempDir, Arc<SupernetConfig>) {
    let params = tempfile::tempdir().unwrap();
    let entry = lagrange_node::tools::client::circuit_add(
        "square-chain",
        JobCategory::Small,
        &fixtures().join("square_chain.zkey"),
        &fixtures().join("square_chain.r1cs"),
        Some(&fixtures().join("square_chain.wasm")),
        params.path(),
    )
    .unwrap();
    assert!(entry.contains(&format!("id = \"{CIRCUIT}\"")), "{entry}");
    let digest = |path: PathBuf| Digest(*blake3::hash(&std::fs::read(path).unwrap()).as_bytes());
    let paths = circom_paths(params.path(), CIRCUIT);
    let supernet = SupernetConfig {
        id: SupernetId::new("circom").unwrap(),
        gateways: vec![Keypair::insecure_from_seed(0).peer_id()],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: EconomicsConfig {
            deposits: (1..=2)
                .map(|seed| Deposit {
                    prover: Keypair::insecure_from_seed(seed).peer_id(),
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
        circuits: vec![CircuitConfig {
            id: CircuitId::new(CIRCUIT).unwrap(),
            category: JobCategory::Small,
            params_digest: digest(paths.zkey),
            r1cs_digest: Some(digest(paths.r1cs)),
            wasm_digest: Some(digest(paths.wasm)),
            model: None,
        }],
    };
    supernet.validate().unwrap();
    (params, Arc::new(supernet))
}

fn workload(params: &Path) -> Arc<CircuitWorkload> {
    let paths = circom_paths(params, CIRCUIT);
    let backend: Arc<dyn lagrange_circuits::MsmBackend> = Arc::new(lagrange_circuits::CpuMsm);
    let mut w = CircuitWorkload::load_with(params, &[], backend.clone()).unwrap();
    w.add_circom(
        &CircuitId::new(CIRCUIT).unwrap(),
        JobCategory::Small,
        &std::fs::read(paths.zkey).unwrap(),
        &std::fs::read(paths.r1cs).unwrap(),
        Some(&std::fs::read(paths.wasm).unwrap()),
        backend,
    )
    .unwrap();
    Arc::new(w)
}

fn circom_task(circuit: &str, witnesses: Vec<Vec<u8>>) -> pb::SubmitTaskRequest {
    circom_inputs(circuit, witnesses, vec![])
}

fn circom_inputs(
    circuit: &str,
    witnesses: Vec<Vec<u8>>,
    inputs: Vec<&str>,
) -> pb::SubmitTaskRequest {
    pb::SubmitTaskRequest {
        supernet: "circom".into(),
        category: pb::Category::Unspecified.into(),
        task: Some(Task::Circom(pb::CircomTask {
            circuit: circuit.into(),
            witnesses,
            inputs: inputs.into_iter().map(String::from).collect(),
        })),
        max_fee_per_job: 2000,
        deadline_ms: 120_000,
        deliver_to: None,
    }
}

/// Runs `snarkjs groth16 verify` on one proof, if snarkjs is installed (CI requires it).
fn snarkjs_verify(vk: &serde_json::Value, proof: &serde_json::Value, public: &serde_json::Value) {
    let snarkjs = fixtures().join("node_modules/.bin/snarkjs");
    assert!(
        snarkjs.exists() || std::env::var_os("CI").is_none(),
        "snarkjs is not installed in circuits/fixtures/circom (npm ci there)"
    );
    if !snarkjs.exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, json) in [
        ("vk.json", vk),
        ("proof.json", proof),
        ("public.json", public),
    ] {
        std::fs::write(dir.path().join(name), json.to_string()).unwrap();
    }
    let out = std::process::Command::new(snarkjs)
        .args(["groth16", "verify", "vk.json", "public.json", "proof.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("OK"),
        "snarkjs: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circom_witnesses_are_proven_by_the_network_and_verified_by_snarkjs() {
    let (params, supernet) = served();
    let workload = workload(params.path());
    let gw = launch::start_gateway(
        &Keypair::insecure_from_seed(0),
        supernet.clone(),
        Store::temporary().unwrap(),
        workload.clone(),
        NetConfig::local(),
        Some("127.0.0.1:0".parse().unwrap()),
        ParamFiles::default(),
    )
    .await
    .unwrap();
    let provers: Vec<_> = (1..=2)
        .map(|seed| {
            launch::start_prover(
                &Keypair::insecure_from_seed(seed),
                supernet.clone(),
                workload.clone(),
                vec![gw.p2p_addr.clone()],
                ProverSettings {
                    capacity: 2,
                    cost: CostModel {
                        proving_ms: [(JobCategory::Small, 200)].into(),
                        price_per_second: 1000 + 100 * seed,
                        margin_percent: 0,
                    },
                    hardware: HardwareSummary::default(),
                    announce_every_ms: 2_000,
                },
                ParamFiles::default(),
            )
            .unwrap()
        })
        .collect();
    let mut client = GatewayClient::connect(format!("http://{}", gw.grpc_addr.unwrap()))
        .await
        .unwrap();

    // Bad input first: each refused with a clear message, nothing stored or auctioned.
    let good = fixture("witness.wtns");
    let mut unsatisfying = lagrange_circuits::circom::Witness::from_bytes(&good).unwrap();
    let last = unsatisfying.values.len() - 1;
    unsatisfying.values[last] += lagrange_circuits::curve::Fr::from(1u64);
    let mut short = unsatisfying.clone();
    short.values.truncate(10);
    let cases: Vec<(pb::SubmitTaskRequest, Code, &str)> = vec![
        (
            circom_task(CIRCUIT, vec![good[..good.len() - 5].to_vec()]),
            Code::InvalidArgument,
            "witnesses[0]: malformed .wtns",
        ),
        (
            circom_task(CIRCUIT, vec![good.clone(), unsatisfying.to_bytes()]),
            Code::InvalidArgument,
            "witnesses[1]: the witness does not satisfy constraint",
        ),
        (
            circom_task(CIRCUIT, vec![short.to_bytes()]),
            Code::InvalidArgument,
            "has 10 wires; the circuit has",
        ),
        (
            circom_task(CIRCUIT, vec![fixture("square_chain.r1cs")]),
            Code::InvalidArgument,
            "magic",
        ),
        (
            circom_task("circom/elsewhere", vec![good.clone()]),
            Code::InvalidArgument,
            "not served",
        ),
        (
            circom_task(CIRCUIT, vec![]),
            Code::InvalidArgument,
            "both empty",
        ),
        (
            circom_inputs(CIRCUIT, vec![], vec![r#"{"x": "3"}"#]),
            Code::InvalidArgument,
            "circom.inputs[0]: the witness generator refused the inputs: 1 input values given (x); the circuit takes 2",
        ),
        (
            circom_inputs(CIRCUIT, vec![], vec![r#"{"x": "3", "c": "seven"}"#]),
            Code::InvalidArgument,
            "circom.inputs[0]: malformed input JSON: signal c",
        ),
        (
            circom_task("Not A Circuit", vec![good.clone()]),
            Code::InvalidArgument,
            "circom.circuit",
        ),
    ];
    for (request, code, needle) in cases {
        let status = client.submit_task(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            status.message().contains(needle),
            "{needle}: {}",
            status.message()
        );
    }
    assert!(gw.gateway.store().tasks().unwrap().is_empty());

    // Three witnesses and one set of input signals (the gateway computes its witness):
    // four jobs, proven in parallel, each proof checked by snarkjs.
    let witnesses = vec![good, fixture("witness-4.wtns"), fixture("witness-5.wtns")];
    let response = client
        .submit_task(circom_inputs(
            CIRCUIT,
            witnesses,
            vec![r#"{"x": "6", "c": "7"}"#],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.jobs, 4);
    let task: lagrange_protocol::TaskId = response.task_id.parse().unwrap();
    let record = gw
        .gateway
        .wait_final(&task, Duration::from_secs(90))
        .await
        .expect("the circom task did not finish");
    assert_eq!(record.status, lagrange_node::model::TaskStatus::Done);
    let result = client
        .get_result(pb::GetResultRequest {
            task_id: response.task_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let parsed: TaskResult = serde_json::from_slice(&result.result).unwrap();
    let TaskResult::Circom { proofs, .. } = &parsed else {
        panic!("not a circom result");
    };
    assert_eq!(proofs.len(), 4);
    let json: serde_json::Value = serde_json::from_slice(&result.result).unwrap();
    let vk = &json["circom"]["verification_key"];
    for (i, p) in json["circom"]["proofs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        // Public signals: y, then c = 7; each witness has its own y.
        assert_eq!(p["public"][1], "7", "proof {i}");
        snarkjs_verify(vk, &p["proof"], &p["public"]);
    }
    // The offline checker agrees, from the parameter directory alone.
    let checked =
        lagrange_node::circuit_workload::check_result_file(params.path(), &result.result, None)
            .unwrap();
    assert!(matches!(
        checked,
        lagrange_node::circuit_workload::Checked::Circom { proofs: 4, .. }
    ));
    for p in provers {
        p.kill().await;
    }
    gw.shutdown().await;
}
