//! Shared fixtures for the integration tests: small circuits, seeded keys and rngs.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use lagrange_circuits::{
    CircuitParams, CircuitSpec, DataSet, Prover, Query, Row,
    coprocessor::{ChunkJob, ChunkShape, plan_chunks},
    params::setup_insecure_seeded,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A tiny synthetic circuit (2^6 domain): proofs take milliseconds even unoptimised.
pub const TINY: CircuitSpec = CircuitSpec::Synthetic { log2: 6 };

/// A 3-row chunk circuit: small enough for debug-build tests, big enough for a short
/// last chunk.
pub const SHAPE3: ChunkShape = ChunkShape { rows: 3 };
/// The circuit of [`SHAPE3`] chunks.
pub const CHUNK3: CircuitSpec = CircuitSpec::Coprocessor(SHAPE3);

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn cached(spec: CircuitSpec, cell: &'static OnceLock<CircuitParams>) -> &'static CircuitParams {
    cell.get_or_init(|| setup_insecure_seeded(spec, 7).expect("setup"))
}

pub fn tiny_params() -> &'static CircuitParams {
    static CELL: OnceLock<CircuitParams> = OnceLock::new();
    cached(TINY, &CELL)
}

pub fn chunk_params() -> &'static CircuitParams {
    static CELL: OnceLock<CircuitParams> = OnceLock::new();
    cached(CHUNK3, &CELL)
}

pub fn prover(params: &CircuitParams) -> Prover {
    Prover::cpu(params.spec, Arc::clone(&params.pk))
}

/// A deterministic data set of `n` rows with keys in `0..20`.
pub fn dataset(n: usize, seed: u64) -> DataSet {
    let mut r = rng(seed);
    let rows = (0..n)
        .map(|_| Row {
            key: r.gen_range(0..20),
            value: r.gen_range(0..1_000_000),
        })
        .collect();
    DataSet::new(rows).expect("small data set")
}

pub const QUERY: Query = Query { lo: 5, hi: 12 };

pub fn jobs(data: &DataSet) -> Vec<ChunkJob> {
    plan_chunks(data, QUERY, SHAPE3)
}
