//! The coprocessor query workload: SUM and COUNT over a committed key/value data set.
//!
//! A client data set is a list of `(key, value)` rows of `u64`s, committed with a
//! Poseidon hash chain (see [`dataset`]). A [`Query`] asks for the sum and count of the
//! values whose key lies in `[lo, hi]`. The gateway splits a query into chunk jobs of a
//! fixed row capacity per [`Category`]; each chunk proof shows how one contiguous slice
//! of the chain advances and what it contributes to the answer (see [`chunk`] and
//! [`circuit`]). [`crate::aggregate`] checks that the chunks cover the whole data set.
//! [`sample_task`] is a deterministic sample query for devnets and tests.

pub mod category;
pub mod chunk;
pub mod circuit;
pub mod dataset;
pub mod sample;

pub use category::{Category, ChunkShape};
pub use chunk::{ChunkJob, ChunkStatement, StatementError, plan_chunks};
pub use circuit::ChunkCircuit;
pub use dataset::{
    Answer, Commitment, DataSet, DataSetError, MAX_ROWS, Query, Row, chain_step, commitment_of,
    genesis,
};
pub use sample::sample_task;
