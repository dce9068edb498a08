//! End to end in one process: a gateway and three provers on loopback libp2p, real Groth16
//! proofs of a multi-chunk coprocessor query, aggregated and verified.

use std::time::Duration;

use lagrange_node::tools::devnet::{self, DevnetOptions};
use lagrange_protocol::JobCategory;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_multi_chunk_query_is_proven_by_several_provers_and_verified() {
    let params = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let report = devnet::run(DevnetOptions {
        workload: devnet::DevnetWorkload::Query,
        provers: 3,
        tasks: 2,
        rows: 100,
        category: JobCategory::Small,
        params_dir: Some(params.path().to_path_buf()),
        timeout: Duration::from_secs(120),
        results_dir: Some(results.path().to_path_buf()),
        chain: None,
    })
    .await
    .unwrap();
    assert_eq!(report.tasks.len(), 2);
    for o in &report.tasks {
        assert_eq!(o.proven, o.native, "task {}", o.task);
        assert!(o.native.1 > 0, "the sample query should match some rows");
    }
    // 8 chunk jobs, capacity 2 per prover and batch: the work is spread over several
    // provers, each paid for what it proved and nobody slashed.
    let paid: Vec<_> = report
        .ledger
        .values()
        .filter(|(_, jobs, _)| *jobs > 0)
        .collect();
    assert!(paid.len() >= 2, "{:?}", report.ledger);
    assert_eq!(paid.iter().map(|(_, jobs, _)| jobs).sum::<u64>(), 8);
    assert!(report.ledger.values().all(|(_, _, stake)| *stake == 1000));

    // The delivered result checks out offline with nothing but the verifying key, and
    // exports to snarkjs's formats.
    let file = results
        .path()
        .join(format!("{}.result.json", report.tasks[0].task));
    match lagrange_node::tools::client::verify(params.path(), &file, None).unwrap() {
        lagrange_node::circuit_workload::Checked::Query { sum, count, .. } => {
            assert_eq!((sum, count), report.tasks[0].native);
        }
        other => panic!("unexpected {other:?}"),
    }
    let out = results.path().join("snarkjs");
    assert_eq!(
        lagrange_node::tools::client::export(params.path(), &file, &out).unwrap(),
        4
    );
    assert!(out.join("0/proof.json").exists());
    // Keys of another setup (a wrong --params-dir) do not verify it: nothing is exported.
    let other = tempfile::tempdir().unwrap();
    let spec = lagrange_node::circuit_workload::circuit_for(true, JobCategory::Small);
    lagrange_node::circuit_workload::CircuitWorkload::insecure_devnet(other.path(), &[spec], 99)
        .unwrap();
    let elsewhere = results.path().join("elsewhere");
    let err = lagrange_node::tools::client::export(other.path(), &file, &elsewhere).unwrap_err();
    assert!(
        format!("{err:#}").contains("do not verify this result"),
        "{err:#}"
    );
    assert!(!elsewhere.exists());
    // A tampered result does not verify.
    let mut bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let tampered = text.replacen("\"sum\": ", "\"sum\": 1", 1);
    assert_ne!(tampered, text);
    bytes = tampered.into_bytes();
    let bad = results.path().join("tampered.json");
    std::fs::write(&bad, bytes).unwrap();
    assert!(lagrange_node::tools::client::verify(params.path(), &bad, None).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_the_devnet_proves_the_bundled_circom_circuit() {
    let params = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let report = devnet::run(DevnetOptions {
        workload: devnet::DevnetWorkload::Circom,
        tasks: 1,
        params_dir: Some(params.path().to_path_buf()),
        results_dir: Some(results.path().to_path_buf()),
        chain: None,
        ..DevnetOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(report.tasks.len(), 1);
    assert_eq!(report.tasks[0].proven, (0, 4));
    let file = results
        .path()
        .join(format!("{}.result.json", report.tasks[0].task));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(json["circom"]["proofs"].as_array().unwrap().len(), 4);
    assert_eq!(json["circom"]["verification_key"]["protocol"], "groth16");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_the_devnet_proves_the_bundled_model_in_slices() {
    let params = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let report = devnet::run(DevnetOptions {
        workload: devnet::DevnetWorkload::Zkml,
        tasks: 1,
        params_dir: Some(params.path().to_path_buf()),
        results_dir: Some(results.path().to_path_buf()),
        chain: None,
        ..DevnetOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(report.tasks[0].proven, (0, 2));
    let file = results
        .path()
        .join(format!("{}.result.json", report.tasks[0].task));
    // `verify` checks it from the parameter directory the devnet filled.
    match lagrange_node::tools::client::verify(params.path(), &file, None).unwrap() {
        lagrange_node::circuit_workload::Checked::Zkml { model, outputs, .. } => {
            assert_eq!(model, devnet::zkml_bundle::ID);
            assert_eq!(outputs.len(), 2);
            assert!(outputs.iter().all(|o| o.len() == 10));
        }
        other => panic!("{other:?}"),
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let slices = json["zkml"]["inferences"][0]["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 3);
}
