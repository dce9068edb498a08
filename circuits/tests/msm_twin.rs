//! Whole proofs through the GPU algorithm's CPU twin: the bucket MSM pipeline, key
//! preloading and `BasesRef` addressing give proofs bit-identical to the CPU backend's
//! for the same randomness (synthetic and coprocessor circuits; the latter's bit-valued
//! witnesses make a few huge buckets).

mod common;

use std::sync::Arc;

use common::*;
use lagrange_circuits::{
    JobInput, MsmBackend, Prover, encoding,
    prover::twin::{TwinMsm, twin_msm},
    synthetic::SyntheticJob,
};

fn twin_prover(params: &lagrange_circuits::CircuitParams, backend: &Arc<TwinMsm>) -> Prover {
    let shared: Arc<dyn MsmBackend> = backend.clone();
    Prover::new(params.spec, Arc::clone(&params.pk), shared).expect("preload")
}

#[test]
fn twin_proofs_are_bit_identical_to_cpu_proofs() {
    let backend = Arc::new(twin_msm());
    let tiny = twin_prover(tiny_params(), &backend);
    assert_eq!(tiny.backend_name(), "twin");
    let cpu = prover(tiny_params());
    for seed in 0..3 {
        let job = JobInput::Synthetic(SyntheticJob { log2: 6, seed });
        let ours = tiny.prove(&job, &mut rng(seed)).expect("twin prove");
        let want = cpu.prove(&job, &mut rng(seed)).expect("cpu prove");
        assert_eq!(
            encoding::encode_proof(&ours.proof),
            encoding::encode_proof(&want.proof)
        );
        tiny.verify(&ours.proof, &ours.public_inputs)
            .expect("verifies");
    }

    let chunk = twin_prover(chunk_params(), &backend);
    let cpu = prover(chunk_params());
    for job in jobs(&dataset(5, 9)) {
        let job = JobInput::Coprocessor(job);
        let ours = chunk.prove(&job, &mut rng(42)).expect("twin prove");
        let want = cpu.prove(&job, &mut rng(42)).expect("cpu prove");
        assert_eq!(ours, want);
    }
}

#[test]
fn provers_share_a_preloaded_key_until_the_last_is_dropped() {
    let backend = Arc::new(twin_msm());
    let a = twin_prover(tiny_params(), &backend);
    let b = twin_prover(tiny_params(), &backend);
    let c = twin_prover(chunk_params(), &backend);
    assert_eq!(backend.preloaded_keys(), 2);
    drop(a);
    assert_eq!(backend.preloaded_keys(), 2);
    drop(c);
    assert_eq!(backend.preloaded_keys(), 1);
    let job = JobInput::Synthetic(SyntheticJob { log2: 6, seed: 1 });
    let out = b.prove(&job, &mut rng(1)).expect("prove");
    b.verify(&out.proof, &out.public_inputs).expect("verifies");
    drop(b);
    assert_eq!(backend.preloaded_keys(), 0);
}
