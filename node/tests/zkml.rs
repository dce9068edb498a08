//! zkML over the network: an ONNX model (a seeded perceptron, 16 → 12 → 8 → 4) is prepared
//! as `model add` prepares it (quantized, cut into three slices, keyed), pinned in a
//! Supernet config and served by a gateway with three provers over real libp2p on loopback.
//! A batch of two inputs is submitted over gRPC; its six slice jobs are proven by all three
//! provers in parallel, and the delivered result checks, chain and all, against the inputs
//! and from the parameter directory alone. Bad inputs are refused at submission, naming the
//! problem, with nothing stored or auctioned; a model that does not match its pins is
//! refused when a node loads it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;

use lagrange_circuits::zkml::{ModelKeys, ModelVerifyingKeys, sample};
use lagrange_node::api::pb::{self, gateway_client::GatewayClient, submit_task_request::Task};
use lagrange_node::circuit_workload::{
    CircuitWorkload, KeySource, TaskResult, check_result_file, prepare_zkml, zkml_paths,
};
use lagrange_node::launch::{self, ParamFiles};
use lagrange_node::model::TaskEventKind;
use lagrange_node::net::NetConfig;
use lagrange_node::prover::{CostModel, ProverSettings};
use lagrange_node::store::Store;
use lagrange_node::workload::Workload;
use lagrange_protocol::config::{
    AuctionConfig, CategoryConfig, CircuitConfig, Deposit, EconomicsConfig, SupernetConfig,
};
use lagrange_protocol::messages::HardwareSummary;
use lagrange_protocol::{CircuitId, JobCategory, Keypair, SupernetId};
use tonic::Code;

const MODEL: &str = "zkml/tiny-mlp";
const SIZES: [usize; 4] = [16, 12, 8, 4];

fn onnx() -> Vec<u8> {
    sample::mlp(11, &SIZES)
}

/// The model prepared in a parameter directory, and its `[[circuits]]` entry.
fn prepared() -> (tempfile::TempDir, CircuitConfig) {
    let params = tempfile::tempdir().unwrap();
    let id = CircuitId::new(MODEL).unwrap();
    let prepared = prepare_zkml(
        params.path(),
        &id,
        JobCategory::Small,
        &onnx(),
        &[],
        KeySource::InsecureSeeded(7),
    )
    .unwrap();
    assert_eq!(prepared.model.slices().len(), 3);
    (params, prepared.entry)
}

/// Serves the model from the parameter directory, as a node that proves it does: files
/// checked against the entry's pins.
fn load(params: &Path, entry: &CircuitConfig) -> Result<CircuitWorkload, String> {
    load_as(params, entry, true)
}

/// Serves the model as a node that proves it (`proving`) or only verifies it does.
fn load_as(params: &Path, entry: &CircuitConfig, proving: bool) -> Result<CircuitWorkload, String> {
    let paths = zkml_paths(params, MODEL);
    let backend: Arc<dyn lagrange_circuits::MsmBackend> = Arc::new(lagrange_circuits::CpuMsm);
    let mut w = CircuitWorkload::load_with(params, &[], backend.clone()).unwrap();
    w.add_zkml(
        &entry.id,
        entry.category,
        &std::fs::read(paths.onnx).unwrap(),
        &std::fs::read(paths.keys).unwrap(),
        entry.model.map(|m| m.commitment),
        backend,
        proving,
    )
    .map_err(|e| e.to_string())?;
    Ok(w)
}

fn supernet(entry: CircuitConfig) -> Arc<SupernetConfig> {
    let supernet = SupernetConfig {
        id: SupernetId::new("zkml").unwrap(),
        gateways: vec![Keypair::insecure_from_seed(0).peer_id()],
        allowlist: None,
        auction: AuctionConfig::default(),
        economics: EconomicsConfig {
            deposits: (1..=3)
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
        circuits: vec![entry],
    };
    supernet.validate().unwrap();
    Arc::new(supernet)
}

/// A 16-value input with values in [-1, 1), from a seed.
fn input(seed: u32) -> Vec<f32> {
    (0..16u32)
        .map(|i| ((i * 37 + seed * 101) % 200) as f32 / 100.0 - 1.0)
        .collect()
}

fn zkml_task(model: &str, inputs: Vec<Vec<f32>>, commitment: &str) -> pb::SubmitTaskRequest {
    pb::SubmitTaskRequest {
        supernet: "zkml".into(),
        category: pb::Category::Unspecified.into(),
        task: Some(Task::Zkml(pb::ZkmlTask {
            model: model.into(),
            inputs: inputs
                .into_iter()
                .map(|values| pb::ZkmlInput { values })
                .collect(),
            model_commitment: commitment.into(),
        })),
        max_fee_per_job: 2000,
        deadline_ms: 120_000,
        deliver_to: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_split_over_three_provers_verifies_end_to_end() {
    let (params, entry) = prepared();
    let commitment = entry.model.unwrap().commitment.to_string();
    let workload = Arc::new(load(params.path(), &entry).unwrap());
    // The gateway only verifies: it reads the slices' verifying keys, not the proving keys.
    let verifying = load_as(params.path(), &entry, false).unwrap();
    let supernet = supernet(entry);
    let gw = launch::start_gateway(
        &Keypair::insecure_from_seed(0),
        supernet.clone(),
        Store::temporary().unwrap(),
        Arc::new(verifying),
        NetConfig::local(),
        Some("127.0.0.1:0".parse().unwrap()),
        ParamFiles::default(),
    )
    .await
    .unwrap();
    // One job at a time each, and none finishes before all three hold one: the cheapest
    // prover cannot take every job, so the slices are proven by three provers, whichever
    // jobs each drew.
    let started = Arc::new((
        std::sync::Mutex::new(BTreeSet::new()),
        std::sync::Condvar::new(),
    ));
    let provers: Vec<_> = (1..=3)
        .map(|seed| {
            let started = started.clone();
            let hooked = common::Hooked {
                before: Box::new(move || {
                    let (set, all) = &*started;
                    let mut set = set.lock().unwrap();
                    set.insert(seed);
                    all.notify_all();
                    let (set, _) = all
                        .wait_timeout_while(set, Duration::from_secs(30), |s| s.len() < 3)
                        .unwrap();
                    assert!(set.len() >= 3, "three provers never held a job at once");
                }),
                ..common::Hooked::new(workload.clone())
            };
            launch::start_prover(
                &Keypair::insecure_from_seed(seed),
                supernet.clone(),
                Arc::new(hooked),
                vec![gw.p2p_addr.clone()],
                ProverSettings {
                    capacity: 1,
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
    let mut out_of_range = input(1);
    out_of_range[2] = 5000.0;
    let other = "00".repeat(32);
    let cases: Vec<(pb::SubmitTaskRequest, &str)> = vec![
        (
            zkml_task(MODEL, vec![input(1), vec![0.5; 3]], ""),
            "zkml.inputs[1]: the input has 3 values, the model reads 16",
        ),
        (
            zkml_task(MODEL, vec![out_of_range], ""),
            "zkml.inputs[0]: input 2 is 5000, outside the quantized range",
        ),
        (
            zkml_task(MODEL, vec![input(1)], &other),
            "the Supernet serves another model",
        ),
        (
            zkml_task(MODEL, vec![input(1)], "not hex"),
            "zkml.model_commitment",
        ),
        (
            zkml_task("zkml/elsewhere", vec![input(1)], ""),
            "not served",
        ),
        (zkml_task(MODEL, vec![], ""), "zkml.inputs is empty"),
        (
            zkml_task(MODEL, vec![input(1); 257], ""),
            "zkml inputs: 257, more than the limit of 256",
        ),
    ];
    for (request, needle) in cases {
        let status = client.submit_task(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(needle),
            "{needle}: {}",
            status.message()
        );
    }
    assert!(gw.gateway.store().tasks().unwrap().is_empty());

    // Two inputs, three slices each: six jobs, proven in parallel by the three provers.
    let inputs = vec![input(1), input(2)];
    let response = client
        .submit_task(zkml_task(MODEL, inputs.clone(), &commitment))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.jobs, 6);
    let task: lagrange_protocol::TaskId = response.task_id.parse().unwrap();
    let record = gw
        .gateway
        .wait_final(&task, Duration::from_secs(90))
        .await
        .expect("the zkML task did not finish");
    assert_eq!(record.status, lagrange_node::model::TaskStatus::Done);
    let provers_paid: BTreeSet<_> = gw
        .gateway
        .store()
        .events(&task, 0)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            TaskEventKind::Proven { prover, .. } => Some(prover),
            _ => None,
        })
        .collect();
    assert_eq!(
        provers_paid.len(),
        3,
        "every prover proved a slice: {:#?}",
        gw.gateway.store().events(&task, 0).unwrap()
    );

    let result = client
        .get_result(pb::GetResultRequest {
            task_id: response.task_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .result;
    // The outputs are exactly the quantized evaluator's, and the chain binds the inputs.
    let bits: Vec<Vec<u32>> = inputs
        .iter()
        .map(|x| x.iter().map(|v| v.to_bits()).collect())
        .collect();
    let parsed = TaskResult::from_json(&result).unwrap();
    let proven = workload.check_zkml(MODEL, &bits, &parsed).unwrap();
    let model = workload.zkml_model(MODEL).unwrap().model().clone();
    for (x, output) in inputs.iter().zip(&proven) {
        assert_eq!(
            *output,
            model.evaluate(&model.quantize_input(x).unwrap()).unwrap()
        );
    }
    // The offline checker agrees from the parameter directory alone, with the inputs.
    let checked = check_result_file(params.path(), &result, Some(&inputs)).unwrap();
    assert!(matches!(
        checked,
        lagrange_node::circuit_workload::Checked::Zkml { ref outputs, .. } if *outputs == proven
    ));
    // Another client's inputs, a forged output or a swapped slice proof do not check.
    let swapped = vec![input(2), input(1)];
    assert!(check_result_file(params.path(), &result, Some(&swapped)).is_err());
    let TaskResult::Zkml(mut forged) = parsed.clone() else {
        panic!("not a zkML result");
    };
    forged.inferences[0].output[0] += 1;
    let forged = TaskResult::Zkml(forged.clone()).to_json().unwrap();
    assert!(check_result_file(params.path(), &forged, None).is_err());
    let TaskResult::Zkml(mut swapped) = parsed else {
        panic!("not a zkML result");
    };
    let first = swapped.inferences[0].slices[1].proof.clone();
    swapped.inferences[0].slices[1].proof = swapped.inferences[1].slices[1].proof.clone();
    swapped.inferences[1].slices[1].proof = first;
    let swapped = TaskResult::Zkml(swapped).to_json().unwrap();
    assert!(check_result_file(params.path(), &swapped, None).is_err());

    for p in provers {
        p.kill().await;
    }
    gw.shutdown().await;
}

#[test]
fn a_model_that_does_not_match_its_pins_is_refused_when_loaded() {
    let (params, entry) = prepared();
    let paths = zkml_paths(params.path(), MODEL);
    // The pinned commitment is another model's.
    let mut wrong = entry.clone();
    wrong.model.as_mut().unwrap().commitment = lagrange_protocol::Digest([1; 32]);
    let err = load(params.path(), &wrong).err().unwrap();
    assert!(err.contains("but the supernet pins"), "{err}");
    // Another model under the same keys: its commitment differs from the pin.
    std::fs::write(&paths.onnx, sample::mlp(12, &SIZES)).unwrap();
    let err = load(params.path(), &entry).err().unwrap();
    assert!(err.contains("but the supernet pins"), "{err}");
    // A truncated ONNX file is named as such.
    let bytes = onnx();
    std::fs::write(&paths.onnx, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(params.path(), &entry).err().unwrap();
    assert!(err.contains("malformed ONNX model"), "{err}");
    // Truncated keys too.
    std::fs::write(&paths.onnx, &bytes).unwrap();
    let keys = std::fs::read(&paths.keys).unwrap();
    std::fs::write(&paths.keys, &keys[..keys.len() - 7]).unwrap();
    let err = load(params.path(), &entry).err().unwrap();
    assert!(err.contains("zkml keys"), "{err}");
}

#[test]
fn a_node_that_only_verifies_reads_the_verifying_keys_alone_and_proves_nothing() {
    let (params, entry) = prepared();
    let keys = std::fs::read(zkml_paths(params.path(), MODEL).keys).unwrap();
    let full = ModelKeys::from_bytes(&keys).unwrap();
    let alone = ModelVerifyingKeys::from_bytes(&keys).unwrap();
    let of_full = ModelVerifyingKeys::from(&full);
    assert_eq!(
        (alone.scale_bits, &alone.slices, &alone.vks),
        (of_full.scale_bits, &of_full.slices, &of_full.vks)
    );
    // A file the full reader refuses for its framing is refused too.
    assert!(ModelVerifyingKeys::from_bytes(&keys[..keys.len() - 7]).is_err());
    assert!(ModelVerifyingKeys::from_bytes(&keys[1..]).is_err());
    let mut extra = keys.clone();
    extra.push(0);
    assert!(ModelVerifyingKeys::from_bytes(&extra).is_err());
    // Asked to prove a slice anyway, it says why it cannot.
    let verifier = load_as(params.path(), &entry, false).unwrap();
    let prover = load(params.path(), &entry).unwrap();
    let jobs = prover.calibration_jobs(JobCategory::Small);
    assert_eq!(jobs.len(), 3);
    for (circuit, input) in &jobs {
        let err = verifier.prove(circuit, input).unwrap_err().to_string();
        assert!(err.contains("to verify only"), "{err}");
    }
}

#[test]
fn inputs_files_read_one_input_a_batch_or_ezkl_format() {
    use lagrange_node::tools::client::parse_zkml_inputs;
    assert_eq!(parse_zkml_inputs("[1, 2.5]").unwrap(), vec![vec![1.0, 2.5]]);
    assert_eq!(
        parse_zkml_inputs("[[1], [2]]").unwrap(),
        vec![vec![1.0], vec![2.0]]
    );
    assert_eq!(
        parse_zkml_inputs(r#"{"input_data": [[0.5, -1]]}"#).unwrap(),
        vec![vec![0.5, -1.0]]
    );
    for (bad, needle) in [
        ("[1, \"x\"]", "input 0[1] is \"x\", not a number"),
        ("{\"data\": []}", "input_data"),
        ("7", "expected an array"),
        ("[1,", "not JSON"),
    ] {
        let err = parse_zkml_inputs(bad).unwrap_err();
        assert!(err.contains(needle), "{bad}: {err}");
    }
}
