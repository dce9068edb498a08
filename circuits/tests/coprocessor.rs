//! The coprocessor workload end to end: native evaluator against circuit outputs,
//! chunk chaining and aggregation, and the ways a bundle can be forged.

mod common;

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};
use common::*;
use lagrange_circuits::{
    AggregateError, AggregatedProof, ChunkProof, ChunkStatement, DataSet, JobInput, Query, Row,
    coprocessor::{Category, ChunkJob, ChunkShape, genesis, plan_chunks},
};

/// A 7-row data set split into 3-row chunks (3 + 3 + 1), all proven once.
struct Task {
    data: DataSet,
    chunks: Vec<ChunkProof>,
}

fn task() -> &'static Task {
    static TASK: OnceLock<Task> = OnceLock::new();
    TASK.get_or_init(|| {
        let data = dataset(7, 1);
        let prover = prover(chunk_params());
        let mut r = rng(2);
        let chunks = jobs(&data)
            .into_iter()
            .map(|job| {
                let out = prover
                    .prove(&JobInput::Coprocessor(job), &mut r)
                    .expect("prove");
                ChunkProof {
                    statement: ChunkStatement::from_public_inputs(&out.public_inputs)
                        .expect("statement"),
                    proof: out.proof,
                }
            })
            .collect();
        Task { data, chunks }
    })
}

fn bundle(chunks: Vec<ChunkProof>) -> Result<AggregatedProof, AggregateError> {
    AggregatedProof::new(&CHUNK3.id(), task().data.commitment(), QUERY, chunks)
}

fn verify(bundle: &AggregatedProof) -> Result<lagrange_circuits::Answer, AggregateError> {
    bundle.verify(&chunk_params().pvk(), &task().data.commitment(), &QUERY)
}

#[test]
fn circuit_outputs_equal_the_native_evaluator() {
    let t = task();
    let jobs = jobs(&t.data);
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[2].rows.len(), 1);
    for (job, chunk) in jobs.iter().zip(&t.chunks) {
        assert_eq!(chunk.statement, job.statement());
    }
    let states = t.data.chain_states();
    assert_eq!(t.chunks[0].statement.state_before, genesis());
    assert_eq!(t.chunks[2].statement.state_after, states[7]);
    let total = t.chunks.iter().fold((0u128, 0u64), |acc, c| {
        (acc.0 + c.statement.sum, acc.1 + c.statement.count)
    });
    let native = t.data.evaluate(QUERY);
    assert_eq!((native.sum, native.count), total);
    assert!(native.count > 0, "the fixture should match some rows");
}

#[test]
fn aggregated_task_verifies_and_round_trips_through_json() {
    let b = bundle(task().chunks.clone()).expect("aggregate");
    assert_eq!(verify(&b).expect("verifies"), task().data.evaluate(QUERY));
    let json = serde_json::to_string(&b).expect("json");
    let back: AggregatedProof = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, b);
    assert_eq!(back.digest(), b.digest());
}

#[test]
fn chunks_in_wrong_order_are_rejected() {
    let mut chunks = task().chunks.clone();
    chunks.swap(0, 1);
    assert!(matches!(
        bundle(chunks),
        Err(AggregateError::NotFromGenesis)
    ));
    let mut chunks = task().chunks.clone();
    chunks.swap(1, 2);
    assert!(matches!(
        bundle(chunks),
        Err(AggregateError::ChainBroken { index: 1 })
    ));
}

#[test]
fn dropped_or_duplicated_chunks_are_rejected() {
    let mut chunks = task().chunks.clone();
    chunks.remove(1);
    assert!(matches!(
        bundle(chunks),
        Err(AggregateError::ChainBroken { index: 1 })
    ));
    let mut chunks = task().chunks.clone();
    chunks.pop();
    assert!(matches!(
        bundle(chunks),
        Err(AggregateError::NotTheCommitment)
    ));
    let mut chunks = task().chunks.clone();
    chunks.push(chunks[2].clone());
    assert!(bundle(chunks).is_err());
}

#[test]
fn chunk_from_another_data_set_is_rejected() {
    // Same first 3 rows, different 4th row: the second chunk differs.
    let mut rows = task().data.rows().to_vec();
    rows[3].value += 1;
    let other = DataSet::new(rows).expect("data");
    let job = plan_chunks(&other, QUERY, SHAPE3).remove(1);
    let out = prover(chunk_params())
        .prove(&JobInput::Coprocessor(job), &mut rng(3))
        .expect("prove");
    let mut chunks = task().chunks.clone();
    chunks[1] = ChunkProof {
        statement: ChunkStatement::from_public_inputs(&out.public_inputs).expect("statement"),
        proof: out.proof,
    };
    assert!(matches!(
        bundle(chunks),
        Err(AggregateError::ChainBroken { index: 2 })
    ));
}

#[test]
fn tampered_chained_boundary_fails_proof_verification() {
    // Move the boundary state between chunk 0 and chunk 1 consistently: the chain
    // checks pass, the proofs do not.
    let mut chunks = task().chunks.clone();
    let fake = chunks[0].statement.state_after + Fr::from(1u64);
    chunks[0].statement.state_after = fake;
    chunks[1].statement.state_before = fake;
    let b = bundle(chunks).expect("structure is consistent");
    assert!(matches!(verify(&b), Err(AggregateError::Verify(_))));
}

#[test]
fn tampered_partial_result_fails() {
    let mut chunks = task().chunks.clone();
    chunks[1].statement.sum += 1;
    let b = bundle(chunks).expect("structure is consistent");
    assert!(matches!(verify(&b), Err(AggregateError::Verify(_))));

    let mut b = bundle(task().chunks.clone()).expect("aggregate");
    b.answer.count += 1;
    assert!(matches!(
        verify(&b),
        Err(AggregateError::AnswerMismatch { .. })
    ));
}

#[test]
fn bundle_for_another_commitment_or_query_is_rejected() {
    let b = bundle(task().chunks.clone()).expect("aggregate");
    let other = dataset(7, 99).commitment();
    assert!(matches!(
        b.verify(&chunk_params().pvk(), &other, &QUERY),
        Err(AggregateError::CommitmentMismatch)
    ));
    assert!(matches!(
        b.verify(
            &chunk_params().pvk(),
            &task().data.commitment(),
            &Query { lo: 0, hi: 1 }
        ),
        Err(AggregateError::QueryMismatch)
    ));
    // Claiming the same chunks belong to a different commitment fails the chain end.
    assert!(matches!(
        AggregatedProof::new(&CHUNK3.id(), other, QUERY, task().chunks.clone()),
        Err(AggregateError::NotTheCommitment)
    ));
}

#[test]
fn padded_chunks_are_satisfiable_and_bound_to_their_row_count() {
    let data = DataSet::new(vec![
        Row {
            key: 1,
            value: u64::MAX
        };
        2
    ])
    .expect("data");
    let job = plan_chunks(
        &data,
        Query {
            lo: 0,
            hi: u64::MAX,
        },
        SHAPE3,
    )
    .remove(0);
    let st = job.statement();
    assert_eq!(
        (st.rows, st.count, st.sum),
        (2, 2, 2 * u128::from(u64::MAX))
    );
    let cs = ConstraintSystem::new_ref();
    job.circuit()
        .generate_constraints(cs.clone())
        .expect("synthesize");
    assert!(cs.is_satisfied().expect("check"));
    let parsed = ChunkStatement::from_public_inputs(&st.to_public_inputs()).expect("parse");
    assert_eq!(parsed, st);

    // The same witness with a smaller public row count (or another count) is rejected.
    for (slot, value) in [(8, 1u64), (8, 3), (5, 1)] {
        let cs = ConstraintSystem::new_ref();
        cs.set_mode(SynthesisMode::Prove {
            construct_matrices: true,
            generate_lc_assignments: false,
        });
        job.circuit()
            .generate_constraints(cs.clone())
            .expect("synthesize");
        cs.finalize();
        assert!(cs.is_satisfied().expect("check"));
        if let Some(mut inner) = cs.borrow_mut() {
            inner.assignments.instance_assignment[slot] = Fr::from(value);
        }
        assert!(!cs.is_satisfied().expect("check"), "slot {slot} = {value}");
    }
}

#[test]
fn empty_data_set_gives_one_empty_chunk() {
    let data = DataSet::default();
    let jobs = plan_chunks(&data, QUERY, SHAPE3);
    assert_eq!(jobs.len(), 1);
    let st = jobs[0].statement();
    assert_eq!((st.rows, st.sum, st.count), (0, 0, 0));
    assert_eq!(st.state_after, genesis());
}

#[test]
fn oversized_and_malformed_jobs_are_refused() {
    let mut job = ChunkJob::blank(SHAPE3);
    job.rows = vec![Row::default(); 4];
    let input = JobInput::Coprocessor(job);
    assert!(input.validate().is_err());
    assert!(prover(chunk_params()).prove(&input, &mut rng(1)).is_err());
    let mut inputs = ChunkJob::blank(SHAPE3).statement().to_public_inputs();
    inputs[2] = -Fr::from(1u64); // lo not a u64
    assert!(ChunkStatement::from_public_inputs(&inputs).is_err());
}

#[test]
fn category_shapes_fit_their_power_of_two_domains() {
    // Only the smallest is synthesized here (debug builds are slow); the per-row cost
    // is linear, so the bigger ones follow.
    let cs = ConstraintSystem::new_ref();
    ChunkJob::blank(Category::Small.shape())
        .circuit()
        .generate_constraints(cs.clone())
        .expect("synthesize");
    let used = cs.num_constraints() + cs.num_instance_variables();
    assert!(used <= 1 << 14, "small chunk uses {used} > 2^14");
    let one = ConstraintSystem::new_ref();
    ChunkJob::blank(ChunkShape { rows: 1 })
        .circuit()
        .generate_constraints(one.clone())
        .expect("synthesize");
    let per_row = (cs.num_constraints() - one.num_constraints()) / 31;
    let base = one.num_constraints() - per_row + one.num_instance_variables();
    assert!(base + per_row * Category::Medium.rows() <= 1 << 16);
    assert!(base + per_row * Category::Large.rows() <= 1 << 18);
}

#[test]
fn data_sets_and_commitments_round_trip_through_json() {
    let data = dataset(4, 5);
    let json = serde_json::to_string(&data).expect("json");
    let back: DataSet = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, data);
    let c = data.commitment();
    let c_json = serde_json::to_string(&c).expect("json");
    assert_eq!(c_json, format!("\"{c}\""));
    assert_eq!(
        lagrange_circuits::Commitment::from_hex(&c.to_hex()).expect("hex"),
        c
    );
    assert_ne!(c, dataset(4, 6).commitment());
}
