//! Chunk jobs: one contiguous slice of a data set's rows, and the public statement its
//! proof establishes.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use serde::{Deserialize, Serialize};

use super::{
    category::ChunkShape,
    dataset::{Answer, DataSet, MAX_ROWS, Query, Row, chain_step, evaluate_rows},
};
use crate::encoding;

/// Number of public inputs of a chunk circuit.
pub const NUM_PUBLIC_INPUTS: usize = 8;

/// Errors in a chunk job or a chunk statement.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatementError {
    /// The chunk capacity is outside `1..=MAX_CHUNK_ROWS`.
    #[error("unsupported chunk capacity {0}")]
    BadShape(usize),
    /// More rows than the chunk capacity.
    #[error("chunk holds {rows} rows but its capacity is {capacity}")]
    TooManyRows {
        /// Rows supplied.
        rows: usize,
        /// Capacity of the shape.
        capacity: usize,
    },
    /// The chunk would reach past [`MAX_ROWS`].
    #[error("chunk rows {offset}..{offset}+{rows} exceed the data-set maximum")]
    OutOfRange {
        /// First row index.
        offset: u64,
        /// Row count.
        rows: u64,
    },
    /// Wrong number of public inputs.
    #[error("expected {NUM_PUBLIC_INPUTS} public inputs, got {0}")]
    InputCount(usize),
    /// A public input that must be a small integer is not.
    #[error("public input {name} is not a valid {bits}-bit integer")]
    NotAnInteger {
        /// Which input.
        name: &'static str,
        /// Its width.
        bits: u32,
    },
}

/// The public statement of one chunk proof, in circuit order:
/// `[state_before, state_after, lo, hi, sum, count, row_offset, rows]`.
///
/// It says: starting from chain state `state_before` at row `row_offset`, absorbing
/// `rows` rows gives `state_after`, and among those rows `count` have a key in
/// `[lo, hi]`, with values summing to `sum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStatement {
    /// Chain state before the chunk.
    #[serde(with = "encoding::fr_hex")]
    pub state_before: Fr,
    /// Chain state after the chunk.
    #[serde(with = "encoding::fr_hex")]
    pub state_after: Fr,
    /// The query.
    pub query: Query,
    /// Partial sum of matching values.
    pub sum: u128,
    /// Partial count of matching rows.
    pub count: u64,
    /// Index of the chunk's first row in the data set.
    pub row_offset: u64,
    /// Rows absorbed (at most the chunk capacity).
    pub rows: u64,
}

impl ChunkStatement {
    /// The public-input vector.
    pub fn to_public_inputs(&self) -> Vec<Fr> {
        vec![
            self.state_before,
            self.state_after,
            Fr::from(self.query.lo),
            Fr::from(self.query.hi),
            Fr::from(self.sum),
            Fr::from(self.count),
            Fr::from(self.row_offset),
            Fr::from(self.rows),
        ]
    }

    /// Parses a public-input vector, checking that integer inputs fit their types.
    pub fn from_public_inputs(inputs: &[Fr]) -> Result<Self, StatementError> {
        let [sb, sa, lo, hi, sum, count, off, rows] = inputs else {
            return Err(StatementError::InputCount(inputs.len()));
        };
        Ok(Self {
            state_before: *sb,
            state_after: *sa,
            query: Query {
                lo: to_u64(lo, "lo")?,
                hi: to_u64(hi, "hi")?,
            },
            sum: to_u128(sum, "sum")?,
            count: to_u64(count, "count")?,
            row_offset: to_u64(off, "row_offset")?,
            rows: to_u64(rows, "rows")?,
        })
    }

    /// The partial answer.
    pub fn answer(&self) -> Answer {
        Answer {
            sum: self.sum,
            count: self.count,
        }
    }
}

fn to_u128(x: &Fr, name: &'static str) -> Result<u128, StatementError> {
    let bytes = x.into_bigint().to_bytes_le();
    let (low, high) = bytes.split_at(16.min(bytes.len()));
    if high.iter().any(|b| *b != 0) {
        return Err(StatementError::NotAnInteger { name, bits: 128 });
    }
    let mut buf = [0u8; 16];
    buf[..low.len()].copy_from_slice(low);
    Ok(u128::from_le_bytes(buf))
}

fn to_u64(x: &Fr, name: &'static str) -> Result<u64, StatementError> {
    let v = to_u128(x, name)?;
    u64::try_from(v).map_err(|_| StatementError::NotAnInteger { name, bits: 64 })
}

/// The inputs of one chunk proof (witness included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkJob {
    /// Circuit capacity.
    pub shape: ChunkShape,
    /// The query.
    pub query: Query,
    /// Index of the first row in the data set.
    pub row_offset: u64,
    /// Chain state before the first row.
    #[serde(with = "encoding::fr_hex")]
    pub state_before: Fr,
    /// The rows (at most `shape.rows`; fewer only in a data set's last chunk).
    pub rows: Vec<Row>,
}

impl ChunkJob {
    /// An all-zero job of the given shape, used for key generation.
    pub fn blank(shape: ChunkShape) -> Self {
        Self {
            shape,
            query: Query { lo: 0, hi: 0 },
            row_offset: 0,
            state_before: Fr::from(0u64),
            rows: Vec::new(),
        }
    }

    /// Checks the job is well formed (it may come from the network).
    pub fn validate(&self) -> Result<(), StatementError> {
        if !self.shape.is_valid() {
            return Err(StatementError::BadShape(self.shape.rows));
        }
        if self.rows.len() > self.shape.rows {
            return Err(StatementError::TooManyRows {
                rows: self.rows.len(),
                capacity: self.shape.rows,
            });
        }
        let rows = self.rows.len() as u64;
        if self
            .row_offset
            .checked_add(rows)
            .is_none_or(|end| end > MAX_ROWS)
        {
            return Err(StatementError::OutOfRange {
                offset: self.row_offset,
                rows,
            });
        }
        Ok(())
    }

    /// The statement an honest proof of this job establishes, computed natively.
    pub fn statement(&self) -> ChunkStatement {
        let state_after = self
            .rows
            .iter()
            .enumerate()
            .fold(self.state_before, |s, (i, row)| {
                chain_step(s, *row, self.row_offset + i as u64)
            });
        let answer = evaluate_rows(&self.rows, self.query);
        ChunkStatement {
            state_before: self.state_before,
            state_after,
            query: self.query,
            sum: answer.sum,
            count: answer.count,
            row_offset: self.row_offset,
            rows: self.rows.len() as u64,
        }
    }
}

/// Splits `query` over `data` into chunk jobs of `shape`, in chain order. Every chunk is
/// full except possibly the last; an empty data set gives one empty chunk.
pub fn plan_chunks(data: &DataSet, query: Query, shape: ChunkShape) -> Vec<ChunkJob> {
    let states = data.chain_states();
    let capacity = shape.rows.max(1);
    if data.is_empty() {
        let mut job = ChunkJob::blank(shape);
        job.query = query;
        job.state_before = states.first().copied().unwrap_or_default();
        return vec![job];
    }
    data.rows()
        .chunks(capacity)
        .enumerate()
        .map(|(i, rows)| {
            let offset = i * capacity;
            ChunkJob {
                shape,
                query,
                row_offset: offset as u64,
                state_before: states.get(offset).copied().unwrap_or_default(),
                rows: rows.to_vec(),
            }
        })
        .collect()
}
