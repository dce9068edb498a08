//! Gas of verifying the network's proofs on a real EVM node (`cargo bench -p lagrange-node
//! --bench onchain_gas`; Hardhat from contracts/, `npm ci` there). Prints JSON and writes
//! `target/bench-results/onchain-gas.json`.
//!
//! Every figure is the gas of the call as a transaction (what `eth_estimateGas` says,
//! including the 21,000 of any transaction and the calldata), on one node in one run:
//! - one circom proof (the committed fixture), our verifier next to the one snarkjs writes
//!   for the same `.zkey`;
//! - coprocessor chunk proofs one by one and in batches of 1, 4, 16 and 64 (one pairing
//!   check of n + 3 pairs), total and per proof, with the ratio to n single checks;
//! - a whole coprocessor task of 1, 4, 16 and 64 chunks delivered to `QueryResults` (the
//!   batch, the chain of chunk states, the commitment's Poseidon, the answer, the storage),
//!   total and per chunk;
//! - rows appended to a `RowLog` (one, and 64 in one transaction);
//! - one zkML inference (a model proven in one slice);
//! - deploying the verifier for a key.

#[path = "../tests/onchain_support/mod.rs"]
mod onchain_support;

use lagrange_circuits::coprocessor::ChunkShape;
use lagrange_circuits::{DataSet, Query, Row};
use lagrange_node::chain::rpc;
use onchain_support::{
    Hardhat, SnarkjsVerifier, chunk_proofs, circom_proof, deploy_snarkjs_verifier, zkml_slice_proof,
};
use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let node = Hardhat::start().expect("Hardhat is installed (npm ci in contracts/)");
    let evm = node.client().await;

    let (key, proof, inputs) = circom_proof();
    let ours = evm.deploy_verifier(&key.pk.vk).await.unwrap();
    let ours_gas = evm
        .verify_proof(ours.address, &proof, &inputs)
        .await
        .unwrap();
    assert!(ours_gas.valid);
    let theirs = deploy_snarkjs_verifier(&evm)
        .await
        .expect("snarkjs is installed (npm ci in circuits/fixtures/circom)");
    let w = rpc::proof_words(&proof);
    let x = rpc::input_words(&inputs);
    let snarkjs_gas = SnarkjsVerifier::new(theirs, evm.provider().clone())
        .verifyProof(
            [w[0], w[1]],
            [[w[2], w[3]], [w[4], w[5]]],
            [w[6], w[7]],
            [x[0], x[1]],
        )
        .estimate_gas()
        .await
        .unwrap();

    let (params, chunks) = chunk_proofs(64 * 3, ChunkShape { rows: 3 });
    assert_eq!(chunks.len(), 64);
    let verifier = evm.deploy_verifier(&params.pk.vk).await.unwrap();
    let single = evm
        .verify_proof(verifier.address, &chunks[0].0, &chunks[0].1)
        .await
        .unwrap();
    assert!(single.valid);
    let mut batches = Vec::new();
    for n in [1usize, 4, 16, 64] {
        let verdict = evm
            .verify_batch(verifier.address, &chunks[..n])
            .await
            .unwrap();
        assert!(verdict.valid);
        batches.push(json!({
            "proofs": n,
            "gas": verdict.gas,
            "gas_per_proof": verdict.gas / n as u64,
            "ratio_to_n_single_checks": verdict.gas as f64 / (n as u64 * single.gas) as f64,
        }));
    }

    // Whole tasks delivered to QueryResults, over data sets of 3n rows (n chunks of 3).
    let shape = ChunkShape { rows: 3 };
    let results = evm
        .deploy_query_results(verifier.address, shape.rows as u64)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in [1usize, 4, 16, 64] {
        let rows: Vec<Row> = (0..3 * n as u64)
            .map(|i| Row {
                key: i % 10,
                value: 7 * i + n as u64,
            })
            .collect();
        let data = DataSet::new(rows).unwrap();
        let query = Query { lo: 2, hi: 6 };
        let (_, result) = onchain_support::query_result(&data, query, shape);
        let delivered = evm
            .submit_query(results.address, None, &format!("task-{n}"), &result)
            .await
            .unwrap();
        tasks.push(json!({
            "chunks": n,
            "gas": delivered.gas_used,
            "gas_per_chunk": delivered.gas_used / n as u64,
        }));
    }

    // Rows appended on chain.
    let log = evm.deploy_row_log().await.unwrap();
    let one = evm
        .record_rows(log.address, &[Row { key: 1, value: 2 }])
        .await
        .unwrap();
    let many: Vec<Row> = (0..64)
        .map(|i| Row {
            key: i,
            value: i * i,
        })
        .collect();
    let batch = evm.record_rows(log.address, &many).await.unwrap();

    let (vk, slice, slice_inputs) = zkml_slice_proof();
    let zkml_verifier = evm.deploy_verifier(&vk).await.unwrap();
    let zkml = evm
        .verify_proof(zkml_verifier.address, &slice, &slice_inputs)
        .await
        .unwrap();
    assert!(zkml.valid);

    // Whole zkML tasks through ZkmlResults (every slice proof, the chain of activations, the
    // output's commitment computed on chain): one inference in one and in two slices, and
    // four inferences in two slices.
    let mut zkml_tasks = Vec::new();
    #[allow(clippy::single_range_in_vec_init)] // one slice of both layers
    for (slices, n) in [
        (vec![0..2], 1usize),
        (vec![0..1, 1..2], 1),
        (vec![0..1, 1..2], 4),
    ] {
        let k = slices.len();
        let (vks, result) = onchain_support::zkml_result(slices, n);
        let contract =
            onchain_support::deploy_zkml_results(&evm, &vks, &result.model_commitment).await;
        let delivered = evm
            .submit_inferences(contract.address, &format!("zkml-{k}-{n}"), &result)
            .await
            .unwrap();
        zkml_tasks.push(json!({
            "slices": k,
            "inferences": n,
            "gas": delivered.gas_used,
            "gas_per_inference": delivered.gas_used / n as u64,
            "deploy_zkml_results": contract.gas_used,
        }));
    }

    let report = json!({
        "node": "hardhat (contracts/package-lock.json)",
        "circom_one_proof": {
            "public_inputs": inputs.len(),
            "ours": ours_gas.gas,
            "snarkjs": snarkjs_gas,
            "ratio_ours_to_snarkjs": ours_gas.gas as f64 / snarkjs_gas as f64,
        },
        "coprocessor_chunk": {
            "public_inputs": chunks[0].1.len(),
            "single": single.gas,
            "batches": batches,
        },
        "query_task": tasks,
        "rows_appended": {
            "one_row": one.gas_used,
            "64_rows_in_one_transaction": batch.gas_used,
            "per_row_of_64": batch.gas_used / 64,
        },
        "zkml_one_inference_one_slice": { "public_inputs": slice_inputs.len(), "single": zkml.gas },
        "zkml_task": zkml_tasks,
        "deploy_verifier": {
            "circom_2_inputs": ours.gas_used,
            "chunk_8_inputs": verifier.gas_used,
            "zkml_slice": zkml_verifier.gas_used,
            "query_results": results.gas_used,
        },
    });
    let text = serde_json::to_string_pretty(&report).unwrap();
    println!("{text}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("onchain-gas.json"), text + "\n").unwrap();
}
