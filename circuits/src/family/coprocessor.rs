//! The coprocessor family: SUM and COUNT over a committed data set.
//!
//! A task's rows are cut into chunks of the circuit's capacity ([`plan_chunks`]); each
//! chunk is a job whose input is its [`JobInput`]. The chunk proofs chain from the
//! genesis state to the data set's commitment and become one [`AggregatedProof`].

use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use ark_std::rand::RngCore;

use super::{
    Checked, Family, FamilyError, JobCircuit, Task, TaskResult, check_count, check_size, wrong_kind,
};
use crate::{
    AggregatedProof, ChunkProof, CircuitSpec, DataSet, JobInput, ProofWithInputs, Prover, Row,
    coprocessor::plan_chunks,
};

/// Most rows one query task may carry.
pub const MAX_QUERY_ROWS: usize = 1 << 16;

/// A coprocessor chunk circuit, with its preloaded keys.
#[derive(Debug)]
pub struct CoprocessorFamily {
    prover: Arc<Prover>,
    id: String,
}

impl CoprocessorFamily {
    /// Serves the chunk circuit `prover` holds (refused for another circuit).
    pub fn new(prover: Arc<Prover>) -> Result<Self, FamilyError> {
        let id = prover.spec().id();
        match prover.spec() {
            CircuitSpec::Coprocessor(_) => Ok(Self { prover, id }),
            CircuitSpec::Synthetic { .. } => Err(FamilyError::WrongKind {
                circuit: id,
                kind: "query",
            }),
        }
    }

    fn data(&self, task: &Task<'_>) -> Result<(DataSet, crate::Query), FamilyError> {
        let Task::Query { rows, query } = task else {
            return Err(wrong_kind(&self.id, task));
        };
        if rows.is_empty() {
            return Err(FamilyError::Empty("the data set is empty"));
        }
        check_count("rows in the data set", rows.len(), MAX_QUERY_ROWS)?;
        let rows = rows
            .iter()
            .map(|&(key, value)| Row { key, value })
            .collect();
        Ok((DataSet::new(rows)?, *query))
    }
}

impl JobCircuit for CoprocessorFamily {
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

impl Family for CoprocessorFamily {
    fn id(&self) -> &str {
        &self.id
    }

    fn split(&self, task: &Task<'_>, max_input: usize) -> Result<Vec<Vec<u8>>, FamilyError> {
        let (data, query) = self.data(task)?;
        let CircuitSpec::Coprocessor(shape) = self.prover.spec() else {
            return Err(wrong_kind(&self.id, task));
        };
        plan_chunks(&data, query, shape)
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let input = JobInput::Coprocessor(chunk).to_bytes();
                check_size(|| format!("chunk {i}"), input.len(), max_input)?;
                Ok(input)
            })
            .collect()
    }

    fn aggregate(
        &self,
        task: &Task<'_>,
        proofs: &[(&[u8], Proof<Bn254>)],
    ) -> Result<TaskResult, FamilyError> {
        let (data, query) = self.data(task)?;
        let chunks = proofs
            .iter()
            .map(|(input, proof)| match JobInput::from_bytes(input)? {
                JobInput::Coprocessor(chunk) => Ok(ChunkProof {
                    statement: chunk.statement(),
                    proof: proof.clone(),
                }),
                JobInput::Synthetic(_) => Err(FamilyError::Mismatch(
                    "a query task with a synthetic job".into(),
                )),
            })
            .collect::<Result<_, FamilyError>>()?;
        let bundle = AggregatedProof::new(&self.id, data.commitment(), query, chunks)?;
        // Checked once, as a client will.
        bundle.verify(self.verifying_key(), &data.commitment(), &query)?;
        Ok(TaskResult::Query(bundle))
    }

    fn check(&self, task: &Task<'_>, result: &TaskResult) -> Result<Checked, FamilyError> {
        let (data, query) = self.data(task)?;
        let TaskResult::Query(bundle) = result else {
            return Err(FamilyError::Mismatch(
                "the result does not match the task kind".into(),
            ));
        };
        let answer = bundle.verify(self.verifying_key(), &data.commitment(), &query)?;
        Ok(Checked::Query {
            sum: answer.sum,
            count: answer.count,
            commitment: bundle.commitment.to_hex(),
            rows: bundle.rows,
        })
    }
}
