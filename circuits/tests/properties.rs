//! Property tests: comparison gadget against native `>=`, statement encoding round trip,
//! chunk planning against the native evaluator.

use ark_bn254::Fr;
use ark_r1cs_std::{GR1CSVar, alloc::AllocVar, fields::fp::FpVar};
use ark_relations::gr1cs::ConstraintSystem;
use lagrange_circuits::{
    ChunkStatement, DataSet, Query, Row,
    coprocessor::{ChunkShape, plan_chunks},
    gadgets::u64_ge,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn u64_ge_matches_native(a: u64, b: u64) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let av = FpVar::new_witness(cs.clone(), || Ok(Fr::from(a))).expect("alloc");
        let bv = FpVar::new_witness(cs.clone(), || Ok(Fr::from(b))).expect("alloc");
        let ge = u64_ge(cs.clone(), &av, &bv).expect("ge");
        prop_assert_eq!(ge.value().expect("value"), a >= b);
        prop_assert!(cs.is_satisfied().expect("check"));
    }

    #[test]
    fn statements_round_trip(lo: u64, hi: u64, sum: u128, count: u64, off: u64, rows: u64) {
        let st = ChunkStatement {
            state_before: Fr::from(off),
            state_after: Fr::from(sum),
            query: Query { lo, hi },
            sum,
            count,
            row_offset: off,
            rows,
        };
        prop_assert_eq!(ChunkStatement::from_public_inputs(&st.to_public_inputs()), Ok(st));
    }

    #[test]
    fn chunks_partition_the_data_set(
        rows in proptest::collection::vec((0u64..50, any::<u64>()), 0..40),
        capacity in 1usize..9,
        lo in 0u64..50,
        width in 0u64..50,
    ) {
        let data = DataSet::new(rows.into_iter().map(|(key, value)| Row { key, value }).collect())
            .expect("data");
        let query = Query { lo, hi: lo + width };
        let jobs = plan_chunks(&data, query, ChunkShape { rows: capacity });
        let states = data.chain_states();
        let mut next = 0u64;
        let (mut sum, mut count) = (0u128, 0u64);
        for job in &jobs {
            let st = job.statement();
            prop_assert_eq!(st.row_offset, next);
            prop_assert_eq!(st.state_before, states[next as usize]);
            next += st.rows;
            prop_assert_eq!(st.state_after, states[next as usize]);
            sum += st.sum;
            count += st.count;
        }
        prop_assert_eq!(next as usize, data.len());
        let native = data.evaluate(query);
        prop_assert_eq!((sum, count), (native.sum, native.count));
    }
}

/// Found by the `proof` fuzz target: a proof whose `B` has the infinity flag set and stray
/// coordinate bytes decoded as infinity and re-encoded differently, so one proof had many
/// encodings. Only the canonical one is accepted now.
#[test]
fn a_proof_encoding_that_is_not_canonical_is_refused() {
    let bytes = include_bytes!("../fixtures/fuzz/proof-infinity-with-stray-bytes.bin");
    let err = lagrange_circuits::encoding::decode_proof(bytes).unwrap_err();
    assert!(
        matches!(err, lagrange_circuits::DecodeError::NonCanonical(_)),
        "{err}"
    );
}
