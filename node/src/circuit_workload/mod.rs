//! The real workload: the proving families of `lagrange-circuits`, tasks routed by the id
//! they name and jobs by circuit id.
//!
//! The math of each kind of task (how it splits into jobs, the statement a job's proof
//! must prove, proving, aggregation and the result format) lives in
//! [`lagrange_circuits::family`]; this module holds one family per served circuit or model
//! and the circuits that prove their jobs, routes tasks and job bytes to them, loads keys
//! and artifacts from disk and turns results into files.
//!
//! - A query task is split into coprocessor chunk jobs of its category's size; its chunk
//!   proofs become one aggregated proof, checked once more before it is stored.
//! - A synthetic task becomes independent synthetic jobs.
//! - A circom task is one job per witness of a circuit the Supernet pins (`circom/<name>`),
//!   each witness checked against the constraints at submission, delivered as snarkjs'
//!   `proof.json` and `public.json` per job with the circuit's `verification_key.json`.
//! - A zkML task is inferences of a model the Supernet pins (`zkml/<name>`): each input is
//!   quantized, run through the model natively and split into one job per slice of the
//!   model (`zkml/<name>/<from>-<to>`), each slice a circuit with its own key; the slices'
//!   proofs are delivered with the outputs and checked, chain and all, before delivery.
//! - The gateway verifies every proof against public inputs it computes itself from the
//!   job's input (never the prover's claim), all waiting proofs of a circuit in one batch.
//!
//! Files: this one holds the served circuits and their loading; [`workload`] the
//! [`Workload`] the gateway and provers drive; [`artifacts`] where a circuit's and a model's
//! files live and how a model is prepared; [`param_files`] the parameter cache on disk
//! (key files, their digests, atomic writes); [`results`] the checks and exports of result
//! files that the operator's tools run offline.

mod artifacts;
pub mod param_files;
mod results;
mod workload;

pub use artifacts::{
    CircomPaths, KeySource, PreparedModel, ZkmlPaths, circom_paths, prepare_zkml, verifier_keys,
    zkml_paths,
};
pub use results::{check_result_file, export_snarkjs, write_snarkjs};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lagrange_circuits::circom::CircomCircuit;
use lagrange_circuits::coprocessor::{Category, Query};
use lagrange_circuits::curve::PreparedVerifyingKey;
use lagrange_circuits::curve::{Bn254, Fr, Proof};
use lagrange_circuits::family::{
    CircomFamily, CoprocessorFamily, Family, FamilyError, JobCircuit, SyntheticFamily, Task,
    ZkmlModelFamily, ZkmlSliceCircuit,
};
use lagrange_circuits::zkml::{ModelKeys, ModelVerifyingKeys, ServedModel, ZkmlError};
use lagrange_circuits::{Answer, CircuitSpec, MsmBackend, Prover, encoding, params, verify};
use lagrange_protocol::messages::ProofSubmission;
use lagrange_protocol::{CircuitId, Digest, JobCategory};
use rand::SeedableRng;

pub use lagrange_circuits::family::{
    Checked, CircomProof, MAX_CIRCOM_JOBS, MAX_QUERY_ROWS, MAX_SYNTHETIC_JOBS, TaskResult,
};

use crate::model::{JobRecord, TaskRecord, TaskSpec};
use crate::store::ProofRecord;
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
        TaskSpec::Zkml {
            inputs, commitment, ..
        } => Task::Zkml {
            inputs,
            commitment: commitment.map(|d| d.0),
        },
    }
}

/// A task family served here, under the id its tasks name.
struct Served {
    family: Arc<dyn Family>,
    /// Where the Supernet pins the family's circuit or model.
    pinned: Option<Pinned>,
}

/// A family the Supernet pins (a circom circuit, a zkML model): the category its jobs are
/// auctioned in (the network's own circuits have one per category) and what calibration
/// needs to make one of its jobs.
enum Pinned {
    Circom {
        category: JobCategory,
        wires: usize,
    },
    Zkml {
        category: JobCategory,
        family: Arc<ZkmlModelFamily>,
    },
}

impl Pinned {
    fn category(&self) -> JobCategory {
        match self {
            Pinned::Circom { category, .. } | Pinned::Zkml { category, .. } => *category,
        }
    }
}

/// Keys for the circuits a node proves or verifies: the task families by the id tasks name,
/// and the circuits that prove their jobs by circuit id (the network's own circuits and
/// circom circuits are both; a zkML model's jobs are proven by its slices).
pub struct CircuitWorkload {
    families: BTreeMap<String, Served>,
    circuits: BTreeMap<String, Arc<dyn JobCircuit>>,
}

/// A model commitment as a Supernet pins it (32 bytes, little-endian).
pub fn commitment_digest(commitment: &Fr) -> Digest {
    Digest(lagrange_circuits::family::commitment_bytes(commitment))
}

/// `model` as `id` serves it: named so, with the commitment the Supernet pins.
fn checked_model(
    id: &CircuitId,
    model: ServedModel,
    pinned: Option<Digest>,
) -> Result<Arc<ServedModel>, WorkloadError> {
    if model.id() != id.as_str() {
        return Err(WorkloadError::Setup(format!(
            "{} served as {id}",
            model.id()
        )));
    }
    let commitment = commitment_digest(&model.commitment());
    if let Some(pinned) = pinned
        && pinned != commitment
    {
        return Err(WorkloadError::Setup(format!(
            "model {id} has commitment {commitment}, but the supernet pins {pinned}"
        )));
    }
    Ok(Arc::new(model))
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
            families: BTreeMap::new(),
            circuits: BTreeMap::new(),
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
            families: BTreeMap::new(),
            circuits: BTreeMap::new(),
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
        match prover.spec() {
            CircuitSpec::Coprocessor(_) => {
                self.add_circuit(Arc::new(CoprocessorFamily::new(prover)?), None)
            }
            CircuitSpec::Synthetic { .. } => {
                self.add_circuit(Arc::new(SyntheticFamily::new(prover)?), None)
            }
        }
        Ok(())
    }

    /// Serves a one-circuit family: the tasks that name it and the jobs it proves.
    fn add_circuit<F: Family + JobCircuit + 'static>(
        &mut self,
        family: Arc<F>,
        pinned: Option<Pinned>,
    ) {
        let id = JobCircuit::circuit(family.as_ref()).to_owned();
        self.circuits.insert(id.clone(), family.clone());
        self.families.insert(id, Served { family, pinned });
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
        self.add_circuit(Arc::new(family), Some(Pinned::Circom { category, wires }));
        Ok(())
    }

    /// Serves the zkML model `id` (`zkml/<name>`) of `category` from its ONNX bytes and its
    /// keys file (the caller has checked both against their pinned digests). With `proving`,
    /// every slice's proving key is read and preloaded into `backend`; without (a node that
    /// only verifies the model's proofs), only the verifying keys are read, which is what
    /// makes such a node start in a moment. Refuses a model whose commitment is not `pinned`.
    /// Returns the number of slices.
    #[allow(clippy::too_many_arguments)]
    pub fn add_zkml(
        &mut self,
        id: &CircuitId,
        category: JobCategory,
        onnx: &[u8],
        keys: &[u8],
        pinned: Option<Digest>,
        backend: Arc<dyn MsmBackend>,
        proving: bool,
    ) -> Result<usize, WorkloadError> {
        let name = id
            .as_str()
            .strip_prefix(lagrange_protocol::config::ZKML_PREFIX)
            .ok_or_else(|| WorkloadError::Setup(format!("{id} is not a zkml/<name> id")))?;
        let refused = |e: ZkmlError| WorkloadError::Setup(format!("model {id}: {e}"));
        if proving {
            let keys = ModelKeys::from_bytes(keys).map_err(refused)?;
            let model = ServedModel::load(name, onnx, keys.scale_bits, keys.slices.clone())
                .map_err(refused)?;
            return self.serve_zkml(id, category, model, &keys, pinned, backend);
        }
        let keys = ModelVerifyingKeys::from_bytes(keys).map_err(refused)?;
        let model =
            ServedModel::load(name, onnx, keys.scale_bits, keys.slices.clone()).map_err(refused)?;
        let model = checked_model(id, model, pinned)?;
        let slices = ZkmlSliceCircuit::verifying(&model, &keys, &backend)?;
        Ok(self.insert_zkml(id, category, model, slices, keys.prepared()))
    }

    /// Serves a loaded zkML model with its proving keys (see [`CircuitWorkload::add_zkml`]).
    pub fn serve_zkml(
        &mut self,
        id: &CircuitId,
        category: JobCategory,
        model: ServedModel,
        keys: &ModelKeys,
        pinned: Option<Digest>,
        backend: Arc<dyn MsmBackend>,
    ) -> Result<usize, WorkloadError> {
        let model = checked_model(id, model, pinned)?;
        let slices = ZkmlSliceCircuit::all(&model, keys, &backend)?;
        Ok(self.insert_zkml(id, category, model, slices, keys.prepared()))
    }

    fn insert_zkml(
        &mut self,
        id: &CircuitId,
        category: JobCategory,
        model: Arc<ServedModel>,
        slices: Vec<ZkmlSliceCircuit>,
        pvks: Vec<PreparedVerifyingKey<Bn254>>,
    ) -> usize {
        let count = slices.len();
        for slice in slices {
            self.circuits
                .insert(slice.circuit().to_owned(), Arc::new(slice));
        }
        let family = Arc::new(ZkmlModelFamily::new(model, pvks));
        self.families.insert(
            id.to_string(),
            Served {
                family: family.clone(),
                pinned: Some(Pinned::Zkml { category, family }),
            },
        );
        count
    }

    /// The zkML model `id`, if served here.
    pub fn zkml_model(&self, id: &str) -> Option<&Arc<ServedModel>> {
        match self.families.get(id)?.pinned.as_ref()? {
            Pinned::Zkml { family, .. } => Some(family.model()),
            Pinned::Circom { .. } => None,
        }
    }

    /// One job of each circuit that proves tasks of `category`, for calibration: a sample
    /// query where the category has the network's own circuit, a witness of each circom
    /// circuit, and every slice of each zkML model run on a zero input.
    pub fn calibration_jobs(&self, category: JobCategory) -> Vec<(CircuitId, Vec<u8>)> {
        let mut jobs = Vec::new();
        let query = TaskSpec::Query {
            rows: lagrange_circuits::coprocessor::sample_task(0, 8).0,
            lo: 0,
            hi: u64::MAX,
            category,
        };
        if let Some(plan) = self.split(&query).ok().and_then(|p| p.into_iter().next()) {
            jobs.push((plan.circuit, plan.input));
        }
        for (id, served) in &self.families {
            let Some(pinned) = served.pinned.as_ref().filter(|p| p.category() == category) else {
                continue;
            };
            let Ok(id) = CircuitId::new(id.clone()) else {
                continue;
            };
            match pinned {
                Pinned::Circom { .. } => {
                    if let Some(witness) = self.calibration_witness(&id) {
                        jobs.push((id, witness));
                    }
                }
                Pinned::Zkml { family, .. } => {
                    let zero = vec![0f32.to_bits(); family.model().model().input_len()];
                    let spec = TaskSpec::Zkml {
                        model: id,
                        inputs: vec![zero],
                        commitment: None,
                    };
                    if let Ok(plans) = self.split(&spec) {
                        jobs.extend(plans.into_iter().map(|p| (p.circuit, p.input)));
                    }
                }
            }
        }
        jobs
    }

    /// A witness of the right length for circom circuit `id` (the constant one, zeros
    /// elsewhere): it satisfies nothing, but proving it takes as long as proving a real one,
    /// which is what calibration measures.
    pub fn calibration_witness(&self, id: &CircuitId) -> Option<Vec<u8>> {
        let Some(Pinned::Circom { wires, .. }) = self.families.get(id.as_str())?.pinned else {
            return None;
        };
        let mut values = vec![Fr::from(0u64); wires];
        values[0] = Fr::from(1u64);
        Some(lagrange_circuits::circom::Witness { values }.to_bytes())
    }

    fn family(&self, id: &str) -> Result<&Arc<dyn Family>, WorkloadError> {
        self.families
            .get(id)
            .map(|s| &s.family)
            .ok_or_else(|| WorkloadError::NotServed(id.to_owned()))
    }

    fn circuit(&self, id: &str) -> Result<&Arc<dyn JobCircuit>, WorkloadError> {
        self.circuits
            .get(id)
            .ok_or_else(|| WorkloadError::NotServed(id.to_owned()))
    }

    /// Checks a delivered result against the task it answers, as its client would: every
    /// proof, and that it answers this task.
    fn check(&self, spec: &TaskSpec, result: &[u8]) -> Result<Checked, WorkloadError> {
        let result = TaskResult::from_json(result)?;
        let (id, _) = self.route(spec)?;
        Ok(self.family(&id)?.check(&task_of(spec), &result)?)
    }

    /// Checks a zkML result against the task that asked for it: this model, every slice
    /// proof, every chain, and (when given) its client's inputs. Returns the proven outputs.
    pub fn check_zkml(
        &self,
        model: &str,
        inputs: &[Vec<u32>],
        result: &TaskResult,
    ) -> Result<Vec<Vec<i64>>, WorkloadError> {
        let task = Task::Zkml {
            inputs,
            commitment: None,
        };
        match self.family(model)?.check(&task, result)? {
            Checked::Zkml { outputs, .. } => Ok(outputs),
            _ => Err(FamilyError::Mismatch(format!("not a result of {model}")).into()),
        }
    }

    /// Checks a delivered result against the task it answers, as its client would, and
    /// returns the proven answer (a query) or the number of proofs or inferences (the
    /// others).
    pub fn check_result(&self, spec: &TaskSpec, result: &[u8]) -> Result<Answer, WorkloadError> {
        Ok(match self.check(spec, result)? {
            Checked::Query { sum, count, .. } => Answer { sum, count },
            Checked::Synthetic { proofs } | Checked::Circom { proofs, .. } => Answer {
                sum: 0,
                count: proofs as u64,
            },
            Checked::Zkml { outputs, .. } => Answer {
                sum: 0,
                count: outputs.len() as u64,
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
            TaskSpec::Circom { circuit: id, .. } | TaskSpec::Zkml { model: id, .. } => {
                let category = self
                    .families
                    .get(id.as_str())
                    .and_then(|s| s.pinned.as_ref())
                    .map(Pinned::category)
                    .ok_or_else(|| WorkloadError::NotServed(id.to_string()))?;
                Ok((id.to_string(), category))
            }
        }
    }
}
