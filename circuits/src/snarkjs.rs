//! Export to snarkjs' JSON formats (`groth16` on `bn128`), so proofs can be checked with
//! `snarkjs groth16 verify verification_key.json public.json proof.json` or a Solidity
//! verifier generated from the key.
//!
//! Layout: field elements are decimal strings; points are projective coordinate arrays
//! with `z = "1"` (G1) or `["1", "0"]` (G2), and the point at infinity is `["0", "1", "0"]`
//! (G1) or `[["0","0"], ["1","0"], ["0","0"]]` (G2). A G2 coordinate is `[c0, c1]` for
//! `c0 + c1·u`. `vk_alphabeta_12` is `e(α, β)` as `[[[c0, c1] × 3] × 2]` over the same
//! tower (Fp2 → Fp6 → Fp12) snarkjs uses; snarkjs' verifier does not read it.

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::{AffineRepr, pairing::Pairing};
use ark_ff::PrimeField;
use ark_groth16::{Proof, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A G1 point: `[x, y, z]`.
pub type G1Json = [String; 3];
/// A G2 point: `[[x0, x1], [y0, y1], [z0, z1]]`.
pub type G2Json = [[String; 2]; 3];

/// snarkjs `verification_key.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationKeyJson {
    /// Always `"groth16"`.
    pub protocol: String,
    /// Always `"bn128"`.
    pub curve: String,
    /// Number of public inputs.
    #[serde(rename = "nPublic")]
    pub n_public: usize,
    /// α in G1.
    pub vk_alpha_1: G1Json,
    /// β in G2.
    pub vk_beta_2: G2Json,
    /// γ in G2.
    pub vk_gamma_2: G2Json,
    /// δ in G2.
    pub vk_delta_2: G2Json,
    /// e(α, β).
    pub vk_alphabeta_12: [[[String; 2]; 3]; 2],
    /// Input commitments `IC_0 ..= IC_n`.
    #[serde(rename = "IC")]
    pub ic: Vec<G1Json>,
}

/// snarkjs `proof.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofJson {
    /// A.
    pub pi_a: G1Json,
    /// B.
    pub pi_b: G2Json,
    /// C.
    pub pi_c: G1Json,
    /// Always `"groth16"`.
    pub protocol: String,
    /// Always `"bn128"` (rapidsnark leaves it out).
    #[serde(default = "bn128")]
    pub curve: String,
}

fn bn128() -> String {
    "bn128".into()
}

fn dec<F: PrimeField>(x: &F) -> String {
    x.into_bigint().to_string()
}

fn fq2(x: &Fq2) -> [String; 2] {
    [dec(&x.c0), dec(&x.c1)]
}

fn g1(p: &G1Affine) -> G1Json {
    match p.xy() {
        Some((x, y)) => [dec::<Fq>(&x), dec::<Fq>(&y), "1".into()],
        None => ["0".into(), "1".into(), "0".into()],
    }
}

fn g2(p: &G2Affine) -> G2Json {
    match p.xy() {
        Some((x, y)) => [fq2(&x), fq2(&y), ["1".into(), "0".into()]],
        None => [
            ["0".into(), "0".into()],
            ["1".into(), "0".into()],
            ["0".into(), "0".into()],
        ],
    }
}

/// The snarkjs form of a verifying key.
pub fn verification_key_json(vk: &VerifyingKey<Bn254>) -> VerificationKeyJson {
    let ab = Bn254::pairing(vk.alpha_g1, vk.beta_g2).0;
    let fq6 = |c: &ark_bn254::Fq6| [fq2(&c.c0), fq2(&c.c1), fq2(&c.c2)];
    VerificationKeyJson {
        protocol: "groth16".into(),
        curve: "bn128".into(),
        n_public: vk.gamma_abc_g1.len().saturating_sub(1),
        vk_alpha_1: g1(&vk.alpha_g1),
        vk_beta_2: g2(&vk.beta_g2),
        vk_gamma_2: g2(&vk.gamma_g2),
        vk_delta_2: g2(&vk.delta_g2),
        vk_alphabeta_12: [fq6(&ab.c0), fq6(&ab.c1)],
        ic: vk.gamma_abc_g1.iter().map(g1).collect(),
    }
}

/// The snarkjs form of a proof.
pub fn proof_json(proof: &Proof<Bn254>) -> ProofJson {
    ProofJson {
        pi_a: g1(&proof.a),
        pi_b: g2(&proof.b),
        pi_c: g1(&proof.c),
        protocol: "groth16".into(),
        curve: "bn128".into(),
    }
}

/// The snarkjs form of public inputs (`public.json`).
pub fn public_json(inputs: &[Fr]) -> Vec<String> {
    inputs.iter().map(dec).collect()
}

/// Why snarkjs JSON does not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not a decimal number below the field's prime.
    #[error("{0:?} is not a decimal field element")]
    Field(String),
    /// Not a point of the curve's prime-order group.
    #[error("{0} is not a valid point")]
    Point(&'static str),
}

/// A decimal field element, as snarkjs writes them; refused at or above the prime.
pub fn field_from_decimal<F: PrimeField>(text: &str) -> Result<F, JsonError> {
    let bad = || JsonError::Field(text.chars().take(80).collect());
    if text.is_empty() || text.len() > 80 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: F::BigInt = text.parse().map_err(|_| bad())?;
    F::from_bigint(n).ok_or_else(bad)
}

fn g1_from(p: &G1Json, what: &'static str) -> Result<G1Affine, JsonError> {
    if p[2] == "0" {
        return Ok(G1Affine::zero());
    }
    let (x, y) = (field_from_decimal(&p[0])?, field_from_decimal(&p[1])?);
    let point = G1Affine::new_unchecked(x, y);
    if p[2] != "1" || !point.is_on_curve() || !point.is_in_correct_subgroup_assuming_on_curve() {
        return Err(JsonError::Point(what));
    }
    Ok(point)
}

fn g2_from(p: &G2Json, what: &'static str) -> Result<G2Affine, JsonError> {
    let f2 = |c: &[String; 2]| -> Result<Fq2, JsonError> {
        Ok(Fq2::new(
            field_from_decimal(&c[0])?,
            field_from_decimal(&c[1])?,
        ))
    };
    if p[2][0] == "0" && p[2][1] == "0" {
        return Ok(G2Affine::zero());
    }
    let point = G2Affine::new_unchecked(f2(&p[0])?, f2(&p[1])?);
    if p[2] != ["1", "0"]
        || !point.is_on_curve()
        || !point.is_in_correct_subgroup_assuming_on_curve()
    {
        return Err(JsonError::Point(what));
    }
    Ok(point)
}

/// A proof back from snarkjs' `proof.json`, every point checked.
pub fn proof_from_json(p: &ProofJson) -> Result<Proof<Bn254>, JsonError> {
    Ok(Proof {
        a: g1_from(&p.pi_a, "pi_a")?,
        b: g2_from(&p.pi_b, "pi_b")?,
        c: g1_from(&p.pi_c, "pi_c")?,
    })
}
