//! The real workload: the proving families of `lagrange-circuits`, routed by circuit id.
//!
//! The math of each kind of task (how it splits into jobs, the statement a job's proof
//! must prove, proving, aggregation and the result format) lives in
//! [`lagrange_circuits::family`]; this module holds one family per served circuit, routes
//! job bytes to them, loads keys and artifacts from disk and turns results into files.
//!
//! - A query task is split into coprocessor chunk jobs of its category's size; its chunk
//!   proofs become one aggregated proof, checked once more before it is stored.
//! - A synthetic task becomes independent synthetic jobs.
//! - A circom task is one job per witness of a circuit the Supernet pins (`circom/<name>`),
//!   each witness checked against the constraints at submission, delivered as snarkjs'
//!   `proof.json` and `public.json` per job with the circuit's `verification_key.json`.
//! - The gateway verifies every proof against public inputs it computes itself from the
//!   job's input (never the prover's claim), all waiting proofs of a circuit in one batch.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lagrange_circuits::circom::CircomCircuit;
use lagrange_circuits::coprocessor::{Category, Query};
use lagrange_circuits::curve::{Bn254, Fr, Proof};
use lagrange_circuits::family::{
    CircomFamily, CoprocessorFamily, Family, FamilyError, SyntheticFamily, Task,
};
use lagrange_circuits::{Answer, CircuitSpec, MsmBackend, Prover, encoding, params, verify};
use lagrange_protocol::messages::ProofSubmission;
use lagrange_protocol::{CircuitId, Digest, JobCategory};
use rand::SeedableRng;

pub use lagrange_circuits::family::{
    Checked, CircomProof, MAX_CIRCOM_JOBS, MAX_QUERY_ROWS, MAX_SYNTHETIC_JOBS, TaskResult,
};

use crate::param_files;
use crate::store::{JobRecord, ProofRecord, TaskRecord, TaskSpec};
use crate::workload::{Check, JobPlan, ProofBytes, Workload, WorkloadError};

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

/// The task as the families see it.
fn task_of(spec: &TaskSpec) -> Task<'_> {
    match spec {
        TaskSpec::Query { rows, lo, hi, .. } => Task::Query {
            rows,
            query: Query { lo: *lo, hi: *hi },
        },
        TaskSpec::Synthetic { jobs, .. } => Task::Synthetic { jobs: *jobs },
        TaskSpec::Circom {
            witnesses, inputs, ..
        } => Task::Circom { witnesses, inputs },
    }
}

/// One served circuit: its family and, for a circom circuit, the category its jobs are
/// auctioned in (the network's own circuits have one per category) and its wire count.
struct Served {
    family: Arc<dyn Family>,
    circom: Option<CircomServed>,
}

/// What only a circom circuit has.
#[derive(Clone, Copy)]
struct CircomServed {
    category: JobCategory,
    wires: usize,
}

/// Keys for the circuits a node proves or verifies, one family each.
pub struct CircuitWorkload {
    served: BTreeMap<String, Served>,
}

impl CircuitWorkload {
    /// Loads the keys of `circuits` from `dir`, checking each parameter file against its
    /// pinned digest.
    pub fn load(dir: &Path, circuits: &[(CircuitId, Digest)]) -> Result<Self, WorkloadError> {
        Self::load_with(dir, circuits, Arc::new(lagrange_circuits::CpuMsm))
    }

    /// Like [`CircuitWorkload::load`], proving with `backend` (whose `preload` sees every
    /// proving key here, once).
    pub fn load_with(
        dir: &Path,
        circuits: &[(CircuitId, Digest)],
        backend: Arc<dyn MsmBackend>,
    ) -> Result<Self, WorkloadError> {
        let mut workload = Self {
            served: BTreeMap::new(),
        };
        for (id, digest) in circuits {
            let spec = CircuitSpec::parse(id.as_str()).map_err(WorkloadError::setup)?;
            let expected = params::ParamDigest(digest.0);
            let loaded =
                param_files::load(dir, &spec, Some(&expected)).map_err(WorkloadError::setup)?;
            let prover =
                Prover::new(spec, loaded.pk, backend.clone()).map_err(WorkloadError::setup)?;
            workload.add_prover(prover)?;
        }
        Ok(workload)
    }

    /// **Insecure, devnets only**: keys from a public seed, cached in `dir`. Returns the
    /// workload and each circuit's parameter digest, to pin in the devnet's config.
    pub fn insecure_devnet(
        dir: &Path,
        specs: &[CircuitSpec],
        seed: u64,
    ) -> Result<(Self, Vec<(CircuitId, Digest)>), WorkloadError> {
        let mut workload = Self {
            served: BTreeMap::new(),
        };
        let mut pins = Vec::new();
        for spec in specs {
            let loaded = param_files::load_or_setup_insecure_seeded(dir, spec, seed)
                .map_err(WorkloadError::setup)?;
            let digest = param_files::file_digest(&param_files::params_path(dir, spec))
                .map_err(WorkloadError::setup)?;
            let id = CircuitId::new(spec.id()).map_err(WorkloadError::setup)?;
            pins.push((id, Digest(digest.0)));
            workload.add_prover(Prover::cpu(*spec, loaded.pk))?;
        }
        Ok((workload, pins))
    }

    fn add_prover(&mut self, prover: Prover) -> Result<(), WorkloadError> {
        let prover = Arc::new(prover);
        let family: Arc<dyn Family> = match prover.spec() {
            CircuitSpec::Coprocessor(_) => Arc::new(CoprocessorFamily::new(prover)?),
            CircuitSpec::Synthetic { .. } => Arc::new(SyntheticFamily::new(prover)?),
        };
        self.served.insert(
            family.circuit().to_owned(),
            Served {
                family,
                circom: None,
            },
        );
        Ok(())
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
        backend: Arc<dyn MsmBackend>,
    ) -> Result<(), WorkloadError> {
        let refused = |source| FamilyError::Circom {
            what: format!("circuit {id}"),
            source,
        };
        let mut circuit = CircomCircuit::new(zkey, r1cs, backend).map_err(refused)?;
        if let Some(wasm) = wasm {
            circuit = circuit.with_generator(wasm).map_err(refused)?;
        }
        let wires = circuit.key().wires;
        let family = CircomFamily::new(id.as_str(), Arc::new(circuit));
        self.served.insert(
            id.to_string(),
            Served {
                family: Arc::new(family),
                circom: Some(CircomServed { category, wires }),
            },
        );
        Ok(())
    }

    /// A witness of the right length for circom circuit `id` (the constant one, zeros
    /// elsewhere): it satisfies nothing, but proving it takes as long as proving a real one,
    /// which is what calibration measures.
    pub fn calibration_witness(&self, id: &CircuitId) -> Option<Vec<u8>> {
        let wires = self.served.get(id.as_str())?.circom?.wires;
        let mut values = vec![Fr::from(0u64); wires];
        values[0] = Fr::from(1u64);
        Some(lagrange_circuits::circom::Witness { values }.to_bytes())
    }

    fn family(&self, circuit: &str) -> Result<&Arc<dyn Family>, WorkloadError> {
        self.served
            .get(circuit)
            .map(|s| &s.family)
            .ok_or_else(|| WorkloadError::NotServed(circuit.to_owned()))
    }

    /// Checks a delivered result against the task it answers, as its client would, and
    /// returns the proven answer (a query) or the number of proofs (the others).
    pub fn check_result(&self, spec: &TaskSpec, result: &[u8]) -> Result<Answer, WorkloadError> {
        let result = TaskResult::from_json(result)?;
        let family = self.family(result.circuit())?;
        Ok(match family.check(&task_of(spec), &result)? {
            Checked::Query { sum, count, .. } => Answer { sum, count },
            Checked::Synthetic { proofs } | Checked::Circom { proofs, .. } => Answer {
                sum: 0,
                count: proofs as u64,
            },
        })
    }

    /// Which circuit proves a task's jobs, and in which category they are auctioned.
    fn route(&self, spec: &TaskSpec) -> Result<(String, JobCategory), WorkloadError> {
        match spec {
            TaskSpec::Query { category, .. } => Ok((circuit_for(true, *category).id(), *category)),
            TaskSpec::Synthetic { category, .. } => {
                Ok((circuit_for(false, *category).id(), *category))
            }
            TaskSpec::Circom { circuit, .. } => {
                let category = self
                    .served
                    .get(circuit.as_str())
                    .and_then(|s| s.circom.map(|c| c.category))
                    .ok_or_else(|| WorkloadError::NotServed(circuit.to_string()))?;
                Ok((circuit.to_string(), category))
            }
        }
    }
}

/// A decoded proof waiting for batch verification: its item index, the proof and the
/// public inputs computed from the job.
type Pending = (usize, Proof<Bn254>, Vec<Fr>);

impl Workload for CircuitWorkload {
    fn split(&self, spec: &TaskSpec) -> Result<Vec<JobPlan>, WorkloadError> {
        let (circuit, category) = self.route(spec)?;
        let family = self.family(&circuit)?;
        let id = CircuitId::new(circuit.clone()).map_err(WorkloadError::setup)?;
        let inputs = family.split(&task_of(spec), lagrange_protocol::codec::MAX_JOB_INPUT)?;
        Ok(inputs
            .into_iter()
            .map(|input| JobPlan {
                circuit: id.clone(),
                category,
                input,
            })
            .collect())
    }

    fn prove(&self, circuit: &CircuitId, input: &[u8]) -> Result<ProofBytes, WorkloadError> {
        let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
        let proven = self.family(circuit.as_str())?.prove(input, &mut rng)?;
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
            let statement = self
                .family(job.circuit.as_str())
                .and_then(|f| Ok(f.statement(input)?));
            let statement = match statement {
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
            let family = match self.family(circuit) {
                Ok(family) => family,
                // Cannot happen (its statement came from the family), but never pass a
                // proof nobody checked.
                Err(e) => {
                    for (i, _, _) in &group {
                        verdicts[*i] = Check::Unchecked(e.to_string());
                    }
                    continue;
                }
            };
            let pvk = family.verifying_key();
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
    ) -> Result<Vec<u8>, WorkloadError> {
        let (job, _, _) = proofs
            .first()
            .ok_or(WorkloadError::Refused("a task with no proofs".into()))?;
        let family = self.family(job.circuit.as_str())?;
        let proofs = proofs
            .iter()
            .map(|(_, input, record)| {
                let proof = encoding::decode_proof(&record.proof).map_err(FamilyError::from)?;
                Ok((input.as_slice(), proof))
            })
            .collect::<Result<Vec<_>, WorkloadError>>()?;
        let result = family.aggregate(&task_of(&task.spec), &proofs)?;
        Ok(result.to_json()?)
    }
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
) -> Result<lagrange_circuits::curve::VerifyingKey<Bn254>, WorkloadError> {
    if circuit.starts_with(lagrange_protocol::config::CIRCOM_PREFIX) {
        let zkey = circom_paths(params_dir, circuit).zkey;
        let bytes = std::fs::read(&zkey)
            .map_err(|e| WorkloadError::Setup(format!("reading {}: {e}", zkey.display())))?;
        let key = lagrange_circuits::circom::CircomKey::from_bytes(&bytes).map_err(|source| {
            FamilyError::Circom {
                what: zkey.display().to_string(),
                source,
            }
        })?;
        return Ok(key.pk.vk);
    }
    let spec = CircuitSpec::parse(circuit).map_err(WorkloadError::setup)?;
    param_files::load_verifying_key(params_dir, &spec, None).map_err(WorkloadError::setup)
}

/// Checks a result file offline with the verifying keys in `params_dir`: every proof, the
/// chain of chunk statements and the combined answer.
pub fn check_result_file(params_dir: &Path, bytes: &[u8]) -> Result<Checked, WorkloadError> {
    let result = TaskResult::from_json(bytes)?;
    let vk = verifying_key(params_dir, result.circuit())?;
    Ok(result.check(&lagrange_circuits::curve::prepare(&vk))?)
}

/// Writes each proof of a result in snarkjs's formats: `<out>/<n>/verification_key.json`,
/// `proof.json` and `public.json`. Returns how many proofs were written.
pub fn export_snarkjs(params_dir: &Path, bytes: &[u8], out: &Path) -> Result<usize, WorkloadError> {
    let result = TaskResult::from_json(bytes)?;
    let vk = verifying_key(params_dir, result.circuit())?;
    let statements = result.statements()?;
    for (i, (inputs, proof)) in statements.iter().enumerate() {
        write_snarkjs(&out.join(i.to_string()), &vk, proof, inputs)
            .map_err(|e| WorkloadError::Setup(format!("writing {}: {e}", out.display())))?;
    }
    Ok(statements.len())
}

/// Writes `verification_key.json`, `proof.json` and `public.json` into `dir`.
pub fn write_snarkjs(
    dir: &Path,
    vk: &lagrange_circuits::curve::VerifyingKey<Bn254>,
    proof: &Proof<Bn254>,
    inputs: &[Fr],
) -> std::io::Result<()> {
    use lagrange_circuits::snarkjs::{proof_json, public_json, verification_key_json};
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, value: serde_json::Result<String>| {
        std::fs::write(dir.join(name), value.map_err(std::io::Error::other)?)
    };
    write(
        "verification_key.json",
        serde_json::to_string_pretty(&verification_key_json(vk)),
    )?;
    write(
        "proof.json",
        serde_json::to_string_pretty(&proof_json(proof)),
    )?;
    write(
        "public.json",
        serde_json::to_string_pretty(&public_json(inputs)),
    )
}
