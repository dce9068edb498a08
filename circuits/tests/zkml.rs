//! zkML: ONNX models loaded and quantized, inference proven in slices with Groth16, the
//! quantized evaluator matched exactly and tract's float evaluation within tolerance, and
//! tampering refused.

use ark_bn254::{Bn254, Fr};
use ark_groth16::Groth16;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use ark_snark::SNARK;
use lagrange_circuits::zkml::model::DEFAULT_SCALE_BITS;
use lagrange_circuits::zkml::{
    QuantizedModel, SliceCircuit, SliceStatement, ZkmlError, check_chain, commit, onnx, sample,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The stated tolerance of the quantized inference (12 fractional bits) against the float
/// one: an output may differ by at most `ABS_TOLERANCE` plus `REL_TOLERANCE` times the
/// largest float output's magnitude.
const ABS_TOLERANCE: f32 = 0.01;
/// See [`ABS_TOLERANCE`].
const REL_TOLERANCE: f32 = 0.005;

fn random_input(rng: &mut ChaCha20Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(0.0f32..1.0)).collect()
}

fn satisfied(model: &QuantizedModel, layers: std::ops::Range<usize>, input: &[i64]) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    SliceCircuit {
        model,
        model_commitment: commit::model(model),
        layers,
        input: Some(input.to_vec()),
    }
    .generate_constraints(cs.clone())
    .unwrap();
    cs.is_satisfied().unwrap()
}

#[test]
fn quantized_inference_matches_the_evaluator_exactly_and_tract_within_tolerance() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut worst = 0f32;
    for bytes in [
        sample::mlp(1, &[64, 32, 16, 10]),
        sample::cnn(2, 8, 4, 2, 10),
    ] {
        let model = onnx::load(&bytes, DEFAULT_SCALE_BITS).unwrap();
        for _ in 0..10 {
            let x = random_input(&mut rng, model.input_len());
            let q = model.quantize_input(&x).unwrap();
            let out = model.evaluate(&q).unwrap();
            assert!(satisfied(&model, 0..model.layers.len(), &q));
            let float = onnx::float_reference(&bytes, &x).unwrap();
            let scale = float.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (qv, fv) in out.iter().zip(&float) {
                let diff = (model.dequantize(*qv) - fv).abs();
                worst = worst.max(diff / (ABS_TOLERANCE + REL_TOLERANCE * scale));
                assert!(
                    diff <= ABS_TOLERANCE + REL_TOLERANCE * scale,
                    "quantized {} vs float {fv}",
                    model.dequantize(*qv)
                );
            }
        }
    }
    eprintln!("worst error, as a share of the tolerance: {worst:.3}");
}

#[test]
fn a_model_proven_in_three_slices_chains_and_tampering_is_refused() {
    let bytes = sample::mlp(3, &[32, 24, 16, 10]);
    let model = onnx::load(&bytes, DEFAULT_SCALE_BITS).unwrap();
    let mc = commit::model(&model);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let x = model
        .quantize_input(&random_input(&mut rng, model.input_len()))
        .unwrap();
    let acts = model.evaluate_layers(0, 3, &x).unwrap();
    let mut statements = Vec::new();
    let mut keys = Vec::new();
    for slice in 0..3 {
        let input = if slice == 0 {
            x.clone()
        } else {
            acts[slice - 1].clone()
        };
        let circuit = |input: Option<Vec<i64>>| SliceCircuit {
            model: &model,
            model_commitment: mc,
            layers: slice..slice + 1,
            input,
        };
        let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(circuit(None), &mut rng).unwrap();
        let proof = Groth16::<Bn254>::prove(&pk, circuit(Some(input.clone())), &mut rng).unwrap();
        let statement = SliceStatement {
            model: mc,
            input: commit::activations(&input),
            output: commit::activations(&acts[slice]),
        };
        assert!(Groth16::<Bn254>::verify(&vk, &statement.public_inputs(), &proof).unwrap());
        // A claimed output that is not the slice's: refused.
        let mut forged = acts[slice].clone();
        forged[0] += 1;
        let lie = SliceStatement {
            output: commit::activations(&forged),
            ..statement
        };
        assert!(!Groth16::<Bn254>::verify(&vk, &lie.public_inputs(), &proof).unwrap());
        // Nor is a tampered input activation.
        let mut forged = input.clone();
        forged[1] -= 1;
        let lie = SliceStatement {
            input: commit::activations(&forged),
            ..statement
        };
        assert!(!Groth16::<Bn254>::verify(&vk, &lie.public_inputs(), &proof).unwrap());
        statements.push(statement);
        keys.push((pk, vk));
    }
    let input_c = commit::activations(&x);
    let output = model.evaluate(&x).unwrap();
    let output_c = commit::activations(&output);
    check_chain(&statements, mc, input_c, output_c).unwrap();

    // A broken chain link: the middle slice proven on another input.
    let mut broken = statements.clone();
    let mut other = acts[0].clone();
    other[1] += 1;
    broken[1].input = commit::activations(&other);
    assert!(matches!(
        check_chain(&broken, mc, input_c, output_c),
        Err(ZkmlError::Chain(_))
    ));
    // Another model's slice.
    let mut foreign = statements.clone();
    foreign[2].model = Fr::from(1u64);
    assert!(check_chain(&foreign, mc, input_c, output_c).is_err());

    // A tampered weight: the tampered model's circuit, with the pinned model's keys, does
    // not give a proof of the pinned statement.
    let mut tampered = model.clone();
    // A weight of the first output on an input that is not zero, raised enough to change it.
    let on = acts[0]
        .iter()
        .position(|a| *a > 0)
        .expect("a live hidden unit");
    if let lagrange_circuits::zkml::Layer::Dense { weights, .. } = &mut tampered.layers[1] {
        weights[on] += 1 << 20;
    }
    assert_ne!(commit::model(&tampered), mc);
    let forged_acts = tampered.evaluate_layers(1, 2, &acts[0]).unwrap();
    let proof = Groth16::<Bn254>::prove(
        &keys[1].0,
        SliceCircuit {
            model: &tampered,
            model_commitment: mc,
            layers: 1..2,
            input: Some(acts[0].clone()),
        },
        &mut rng,
    )
    .unwrap();
    let claim = SliceStatement {
        model: mc,
        input: commit::activations(&acts[0]),
        output: commit::activations(&forged_acts[0]),
    };
    assert_ne!(forged_acts[0], acts[1]);
    assert!(!Groth16::<Bn254>::verify(&keys[1].1, &claim.public_inputs(), &proof).unwrap());
    // Nor does it prove the honest output.
    let honest = SliceStatement {
        output: commit::activations(&acts[1]),
        ..claim
    };
    assert!(!Groth16::<Bn254>::verify(&keys[1].1, &honest.public_inputs(), &proof).unwrap());
}

#[test]
fn out_of_range_values_are_refused_before_proving() {
    let model = onnx::load(&sample::mlp(4, &[8, 4]), DEFAULT_SCALE_BITS).unwrap();
    let mut x = vec![10i64; 8];
    assert!(satisfied(&model, 0..1, &x));
    // An input outside the 16-bit range.
    x[3] = 1 << 23;
    assert!(matches!(
        model.evaluate(&x),
        Err(ZkmlError::OutOfRange { .. })
    ));
    // An activation that overflows: the evaluator names it, and the circuit refuses to
    // synthesize a witness for it.
    let loud = QuantizedModel {
        scale_bits: 8,
        layers: vec![lagrange_circuits::zkml::Layer::Dense {
            inputs: 8,
            outputs: 1,
            weights: vec![30_000; 8],
            bias: vec![0],
            relu: false,
        }],
    };
    let x = vec![30_000i64; 8];
    let err = loud.evaluate(&x).unwrap_err();
    assert!(err.to_string().contains("activation 0 of layer 0"), "{err}");
    let cs = ConstraintSystem::<Fr>::new_ref();
    let refused = SliceCircuit {
        model: &loud,
        model_commitment: commit::model(&loud),
        layers: 0..1,
        input: Some(x),
    }
    .generate_constraints(cs);
    assert!(refused.is_err());
}

#[test]
fn bad_models_and_inputs_are_refused_with_their_reason() {
    let bytes = sample::mlp(5, &[16, 8, 4]);
    let model = onnx::load(&bytes, DEFAULT_SCALE_BITS).unwrap();
    // Wrong length, out of range.
    assert_eq!(
        model.quantize_input(&[0.5; 3]).unwrap_err(),
        ZkmlError::InputLength {
            expected: 16,
            got: 3
        }
    );
    let mut x = vec![0.5f32; 16];
    x[2] = 5000.0;
    assert!(matches!(
        model.quantize_input(&x),
        Err(ZkmlError::InputRange { index: 2, .. })
    ));
    // Truncated bytes.
    assert!(matches!(
        onnx::load(&bytes[..bytes.len() / 2], DEFAULT_SCALE_BITS),
        Err(ZkmlError::Malformed(_))
    ));
    // An unsupported operator, named.
    let mut proto = <tract_onnx::pb::ModelProto as prost::Message>::decode(&bytes[..]).unwrap();
    proto.graph.as_mut().unwrap().node[1].op_type = "Sigmoid".into();
    let err = onnx::load(&prost::Message::encode_to_vec(&proto), DEFAULT_SCALE_BITS).unwrap_err();
    assert!(err.to_string().contains("Sigmoid"), "{err}");
    // A model commitment names the model: another seed, another commitment.
    let other = onnx::load(&sample::mlp(6, &[16, 8, 4]), DEFAULT_SCALE_BITS).unwrap();
    assert_ne!(commit::model(&model), commit::model(&other));
}

#[test]
fn a_batch_proven_in_three_slices_per_input_aggregates_and_checks_offline() {
    use ark_groth16::prepare_verifying_key;
    use lagrange_circuits::zkml::{ServedModel, SliceJob, ZkmlResult};

    let bytes = sample::mlp(8, &[32, 24, 16, 10]);
    let model = onnx::load(&bytes, DEFAULT_SCALE_BITS).unwrap();
    let served = ServedModel::new("mlp", model.clone(), vec![0..1, 1..2, 2..3]).unwrap();
    assert_eq!(served.slice_id(1).unwrap(), "zkml/mlp/1-2");
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let keys: Vec<_> = (0..3)
        .map(|i| {
            Groth16::<Bn254>::circuit_specific_setup(served.circuit(i, None).unwrap(), &mut rng)
                .unwrap()
        })
        .collect();
    let pvks: Vec<_> = keys
        .iter()
        .map(|(_, vk)| prepare_verifying_key(vk))
        .collect();
    let inputs: Vec<Vec<i64>> = (0..2)
        .map(|_| {
            model
                .quantize_input(&random_input(&mut rng, model.input_len()))
                .unwrap()
        })
        .collect();
    let jobs = served.split(&inputs).unwrap();
    assert_eq!(jobs.len(), 6);
    // Each job proven on its own, as different provers would, and checked by the gateway
    // against the statement it computes from the job.
    let mut proven = Vec::new();
    for (slice, job) in &jobs {
        let input = SliceJob::from_bytes(job).unwrap().input;
        let circuit = served.circuit(*slice, Some(input)).unwrap();
        let proof = Groth16::<Bn254>::prove(&keys[*slice].0, circuit, &mut rng).unwrap();
        let (i, statement) = served.statement(job).unwrap();
        assert_eq!(i, *slice);
        assert!(Groth16::<Bn254>::verify(&keys[i].1, &statement.public_inputs(), &proof).unwrap());
        proven.push((job.as_slice(), proof));
    }
    let result = served.aggregate(&proven).unwrap();
    // Through JSON, as a client receives it.
    let json = serde_json::to_vec(&result).unwrap();
    let result: ZkmlResult = serde_json::from_slice(&json).unwrap();
    let outputs = served
        .check(&result, |i| pvks.get(i), Some(&inputs))
        .unwrap();
    for (input, output) in inputs.iter().zip(&outputs) {
        assert_eq!(*output, model.evaluate(input).unwrap());
    }

    // A claimed output that is not the proven one.
    let mut lie = result.clone();
    lie.inferences[0].output[3] += 1;
    assert!(served.check(&lie, |i| pvks.get(i), None).is_err());
    // A slice proof from the other inference: the chain breaks.
    let mut swapped = result.clone();
    swapped.inferences[0].slices[1] = result.inferences[1].slices[1].clone();
    assert!(served.check(&swapped, |i| pvks.get(i), None).is_err());
    // The inferences of other inputs.
    let mut others = inputs.clone();
    others.reverse();
    assert!(
        served
            .check(&result, |i| pvks.get(i), Some(&others))
            .is_err()
    );
    // Another model's result.
    let other = ServedModel::new(
        "mlp",
        onnx::load(&sample::mlp(9, &[32, 24, 16, 10]), DEFAULT_SCALE_BITS).unwrap(),
        vec![0..1, 1..2, 2..3],
    )
    .unwrap();
    assert!(other.check(&result, |i| pvks.get(i), None).is_err());
    // Slices that do not cover the model, and malformed jobs.
    assert!(ServedModel::new("mlp", model.clone(), vec![0..1, 2..3]).is_err());
    let short: Vec<std::ops::Range<usize>> = std::iter::once(0..2).collect();
    assert!(ServedModel::new("mlp", model.clone(), short).is_err());
    assert!(served.statement(&[1, 2, 3]).is_err());
    let mut long = jobs[0].1.clone();
    long.push(0);
    assert!(served.statement(&long).is_err());
}

/// Found by the `onnx` fuzz target: a bias too large for any fixed-point value overflowed
/// while it was quantized. It must be refused with an error.
#[test]
fn a_bias_beyond_the_fixed_point_range_is_refused_not_overflowed() {
    let bytes = include_bytes!("../fixtures/fuzz/onnx-huge-bias.onnx");
    assert!(lagrange_circuits::zkml::onnx::load(bytes, DEFAULT_SCALE_BITS).is_err());
}
