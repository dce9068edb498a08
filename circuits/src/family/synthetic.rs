//! The synthetic family: independent proofs of the load circuit, for load tests.
//!
//! Job `i` of a task is the synthetic chain with seed `i`; the result lists each proof
//! with its public inputs.

use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use ark_std::rand::RngCore;

use super::{Checked, Family, FamilyError, JobCircuit, Task, TaskResult, check_count, wrong_kind};
use crate::{CircuitSpec, JobInput, ProofWithInputs, Prover, encoding, synthetic::SyntheticJob};

/// Most jobs one synthetic task may ask for.
pub const MAX_SYNTHETIC_JOBS: u32 = 1024;

/// The synthetic circuit of one size, with its preloaded keys.
#[derive(Debug)]
pub struct SyntheticFamily {
    prover: Arc<Prover>,
    log2: u32,
    id: String,
}

impl SyntheticFamily {
    /// Serves the synthetic circuit `prover` holds (refused for another circuit).
    pub fn new(prover: Arc<Prover>) -> Result<Self, FamilyError> {
        let id = prover.spec().id();
        match prover.spec() {
            CircuitSpec::Synthetic { log2 } => Ok(Self { prover, log2, id }),
            CircuitSpec::Coprocessor(_) => Err(FamilyError::WrongKind {
                circuit: id,
                kind: "synthetic",
            }),
        }
    }

    fn jobs(&self, task: &Task<'_>) -> Result<u32, FamilyError> {
        let Task::Synthetic { jobs } = task else {
            return Err(wrong_kind(&self.id, task));
        };
        check_count(
            "synthetic jobs requested",
            *jobs as usize,
            MAX_SYNTHETIC_JOBS as usize,
        )?;
        Ok(*jobs)
    }
}

impl JobCircuit for SyntheticFamily {
    fn circuit(&self) -> &str {
        &self.id
    }

    fn statement(&self, input: &[u8]) -> Result<Vec<Fr>, FamilyError> {
        Ok(JobInput::from_bytes(input)?.public_inputs())
    }

    fn prove(
        &self,
        input: &[u8],
        mut rng: &mut dyn RngCore,
    ) -> Result<ProofWithInputs, FamilyError> {
        Ok(self.prover.prove(&JobInput::from_bytes(input)?, &mut rng)?)
    }

    fn verifying_key(&self) -> &PreparedVerifyingKey<Bn254> {
        self.prover.prepared_verifying_key()
    }
}

impl Family for SyntheticFamily {
    fn id(&self) -> &str {
        &self.id
    }

    fn split(&self, task: &Task<'_>, _max_input: usize) -> Result<Vec<Vec<u8>>, FamilyError> {
        let jobs = self.jobs(task)?;
        Ok((0..jobs)
            .map(|i| {
                JobInput::Synthetic(SyntheticJob {
                    log2: self.log2,
                    seed: u64::from(i),
                })
                .to_bytes()
            })
            .collect())
    }

    fn aggregate(
        &self,
        task: &Task<'_>,
        proofs: &[(&[u8], Proof<Bn254>)],
    ) -> Result<TaskResult, FamilyError> {
        self.jobs(task)?;
        let proofs = proofs
            .iter()
            .map(|(input, proof)| {
                let inputs = encoding::encode_public_inputs(&self.statement(input)?);
                Ok((
                    hex::encode(inputs),
                    hex::encode(encoding::encode_proof(proof)),
                ))
            })
            .collect::<Result<_, FamilyError>>()?;
        Ok(TaskResult::Synthetic {
            circuit: self.id.clone(),
            proofs,
        })
    }

    fn check(&self, task: &Task<'_>, result: &TaskResult) -> Result<Checked, FamilyError> {
        let jobs = self.jobs(task)?;
        if !matches!(result, TaskResult::Synthetic { .. }) || result.circuit() != self.id {
            return Err(FamilyError::Mismatch(format!(
                "the result is not {jobs} proofs of {}",
                self.id
            )));
        }
        result.check(self.verifying_key())
    }
}
