//! What the on-chain tests and the gas benchmark share: a Hardhat EVM node of their own
//! (pinned in contracts/package-lock.json; `.ci/run` installs it) on a free port, stopped when
//! dropped, or the EVM embedded in the node for its devnet; snarkjs' verifier for the circom fixture, compiled and deployed; and real proofs of
//! each kind the network serves.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use ark_snark::SNARK;
use lagrange_circuits::circom::{CircomKey, Witness, prove};
use lagrange_circuits::coprocessor::{ChunkShape, plan_chunks};
use lagrange_circuits::curve::{Bn254, Fr, Proof, VerifyingKey};
use lagrange_circuits::params::setup_insecure_seeded;
use lagrange_circuits::prover::{CpuMsm, key_id};
use lagrange_circuits::{CircuitParams, CircuitSpec, DataSet, JobInput, Prover, Query, Row};
use lagrange_node::chain::Evm;
use lagrange_node::tools::devchain::DevChain;
use rand::SeedableRng;

const ZKEY: &[u8] = include_bytes!("../../../circuits/fixtures/circom/square_chain.zkey");
const WTNS: &[u8] = include_bytes!("../../../circuits/fixtures/circom/witness.wtns");

/// Hardhat's first development account (publicly known; it holds test ether only).
pub const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Hardhat's chain id.
pub const CHAIN_ID: u64 = 31337;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A seeded rng.
pub fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

/// A Hardhat node of this test's own, stopped when dropped.
pub struct Hardhat {
    child: Child,
    /// Its JSON-RPC endpoint.
    pub url: String,
}

impl Hardhat {
    /// Starts a node, or returns `None` where Hardhat is not installed outside CI (CI
    /// requires it: `.ci/run` installs it).
    pub fn start() -> Option<Self> {
        let dir = repo().join("contracts");
        let bin = dir.join("node_modules/.bin/hardhat");
        if !bin.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs Hardhat in contracts/node_modules (.ci/run installs it)"
            );
            eprintln!("skipping: Hardhat is not installed (npm ci in contracts/)");
            return None;
        }
        // A port the kernel just handed out and took back; if another process takes it
        // first, the node says so and another is tried.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new(&bin)
                .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
                .args([
                    "node",
                    "--hostname",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                ])
                .current_dir(&dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting hardhat node");
            // The node logs every call: its output is read to the end, or it would stall
            // on a full pipe. The first line that says it listens is the event waited for.
            let (tx, rx) = mpsc::channel();
            let stdout = child.stdout.take().expect("stdout");
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.contains("Started HTTP") {
                        let _ = tx.send(true);
                    }
                }
                let _ = tx.send(false);
            });
            let stderr = child.stderr.take().expect("stderr");
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("hardhat: {line}");
                }
            });
            match rx.recv_timeout(Duration::from_secs(90)) {
                Ok(true) => {
                    return Some(Self {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                    });
                }
                Ok(false) => {
                    let _ = child.wait();
                    continue;
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("hardhat node did not start within 90 s");
                }
            }
        }
        panic!("hardhat node did not start on any of three ports");
    }

    /// A client that signs with [`DEV_KEY`].
    pub async fn client(&self) -> Evm {
        let signer: PrivateKeySigner = DEV_KEY.parse().expect("dev key");
        Evm::connect(&self.url, Some(signer), Some(CHAIN_ID))
            .await
            .expect("connect")
    }
}

/// An EVM node for a test: Hardhat's, or the one the devnet runs inside its own process.
pub enum Node {
    /// Hardhat's node, a process.
    Hardhat(Hardhat),
    /// revm inside this process, behind the same JSON-RPC.
    Embedded(DevChain),
}

impl Node {
    /// An embedded EVM of this test's own.
    pub async fn embedded() -> Self {
        Node::Embedded(DevChain::start().await.expect("starting the embedded EVM"))
    }

    /// Its JSON-RPC endpoint.
    pub fn url(&self) -> &str {
        match self {
            Node::Hardhat(h) => &h.url,
            Node::Embedded(e) => e.url(),
        }
    }

    /// A client that signs with the node's funded account.
    pub async fn client(&self) -> Evm {
        match self {
            Node::Hardhat(h) => h.client().await,
            Node::Embedded(e) => Evm::connect(e.url(), Some(e.key().clone()), Some(CHAIN_ID))
                .await
                .expect("connect"),
        }
    }
}

impl Drop for Hardhat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A circom proof of the committed fixture, and its public signals.
pub fn circom_proof() -> (CircomKey, Proof<Bn254>, Vec<Fr>) {
    let key = CircomKey::from_bytes(ZKEY).unwrap();
    let witness = Witness::from_bytes(WTNS).unwrap();
    let proven = prove(&CpuMsm, key_id(&key.pk.vk), &key, &witness, &mut rng(7)).unwrap();
    (key, proven.proof, proven.public_inputs)
}

alloy::sol! {
    #[sol(rpc)]
    contract SnarkjsVerifier {
        function verifyProof(
            uint256[2] calldata _pA,
            uint256[2][2] calldata _pB,
            uint256[2] calldata _pC,
            uint256[2] calldata _pubSignals
        ) public view returns (bool);
    }
}

/// Writes snarkjs' Solidity verifier for the fixture's `.zkey`, compiles it with the pinned
/// solc and deploys it. `None` where snarkjs is not installed outside CI.
pub async fn deploy_snarkjs_verifier(evm: &Evm) -> Option<Address> {
    let fixtures = repo().join("circuits/fixtures/circom");
    let snarkjs = fixtures.join("node_modules/.bin/snarkjs");
    if !snarkjs.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "snarkjs is not installed in circuits/fixtures/circom (npm ci there)"
        );
        eprintln!("skipping snarkjs' verifier: snarkjs is not installed");
        return None;
    }
    let out = tempfile::tempdir().unwrap();
    let sol = out.path().join("snarkjs_verifier.sol");
    let status = Command::new(&snarkjs)
        .args(["zkey", "export", "solidityverifier"])
        .arg(fixtures.join("square_chain.zkey"))
        .arg(&sol)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "snarkjs zkey export solidityverifier");
    let solcjs = repo().join("contracts/node_modules/.bin/solcjs");
    let status = Command::new(&solcjs)
        .args(["--bin", "--optimize", "--base-path"])
        .arg(out.path())
        .arg("--output-dir")
        .arg(out.path())
        .arg(&sol)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "solcjs on snarkjs' verifier");
    let bin = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "bin"))
        .expect("solcjs wrote a .bin");
    let code = hex::decode(std::fs::read_to_string(bin).unwrap().trim()).unwrap();
    let receipt = evm
        .provider()
        .send_transaction(TransactionRequest::default().with_deploy_code(Bytes::from(code)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    receipt.contract_address
}

/// A chunk proof with its public inputs.
pub type ProofAndInputs = (Proof<Bn254>, Vec<Fr>);

/// A data set of `rows` rows, and chunk proofs of a query over it in chunks of `shape`.
pub fn chunk_proofs(rows: usize, shape: ChunkShape) -> (CircuitParams, Vec<ProofAndInputs>) {
    let data = DataSet::new(
        (0..rows as u64)
            .map(|i| Row {
                key: i % 10,
                value: 100 + i,
            })
            .collect(),
    )
    .unwrap();
    chunk_proofs_over(&data, Query { lo: 2, hi: 6 }, shape)
}

/// Chunk proofs of `query` over `data` in chunks of `shape`, with the circuit's parameters.
pub fn chunk_proofs_over(
    data: &DataSet,
    query: Query,
    shape: ChunkShape,
) -> (CircuitParams, Vec<ProofAndInputs>) {
    let params = setup_insecure_seeded(CircuitSpec::Coprocessor(shape), 3).unwrap();
    let prover = Prover::cpu(params.spec, std::sync::Arc::clone(&params.pk));
    let mut r = rng(5);
    let proofs = plan_chunks(data, query, shape)
        .into_iter()
        .map(|job| {
            let out = prover.prove(&JobInput::Coprocessor(job), &mut r).unwrap();
            (out.proof, out.public_inputs)
        })
        .collect();
    (params, proofs)
}

/// A query over `data` proven in chunks of `shape` and aggregated as the gateway does, with
/// the circuit's parameters.
pub fn query_result(
    data: &DataSet,
    query: Query,
    shape: ChunkShape,
) -> (CircuitParams, lagrange_circuits::AggregatedProof) {
    use lagrange_circuits::{AggregatedProof, ChunkProof, ChunkStatement};
    let (params, proofs) = chunk_proofs_over(data, query, shape);
    let chunks = proofs
        .into_iter()
        .map(|(proof, inputs)| ChunkProof {
            statement: ChunkStatement::from_public_inputs(&inputs).unwrap(),
            proof,
        })
        .collect();
    let circuit = CircuitSpec::Coprocessor(shape).id();
    let result = AggregatedProof::new(&circuit, data.commitment(), query, chunks).unwrap();
    (params, result)
}

/// The chunk circuit's verifier and a `QueryResults` over it for chunks of `shape`: the
/// `QueryResults`' address.
pub async fn deploy_query_results(evm: &Evm, params: &CircuitParams, shape: ChunkShape) -> Address {
    let verifier = evm.deploy_verifier(&params.pk.vk).await.unwrap().address;
    evm.deploy_query_results(verifier, shape.rows as u64)
        .await
        .unwrap()
        .address
}

/// A zkML task's result: `n` inferences of a small MLP (8 → 16 → 8 → 4) served in `slices`,
/// every slice of every inference proven, aggregated as the gateway does; with each slice's
/// verifying key.
pub fn zkml_result(
    slices: Vec<std::ops::Range<usize>>,
    n: usize,
) -> (
    Vec<VerifyingKey<Bn254>>,
    lagrange_circuits::zkml::ZkmlResult,
) {
    use lagrange_circuits::zkml::{ServedModel, SliceJob, onnx, sample};
    let model = onnx::load(&sample::mlp(8, &[16, 8, 4]), 12).unwrap();
    let served = ServedModel::new("mlp", model.clone(), slices).unwrap();
    let mut r = rng(11);
    let keys: Vec<_> = (0..served.slices().len())
        .map(|i| {
            ark_groth16::Groth16::<Bn254>::circuit_specific_setup(
                served.circuit(i, None).unwrap(),
                &mut r,
            )
            .unwrap()
        })
        .collect();
    let inputs: Vec<Vec<i64>> = (0..n)
        .map(|k| {
            let real: Vec<f32> = (0..model.input_len())
                .map(|j| ((j + 3 * k) % 7) as f32 * 0.1 - 0.3)
                .collect();
            model.quantize_input(&real).unwrap()
        })
        .collect();
    let proven: Vec<(Vec<u8>, Proof<Bn254>)> = served
        .split(&inputs)
        .unwrap()
        .into_iter()
        .map(|(i, job)| {
            let input = SliceJob::from_bytes(&job).unwrap().input;
            let proof = ark_groth16::Groth16::<Bn254>::prove(
                &keys[i].0,
                served.circuit(i, Some(input)).unwrap(),
                &mut r,
            )
            .unwrap();
            (job, proof)
        })
        .collect();
    let jobs: Vec<(&[u8], Proof<Bn254>)> = proven
        .iter()
        .map(|(job, proof)| (job.as_slice(), proof.clone()))
        .collect();
    let result = served.aggregate(&jobs).unwrap();
    (keys.into_iter().map(|(_, vk)| vk).collect(), result)
}

/// Each slice's verifier and a `ZkmlResults` over them for the model committed to by
/// `model`.
pub async fn deploy_zkml_results(
    evm: &Evm,
    vks: &[VerifyingKey<Bn254>],
    model: &Fr,
) -> lagrange_node::chain::Deployed {
    let mut verifiers = Vec::new();
    for vk in vks {
        verifiers.push(evm.deploy_verifier(vk).await.unwrap().address);
    }
    evm.deploy_zkml_results(model, &verifiers).await.unwrap()
}

/// A proof of a small MLP's one slice, with its key and public inputs.
pub fn zkml_slice_proof() -> (VerifyingKey<Bn254>, Proof<Bn254>, Vec<Fr>) {
    use lagrange_circuits::zkml::{ServedModel, SliceJob, onnx, sample};
    let model = onnx::load(&sample::mlp(8, &[16, 8, 4]), 12).unwrap();
    // One slice of both layers: the whole inference in one proof.
    #[allow(clippy::single_range_in_vec_init)]
    let served = ServedModel::new("mlp", model.clone(), vec![0..2]).unwrap();
    let mut r = rng(9);
    let (pk, vk) = ark_groth16::Groth16::<Bn254>::circuit_specific_setup(
        served.circuit(0, None).unwrap(),
        &mut r,
    )
    .unwrap();
    let input = model
        .quantize_input(&vec![0.25; model.input_len()])
        .unwrap();
    let jobs = served.split(&[input]).unwrap();
    let (_, job) = &jobs[0];
    let slice_input = SliceJob::from_bytes(job).unwrap().input;
    let proof = ark_groth16::Groth16::<Bn254>::prove(
        &pk,
        served.circuit(0, Some(slice_input)).unwrap(),
        &mut r,
    )
    .unwrap();
    let (_, statement) = served.statement(job).unwrap();
    let inputs = statement.public_inputs();
    (vk, proof, inputs)
}
