//! The real workload: Groth16 circuits from `lagrange-circuits`.
//!
//! - A query task is split into coprocessor chunk jobs of its category's size; each job's
//!   input is its [`JobInput`]. A synthetic task becomes independent synthetic jobs.
//! - Provers prove with preloaded keys.
//! - The gateway verifies every proof against public inputs it computes itself from the
//!   job's input (never the prover's claim), all waiting proofs of a circuit in one batch.
//! - A query task's chunk proofs become one [`AggregatedProof`], checked once more before it
//!   is stored, and delivered as the task's result ([`TaskResult`]).
//! - A circom task is one job per witness of a circuit the Supernet pins (`circom/<name>`):
//!   each witness is checked against the circuit's constraints at submission, proven as
//!   snarkjs would, verified against the public signals of the gateway's copy of the
//!   witness, and delivered as snarkjs' `proof.json` and `public.json` per job with the
//!   circuit's `verification_key.json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lagrange_circuits::circom::{CircomCircuit, Witness};
use lagrange_circuits::circuit_id::JobInput;
use lagrange_circuits::coprocessor::{Category, DataSet, Query, Row, plan_chunks};
use lagrange_circuits::curve::{Bn254, Fr, PreparedVerifyingKey, Proof};
use lagrange_circuits::snarkjs::{self, ProofJson, VerificationKeyJson};
use lagrange_circuits::{
    AggregatedProof, Answer, ChunkProof, CircuitSpec, Prover, encoding, params, verify,
};
use lagrange_protocol::messages::ProofSubmission;
use lagrange_protocol::{CircuitId, Digest, JobCategory};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::store::{JobRecord, ProofRecord, TaskRecord, TaskSpec};
use crate::workload::{Check, JobPlan, ProofBytes, Workload};

/// Most rows one query task may carry.
pub const MAX_QUERY_ROWS: usize = 1 << 16;

/// Most jobs one synthetic task may ask for.
pub const MAX_SYNTHETIC_JOBS: u32 = 1024;

/// Most witnesses one circom task may carry.
pub const MAX_CIRCOM_JOBS: usize = 1024;

/// Largest job input accepted from the store or the network.
const MAX_INPUT: usize = 1 << 20;

/// The synthetic circuit size (log2 of constraints) used for each category.
pub fn synthetic_log2(category: JobCategory) -> u32 {
    match category {
        JobCategory::Small => 12,
        JobCategory::Medium => 14,
        JobCategory::Large => 16,
    }
}

fn category_of(c: JobCategory) -> Category {
    match c {
        JobCategory::Small => Category::Small,
        JobCategory::Medium => Category::Medium,
        JobCategory::Large => Category::Large,
    }
}

/// The circuit that proves jobs of `category` for a task of this kind.
pub fn circuit_for(query: bool, category: JobCategory) -> CircuitSpec {
    if query {
        CircuitSpec::coprocessor(category_of(category))
    } else {
        CircuitSpec::Synthetic {
            log2: synthetic_log2(category),
        }
    }
}

/// What a finished task delivers, as JSON: `{"query": {...}}` or `{"synthetic": {...}}`.
/// (Externally tagged: an internal tag would make serde buffer the 128-bit sum, which it
/// cannot.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskResult {
    /// A query's aggregated chunk proofs, with the answer.
    Query(AggregatedProof),
    /// Synthetic proofs: (public inputs, proof), hex-encoded compressed bytes, in job order.
    Synthetic {
        /// The circuit.
        circuit: String,
        /// The proofs.
        proofs: Vec<(String, String)>,
    },
    /// Circom proofs, in snarkjs' formats, in witness order.
    Circom {
        /// The circuit (`circom/<name>`).
        circuit: String,
        /// snarkjs' `verification_key.json` of the circuit.
        verification_key: Box<VerificationKeyJson>,
        /// Per job: snarkjs' `proof.json` and `public.json`.
        proofs: Vec<CircomProof>,
    },
}

/// One circom job's proof, as snarkjs writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CircomProof {
    /// `proof.json`.
    pub proof: ProofJson,
    /// `public.json`: the public signals, decimal.
    pub public: Vec<String>,
}

/// Keys for the circuits a node proves or verifies.
pub struct CircuitWorkload {
    provers: BTreeMap<String, Arc<Prover>>,
    circom: BTreeMap<String, (JobCategory, Arc<CircomCircuit>)>,
}

fn decode_input(bytes: &[u8]) -> Result<JobInput, String> {
    if bytes.len() > MAX_INPUT {
        return Err(format!("job input of {} bytes is too large", bytes.len()));
    }
    let config = bincode::config::standard().with_limit::<MAX_INPUT>();
    let (input, used) = bincode::serde::decode_from_slice::<JobInput, _>(bytes, config)
        .map_err(|e| format!("malformed job input: {e}"))?;
    if used != bytes.len() {
        return Err("trailing bytes after the job input".into());
    }
    input.validate().map_err(|e| e.to_string())?;
    Ok(input)
}

fn encode_input(input: &JobInput) -> Vec<u8> {
    lagrange_protocol::codec::canonical_bytes(input)
}

impl CircuitWorkload {
    /// Loads the keys of `circuits` from `dir`, checking each parameter file against its
    /// pinned digest.
    pub fn load(dir: &Path, circuits: &[(CircuitId, Digest)]) -> Result<Self, String> {
        Self::load_with(dir, circuits, Arc::new(lagrange_circuits::CpuMsm))
    }

    /// Like [`CircuitWorkload::load`], proving with `backend` (whose `preload` sees every
    /// proving key here, once).
    pub fn load_with(
        dir: &Path,
        circuits: &[(CircuitId, Digest)],
        backend: Arc<dyn lagrange_circuits::MsmBackend>,
    ) -> Result<Self, String> {
        let mut provers = BTreeMap::new();
        for (id, digest) in circuits {
            let spec = CircuitSpec::parse(id.as_str()).map_err(|e| e.to_string())?;
            let expected = params::ParamDigest(digest.0);
            let loaded = params::load(dir, &spec, Some(&expected)).map_err(|e| e.to_string())?;
            let prover =
                Prover::new(spec, loaded.pk, backend.clone()).map_err(|e| e.to_string())?;
            provers.insert(spec.id(), Arc::new(prover));
        }
        Ok(Self {
            provers,
            circom: BTreeMap::new(),
        })
    }

    /// **Insecure, devnets only**: keys from a public seed, cached in `dir`. Returns the
    /// workload and each circuit's parameter digest, to pin in the devnet's config.
    pub fn insecure_devnet(
        dir: &Path,
        specs: &[CircuitSpec],
        seed: u64,
    ) -> Result<(Self, Vec<(CircuitId, Digest)>), String> {
        let mut provers = BTreeMap::new();
        let mut pins = Vec::new();
        for spec in specs {
            let loaded = params::load_or_setup_insecure_seeded(dir, spec, seed)
                .map_err(|e| e.to_string())?;
            let digest =
                params::file_digest(&params::params_path(dir, spec)).map_err(|e| e.to_string())?;
            let id = CircuitId::new(spec.id()).map_err(|e| e.to_string())?;
            pins.push((id, Digest(digest.0)));
            provers.insert(spec.id(), Arc::new(Prover::cpu(*spec, loaded.pk)));
        }
        Ok((
            Self {
                provers,
                circom: BTreeMap::new(),
            },
            pins,
        ))
    }

    fn prover(&self, circuit: &str) -> Result<&Arc<Prover>, String> {
        self.provers
            .get(circuit)
            .ok_or_else(|| format!("no keys loaded for circuit {circuit}"))
    }

    fn pvk(&self, circuit: &str) -> Result<&PreparedVerifyingKey<Bn254>, String> {
        if let Some((_, c)) = self.circom.get(circuit) {
            return Ok(c.prepared_verifying_key());
        }
        Ok(self.prover(circuit)?.prepared_verifying_key())
    }

    /// Serves a circom circuit of `category` from its `.zkey`, `.r1cs` and, if given, its
    /// witness generator `.wasm` (the caller has checked them against their pinned
    /// digests), proving with `backend`.
    pub fn add_circom(
        &mut self,
        id: &CircuitId,
        category: JobCategory,
        zkey: &[u8],
        r1cs: &[u8],
        wasm: Option<&[u8]>,
        backend: Arc<dyn lagrange_circuits::MsmBackend>,
    ) -> Result<(), String> {
        let mut circuit =
            CircomCircuit::new(zkey, r1cs, backend).map_err(|e| format!("circuit {id}: {e}"))?;
        if let Some(wasm) = wasm {
            circuit = circuit
                .with_generator(wasm)
                .map_err(|e| format!("circuit {id}: {e}"))?;
        }
        self.circom
            .insert(id.to_string(), (category, Arc::new(circuit)));
        Ok(())
    }

    /// A witness of the right length for circom circuit `id` (the constant one, zeros
    /// elsewhere): it satisfies nothing, but proving it takes as long as proving a real one,
    /// which is what calibration measures.
    pub fn calibration_witness(&self, id: &CircuitId) -> Option<Vec<u8>> {
        let (_, c) = self.circom.get(id.as_str())?;
        let mut values = vec![Fr::from(0u64); c.key().wires];
        values[0] = Fr::from(1u64);
        Some(Witness { values }.to_bytes())
    }

    fn circom(&self, id: &str) -> Option<&Arc<CircomCircuit>> {
        self.circom.get(id).map(|(_, c)| c)
    }

    /// The public inputs a job's proof must be for, computed from the gateway's own copy
    /// of its input.
    fn statement(&self, circuit: &str, input: &[u8]) -> Result<Vec<Fr>, String> {
        if let Some(c) = self.circom(circuit) {
            let witness = Witness::from_bytes(input).map_err(|e| e.to_string())?;
            return Ok(c
                .public_signals(&witness)
                .map_err(|e| e.to_string())?
                .to_vec());
        }
        Ok(decode_input(input)?.public_inputs())
    }

    /// Checks a delivered result offline and returns the query answer it proves (for a
    /// query task) or the number of proofs (synthetic), given what the client asked.
    pub fn check_result(&self, spec: &TaskSpec, result: &[u8]) -> Result<Answer, String> {
        let result: TaskResult =
            serde_json::from_slice(result).map_err(|e| format!("malformed result: {e}"))?;
        match (spec, result) {
            (TaskSpec::Query { rows, lo, hi, .. }, TaskResult::Query(bundle)) => {
                let data = dataset(rows)?;
                let query = Query { lo: *lo, hi: *hi };
                bundle
                    .verify(self.pvk(&bundle.circuit_id)?, &data.commitment(), &query)
                    .map_err(|e| e.to_string())
            }
            (TaskSpec::Synthetic { .. }, TaskResult::Synthetic { circuit, proofs }) => {
                let pvk = self.pvk(&circuit)?;
                for (inputs, proof) in &proofs {
                    let inputs = hex::decode(inputs).map_err(|e| e.to_string())?;
                    let proof = hex::decode(proof).map_err(|e| e.to_string())?;
                    verify::verify_bytes(pvk, &proof, &inputs).map_err(|e| e.to_string())?;
                }
                Ok(Answer {
                    sum: 0,
                    count: proofs.len() as u64,
                })
            }
            (
                TaskSpec::Circom { circuit: asked, .. },
                TaskResult::Circom {
                    circuit, proofs, ..
                },
            ) => {
                if asked.as_str() != circuit {
                    return Err(format!(
                        "a result for {circuit}, but the task asked for {asked}"
                    ));
                }
                let c = self
                    .circom(&circuit)
                    .ok_or_else(|| format!("no keys loaded for circuit {circuit}"))?;
                for (i, p) in proofs.iter().enumerate() {
                    let (proof, public) =
                        circom_from_json(p).map_err(|e| format!("proof {i}: {e}"))?;
                    c.verify(&proof, &public)
                        .map_err(|e| format!("proof {i}: {e}"))?;
                }
                Ok(Answer {
                    sum: 0,
                    count: proofs.len() as u64,
                })
            }
            _ => Err("result does not match the task kind".into()),
        }
    }
}

/// A circom job's proof and public signals, back from snarkjs' JSON.
fn circom_from_json(p: &CircomProof) -> Result<(Proof<Bn254>, Vec<Fr>), String> {
    let proof = snarkjs::proof_from_json(&p.proof).map_err(|e| e.to_string())?;
    let public = p
        .public
        .iter()
        .map(|x| snarkjs::field_from_decimal(x).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok((proof, public))
}

fn dataset(rows: &[(u64, u64)]) -> Result<DataSet, String> {
    DataSet::new(
        rows.iter()
            .map(|&(key, value)| Row { key, value })
            .collect(),
    )
    .map_err(|e| e.to_string())
}

/// A decoded proof waiting for batch verification: its item index, the proof and the
/// public inputs computed from the job.
type Pending = (usize, Proof<Bn254>, Vec<Fr>);

impl Workload for CircuitWorkload {
    fn split(&self, spec: &TaskSpec) -> Result<Vec<JobPlan>, String> {
        match spec {
            TaskSpec::Query {
                rows,
                lo,
                hi,
                category,
            } => {
                if rows.is_empty() {
                    return Err("the data set is empty".into());
                }
                if rows.len() > MAX_QUERY_ROWS {
                    return Err(format!(
                        "the data set has {} rows, more than the limit of {MAX_QUERY_ROWS}",
                        rows.len()
                    ));
                }
                let data = dataset(rows)?;
                let circuit = circuit_for(true, *category);
                let id = CircuitId::new(circuit.id()).map_err(|e| e.to_string())?;
                let CircuitSpec::Coprocessor(shape) = circuit else {
                    return Err("not a coprocessor circuit".into());
                };
                Ok(plan_chunks(&data, Query { lo: *lo, hi: *hi }, shape)
                    .into_iter()
                    .map(|chunk| JobPlan {
                        circuit: id.clone(),
                        category: *category,
                        input: encode_input(&JobInput::Coprocessor(chunk)),
                    })
                    .collect())
            }
            TaskSpec::Synthetic { jobs, category } => {
                if *jobs > MAX_SYNTHETIC_JOBS {
                    return Err(format!(
                        "{jobs} jobs requested, more than the limit of {MAX_SYNTHETIC_JOBS}"
                    ));
                }
                let circuit = circuit_for(false, *category);
                let id = CircuitId::new(circuit.id()).map_err(|e| e.to_string())?;
                let log2 = synthetic_log2(*category);
                Ok((0..*jobs)
                    .map(|i| JobPlan {
                        circuit: id.clone(),
                        category: *category,
                        input: encode_input(&JobInput::Synthetic(
                            lagrange_circuits::synthetic::SyntheticJob {
                                log2,
                                seed: u64::from(i),
                            },
                        )),
                    })
                    .collect())
            }
            TaskSpec::Circom {
                circuit,
                witnesses,
                inputs,
            } => {
                let Some((category, c)) = self.circom.get(circuit.as_str()) else {
                    return Err(format!("circuit {circuit} is not served here"));
                };
                if witnesses.is_empty() && inputs.is_empty() {
                    return Err("a circom task needs witnesses or inputs".into());
                }
                if witnesses.len() + inputs.len() > MAX_CIRCOM_JOBS {
                    return Err(format!(
                        "{} witnesses and inputs, more than the limit of {MAX_CIRCOM_JOBS}",
                        witnesses.len() + inputs.len()
                    ));
                }
                let max = lagrange_protocol::codec::MAX_JOB_INPUT;
                let job = |what: String, wtns: Vec<u8>| {
                    if wtns.len() > max {
                        return Err(format!(
                            "{what} is {} bytes, more than the {max} a job input may carry",
                            wtns.len()
                        ));
                    }
                    Ok(JobPlan {
                        circuit: circuit.clone(),
                        category: *category,
                        input: wtns,
                    })
                };
                let mut plans = Vec::with_capacity(witnesses.len() + inputs.len());
                for (i, wtns) in witnesses.iter().enumerate() {
                    let what = format!("circom.witnesses[{i}]");
                    if wtns.len() <= max {
                        c.witness(wtns).map_err(|e| format!("{what}: {e}"))?;
                    }
                    plans.push(job(what, wtns.clone())?);
                }
                for (i, json) in inputs.iter().enumerate() {
                    let what = format!("circom.inputs[{i}]");
                    let witness = c
                        .witness_from_inputs(json)
                        .map_err(|e| format!("{what}: {e}"))?;
                    plans.push(job(format!("the witness of {what}"), witness.to_bytes())?);
                }
                Ok(plans)
            }
        }
    }

    fn prove(&self, circuit: &CircuitId, input: &[u8]) -> Result<ProofBytes, String> {
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        if let Some(c) = self.circom(circuit.as_str()) {
            let witness = Witness::from_bytes(input).map_err(|e| e.to_string())?;
            let proven = c.prove(&witness, &mut rng).map_err(|e| e.to_string())?;
            return Ok(ProofBytes {
                proof: encoding::encode_proof(&proven.proof),
                public_inputs: encoding::encode_public_inputs(&proven.public_inputs),
            });
        }
        let job = decode_input(input)?;
        let prover = self.prover(circuit.as_str())?;
        let proven = prover.prove(&job, &mut rng).map_err(|e| e.to_string())?;
        Ok(ProofBytes {
            proof: encoding::encode_proof(&proven.proof),
            public_inputs: encoding::encode_public_inputs(&proven.public_inputs),
        })
    }

    fn verify(&self, items: &[(JobRecord, Vec<u8>, ProofSubmission)]) -> Vec<Check> {
        // Decode everything first; group what decodes by circuit for batch verification. The
        // input is the gateway's own: if it does not decode, that is not the prover's fault.
        let mut verdicts: Vec<Check> = vec![Check::Valid; items.len()];
        let mut groups: BTreeMap<&str, Vec<Pending>> = BTreeMap::new();
        for (i, (job, input, submission)) in items.iter().enumerate() {
            let statement = match self.statement(job.circuit.as_str(), input) {
                Ok(statement) => statement,
                Err(e) => {
                    verdicts[i] = Check::Unchecked(format!("the gateway's job input: {e}"));
                    continue;
                }
            };
            match encoding::decode_proof(&submission.proof) {
                Ok(proof) => groups
                    .entry(job.circuit.as_str())
                    .or_default()
                    .push((i, proof, statement)),
                Err(e) => verdicts[i] = Check::Invalid(e.to_string()),
            }
        }
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        for (circuit, group) in groups {
            let pvk = match self.pvk(circuit) {
                Ok(pvk) => pvk,
                Err(e) => {
                    for (i, _, _) in &group {
                        verdicts[*i] = Check::Unchecked(format!("the gateway's key: {e}"));
                    }
                    continue;
                }
            };
            let batch: Vec<_> = group
                .iter()
                .map(|(_, p, x)| (p.clone(), x.clone()))
                .collect();
            if verify::batch_verify(pvk, &batch, &mut rng).is_err() {
                // Somebody's proof is bad: check one by one to know whose.
                for (i, proof, inputs) in &group {
                    if let Err(e) = verify::verify(pvk, proof, inputs) {
                        verdicts[*i] = Check::Invalid(e.to_string());
                    }
                }
            }
        }
        verdicts
    }

    fn aggregate(
        &self,
        task: &TaskRecord,
        proofs: &[(JobRecord, Vec<u8>, ProofRecord)],
    ) -> Result<Vec<u8>, String> {
        let circuit = proofs
            .first()
            .map(|(job, _, _)| job.circuit.to_string())
            .ok_or("a task with no proofs")?;
        let result = match &task.spec {
            TaskSpec::Query { rows, lo, hi, .. } => {
                let data = dataset(rows)?;
                let query = Query { lo: *lo, hi: *hi };
                let mut chunks = Vec::with_capacity(proofs.len());
                for (_, input, record) in proofs {
                    let JobInput::Coprocessor(chunk) = decode_input(input)? else {
                        return Err("a query task with a non-query job".into());
                    };
                    let proof = encoding::decode_proof(&record.proof).map_err(|e| e.to_string())?;
                    chunks.push(ChunkProof {
                        statement: chunk.statement(),
                        proof,
                    });
                }
                let bundle = AggregatedProof::new(&circuit, data.commitment(), query, chunks)
                    .map_err(|e| e.to_string())?;
                // Check the bundle once, as a client will.
                bundle
                    .verify(self.pvk(&circuit)?, &data.commitment(), &query)
                    .map_err(|e| e.to_string())?;
                TaskResult::Query(bundle)
            }
            TaskSpec::Circom { .. } => {
                let c = self
                    .circom(&circuit)
                    .ok_or_else(|| format!("no keys loaded for circuit {circuit}"))?;
                let mut out = Vec::with_capacity(proofs.len());
                for (_, input, record) in proofs {
                    let witness = Witness::from_bytes(input).map_err(|e| e.to_string())?;
                    let public = c.public_signals(&witness).map_err(|e| e.to_string())?;
                    let proof = encoding::decode_proof(&record.proof).map_err(|e| e.to_string())?;
                    // Check each once more, as a client will.
                    c.verify(&proof, public).map_err(|e| e.to_string())?;
                    out.push(CircomProof {
                        proof: snarkjs::proof_json(&proof),
                        public: snarkjs::public_json(public),
                    });
                }
                TaskResult::Circom {
                    circuit: circuit.clone(),
                    verification_key: Box::new(snarkjs::verification_key_json(&c.key().pk.vk)),
                    proofs: out,
                }
            }
            TaskSpec::Synthetic { .. } => TaskResult::Synthetic {
                circuit,
                proofs: proofs
                    .iter()
                    .map(|(_, input, record)| {
                        let inputs = decode_input(input)
                            .map(|i| encoding::encode_public_inputs(&i.public_inputs()))?;
                        Ok((hex::encode(inputs), hex::encode(&record.proof)))
                    })
                    .collect::<Result<_, String>>()?,
            },
        };
        serde_json::to_vec_pretty(&result).map_err(|e| e.to_string())
    }
}

/// What an offline check of a result found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// A query result: the proven answer and the data set commitment it is over.
    Query {
        /// SUM of matching values.
        sum: u128,
        /// COUNT of matching rows.
        count: u64,
        /// The commitment (hex) of the data set.
        commitment: String,
        /// Rows covered.
        rows: u64,
    },
    /// Synthetic proofs, all valid.
    Synthetic {
        /// How many.
        proofs: usize,
    },
    /// Circom proofs, all valid for their public signals.
    Circom {
        /// The circuit.
        circuit: String,
        /// How many.
        proofs: usize,
    },
}

/// Where a circom circuit's artifacts live in a parameter directory:
/// `circom/<name>.zkey`, `.r1cs` and `.wasm`, for id `circom/<name>`.
pub fn circom_paths(params_dir: &Path, id: &str) -> CircomPaths {
    let name = id
        .strip_prefix(lagrange_protocol::config::CIRCOM_PREFIX)
        .unwrap_or(id);
    let dir = params_dir.join("circom");
    CircomPaths {
        zkey: dir.join(format!("{name}.zkey")),
        r1cs: dir.join(format!("{name}.r1cs")),
        wasm: dir.join(format!("{name}.wasm")),
    }
}

/// A circom circuit's artifact files.
#[derive(Debug, Clone)]
pub struct CircomPaths {
    /// The proving key.
    pub zkey: std::path::PathBuf,
    /// The constraints.
    pub r1cs: std::path::PathBuf,
    /// The witness generator.
    pub wasm: std::path::PathBuf,
}

fn verifying_key(
    params_dir: &Path,
    circuit: &str,
) -> Result<lagrange_circuits::curve::VerifyingKey<Bn254>, String> {
    if circuit.starts_with(lagrange_protocol::config::CIRCOM_PREFIX) {
        let zkey = circom_paths(params_dir, circuit).zkey;
        let bytes = std::fs::read(&zkey).map_err(|e| format!("reading {}: {e}", zkey.display()))?;
        let key =
            lagrange_circuits::circom::CircomKey::from_bytes(&bytes).map_err(|e| e.to_string())?;
        return Ok(key.pk.vk);
    }
    let spec = CircuitSpec::parse(circuit).map_err(|e| e.to_string())?;
    params::load_verifying_key(params_dir, &spec, None).map_err(|e| e.to_string())
}

/// Checks a result file offline with the verifying keys in `params_dir`: every proof, the
/// chain of chunk statements and the combined answer.
pub fn check_result_file(params_dir: &Path, bytes: &[u8]) -> Result<Checked, String> {
    let result: TaskResult =
        serde_json::from_slice(bytes).map_err(|e| format!("not a task result: {e}"))?;
    match result {
        TaskResult::Query(bundle) => {
            let vk = verifying_key(params_dir, &bundle.circuit_id)?;
            let pvk = lagrange_circuits::curve::prepare(&vk);
            let answer = bundle
                .verify(&pvk, &bundle.commitment, &bundle.query)
                .map_err(|e| e.to_string())?;
            Ok(Checked::Query {
                sum: answer.sum,
                count: answer.count,
                commitment: bundle.commitment.to_hex(),
                rows: bundle.rows,
            })
        }
        TaskResult::Synthetic { circuit, proofs } => {
            let vk = verifying_key(params_dir, &circuit)?;
            let pvk = lagrange_circuits::curve::prepare(&vk);
            for (inputs, proof) in &proofs {
                let inputs = hex::decode(inputs).map_err(|e| e.to_string())?;
                let proof = hex::decode(proof).map_err(|e| e.to_string())?;
                verify::verify_bytes(&pvk, &proof, &inputs).map_err(|e| e.to_string())?;
            }
            Ok(Checked::Synthetic {
                proofs: proofs.len(),
            })
        }
        TaskResult::Circom {
            circuit, proofs, ..
        } => {
            let vk = verifying_key(params_dir, &circuit)?;
            let pvk = lagrange_circuits::curve::prepare(&vk);
            for (i, p) in proofs.iter().enumerate() {
                let (proof, public) = circom_from_json(p).map_err(|e| format!("proof {i}: {e}"))?;
                verify::verify(&pvk, &proof, &public).map_err(|e| format!("proof {i}: {e}"))?;
            }
            Ok(Checked::Circom {
                circuit,
                proofs: proofs.len(),
            })
        }
    }
}

/// A proof with the public inputs it proves.
type Statement = (Vec<Fr>, Proof<Bn254>);

/// Writes each proof of a result in snarkjs's formats: `<out>/<n>/verification_key.json`,
/// `proof.json` and `public.json`. Returns how many proofs were written.
pub fn export_snarkjs(params_dir: &Path, bytes: &[u8], out: &Path) -> Result<usize, String> {
    let result: TaskResult =
        serde_json::from_slice(bytes).map_err(|e| format!("not a task result: {e}"))?;
    let (circuit, items): (String, Vec<Statement>) = match result {
        TaskResult::Query(bundle) => (
            bundle.circuit_id.clone(),
            bundle
                .chunks
                .iter()
                .map(|c| (c.statement.to_public_inputs(), c.proof.clone()))
                .collect(),
        ),
        TaskResult::Synthetic { circuit, proofs } => {
            let mut items = Vec::new();
            for (inputs, proof) in proofs {
                let inputs = hex::decode(inputs).map_err(|e| e.to_string())?;
                let proof = hex::decode(proof).map_err(|e| e.to_string())?;
                items.push((
                    encoding::decode_public_inputs(&inputs).map_err(|e| e.to_string())?,
                    encoding::decode_proof(&proof).map_err(|e| e.to_string())?,
                ));
            }
            (circuit, items)
        }
        TaskResult::Circom {
            circuit, proofs, ..
        } => {
            let items = proofs
                .iter()
                .map(|p| circom_from_json(p).map(|(proof, public)| (public, proof)))
                .collect::<Result<_, _>>()?;
            (circuit, items)
        }
    };
    let vk = verifying_key(params_dir, &circuit)?;
    for (i, (inputs, proof)) in items.iter().enumerate() {
        lagrange_circuits::snarkjs::write_all(&out.join(i.to_string()), &vk, proof, inputs)
            .map_err(|e| e.to_string())?;
    }
    Ok(items.len())
}
