//! Writes the fuzz targets' seed corpora (`fuzz/corpus/<target>/`) from real messages and
//! files: signed gossip and request frames, proofs and keys of a real setup, job inputs as
//! the gateway splits them, the bundled circom fixtures, a seeded ONNX model and its keys,
//! a Supernet config, node configs, request and response streams, an equivocation and a
//! result. Each target's first input byte picks the decoder (see `fuzz/fuzz_targets/`), so
//! seeds carry it.
//!
//!   cargo run -p lagrange-node --example fuzz_corpus -- fuzz/corpus

use std::path::{Path, PathBuf};

use lagrange_circuits::coprocessor::Category;
use lagrange_circuits::zkml::{ModelKeys, ServedModel, sample};
use lagrange_circuits::{CircuitSpec, encoding};
use lagrange_node::config::{JoinConfig, NodeConfig, Role};
use lagrange_protocol::codec::{self, WireMessage};
use lagrange_protocol::commit::seal_bids;
use lagrange_protocol::config::SupernetConfig;
use lagrange_protocol::equivocation::Equivocation;
use lagrange_protocol::messages::{
    BatchAnnouncement, Bid, GossipMessage, HardwareSummary, JobSpec, ParamRequest, ParamResponse,
    ProverAvailability, Request, Response, Salt,
};
use lagrange_protocol::{
    BatchId, CircuitId, Digest, JobCategory, JobId, Keypair, Signed, SupernetId, TaskId,
};

fn write(dir: &Path, target: &str, name: &str, selector: Option<u8>, bytes: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    let mut data = selector.map(|s| vec![s]).unwrap_or_default();
    data.extend_from_slice(bytes);
    std::fs::write(dir.join(name), data).expect("corpus file");
}

fn frame<M: WireMessage>(m: &M) -> Vec<u8> {
    codec::encode(m).expect("a real message encodes")
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let gw = Keypair::insecure_from_seed(0);
    let prover = Keypair::insecure_from_seed(1);
    let supernet = SupernetId::new("fuzz").expect("id");
    let task = TaskId([7; 16]);

    // Wire frames.
    let batch = Signed::sign(
        BatchAnnouncement {
            batch_id: BatchId::derive(&supernet, &gw.public(), 1),
            supernet: supernet.clone(),
            seq: 1,
            jobs: (0..3)
                .map(|i| JobSpec {
                    job_id: JobId::new(task, i),
                    circuit: CircuitId::new("coprocessor-sum-v1/small").expect("id"),
                    category: JobCategory::Small,
                    reserve_price: 1000,
                    proving_window_ms: 20_000,
                    input_digest: Digest([i as u8; 32]),
                    input_size: 2048,
                })
                .collect(),
            announced_at: 1_000,
            commit_deadline: 2_000,
            reveal_deadline: 3_000,
            weights: lagrange_protocol::merkle::WeightTree::empty().root(),
        },
        &gw,
    );
    let bids = |price| {
        vec![Bid {
            job_id: JobId::new(task, 0),
            price,
        }]
    };
    let (commit, reveal) = seal_bids(&batch.payload, &prover.public(), bids(200), Salt([3; 32]));
    let (other, _) = seal_bids(&batch.payload, &prover.public(), bids(300), Salt([4; 32]));
    let (commit, reveal, other) = (
        Signed::sign(commit, &prover),
        Signed::sign(reveal, &prover),
        Signed::sign(other, &prover),
    );
    let availability = Signed::sign(
        ProverAvailability {
            supernet: supernet.clone(),
            categories: vec![JobCategory::Small],
            capacity: 2,
            hardware: HardwareSummary::default(),
            node_version: "fuzz".into(),
            announced_at: 1_000,
        },
        &prover,
    );
    let gossip = [
        GossipMessage::Batch(batch.clone()),
        GossipMessage::Commit(commit.clone()),
        GossipMessage::Reveal(reveal.clone()),
        GossipMessage::Availability(availability),
    ];
    for (i, m) in gossip.iter().enumerate() {
        write(&out, "wire", &format!("gossip-{i}"), Some(0), &frame(m));
    }
    let requests = [
        Request::Commit(commit.clone()),
        Request::CatchUp {
            supernet: supernet.clone(),
        },
        Request::JobInput {
            supernet: supernet.clone(),
            job_id: JobId::new(task, 0),
        },
    ];
    for (i, m) in requests.iter().enumerate() {
        write(&out, "wire", &format!("request-{i}"), Some(1), &frame(m));
    }
    let responses = [
        Response::Ack,
        Response::Refused {
            reason: "busy".into(),
        },
        Response::CatchUp {
            batches: vec![batch.clone()],
        },
    ];
    for (i, m) in responses.iter().enumerate() {
        write(&out, "wire", &format!("response-{i}"), Some(2), &frame(m));
    }
    let param_request = ParamRequest {
        digest: Digest([9; 32]),
        offset: 0,
        max_len: 1 << 16,
    };
    write(
        &out,
        "wire",
        "param-request",
        Some(3),
        &frame(&param_request),
    );
    let chunk = ParamResponse::Chunk {
        digest: Digest([9; 32]),
        total_len: 64,
        offset: 0,
        data: vec![5; 64],
    };
    write(&out, "wire", "param-response", Some(4), &frame(&chunk));
    write(&out, "wire", "batch", Some(5), &frame(&batch));
    write(&out, "wire", "commit", Some(6), &frame(&commit));
    write(&out, "wire", "reveal", Some(7), &frame(&reveal));

    // The same requests and responses as a peer's stream, arriving in pieces of 1, 7 and
    // 4096 bytes: the `frames` target's header is the direction, the piece size and where
    // to repeat the stream to (0x80 in its last byte; 0: as it is).
    let streams = requests
        .iter()
        .map(|m| (0u8, frame(m)))
        .chain(responses.iter().map(|m| (1, frame(m))))
        .chain([(2, frame(&param_request)), (3, frame(&chunk))]);
    for (i, ((kind, bytes), piece)) in streams.zip([1u16, 7, 4096].into_iter().cycle()).enumerate()
    {
        let [p0, p1] = piece.to_le_bytes();
        let mut data = vec![p0, p1, 0, 0, 0];
        data.extend_from_slice(&bytes);
        write(&out, "frames", &format!("stream-{i}"), Some(kind), &data);
    }
    // A parameter request repeated to 8 bytes past its limit.
    let mut data = vec![1, 0, 8, 1, 0x80];
    data.extend_from_slice(&frame(&param_request));
    write(&out, "frames", "oversize", Some(2), &data);

    // Node configs: `init`'s commented files for each role, and one with every section.
    let bootnode: libp2p::Multiaddr = format!("/ip4/127.0.0.1/tcp/9000/p2p/{}", gw.peer_id())
        .parse()
        .expect("a bootnode address");
    for role in [Role::Gateway, Role::Prover] {
        let text = NodeConfig::commented(
            role,
            Path::new("supernet.toml"),
            std::slice::from_ref(&bootnode),
        );
        write(&out, "node_config", role.as_str(), None, text.as_bytes());
    }
    let full = NodeConfig {
        role: Some(Role::Gateway),
        bootnodes: vec![bootnode],
        gateway: Some(Default::default()),
        prover: Some(Default::default()),
        join: vec![JoinConfig {
            role: Role::Prover,
            supernet: "other.toml".into(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("an address")],
            bootnodes: Vec::new(),
        }],
        ..NodeConfig::default()
    };
    let text = toml::to_string(&full).expect("a config writes as TOML");
    write(&out, "node_config", "full", None, text.as_bytes());

    // An equivocation file.
    let equivocation = Equivocation::new(commit, other).expect("two different commits");
    write(
        &out,
        "evidence",
        "equivocation",
        None,
        &equivocation.to_bytes(),
    );

    // A Supernet config.
    let supernet_toml = SupernetConfig {
        id: supernet.clone(),
        gateways: vec![gw.peer_id()],
        allowlist: Some(vec![gw.peer_id(), prover.peer_id()]),
        auction: Default::default(),
        economics: Default::default(),
        categories: vec![lagrange_protocol::config::CategoryConfig {
            category: JobCategory::Small,
            proving_deadline_ms: 20_000,
            reserve_price: 1000,
        }],
        circuits: vec![lagrange_protocol::config::CircuitConfig {
            id: CircuitId::new("coprocessor-sum-v1/small").expect("id"),
            category: JobCategory::Small,
            params_digest: Digest([1; 32]),
            r1cs_digest: None,
            wasm_digest: None,
            model: None,
        }],
    }
    .to_toml();
    write(
        &out,
        "supernet_config",
        "small",
        None,
        supernet_toml.as_bytes(),
    );

    // A real setup, proof and job inputs of the coprocessor circuit.
    let spec = CircuitSpec::coprocessor(Category::Small);
    let params = lagrange_circuits::params::setup_insecure_seeded(spec, 5).expect("setup");
    let rows: Vec<(u64, u64)> = (0..40).map(|i| (i, i * 3)).collect();
    let jobs = lagrange_circuits::family::CoprocessorFamily::new(std::sync::Arc::new(
        lagrange_circuits::Prover::cpu(spec, params.pk.clone()),
    ))
    .expect("family");
    let inputs = lagrange_circuits::family::Family::split(
        &jobs,
        &lagrange_circuits::family::Task::Query {
            rows: &rows,
            query: lagrange_circuits::coprocessor::Query { lo: 3, hi: 30 },
        },
        1 << 20,
    )
    .expect("split");
    for (i, input) in inputs.iter().enumerate() {
        write(&out, "job_input", &format!("chunk-{i}"), Some(0), input);
    }
    // Seeded, so the corpus is the same every time it is made.
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(1);
    let proven = lagrange_circuits::family::JobCircuit::prove(&jobs, &inputs[0], &mut rng)
        .expect("a real proof");
    write(
        &out,
        "proof",
        "proof",
        Some(0),
        &encoding::encode_proof(&proven.proof),
    );
    write(
        &out,
        "proof",
        "inputs",
        Some(1),
        &encoding::encode_public_inputs(&proven.public_inputs),
    );
    write(
        &out,
        "proof",
        "vk",
        Some(2),
        &encoding::encode_verifying_key(params.vk()),
    );
    let result = lagrange_circuits::family::Family::aggregate(
        &jobs,
        &lagrange_circuits::family::Task::Query {
            rows: &rows,
            query: lagrange_circuits::coprocessor::Query { lo: 3, hi: 30 },
        },
        &inputs
            .iter()
            .map(|input| {
                let p = lagrange_circuits::family::JobCircuit::prove(&jobs, input, &mut rng)
                    .expect("a real proof");
                (input.as_slice(), p.proof)
            })
            .collect::<Vec<_>>(),
    )
    .expect("aggregate");
    write(
        &out,
        "task_result",
        "query",
        None,
        &result.to_json().expect("a result writes"),
    );

    // A seeded ONNX model, its keys and a slice job.
    let onnx = sample::mlp(11, &[8, 6, 4]);
    write(&out, "onnx", "mlp", None, &onnx);
    write(&out, "onnx", "cnn", None, &sample::cnn(3, 6, 2, 2, 3));
    let model = lagrange_circuits::zkml::onnx::load(&onnx, 12).expect("the sample loads");
    let served = ServedModel::new("m", model, vec![0..1, 1..2]).expect("served");
    let keys = ModelKeys::setup_insecure_seeded(&served, 1).expect("keys");
    write(&out, "keys", "zkml-keys", Some(1), &keys.to_bytes());
    // A proving key alone (the smaller slice's).
    let smallest = keys
        .keys
        .iter()
        .min_by_key(|pk| pk.a_query.len())
        .expect("two slices");
    write(
        &out,
        "keys",
        "proving-key",
        Some(0),
        &encoding::to_bytes(smallest.as_ref()),
    );
    // Tiny keys too (the synthetic chain at 2^3 constraints, a one-layer model): decoding
    // checks every point, so small seeds let a run try thousands of variants a second.
    let tiny =
        lagrange_circuits::params::setup_insecure_seeded(CircuitSpec::Synthetic { log2: 3 }, 5)
            .expect("setup");
    write(
        &out,
        "keys",
        "proving-key-tiny",
        Some(0),
        &encoding::to_bytes(tiny.pk.as_ref()),
    );
    let one_layer = lagrange_circuits::zkml::onnx::load(&sample::mlp(12, &[2, 2]), 12)
        .expect("the sample loads");
    // One slice holding the one layer.
    #[allow(clippy::single_range_in_vec_init)]
    let one_layer = ServedModel::new("t", one_layer, vec![0..1]).expect("served");
    let tiny_keys = ModelKeys::setup_insecure_seeded(&one_layer, 1).expect("keys");
    write(
        &out,
        "keys",
        "zkml-keys-tiny",
        Some(1),
        &tiny_keys.to_bytes(),
    );
    let quantized = served.model().quantize_input(&[0.25; 8]).expect("input");
    for (i, (_, job)) in served
        .split(&[quantized])
        .expect("split")
        .iter()
        .enumerate()
    {
        write(&out, "job_input", &format!("slice-{i}"), Some(1), job);
    }

    // The bundled circom fixtures.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../circuits/fixtures/circom");
    for (name, selector) in [
        ("witness.wtns", 0),
        ("square_chain.r1cs", 1),
        ("square_chain.zkey", 2),
    ] {
        let bytes = std::fs::read(fixtures.join(name)).expect("fixture");
        write(&out, "circom", name, Some(selector), &bytes);
    }
    println!("seed corpora written under {}", out.display());
}
