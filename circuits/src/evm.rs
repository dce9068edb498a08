//! Verifying keys, proofs and public inputs as the EVM reads them: 32-byte big-endian words
//! in the layout of the BN254 precompiles (`ecAdd` 0x06, `ecMul` 0x07, `ecPairing` 0x08)
//! and of the network's verifier contract.
//!
//! - a G1 point is `(x, y)`, a G2 point `(x.c1, x.c0, y.c1, y.c0)` (the imaginary part
//!   first); the point at infinity is all zeros;
//! - a key is `alpha, beta, gamma, delta, IC_0 ..= IC_n`: `14 + 2(n + 1)` words for `n`
//!   public inputs;
//! - a proof is `A, B, C`: 8 words;
//! - a public input is its canonical integer below the scalar field's modulus.

use ark_bn254::{Bn254, Fq, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::{Proof, VerifyingKey};

/// One EVM word, big-endian.
pub type Word = [u8; 32];

/// Words of a key before its `IC` points.
pub const KEY_FIXED_WORDS: usize = 14;

/// Words of a proof.
pub const PROOF_WORDS: usize = 8;

fn be_word(bytes: Vec<u8>) -> Word {
    // BN254's fields are 254 bits: their canonical big-endian form is exactly 32 bytes.
    let mut w = [0u8; 32];
    let start = 32usize.saturating_sub(bytes.len());
    w[start..].copy_from_slice(&bytes[bytes.len().saturating_sub(32)..]);
    w
}

/// A base-field element as a word.
pub fn fq_word(x: &Fq) -> Word {
    be_word(x.into_bigint().to_bytes_be())
}

/// A scalar (a public input) as a word.
pub fn fr_word(x: &Fr) -> Word {
    be_word(x.into_bigint().to_bytes_be())
}

/// A word read back as a scalar: `None` unless it is below the modulus.
pub fn fr_from_word(w: &Word) -> Option<Fr> {
    let x = Fr::from_be_bytes_mod_order(w);
    (fr_word(&x) == *w).then_some(x)
}

/// A G1 point as `(x, y)`.
pub fn g1_words(p: &G1Affine) -> [Word; 2] {
    match p.xy() {
        Some((x, y)) => [fq_word(&x), fq_word(&y)],
        None => [[0; 32]; 2],
    }
}

/// A G2 point as `(x.c1, x.c0, y.c1, y.c0)`.
pub fn g2_words(p: &G2Affine) -> [Word; 4] {
    match p.xy() {
        Some((x, y)) => [
            fq_word(&x.c1),
            fq_word(&x.c0),
            fq_word(&y.c1),
            fq_word(&y.c0),
        ],
        None => [[0; 32]; 4],
    }
}

/// A verifying key as the verifier contract's constructor takes it.
pub fn key_words(vk: &VerifyingKey<Bn254>) -> Vec<Word> {
    let mut words = Vec::with_capacity(KEY_FIXED_WORDS + 2 * vk.gamma_abc_g1.len());
    words.extend(g1_words(&vk.alpha_g1));
    words.extend(g2_words(&vk.beta_g2));
    words.extend(g2_words(&vk.gamma_g2));
    words.extend(g2_words(&vk.delta_g2));
    for ic in &vk.gamma_abc_g1 {
        words.extend(g1_words(ic));
    }
    words
}

/// A verifying key as one byte string (its words, concatenated).
pub fn key_bytes(vk: &VerifyingKey<Bn254>) -> Vec<u8> {
    key_words(vk).concat()
}

/// A proof as `A, B, C`.
pub fn proof_words(proof: &Proof<Bn254>) -> [Word; PROOF_WORDS] {
    let [ax, ay] = g1_words(&proof.a);
    let [bx1, bx0, by1, by0] = g2_words(&proof.b);
    let [cx, cy] = g1_words(&proof.c);
    [ax, ay, bx1, bx0, by1, by0, cx, cy]
}

/// Public inputs as words.
pub fn input_words(inputs: &[Fr]) -> Vec<Word> {
    inputs.iter().map(fr_word).collect()
}

#[cfg(test)]
mod tests {
    use ark_ec::CurveGroup;
    use ark_std::UniformRand;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn words_are_big_endian_and_g2_puts_the_imaginary_part_first() {
        assert_eq!(fr_word(&Fr::from(0x0102u64))[30..], [1, 2]);
        assert_eq!(fr_word(&-Fr::from(1u64)), {
            let mut m = Fr::MODULUS.to_bytes_be();
            m[31] -= 1;
            <Word>::try_from(m).expect("32 bytes")
        });
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let g2 = ark_bn254::G2Projective::rand(&mut rng).into_affine();
        let [x1, x0, ..] = g2_words(&g2);
        assert_eq!(x1, fq_word(&g2.x.c1));
        assert_eq!(x0, fq_word(&g2.x.c0));
        assert_eq!(g1_words(&G1Affine::zero()), [[0; 32]; 2]);
        let x = Fr::from(u64::MAX) * Fr::from(u64::MAX);
        assert_eq!(fr_from_word(&fr_word(&x)), Some(x));
        assert_eq!(fr_from_word(&[0xff; 32]), None);
    }
}
