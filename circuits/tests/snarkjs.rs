//! snarkjs export: exact field layout.

mod common;

use ark_bn254::{Bn254, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_groth16::{Proof, VerifyingKey};
use common::*;
use lagrange_circuits::snarkjs::{proof_json, public_json, verification_key_json};
use serde_json::{Value, json};

const G2_X: [&str; 2] = [
    "10857046999023057135944570762232829481370756359578518086990519993285655852781",
    "11559732032986387107991004021392285783925812861821192530917403151452391805634",
];
const G2_Y: [&str; 2] = [
    "8495653923123431417604973247489272438418190587263600148770280649306958101930",
    "4082367875863433681332203403145435568316851327593401208105741076214120093531",
];

fn g2_generator_json() -> Value {
    json!([G2_X, G2_Y, ["1", "0"]])
}

#[test]
fn proof_json_has_the_exact_snarkjs_layout() {
    let proof = Proof::<Bn254> {
        a: G1Affine::generator(),
        b: G2Affine::generator(),
        c: G1Affine::zero(),
    };
    let value = serde_json::to_value(proof_json(&proof)).expect("json");
    assert_eq!(
        value,
        json!({
            "pi_a": ["1", "2", "1"],
            "pi_b": g2_generator_json(),
            "pi_c": ["0", "1", "0"],
            "protocol": "groth16",
            "curve": "bn128",
        })
    );
}

#[test]
fn verification_key_json_has_the_exact_snarkjs_layout() {
    let vk = VerifyingKey::<Bn254> {
        alpha_g1: G1Affine::generator(),
        beta_g2: G2Affine::generator(),
        gamma_g2: G2Affine::generator(),
        delta_g2: G2Affine::generator(),
        gamma_abc_g1: vec![G1Affine::generator(), G1Affine::generator()],
    };
    let value = serde_json::to_value(verification_key_json(&vk)).expect("json");
    let object = value.as_object().expect("object");
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected_keys = vec![
        "protocol",
        "curve",
        "nPublic",
        "vk_alpha_1",
        "vk_beta_2",
        "vk_gamma_2",
        "vk_delta_2",
        "vk_alphabeta_12",
        "IC",
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected_keys.sort_unstable();
    assert_eq!(sorted, expected_keys);
    assert_eq!(value["protocol"], "groth16");
    assert_eq!(value["curve"], "bn128");
    assert_eq!(value["nPublic"], 1);
    assert_eq!(value["vk_alpha_1"], json!(["1", "2", "1"]));
    for key in ["vk_beta_2", "vk_gamma_2", "vk_delta_2"] {
        assert_eq!(value[key], g2_generator_json(), "{key}");
    }
    assert_eq!(value["IC"], json!([["1", "2", "1"], ["1", "2", "1"]]));
    // e(g1, g2): 2 x 3 x 2 decimal strings.
    let ab = value["vk_alphabeta_12"].as_array().expect("array");
    assert_eq!(ab.len(), 2);
    for fq6 in ab {
        let fq6 = fq6.as_array().expect("fq6");
        assert_eq!(fq6.len(), 3);
        for fq2 in fq6 {
            let fq2 = fq2.as_array().expect("fq2");
            assert_eq!(fq2.len(), 2);
            for c in fq2 {
                let s = c.as_str().expect("string");
                assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}

#[test]
fn public_json_is_decimal_strings_and_the_json_files_are_complete() {
    assert_eq!(
        public_json(&[Fr::from(0u64), Fr::from(42u64), -Fr::from(1u64)]),
        vec![
            "0".to_owned(),
            "42".to_owned(),
            "21888242871839275222246405745257275088548364400416034343698204186575808495616"
                .to_owned()
        ]
    );
    let params = tiny_params();
    let out = prover(params)
        .prove(
            &lagrange_circuits::JobInput::Synthetic(lagrange_circuits::synthetic::SyntheticJob {
                log2: 6,
                seed: 5,
            }),
            &mut rng(3),
        )
        .expect("prove");
    let vk = serde_json::to_value(verification_key_json(params.vk())).expect("vk json");
    assert_eq!(vk["nPublic"], 2);
    assert_eq!(vk["IC"].as_array().map(Vec::len), Some(3));
    let proof = serde_json::to_value(proof_json(&out.proof)).expect("proof json");
    assert_eq!(proof["protocol"], "groth16");
    assert_eq!(proof["pi_a"].as_array().map(Vec::len), Some(3));
}
