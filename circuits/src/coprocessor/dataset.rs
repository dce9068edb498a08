//! Client data sets, their Poseidon hash-chain commitment and the native query evaluator.
//!
//! The chain is `s_0 = genesis()`, `s_{i+1} = H(s_i, key_i + 2^64·value_i + 2^128·i)`.
//! The packed row is below `2^160 < p`, so it is an injective encoding of
//! `(key, value, index)`: the chain commits to every row *and its position*. The
//! commitment is `H(s_n, n + 2^200)`; the `2^200` tag keeps it apart from any chain
//! step (whose second input is below `2^160`), and it binds the row count `n`.

use ark_bn254::Fr;
use ark_ff::{Field, PrimeField};
use serde::{Deserialize, Serialize};

use crate::{encoding, poseidon};

/// Most rows a data set may hold. The row index is packed into 32 bits, and the sum of
/// at most `2^32` values below `2^64` is below `2^96`: it fits a `u128` and can never
/// wrap around the ~`2^254` field.
pub const MAX_ROWS: u64 = 1 << 32;

/// One row of a client data set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Row {
    /// Lookup key.
    pub key: u64,
    /// Value summed by queries.
    pub value: u64,
}

/// A SUM/COUNT range query: values whose key lies in `[lo, hi]` (inclusive). An empty
/// range (`lo > hi`) is allowed and matches nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Query {
    /// Smallest matching key.
    pub lo: u64,
    /// Largest matching key.
    pub hi: u64,
}

impl Query {
    /// Whether `key` is in range.
    pub fn matches(&self, key: u64) -> bool {
        self.lo <= key && key <= self.hi
    }
}

/// The result of a query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Answer {
    /// Sum of the matching values.
    pub sum: u128,
    /// Number of matching rows.
    pub count: u64,
}

/// Errors building a data set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DataSetError {
    /// More rows than [`MAX_ROWS`].
    #[error("data set has {0} rows, more than the maximum {MAX_ROWS}")]
    TooManyRows(usize),
}

/// A committed client data set. Deserialization enforces [`MAX_ROWS`] too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Row>", into = "Vec<Row>")]
pub struct DataSet {
    rows: Vec<Row>,
}

impl DataSet {
    /// Wraps rows, checking the size limit.
    pub fn new(rows: Vec<Row>) -> Result<Self, DataSetError> {
        if rows.len() as u64 > MAX_ROWS {
            return Err(DataSetError::TooManyRows(rows.len()));
        }
        Ok(Self { rows })
    }

    /// The rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Chain states `s_0 ..= s_n` (`n + 1` entries).
    pub fn chain_states(&self) -> Vec<Fr> {
        let mut states = Vec::with_capacity(self.rows.len() + 1);
        let mut s = genesis();
        states.push(s);
        for (i, row) in self.rows.iter().enumerate() {
            s = chain_step(s, *row, i as u64);
            states.push(s);
        }
        states
    }

    /// The data-set commitment.
    pub fn commitment(&self) -> Commitment {
        let last = self
            .rows
            .iter()
            .enumerate()
            .fold(genesis(), |s, (i, row)| chain_step(s, *row, i as u64));
        commitment_of(last, self.rows.len() as u64)
    }

    /// Native evaluation of `query` over all rows.
    pub fn evaluate(&self, query: Query) -> Answer {
        evaluate_rows(&self.rows, query)
    }
}

impl TryFrom<Vec<Row>> for DataSet {
    type Error = DataSetError;

    fn try_from(rows: Vec<Row>) -> Result<Self, Self::Error> {
        Self::new(rows)
    }
}

impl From<DataSet> for Vec<Row> {
    fn from(data: DataSet) -> Self {
        data.rows
    }
}

/// Native evaluation of `query` over a slice of rows.
pub fn evaluate_rows(rows: &[Row], query: Query) -> Answer {
    rows.iter()
        .filter(|r| query.matches(r.key))
        .fold(Answer::default(), |acc, r| Answer {
            sum: acc.sum + u128::from(r.value),
            count: acc.count + 1,
        })
}

/// Domain-separated start of every chain.
pub fn genesis() -> Fr {
    let tag = Fr::from_le_bytes_mod_order(b"lagrange/coprocessor/genesis/v1");
    poseidon::hash2(tag, Fr::from(0u64))
}

/// The packed second hash input of row `index`: `key + 2^64·value + 2^128·index`.
pub fn pack_row(row: Row, index: u64) -> Fr {
    let two64 = Fr::from(1u128 << 64);
    Fr::from(row.key) + two64 * Fr::from(row.value) + two64 * two64 * Fr::from(index)
}

/// One step of the chain: absorb row `index`.
pub fn chain_step(state: Fr, row: Row, index: u64) -> Fr {
    poseidon::hash2(state, pack_row(row, index))
}

/// The commitment to a chain ending in `final_state` after `rows` rows.
pub fn commitment_of(final_state: Fr, rows: u64) -> Commitment {
    let tag = Fr::from(2u64).pow([200u64]);
    Commitment(poseidon::hash2(final_state, Fr::from(rows) + tag))
}

/// A data-set commitment (one field element; hex of its 32-byte compressed encoding in
/// JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Commitment(#[serde(with = "encoding::fr_hex")] pub Fr);

impl Commitment {
    /// Hex of the 32-byte little-endian encoding.
    pub fn to_hex(&self) -> String {
        encoding::fr_to_hex(&self.0)
    }

    /// Parses [`Commitment::to_hex`] output (canonical values only).
    pub fn from_hex(s: &str) -> Result<Self, encoding::DecodeError> {
        encoding::fr_from_hex(s).map(Commitment)
    }
}

impl std::fmt::Display for Commitment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}
