//! The circom family: one proof per witness of a circom circuit, in snarkjs' formats.
//!
//! A task's `.wtns` witnesses are checked against the circuit's constraints, and its
//! `input.json` objects turned into checked witnesses by the circuit's generator, before
//! anything is auctioned: an unsatisfying witness is the client's fault. Each witness is
//! one job; the statement is the public signals of the gateway's copy of the witness.

use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use ark_std::rand::RngCore;

use super::{
    Checked, CircomProof, Family, FamilyError, JobCircuit, Task, TaskResult, check_count,
    check_size, wrong_kind,
};
use crate::{
    ProofWithInputs,
    circom::{CircomCircuit, CircomError, Witness},
    snarkjs,
};

/// Most witnesses and inputs one circom task may carry.
pub const MAX_CIRCOM_JOBS: usize = 1024;

/// A circom circuit served under an id (`circom/<name>`).
#[derive(Debug)]
pub struct CircomFamily {
    circuit: Arc<CircomCircuit>,
    id: String,
}

impl CircomFamily {
    /// Serves `circuit` as `id`.
    pub fn new(id: impl Into<String>, circuit: Arc<CircomCircuit>) -> Self {
        Self {
            circuit,
            id: id.into(),
        }
    }

    /// The circuit.
    pub fn circom(&self) -> &CircomCircuit {
        &self.circuit
    }

    fn witness(input: &[u8]) -> Result<Witness, FamilyError> {
        Witness::from_bytes(input).map_err(|e| FamilyError::Input(e.to_string()))
    }

    fn public(&self, witness: &Witness) -> Result<Vec<Fr>, FamilyError> {
        self.circuit
            .public_signals(witness)
            .map(<[Fr]>::to_vec)
            .map_err(|e| FamilyError::Input(e.to_string()))
    }

    fn same_circuit(&self, task: &Task<'_>, result: &TaskResult) -> Result<(), FamilyError> {
        let Task::Circom { .. } = task else {
            return Err(wrong_kind(&self.id, task));
        };
        match result {
            TaskResult::Circom { circuit, .. } if *circuit == self.id => Ok(()),
            TaskResult::Circom { circuit, .. } => Err(FamilyError::Mismatch(format!(
                "a result for {circuit}, but the task asked for {}",
                self.id
            ))),
            _ => Err(FamilyError::Mismatch(
                "the result does not match the task kind".into(),
            )),
        }
    }
}

impl JobCircuit for CircomFamily {
    fn circuit(&self) -> &str {
        &self.id
    }

    fn statement(&self, input: &[u8]) -> Result<Vec<Fr>, FamilyError> {
        self.public(&Self::witness(input)?)
    }

    fn prove(
        &self,
        input: &[u8],
        mut rng: &mut dyn RngCore,
    ) -> Result<ProofWithInputs, FamilyError> {
        let witness = Self::witness(input)?;
        self.circuit
            .prove(&witness, &mut rng)
            .map_err(|source| FamilyError::Circom {
                what: "the job's witness".into(),
                source,
            })
    }

    fn verifying_key(&self) -> &PreparedVerifyingKey<Bn254> {
        self.circuit.prepared_verifying_key()
    }
}

impl Family for CircomFamily {
    fn id(&self) -> &str {
        &self.id
    }

    fn split(&self, task: &Task<'_>, max_input: usize) -> Result<Vec<Vec<u8>>, FamilyError> {
        let Task::Circom { witnesses, inputs } = task else {
            return Err(wrong_kind(&self.id, task));
        };
        if witnesses.is_empty() && inputs.is_empty() {
            return Err(FamilyError::Empty(
                "a circom task needs witnesses or inputs",
            ));
        }
        check_count(
            "witnesses and inputs",
            witnesses.len() + inputs.len(),
            MAX_CIRCOM_JOBS,
        )?;
        let refused =
            |what: String| move |source: CircomError| FamilyError::Circom { what, source };
        let mut jobs = Vec::with_capacity(witnesses.len() + inputs.len());
        for (i, wtns) in witnesses.iter().enumerate() {
            let what = || format!("circom.witnesses[{i}]");
            check_size(what, wtns.len(), max_input)?;
            self.circuit.witness(wtns).map_err(refused(what()))?;
            jobs.push(wtns.clone());
        }
        for (i, json) in inputs.iter().enumerate() {
            let what = format!("circom.inputs[{i}]");
            let witness = self
                .circuit
                .witness_from_inputs(json)
                .map_err(refused(what.clone()))?;
            let bytes = witness.to_bytes();
            check_size(|| format!("the witness of {what}"), bytes.len(), max_input)?;
            jobs.push(bytes);
        }
        Ok(jobs)
    }

    fn aggregate(
        &self,
        task: &Task<'_>,
        proofs: &[(&[u8], Proof<Bn254>)],
    ) -> Result<TaskResult, FamilyError> {
        let Task::Circom { .. } = task else {
            return Err(wrong_kind(&self.id, task));
        };
        let proofs = proofs
            .iter()
            .map(|(input, proof)| {
                let public = self.statement(input)?;
                // Checked once more, as a client will.
                self.circuit.verify(proof, &public)?;
                Ok(CircomProof {
                    proof: snarkjs::proof_json(proof),
                    public: snarkjs::public_json(&public),
                })
            })
            .collect::<Result<_, FamilyError>>()?;
        Ok(TaskResult::Circom {
            circuit: self.id.clone(),
            verification_key: Box::new(snarkjs::verification_key_json(&self.circuit.key().pk.vk)),
            proofs,
        })
    }

    fn check(&self, task: &Task<'_>, result: &TaskResult) -> Result<Checked, FamilyError> {
        self.same_circuit(task, result)?;
        result.check(self.verifying_key())
    }
}
