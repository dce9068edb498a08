//! Aggregation of a coprocessor task's chunk proofs into one checkable bundle.
//!
//! An [`AggregatedProof`] is a *bundle*, not a recursive SNARK: it carries every chunk
//! proof with its statement, and [`AggregatedProof::verify`] checks in one call that
//!
//! 1. the chunk statements chain from the genesis state (row 0) with no gap, overlap
//!    or reordering: each chunk starts at the previous one's state and row offset plus
//!    row count;
//! 2. the final state and the total row count hash to the data-set commitment the
//!    caller expects, and every chunk answers the query the caller expects;
//! 3. the partial sums and counts add up to the claimed answer;
//! 4. all chunk proofs verify, in one batch (random linear combination whose scalars
//!    are derived from a hash of the whole bundle and the verifying key).
//!
//! Together these prove: "the query over *exactly* the committed rows, in order, has
//! this answer" (under Groth16 soundness and Poseidon collision resistance).
//!
//! It does **not** give a constant-size proof or constant-time verification: size and
//! verification time grow linearly with the chunk count. It says nothing about who
//! produced the data set, only that the answer matches its commitment; and it is only
//! as trustworthy as the keys (see [`mod@crate::params::setup`]).

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::{
    circuit_id::{CircuitSpec, UnknownCircuit},
    coprocessor::{Answer, ChunkStatement, Commitment, MAX_ROWS, Query, commitment_of, genesis},
    encoding,
    verify::{self, VerifyError},
};

/// One verified chunk: its statement and proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkProof {
    /// The public statement.
    pub statement: ChunkStatement,
    /// The Groth16 proof (hex of the compressed, validated encoding in JSON).
    #[serde(with = "encoding::ark_bytes")]
    pub proof: Proof<Bn254>,
}

/// A task's answer with the chunk proofs that establish it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregatedProof {
    /// Circuit id of every chunk proof.
    pub circuit_id: String,
    /// The data-set commitment.
    pub commitment: Commitment,
    /// The query.
    pub query: Query,
    /// Rows in the data set.
    pub rows: u64,
    /// The answer.
    pub answer: Answer,
    /// Chunk proofs in chain order.
    pub chunks: Vec<ChunkProof>,
}

/// Why aggregation or its verification failed.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// No chunks.
    #[error("no chunk proofs")]
    Empty,
    /// The circuit id is unknown.
    #[error(transparent)]
    UnknownCircuit(#[from] UnknownCircuit),
    /// The circuit is not a coprocessor chunk circuit.
    #[error("circuit {0} is not a coprocessor circuit")]
    NotCoprocessor(String),
    /// The bundle is for another data set than the caller expects.
    #[error("bundle is for another data-set commitment")]
    CommitmentMismatch,
    /// The bundle answers another query than the caller expects.
    #[error("bundle answers another query")]
    QueryMismatch,
    /// Chunk 0 does not start at the genesis state and row 0.
    #[error("first chunk does not start at the genesis state and row 0")]
    NotFromGenesis,
    /// Chunk `index` does not continue the previous chunk.
    #[error("chunk {index} does not continue chunk {}", .index - 1)]
    ChainBroken {
        /// The chunk.
        index: usize,
    },
    /// Chunk `index` answers another query.
    #[error("chunk {index} answers another query")]
    WrongQuery {
        /// The chunk.
        index: usize,
    },
    /// Chunk `index` claims more rows than its circuit holds.
    #[error("chunk {index} claims {rows} rows, capacity is {capacity}")]
    TooManyRows {
        /// The chunk.
        index: usize,
        /// Rows claimed.
        rows: u64,
        /// Circuit capacity.
        capacity: usize,
    },
    /// The chunks cover another number of rows than the bundle claims.
    #[error("chunks cover {covered} rows, bundle claims {claimed}")]
    RowCount {
        /// Rows covered by the chunks.
        covered: u64,
        /// Rows claimed.
        claimed: u64,
    },
    /// The final state and row count do not hash to the commitment.
    #[error("final chain state does not match the commitment")]
    NotTheCommitment,
    /// Adding up the partial results overflows (impossible for valid proofs).
    #[error("partial results overflow")]
    Overflow,
    /// The partial results do not add up to the claimed answer.
    #[error("partial results add up to {computed:?}, bundle claims {claimed:?}")]
    AnswerMismatch {
        /// Sum of the partial results.
        computed: Answer,
        /// Claimed answer.
        claimed: Answer,
    },
    /// A chunk's public inputs are malformed.
    #[error("chunk {index}: {source}")]
    BadStatement {
        /// The chunk.
        index: usize,
        /// Cause.
        #[source]
        source: crate::coprocessor::StatementError,
    },
    /// The proofs do not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

fn capacity_of(circuit_id: &str) -> Result<usize, AggregateError> {
    match CircuitSpec::parse(circuit_id)? {
        CircuitSpec::Coprocessor(shape) => Ok(shape.rows),
        CircuitSpec::Synthetic { .. } => Err(AggregateError::NotCoprocessor(circuit_id.into())),
    }
}

impl AggregatedProof {
    /// Builds a bundle from chunk proofs in chain order (proofs already verified by the
    /// caller, e.g. by batch verification on arrival). Checks the chain and sums the
    /// answer; a bundle that would not verify structurally is refused.
    pub fn new(
        circuit_id: &str,
        commitment: Commitment,
        query: Query,
        chunks: Vec<ChunkProof>,
    ) -> Result<Self, AggregateError> {
        let rows = chunks
            .last()
            .map(|c| c.statement.row_offset.saturating_add(c.statement.rows))
            .ok_or(AggregateError::Empty)?;
        let mut bundle = Self {
            circuit_id: circuit_id.to_owned(),
            commitment,
            query,
            rows,
            answer: Answer::default(),
            chunks,
        };
        bundle.answer = bundle.combined_answer()?;
        bundle.check_structure()?;
        Ok(bundle)
    }

    /// Builds a bundle from raw public-input vectors and proofs.
    pub fn from_public_inputs(
        circuit_id: &str,
        commitment: Commitment,
        query: Query,
        proofs: Vec<(Vec<Fr>, Proof<Bn254>)>,
    ) -> Result<Self, AggregateError> {
        let chunks = proofs
            .into_iter()
            .enumerate()
            .map(|(index, (inputs, proof))| {
                ChunkStatement::from_public_inputs(&inputs)
                    .map(|statement| ChunkProof { statement, proof })
                    .map_err(|source| AggregateError::BadStatement { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(circuit_id, commitment, query, chunks)
    }

    fn combined_answer(&self) -> Result<Answer, AggregateError> {
        let mut total = Answer::default();
        for c in &self.chunks {
            // Each partial sum is below 2^76 and there are at most 2^32 chunks: no overflow
            // is possible for proofs that verify, but the claims are checked anyway.
            total.sum = total
                .sum
                .checked_add(c.statement.sum)
                .ok_or(AggregateError::Overflow)?;
            total.count = total
                .count
                .checked_add(c.statement.count)
                .ok_or(AggregateError::Overflow)?;
        }
        Ok(total)
    }

    /// Checks everything except the proofs themselves (cheap).
    pub fn check_structure(&self) -> Result<(), AggregateError> {
        let capacity = capacity_of(&self.circuit_id)?;
        let first = self.chunks.first().ok_or(AggregateError::Empty)?;
        if first.statement.state_before != genesis() || first.statement.row_offset != 0 {
            return Err(AggregateError::NotFromGenesis);
        }
        let mut next_offset = 0u64;
        let mut state = first.statement.state_before;
        for (index, chunk) in self.chunks.iter().enumerate() {
            let st = &chunk.statement;
            if st.state_before != state || st.row_offset != next_offset {
                return Err(AggregateError::ChainBroken { index });
            }
            if st.query != self.query {
                return Err(AggregateError::WrongQuery { index });
            }
            if st.rows > capacity as u64 {
                return Err(AggregateError::TooManyRows {
                    index,
                    rows: st.rows,
                    capacity,
                });
            }
            next_offset = next_offset.saturating_add(st.rows);
            state = st.state_after;
        }
        if next_offset != self.rows || self.rows > MAX_ROWS {
            return Err(AggregateError::RowCount {
                covered: next_offset,
                claimed: self.rows,
            });
        }
        if commitment_of(state, self.rows) != self.commitment {
            return Err(AggregateError::NotTheCommitment);
        }
        let computed = self.combined_answer()?;
        if computed != self.answer {
            return Err(AggregateError::AnswerMismatch {
                computed,
                claimed: self.answer,
            });
        }
        Ok(())
    }

    /// Full check, in one call: the bundle is for `commitment` and `query`, its chain is
    /// continuous from genesis to the commitment, the partial results add up, and all
    /// proofs batch-verify under `pvk`. Returns the proven answer.
    pub fn verify(
        &self,
        pvk: &PreparedVerifyingKey<Bn254>,
        commitment: &Commitment,
        query: &Query,
    ) -> Result<Answer, AggregateError> {
        if self.commitment != *commitment {
            return Err(AggregateError::CommitmentMismatch);
        }
        if self.query != *query {
            return Err(AggregateError::QueryMismatch);
        }
        self.check_structure()?;
        let items: Vec<(Proof<Bn254>, Vec<Fr>)> = self
            .chunks
            .iter()
            .map(|c| (c.proof.clone(), c.statement.to_public_inputs()))
            .collect();
        let mut rng = ChaCha20Rng::from_seed(self.batch_seed(pvk, &items));
        verify::batch_verify(pvk, &items, &mut rng)?;
        Ok(self.answer)
    }

    /// Fiat–Shamir seed for the batch scalars: a hash of the key and every proof and input.
    fn batch_seed(
        &self,
        pvk: &PreparedVerifyingKey<Bn254>,
        items: &[(Proof<Bn254>, Vec<Fr>)],
    ) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"lagrange/aggregate/batch-scalars/v1");
        h.update(&encoding::encode_verifying_key(&pvk.vk));
        for (proof, inputs) in items {
            h.update(&encoding::encode_proof(proof));
            h.update(&encoding::encode_public_inputs(inputs));
        }
        *h.finalize().as_bytes()
    }

    /// A digest of the bundle (blake3 of its JSON form).
    pub fn digest(&self) -> [u8; 32] {
        let json = serde_json::to_vec(self).unwrap_or_default();
        *blake3::hash(&json).as_bytes()
    }
}
