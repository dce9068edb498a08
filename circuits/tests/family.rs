//! The workload families end to end, as the node drives them: a task is split into job
//! inputs, each job proven from its bytes and checked against the statement computed
//! from the same bytes, the proofs aggregated into the result a client receives, and the
//! result checked against the task, after a JSON round trip, and offline with the key
//! alone. Wrong kinds, oversized and malformed inputs are typed errors.

mod common;

use std::sync::Arc;

use ark_bn254::Fr;
use ark_groth16::Proof;
use common::*;
use lagrange_circuits::circom::{CircomCircuit, CircomError};
use lagrange_circuits::curve::Bn254;
use lagrange_circuits::family::{
    Checked, CircomFamily, CoprocessorFamily, Family, FamilyError, JobCircuit, MAX_SYNTHETIC_JOBS,
    SyntheticFamily, Task, TaskResult,
};
use lagrange_circuits::{CpuMsm, JobError, Query};

const MAX_INPUT: usize = 1 << 20;

/// Proves every job of `task` through `family`, checking each proof against the
/// statement, and aggregates them.
fn run(family: &(impl Family + JobCircuit), task: &Task<'_>) -> TaskResult {
    let inputs = family.split(task, MAX_INPUT).expect("split");
    let proofs: Vec<(&[u8], Proof<Bn254>)> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let proven = family.prove(input, &mut rng(i as u64)).expect("prove");
            let statement = family.statement(input).expect("statement");
            assert_eq!(proven.public_inputs, statement, "job {i}");
            lagrange_circuits::verify(family.verifying_key(), &proven.proof, &statement)
                .expect("verifies");
            (input.as_slice(), proven.proof)
        })
        .collect();
    let result = family.aggregate(task, &proofs).expect("aggregate");
    // What the client receives is JSON.
    TaskResult::from_json(&result.to_json().expect("json")).expect("parses")
}

#[test]
fn a_query_task_is_split_proven_aggregated_and_checked() {
    let family = CoprocessorFamily::new(Arc::new(prover(chunk_params()))).expect("family");
    let data = dataset(7, 3);
    let rows: Vec<(u64, u64)> = data.rows().iter().map(|r| (r.key, r.value)).collect();
    let task = Task::Query {
        rows: &rows,
        query: QUERY,
    };
    assert_eq!(family.split(&task, MAX_INPUT).expect("split").len(), 3);
    let result = run(&family, &task);
    let native = data.evaluate(QUERY);
    let checked = family.check(&task, &result).expect("checks");
    assert!(matches!(
        checked,
        Checked::Query { sum, count, rows: 7, .. } if sum == native.sum && count == native.count
    ));
    // Offline, with the verifying key alone, the same answer.
    assert_eq!(
        result.check(family.verifying_key()).expect("offline"),
        checked
    );
    assert_eq!(result.statements().expect("statements").len(), 3);
    // The same result does not answer another query, nor another data set.
    let other = Task::Query {
        rows: &rows,
        query: Query { lo: 0, hi: 3 },
    };
    assert!(matches!(
        family.check(&other, &result),
        Err(FamilyError::Aggregate(_))
    ));
    let fewer = Task::Query {
        rows: &rows[..6],
        query: QUERY,
    };
    assert!(family.check(&fewer, &result).is_err());
}

#[test]
fn a_synthetic_task_is_proven_and_its_size_is_bounded() {
    let family = SyntheticFamily::new(Arc::new(prover(tiny_params()))).expect("family");
    let task = Task::Synthetic { jobs: 2 };
    let result = run(&family, &task);
    assert_eq!(
        family.check(&task, &result).expect("checks"),
        Checked::Synthetic { proofs: 2 }
    );
    let too_many = Task::Synthetic {
        jobs: MAX_SYNTHETIC_JOBS + 1,
    };
    assert!(matches!(
        family.split(&too_many, MAX_INPUT),
        Err(FamilyError::TooMany { count, .. }) if count == MAX_SYNTHETIC_JOBS as usize + 1
    ));
}

#[test]
fn families_refuse_other_kinds_and_malformed_inputs() {
    let query = CoprocessorFamily::new(Arc::new(prover(chunk_params()))).expect("family");
    let synthetic = SyntheticFamily::new(Arc::new(prover(tiny_params()))).expect("family");
    // A family is for its own kind of circuit and task.
    assert!(matches!(
        CoprocessorFamily::new(Arc::new(prover(tiny_params()))),
        Err(FamilyError::WrongKind { .. })
    ));
    let err = query
        .split(&Task::Synthetic { jobs: 1 }, MAX_INPUT)
        .expect_err("wrong kind");
    assert_eq!(
        err.to_string(),
        "circuit coprocessor-sum-v1/rows-3 does not serve synthetic tasks"
    );
    assert!(matches!(
        query.split(
            &Task::Query {
                rows: &[],
                query: QUERY
            },
            MAX_INPUT
        ),
        Err(FamilyError::Empty("the data set is empty"))
    ));
    // Job bytes that are not a job input.
    for bad in [&b""[..], b"\xff\xff\xff", &[0u8; 64][..]] {
        assert!(matches!(
            synthetic.statement(bad),
            Err(FamilyError::Job(JobError::Encoding(_)))
        ));
        assert!(synthetic.prove(bad, &mut rng(1)).is_err());
    }
    // A synthetic result does not answer a query task.
    let result = run(&synthetic, &Task::Synthetic { jobs: 1 });
    let rows = [(1u64, 2u64)];
    assert!(matches!(
        query.check(
            &Task::Query {
                rows: &rows,
                query: QUERY
            },
            &result
        ),
        Err(FamilyError::Mismatch(_))
    ));
}

#[test]
fn circom_witnesses_are_checked_at_the_split_and_delivered_for_snarkjs() {
    let zkey = include_bytes!("../fixtures/circom/square_chain.zkey");
    let r1cs = include_bytes!("../fixtures/circom/square_chain.r1cs");
    let wtns = include_bytes!("../fixtures/circom/witness.wtns").to_vec();
    let wtns4 = include_bytes!("../fixtures/circom/witness-4.wtns").to_vec();
    let circuit = CircomCircuit::new(zkey, r1cs, Arc::new(CpuMsm)).expect("circuit");
    let family = CircomFamily::new("circom/square", Arc::new(circuit));
    let witnesses = vec![wtns.clone(), wtns4];
    let task = Task::Circom {
        witnesses: &witnesses,
        inputs: &[],
    };
    let result = run(&family, &task);
    let TaskResult::Circom {
        circuit, proofs, ..
    } = &result
    else {
        panic!("a circom result");
    };
    assert_eq!((circuit.as_str(), proofs.len()), ("circom/square", 2));
    // The public signals are the output, then c = 7.
    assert_eq!(proofs[0].public[1], "7");
    assert_eq!(
        family.check(&task, &result).expect("checks"),
        Checked::Circom {
            circuit: "circom/square".into(),
            proofs: 2
        }
    );
    // A witness that breaks a constraint is refused, naming it and the constraint.
    let mut bad = wtns.clone();
    let last = bad.len() - 1;
    bad[last - 40] ^= 1;
    let bad_task = vec![wtns.clone(), bad];
    let err = family
        .split(
            &Task::Circom {
                witnesses: &bad_task,
                inputs: &[],
            },
            MAX_INPUT,
        )
        .expect_err("unsatisfied");
    assert!(
        matches!(&err, FamilyError::Circom { what, source: CircomError::Unsatisfied { .. } | CircomError::Malformed { .. } } if what == "circom.witnesses[1]"),
        "{err}"
    );
    // Too large for a job, and nothing at all.
    let err = family
        .split(&task, wtns.len() - 1)
        .expect_err("too large for a job");
    assert!(matches!(err, FamilyError::InputTooLarge { .. }), "{err}");
    assert!(matches!(
        family.split(
            &Task::Circom {
                witnesses: &[],
                inputs: &[]
            },
            MAX_INPUT
        ),
        Err(FamilyError::Empty(_))
    ));
    // Without a witness generator, inputs are refused with a reason.
    let inputs = vec![r#"{"x": "3", "c": "7"}"#.to_owned()];
    let err = family
        .split(
            &Task::Circom {
                witnesses: &[],
                inputs: &inputs,
            },
            MAX_INPUT,
        )
        .expect_err("no generator");
    assert!(err.to_string().starts_with("circom.inputs[0]: "), "{err}");
    // A job's statement comes from its witness: the public signals.
    let statement = family.statement(&wtns).expect("statement");
    assert_eq!(statement[1], Fr::from(7u64));
}
