//! The verifier contract on a real EVM node (Hardhat's, pinned in contracts/package-lock.json;
//! `.ci/run` installs it, each test starts its own on a free port): deployed per circuit with
//! the circuit's key, it accepts the network's real proofs (a circom circuit, coprocessor
//! chunks one by one and in one batch, a zkML slice) and refuses every tampered one; the
//! verifier snarkjs writes for the same `.zkey` agrees with ours, and the gas of both is
//! printed.

use alloy::primitives::{Address, U256};
use lagrange_circuits::CircuitSpec;
use lagrange_circuits::coprocessor::ChunkShape;
use lagrange_circuits::curve::{Bn254, Fr, Proof};
use lagrange_circuits::params::setup_insecure_seeded;
use lagrange_node::chain::{ChainError, Evm, Verdict, rpc};
/// The scalar field's modulus: an input at or above it is not a scalar.
const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";

mod onchain_support;

use onchain_support::{
    CHAIN_ID, Hardhat, Node, ProofAndInputs, SnarkjsVerifier, chunk_proofs, circom_proof,
    deploy_snarkjs_verifier, zkml_slice_proof,
};

/// A named way of tampering with a `T`.
type Tampering<'a, T> = (&'static str, Box<dyn Fn(&mut T) + 'a>);

fn valid(v: Verdict) -> bool {
    v.valid
}

/// `proof` with `A` replaced by `-A`: a proof of nothing.
fn negated_a(proof: &Proof<Bn254>) -> Proof<Bn254> {
    Proof {
        a: -proof.a,
        ..proof.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circom_proof_verifies_with_our_verifier_and_with_snarkjs_and_tampering_does_not() {
    let Some(node) = Hardhat::start() else { return };
    let evm = node.client().await;
    let (key, proof, inputs) = circom_proof();
    let deployed = evm.deploy_verifier(&key.pk.vk).await.unwrap();
    let ours = evm
        .verify_proof(deployed.address, &proof, &inputs)
        .await
        .unwrap();
    assert!(ours.valid);

    // Tampered: another statement, another proof.
    let mut wrong = inputs.clone();
    wrong[0] += Fr::from(1u64);
    assert!(!valid(
        evm.verify_proof(deployed.address, &proof, &wrong)
            .await
            .unwrap()
    ));
    assert!(!valid(
        evm.verify_proof(deployed.address, &negated_a(&proof), &inputs)
            .await
            .unwrap()
    ));
    // Malformed calls revert with the verifier's own errors.
    let verifier = evm.verifier(deployed.address).await.unwrap();
    let err = verifier
        .verifyProof(rpc::proof_words(&proof), rpc::input_words(&inputs[..1]))
        .call()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("InputCount") || err.as_revert_data().is_some());
    let mut not_scalar = rpc::input_words(&inputs);
    not_scalar[1] = U256::from_str_radix(R, 10).unwrap() + U256::from(7u64);
    assert!(
        verifier
            .verifyProof(rpc::proof_words(&proof), not_scalar)
            .call()
            .await
            .is_err(),
        "an input of 7 + r must not pass as 7"
    );
    // A coordinate one modulus up is refused, not reduced.
    let mut words = rpc::proof_words(&proof);
    words[1] += U256::from_str_radix(
        "21888242871839275222246405745257275088696311157297823662689037894645226208583",
        10,
    )
    .unwrap();
    assert!(
        !verifier
            .verifyProof(words, rpc::input_words(&inputs))
            .call()
            .await
            .unwrap()
    );
    // The key on chain is the key deployed.
    assert_eq!(
        verifier.verifyingKey().call().await.unwrap().to_vec(),
        lagrange_circuits::evm::key_bytes(&key.pk.vk)
    );

    // snarkjs' verifier for the same .zkey, compiled with the same pinned solc.
    let Some(theirs) = deploy_snarkjs_verifier(&evm).await else {
        return;
    };
    let snarkjs = SnarkjsVerifier::new(theirs, evm.provider().clone());
    let w = rpc::proof_words(&proof);
    let x = rpc::input_words(&inputs);
    let call = |x: Vec<U256>, w: [U256; 8]| {
        snarkjs.verifyProof(
            [w[0], w[1]],
            [[w[2], w[3]], [w[4], w[5]]],
            [w[6], w[7]],
            [x[0], x[1]],
        )
    };
    assert!(call(x.clone(), w).call().await.unwrap());
    let theirs_gas = call(x.clone(), w).estimate_gas().await.unwrap();
    let mut wx = x.clone();
    wx[0] += U256::from(1u64);
    assert!(!call(wx, w).call().await.unwrap());
    assert!(
        !call(x, rpc::proof_words(&negated_a(&proof)))
            .call()
            .await
            .unwrap()
    );
    println!(
        "gas, one circom proof (2 public inputs): ours {} (deployed for {}), snarkjs' {}",
        ours.gas, deployed.gas_used, theirs_gas
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coprocessor_chunks_verify_one_by_one_and_in_one_batch_and_a_tampered_batch_fails() {
    let Some(node) = Hardhat::start() else { return };
    chunks_in_batches(&Node::Hardhat(node)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_evm_chunks_verify_in_batches_and_a_tampered_batch_fails() {
    chunks_in_batches(&Node::embedded().await).await;
}

/// The EVM the devnet embeds charges what Hardhat's node charges, to the unit: creating the
/// verifier, a batch of proofs, recording rows (the same hardfork's gas rules, the same
/// precompiles).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_evm_charges_the_gas_hardhats_node_charges() {
    use lagrange_circuits::Row;
    let Some(hardhat) = Hardhat::start() else {
        return;
    };
    let (params, proofs) = chunk_proofs(12, ChunkShape { rows: 3 });
    let rows: Vec<Row> = (0..5u64)
        .map(|i| Row {
            key: i,
            value: i * 3,
        })
        .collect();
    let mut charged = Vec::new();
    for node in [Node::Hardhat(hardhat), Node::embedded().await] {
        let evm = node.client().await;
        let verifier = evm.deploy_verifier(&params.pk.vk).await.unwrap();
        let batch = evm.verify_batch(verifier.address, &proofs).await.unwrap();
        let mut bad = proofs.clone();
        bad[1].1[4] += Fr::from(1u64);
        let refused = evm.verify_batch(verifier.address, &bad).await.unwrap();
        let log = evm.deploy_row_log().await.unwrap();
        let recorded = evm.record_rows(log.address, &rows).await.unwrap();
        charged.push((
            verifier.gas_used,
            batch,
            refused,
            log.gas_used,
            recorded.gas_used,
        ));
    }
    println!("gas (Hardhat, embedded): {charged:?}");
    assert!(charged[0].1.valid && !charged[0].2.valid);
    assert_eq!(charged[0], charged[1]);
}

/// The embedded EVM refuses what a node refuses, and names it: a transaction for another
/// chain, one sent twice, a nonce already used, state asked at an old block, a method it does
/// not serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_evm_refuses_what_a_node_refuses() {
    use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy::eips::eip2718::Encodable2718;
    use alloy::network::TxSignerSync;
    use alloy::primitives::TxKind;
    use alloy::providers::Provider;

    let chain = lagrange_node::tools::devchain::DevChain::start()
        .await
        .unwrap();
    let evm = Evm::connect(chain.url(), Some(chain.key().clone()), Some(CHAIN_ID))
        .await
        .unwrap();
    let provider = evm.provider();
    let to = Address::repeat_byte(7);
    let sign = |chain_id: u64, nonce: u64, value: u64| {
        let mut tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 3_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(to),
            value: U256::from(value),
            ..Default::default()
        };
        let signature = chain.key().sign_transaction_sync(&mut tx).unwrap();
        TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
    };
    let refused = |e: alloy::transports::TransportError| e.to_string();

    let sent = provider
        .send_raw_transaction(&sign(CHAIN_ID, 0, 1))
        .await
        .unwrap();
    assert!(sent.get_receipt().await.unwrap().status());
    assert_eq!(provider.get_balance(to).await.unwrap(), U256::from(1u64));
    let again = refused(
        provider
            .send_raw_transaction(&sign(CHAIN_ID, 0, 1))
            .await
            .unwrap_err(),
    );
    assert!(again.contains("already mined"), "{again}");
    let elsewhere = refused(
        provider
            .send_raw_transaction(&sign(1, 1, 1))
            .await
            .unwrap_err(),
    );
    assert!(elsewhere.to_lowercase().contains("chain"), "{elsewhere}");
    let stale = refused(
        provider
            .send_raw_transaction(&sign(CHAIN_ID, 0, 2))
            .await
            .unwrap_err(),
    );
    assert!(stale.to_lowercase().contains("nonce"), "{stale}");
    let old = refused(
        provider
            .get_balance(Address::repeat_byte(7))
            .number(0)
            .await
            .unwrap_err(),
    );
    assert!(old.contains("only its latest state"), "{old}");
    let unknown = refused(
        provider
            .raw_request::<_, serde_json::Value>("eth_getProof".into(), ())
            .await
            .unwrap_err(),
    );
    assert!(unknown.contains("eth_getProof is not served"), "{unknown}");
    assert!(
        provider.send_raw_transaction(&[0xde, 0xad]).await.is_err(),
        "garbage is not a transaction"
    );
}

/// A transaction the node refuses leaves no gap in the sender's nonces: a gateway whose
/// account had no funds yet delivers once it is funded (found by the multi-process testnet,
/// where every delivery after the first refusal failed with "nonce too high").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_transaction_leaves_no_gap_in_the_senders_nonces() {
    use alloy::network::TransactionBuilder;
    use alloy::providers::Provider;
    use alloy::rpc::types::TransactionRequest;
    use alloy::signers::local::PrivateKeySigner;

    let node = Node::embedded().await;
    let funded = node.client().await;
    let key = PrivateKeySigner::from_bytes(&[0x17; 32].into()).unwrap();
    let fresh = Evm::connect(node.url(), Some(key.clone()), Some(CHAIN_ID))
        .await
        .unwrap();
    let refused = fresh.deploy_row_log().await.unwrap_err();
    assert!(
        refused.to_string().to_lowercase().contains("fund")
            || refused.to_string().to_lowercase().contains("balance"),
        "{refused}"
    );
    let top_up = TransactionRequest::default()
        .with_to(key.address())
        .with_value(U256::from(10u64).pow(U256::from(21u64)));
    let sent = funded
        .provider()
        .send_transaction(top_up)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(sent.status());
    fresh.deploy_row_log().await.unwrap();
    fresh.deploy_row_log().await.unwrap();
}

async fn chunks_in_batches(node: &Node) {
    let evm = node.client().await;
    let (params, proofs) = chunk_proofs(12, ChunkShape { rows: 3 });
    assert_eq!(proofs.len(), 4);
    let verifier = evm.deploy_verifier(&params.pk.vk).await.unwrap().address;
    for (proof, inputs) in &proofs {
        assert!(
            evm.verify_proof(verifier, proof, inputs)
                .await
                .unwrap()
                .valid
        );
    }
    let batch = evm.verify_batch(verifier, &proofs).await.unwrap();
    assert!(batch.valid);
    let one = evm.verify_batch(verifier, &proofs[..1]).await.unwrap();
    assert!(one.valid);
    println!(
        "gas, coprocessor chunk proofs (8 public inputs): a batch of 1 {}, a batch of 4 {}",
        one.gas, batch.gas
    );

    // Each way of tampering with one member fails the whole batch.
    let tamperings: Vec<Tampering<'_, Vec<ProofAndInputs>>> = vec![
        ("a partial sum", Box::new(|b| b[2].1[4] += Fr::from(1u64))),
        ("a chain state", Box::new(|b| b[1].1[1] += Fr::from(1u64))),
        ("a proof's A", Box::new(|b| b[3].0 = negated_a(&b[3].0))),
        (
            "two proofs swapped",
            Box::new(|b| {
                let p = b[0].0.clone();
                b[0].0 = b[1].0.clone();
                b[1].0 = p;
            }),
        ),
        (
            "a proof repeated for another statement",
            Box::new(|b| b[2].0 = b[1].0.clone()),
        ),
    ];
    for (what, tamper) in &tamperings {
        let mut bad = proofs.clone();
        tamper(&mut bad);
        assert!(
            !evm.verify_batch(verifier, &bad).await.unwrap().valid,
            "a batch with {what} tampered passed"
        );
    }
    // An empty batch, or a key for another circuit, is refused.
    match evm.verify_batch(verifier, &[]).await {
        Err(ChainError::Reverted { reason, .. }) => {
            assert!(reason.contains("BatchShape"), "{reason}")
        }
        other => panic!("an empty batch: {other:?}"),
    }
    let other = setup_insecure_seeded(CircuitSpec::Coprocessor(ChunkShape { rows: 4 }), 3).unwrap();
    let elsewhere = evm.deploy_verifier(&other.pk.vk).await.unwrap().address;
    assert!(!evm.verify_batch(elsewhere, &proofs).await.unwrap().valid);
    // No contract at an address: named.
    let nobody = Address::repeat_byte(0x42);
    assert!(matches!(
        evm.verify_proof(nobody, &proofs[0].0, &proofs[0].1).await,
        Err(ChainError::NoContract(a)) if a == nobody
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zkml_slice_proof_verifies_on_chain() {
    let Some(node) = Hardhat::start() else { return };
    let evm = node.client().await;
    let (vk, proof, inputs) = zkml_slice_proof();
    let verifier = evm.deploy_verifier(&vk).await.unwrap().address;
    let verdict = evm.verify_proof(verifier, &proof, &inputs).await.unwrap();
    assert!(verdict.valid);
    let mut lie = inputs.clone();
    lie[2] += Fr::from(1u64);
    assert!(
        !evm.verify_proof(verifier, &proof, &lie)
            .await
            .unwrap()
            .valid
    );
    println!(
        "gas, one zkML slice proof ({} public inputs): {}",
        inputs.len(),
        verdict.gas
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_chain_or_an_unreachable_node_is_named() {
    let Some(node) = Hardhat::start() else { return };
    match Evm::connect(&node.url, None, Some(1)).await {
        Err(ChainError::WrongChain { expected: 1, got }) => assert_eq!(got, CHAIN_ID),
        other => panic!("{other:?}"),
    }
    let (key, _, _) = circom_proof();
    let readonly = Evm::connect(&node.url, None, None).await.unwrap();
    assert!(matches!(
        readonly.deploy_verifier(&key.pk.vk).await,
        Err(ChainError::NoSigner(_))
    ));
    drop(node);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    assert!(matches!(
        Evm::connect(&url, None, None).await,
        Err(ChainError::Unreachable { .. })
    ));
    assert!(matches!(
        Evm::connect("not a url", None, None).await,
        Err(ChainError::BadUrl { .. })
    ));
    // An https endpoint gets a TLS client (rustls with ring), which then finds nobody.
    let https = url.replacen("http://", "https://", 1);
    assert!(matches!(
        Evm::connect(&https, None, None).await,
        Err(ChainError::Unreachable { .. })
    ));
}

/// Rows recorded in a `RowLog` are read back from its events, a query over them is proven
/// in chunks, and the result is delivered to `QueryResults`, which checks it whole and
/// stores the answer. Every tampering `AggregatedProof::verify` (what `lagrange-node
/// verify` runs) refuses is refused on chain too, with a named reason, and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_rows_recorded_on_chain_is_delivered_checked_and_read_back() {
    let Some(node) = Hardhat::start() else { return };
    query_over_rows_on_chain(&Node::Hardhat(node)).await;
}

/// The same on the EVM the devnet embeds: every tampering reverts there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_evm_a_query_over_rows_is_delivered_and_every_tampering_reverts() {
    query_over_rows_on_chain(&Node::embedded().await).await;
}

async fn query_over_rows_on_chain(node: &Node) {
    use lagrange_circuits::{AggregatedProof, ChunkProof, ChunkStatement, DataSet, Query, Row};
    let evm = node.client().await;

    // The data source: rows recorded on chain, read back from its events.
    let rows: Vec<Row> = (0..11u64)
        .map(|i| Row {
            key: (i * 7) % 13,
            value: 1_000 + i * i,
        })
        .collect();
    let log = evm.deploy_row_log().await.unwrap().address;
    evm.record_rows(log, &rows[..4]).await.unwrap();
    evm.record_rows(log, &rows[4..]).await.unwrap();
    let read = evm.rows_from_chain(log, None, None).await.unwrap();
    assert_eq!(read, rows);
    // What `submit query --from-chain` reads: the rows, checked against the log's own
    // commitment for them.
    let contract = log.to_string();
    let submitted = lagrange_node::tools::client::rows_from_chain(
        node.url(),
        &contract,
        Some(CHAIN_ID),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(submitted, rows);
    assert!(
        lagrange_node::tools::client::rows_from_chain(node.url(), &contract, Some(1), None, None)
            .await
            .is_err(),
        "another chain id is refused"
    );
    let data = DataSet::new(read).unwrap();
    // The chain's Poseidon is the circuit's: the same commitment, bit for bit, now and for
    // every prefix the log held.
    let on_chain = evm.row_log_commitment(log).await.unwrap();
    assert_eq!(on_chain, data.commitment());
    let first_four = DataSet::new(rows[..4].to_vec()).unwrap();
    assert_eq!(
        evm.row_log_commitment_at(log, 4).await.unwrap(),
        Some(first_four.commitment())
    );
    assert_eq!(evm.row_log_commitment_at(log, 12).await.unwrap(), None);

    // The query, proven in chunks of 3 rows, as the network's provers would.
    let shape = ChunkShape { rows: 3 };
    let query = Query { lo: 3, hi: 9 };
    let (params, result) = onchain_support::query_result(&data, query, shape);
    let pvk = lagrange_circuits::curve::prepare(&params.pk.vk);
    let answer = result.verify(&pvk, &data.commitment(), &query).unwrap();
    assert_eq!(answer, data.evaluate(query));
    let results = onchain_support::deploy_query_results(&evm, &params, shape).await;

    // Another data set: the same keys, other values.
    let other_data: DataSet = DataSet::new(
        rows.iter()
            .map(|r| Row {
                key: r.key,
                value: r.value + 1,
            })
            .collect(),
    )
    .unwrap();
    let (_, other_proofs) = onchain_support::chunk_proofs_over(&other_data, query, shape);
    let tamperings: Vec<Tampering<'_, AggregatedProof>> = vec![
        ("the answer's sum", Box::new(|r| r.answer.sum += 1)),
        ("the answer's count", Box::new(|r| r.answer.count += 1)),
        (
            "a partial sum, the answer to match",
            Box::new(|r| {
                r.chunks[1].statement.sum += 5;
                r.answer.sum += 5;
            }),
        ),
        (
            "the commitment",
            Box::new(|r| r.commitment = other_data.commitment()),
        ),
        ("the query", Box::new(|r| r.query.hi += 1)),
        ("two chunks reordered", Box::new(|r| r.chunks.swap(1, 2))),
        (
            "a chunk dropped",
            Box::new(|r| {
                r.chunks.remove(1);
            }),
        ),
        (
            "a chunk repeated",
            Box::new(|r| {
                let c = r.chunks[1].clone();
                r.chunks.insert(1, c);
            }),
        ),
        (
            "a proof's A negated",
            Box::new(|r| r.chunks[2].proof = negated_a(&r.chunks[2].proof)),
        ),
        (
            "two chunks' proofs swapped",
            Box::new(|r| {
                let p = r.chunks[0].proof.clone();
                r.chunks[0].proof = r.chunks[3].proof.clone();
                r.chunks[3].proof = p;
            }),
        ),
        (
            "a chain state",
            Box::new(|r| r.chunks[2].statement.state_before += Fr::from(1u64)),
        ),
        (
            "the last chunk's row count",
            Box::new(|r| {
                let last = r.chunks.len() - 1;
                r.chunks[last].statement.rows -= 1;
                r.rows -= 1;
            }),
        ),
        (
            "a proof from another data set's task",
            Box::new(|r| r.chunks[0].proof = other_proofs[0].0.clone()),
        ),
        ("every chunk removed", Box::new(|r| r.chunks.clear())),
    ];
    for (what, tamper) in &tamperings {
        let mut bad = result.clone();
        tamper(&mut bad);
        assert!(
            bad.verify(&pvk, &data.commitment(), &query).is_err(),
            "verify accepted {what} tampered"
        );
        match evm.submit_query(results, None, "task-1", &bad).await {
            Err(ChainError::Reverted { reason, .. }) => println!("{what}: reverted, {reason}"),
            other => panic!("{what} tampered: {other:?}"),
        }
    }
    assert_eq!(
        evm.query_answer(results, &data.commitment(), query)
            .await
            .unwrap(),
        None,
        "a refused delivery stored nothing"
    );

    // Delivered against the log itself: a result over other rows is refused, whatever
    // commitment it names.
    let other_result = AggregatedProof::new(
        &CircuitSpec::Coprocessor(shape).id(),
        other_data.commitment(),
        query,
        other_proofs
            .iter()
            .map(|(proof, inputs)| ChunkProof {
                statement: ChunkStatement::from_public_inputs(inputs).unwrap(),
                proof: proof.clone(),
            })
            .collect(),
    )
    .unwrap();
    match evm
        .submit_query(results, Some(log), "task-0", &other_result)
        .await
    {
        Err(ChainError::Reverted { reason, .. }) => assert!(reason.contains("NotTheCommitment")),
        other => panic!("a result over other rows: {other:?}"),
    }
    let delivered = evm
        .submit_query(results, Some(log), "task-1", &result)
        .await
        .unwrap();
    let stored = evm
        .query_answer(results, &data.commitment(), query)
        .await
        .unwrap()
        .expect("the answer is stored");
    assert_eq!(stored.answer, answer);
    assert_eq!(stored.rows, rows.len() as u64);
    println!(
        "delivered {} chunks in {} for {} gas",
        result.chunks.len(),
        delivered.tx,
        delivered.gas_used
    );
}

/// `lagrange-node deliver` and `export-verifier`, as an operator runs them: a result file
/// delivered with the key from the environment, a tampered one refused with the contract's
/// reason, no key or the wrong chain refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deliver_and_export_verifier_commands() {
    use lagrange_circuits::family::TaskResult;
    use lagrange_circuits::{AggregatedProof, DataSet, Query, Row};
    use std::process::Command;
    let Some(node) = Hardhat::start() else { return };
    let evm = node.client().await;
    let shape = ChunkShape { rows: 3 };
    let data = DataSet::new(
        (0..5u64)
            .map(|i| Row {
                key: i,
                value: 10 * i,
            })
            .collect(),
    )
    .unwrap();
    let query = Query { lo: 1, hi: 3 };
    let (params, result) = onchain_support::query_result(&data, query, shape);
    let results = onchain_support::deploy_query_results(&evm, &params, shape).await;
    let circuit = CircuitSpec::Coprocessor(shape).id();

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, r: &AggregatedProof| {
        let path = dir.path().join(name);
        std::fs::write(&path, TaskResult::Query(r.clone()).to_json().unwrap()).unwrap();
        path
    };
    let honest = write("result.json", &result);
    let mut lie = result.clone();
    lie.answer.sum += 1;
    let lie = write("lie.json", &lie);
    let deliver = |file: &std::path::Path, key: Option<&str>, chain: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lagrange-node"));
        cmd.arg("deliver")
            .arg(file)
            .args(["--rpc", &node.url, "--contract", &results.to_string()])
            .args(["--chain-id", chain, "--task", "t-1"])
            .env_remove("LAGRANGE_ETH_KEY");
        if let Some(key) = key {
            cmd.env("LAGRANGE_ETH_KEY", key);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let key = onchain_support::DEV_KEY;
    let (ok, text) = deliver(&lie, Some(key), "31337");
    assert!(!ok && text.contains("AnswerMismatch"), "{text}");
    let (ok, text) = deliver(&honest, None, "31337");
    assert!(!ok && text.contains("LAGRANGE_ETH_KEY"), "{text}");
    let (ok, text) = deliver(&honest, Some(key), "1");
    assert!(!ok && text.contains("chain"), "{text}");
    assert_eq!(
        evm.query_answer(results, &data.commitment(), query)
            .await
            .unwrap(),
        None,
        "nothing was delivered"
    );
    let (ok, text) = deliver(&honest, Some(key), "31337");
    assert!(ok && text.contains("delivered: SUM=60 COUNT=3"), "{text}");
    let stored = evm
        .query_answer(results, &data.commitment(), query)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.answer, data.evaluate(query));

    // export-verifier writes the contract and a deployment whose creation data deploys a
    // verifier for this very key.
    let params_dir = dir.path().join("params");
    let status = Command::new(env!("CARGO_BIN_EXE_lagrange-node"))
        .args(["setup-insecure", &circuit, "--params-dir"])
        .arg(&params_dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let out = dir.path().join("verifier");
    let export = Command::new(env!("CARGO_BIN_EXE_lagrange-node"))
        .args(["export-verifier", "--circuit", &circuit, "--params-dir"])
        .arg(&params_dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    for file in ["Groth16Verifier.sol", "Groth16Verifier.json"] {
        assert!(out.join(file).exists(), "{file}");
    }
    let deployment = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".deploy.json"))
        .expect("a .deploy.json");
    let deployment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deployment).unwrap()).unwrap();
    assert_eq!(deployment["input_count"], 8);
    assert_eq!(deployment["circuit"], circuit);
}

/// The whole path on a real EVM node, run as `lagrange-node devnet --workload chain
/// --rpc URL` runs it: the chunk verifier and `QueryResults` deployed, each task's rows
/// recorded in a `RowLog` and read back from its events, the query proven by provers over
/// libp2p and aggregated by the gateway, which delivers the result on chain itself
/// (`submitFor` the log); the answer the contract then holds is the native evaluator's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_rows_on_chain_is_proven_by_the_network_and_delivered_by_the_gateway() {
    use lagrange_node::tools::devnet::{self, DevnetChain, DevnetOptions, DevnetWorkload};
    let Some(node) = Hardhat::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("eth.key");
    std::fs::write(&key, onchain_support::DEV_KEY).unwrap();
    let report = devnet::run(DevnetOptions {
        workload: DevnetWorkload::Chain,
        provers: 2,
        tasks: 2,
        rows: 40,
        params_dir: Some(dir.path().join("params")),
        timeout: std::time::Duration::from_secs(120),
        results_dir: Some(dir.path().join("results")),
        chain: Some(DevnetChain {
            rpc: node.url.clone(),
            eth_key_file: Some(key),
        }),
        ..DevnetOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(report.tasks.len(), 2);
    for task in &report.tasks {
        assert!(task.native.1 > 0, "the sample query matches some rows");
        assert_eq!(task.proven, task.native);
        assert_eq!(task.on_chain, Some(task.native), "task {}", task.task);
    }
}

/// `lagrange-node devnet --workload chain` with no `--rpc`, as on a machine with nothing
/// installed: the same path on the EVM inside the devnet's process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_devnet_runs_on_its_embedded_evm_with_nothing_installed() {
    use lagrange_node::tools::devnet::{self, DevnetOptions, DevnetWorkload};
    let dir = tempfile::tempdir().unwrap();
    let report = devnet::run(DevnetOptions {
        workload: DevnetWorkload::Chain,
        provers: 2,
        tasks: 1,
        rows: 40,
        params_dir: Some(dir.path().join("params")),
        timeout: std::time::Duration::from_secs(120),
        chain: None,
        ..DevnetOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(report.tasks.len(), 1);
    let task = &report.tasks[0];
    assert!(task.native.1 > 0, "the sample query matches some rows");
    assert_eq!(task.on_chain, Some(task.native));
}

/// The gateway's deliveries, one round at a time over a store: a result the contract refuses
/// and one sent where there is no contract end in a `delivery_failed` event naming why, the
/// task staying done; a valid one lands in a transaction and the contract holds its answer;
/// the same result again (a delivery sent before a crash) is found held and not sent twice;
/// a failed task's delivery is cancelled; a node that stops answering leaves the delivery
/// pending, its try counted, with no event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_deliveries_land_once_name_each_refusal_and_wait_out_a_silent_node() {
    use lagrange_circuits::{AggregatedProof, DataSet, Query, Row};
    use lagrange_node::chain::deliver::Deliverer;
    use lagrange_node::model::{
        Delivery, DeliveryState, TaskEventKind, TaskRecord, TaskSpec, TaskStatus,
    };
    use lagrange_node::store::Store;
    use lagrange_protocol::{JobCategory, SupernetId, TaskId};

    let Some(node) = Hardhat::start() else { return };
    let evm = node.client().await;
    let rows: Vec<Row> = (0..7u64)
        .map(|i| Row {
            key: i * 3 % 11,
            value: 500 + i,
        })
        .collect();
    let log = evm.deploy_row_log().await.unwrap().address;
    evm.record_rows(log, &rows).await.unwrap();
    let data = DataSet::new(rows).unwrap();
    let (shape, query) = (ChunkShape { rows: 3 }, Query { lo: 2, hi: 9 });
    let (params, result) = onchain_support::query_result(&data, query, shape);
    let results = onchain_support::deploy_query_results(&evm, &params, shape).await;

    let store = Store::temporary().unwrap();
    let task = |n: u8, to: Address, result: &AggregatedProof, done: bool| -> TaskId {
        let id = TaskId([n; 16]);
        let record = TaskRecord {
            id,
            supernet: SupernetId::new("chain").unwrap(),
            spec: TaskSpec::Query {
                rows: Vec::new(),
                lo: query.lo,
                hi: query.hi,
                category: JobCategory::Small,
            },
            max_fee_per_job: 1,
            deadline: u64::MAX,
            created_at: 1,
            jobs: 0,
            status: TaskStatus::Proving,
            events: 0,
            verified: 0,
            fees: 0,
        };
        let to = Delivery {
            contract: to.into_array(),
            source: Some(log.into_array()),
        };
        store
            .create_task_delivered(&record, None, &[], Some(&to))
            .unwrap();
        let json = lagrange_circuits::family::TaskResult::Query(result.clone())
            .to_json()
            .unwrap();
        if done {
            store.complete_task(&id, &json, 2).unwrap();
        } else {
            store.fail_task(&id, "deadline passed", 2).unwrap();
        }
        id
    };
    let last_event = |id: &TaskId| store.events(id, 0).unwrap().pop().unwrap().kind;
    let state = |id: &TaskId| store.delivery(id).unwrap().unwrap().state;

    let mut tampered = result.clone();
    tampered.answer.sum += 1;
    let refused = task(1, results, &tampered, true);
    let nowhere = task(2, Address::repeat_byte(0x42), &result, true);
    let valid = task(3, results, &result, true);
    let cancelled = task(4, results, &result, false);
    let stop = tokio_util::sync::CancellationToken::new();
    let mut deliverer = Deliverer::new(store.clone(), evm.clone());
    assert_eq!(deliverer.round(&stop).await.unwrap(), 4);

    match last_event(&refused) {
        TaskEventKind::DeliveryFailed { reason } => {
            assert!(reason.contains("AnswerMismatch"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    match last_event(&nowhere) {
        TaskEventKind::DeliveryFailed { reason } => {
            assert!(reason.contains("no contract at"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.task(&refused).unwrap().unwrap().status,
        TaskStatus::Done
    );
    let TaskEventKind::Delivered {
        contract,
        tx: Some(_),
        block: Some(_),
    } = last_event(&valid)
    else {
        panic!("{:?}", last_event(&valid))
    };
    assert_eq!(contract, results.into_array());
    let held = evm
        .query_answer(results, &data.commitment(), query)
        .await
        .unwrap()
        .expect("the contract holds the answer");
    assert_eq!(held.answer, data.evaluate(query));
    assert_eq!(state(&cancelled), DeliveryState::Cancelled);
    assert_eq!(
        last_event(&cancelled),
        TaskEventKind::Aborted {
            reason: "deadline passed".into()
        }
    );

    // The same result again: held already, nothing sent.
    let again = task(5, results, &result, true);
    assert_eq!(deliverer.round(&stop).await.unwrap(), 1);
    assert_eq!(
        last_event(&again),
        TaskEventKind::Delivered {
            contract: results.into_array(),
            tx: None,
            block: None
        }
    );

    // The node goes away: the delivery waits, its try counted, no event.
    let waiting = task(6, results, &result, true);
    let events = store.events(&waiting, 0).unwrap().len();
    drop(node);
    assert_eq!(deliverer.round(&stop).await.unwrap(), 0);
    assert_eq!(state(&waiting), DeliveryState::Pending { attempts: 1 });
    assert_eq!(store.events(&waiting, 0).unwrap().len(), events);
}

/// zkML inferences checked whole by `ZkmlResults`: the chain's Poseidon sponge commits to
/// activations exactly as the circuits do; two inferences of a model served in two slices
/// are delivered in one call and their outputs' commitments kept; every tampering that the
/// offline check (`lagrange-node verify`) refuses reverts on chain with a named reason and
/// stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkml_inferences_are_checked_whole_on_chain_slices_chain_and_output_values() {
    use lagrange_circuits::zkml::{ZkmlResult, commit};
    let Some(node) = Hardhat::start() else { return };
    let evm = node.client().await;
    let (vks, result) = onchain_support::zkml_result(vec![0..1, 1..2], 2);
    let contract = onchain_support::deploy_zkml_results(&evm, &vks, &result.model_commitment)
        .await
        .address;

    // The sponge on chain is the circuits', bit for bit, for any number of values and at
    // both ends of the range.
    let edges = vec![-(1i64 << 23), (1 << 23) - 1, 0, 5];
    let many: Vec<i64> = (0..25).map(|v| v * 37 - 400).collect();
    for values in [
        vec![],
        vec![0],
        edges,
        many,
        result.inferences[0].output.clone(),
    ] {
        assert_eq!(
            evm.zkml_activations(contract, &values).await.unwrap(),
            commit::activations(&values),
            "{values:?}"
        );
    }

    let pvks: Vec<_> = vks.iter().map(lagrange_circuits::curve::prepare).collect();
    let offline = |r: &ZkmlResult| r.check(2, |i| pvks.get(i), None);
    assert!(offline(&result).is_ok());
    let other = result.inferences[1].clone();
    let tamperings: Vec<Tampering<'_, ZkmlResult>> = vec![
        (
            "an output value changed",
            Box::new(|r| r.inferences[0].output[0] += 1),
        ),
        (
            "an output value dropped",
            Box::new(|r| {
                r.inferences[1].output.pop();
            }),
        ),
        (
            "the input commitment of the other input",
            Box::new(|r| r.inferences[0].input_commitment = other.input_commitment),
        ),
        (
            "the link between the slices changed",
            Box::new(|r| r.inferences[0].slices[0].output += Fr::from(1u64)),
        ),
        (
            "the link of the other inference",
            Box::new(|r| r.inferences[0].slices[0].output = other.slices[0].output),
        ),
        (
            "the slices in the other order",
            Box::new(|r| r.inferences[0].slices.swap(0, 1)),
        ),
        (
            "a slice's proof from the other inference",
            Box::new(|r| r.inferences[0].slices[1].proof = other.slices[1].proof.clone()),
        ),
        (
            "a slice missing",
            Box::new(|r| drop(r.inferences[1].slices.pop())),
        ),
        (
            "a proof negated",
            Box::new(|r| {
                let p = negated_a(&r.inferences[1].slices[0].proof);
                r.inferences[1].slices[0].proof = p;
            }),
        ),
        (
            "the other output, out of range",
            Box::new(|r| r.inferences[1].output[0] = 1 << 23),
        ),
    ];
    for (what, tamper) in &tamperings {
        let mut bad = result.clone();
        tamper(&mut bad);
        assert!(
            offline(&bad).is_err(),
            "{what}: the offline check accepts it"
        );
        match evm.submit_inferences(contract, "tampered", &bad).await {
            Err(ChainError::Reverted { reason, .. }) => eprintln!("{what}: reverted {reason}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(
        evm.zkml_output(contract, &result.inferences[0].input_commitment)
            .await
            .unwrap(),
        None,
        "a refused delivery stored nothing"
    );

    let delivered = evm
        .submit_inferences(contract, "task", &result)
        .await
        .unwrap();
    for inference in &result.inferences {
        assert_eq!(
            evm.zkml_output(contract, &inference.input_commitment)
                .await
                .unwrap(),
            Some(commit::activations(&inference.output))
        );
    }
    eprintln!(
        "2 inferences of 2 slices delivered in one call: {} gas",
        delivered.gas_used
    );
}
