//! A Groth16 setup for a circom circuit, written as a snarkjs `.zkey`, for the benchmark.
//!
//! snarkjs' own route (a powers-of-tau ceremony, then `prepare phase2`) takes hours at
//! 2^18 on two cores; this computes the same key directly from toxic waste drawn from a
//! seeded rng, in seconds. The key is INSECURE (anyone can recompute the waste) and is
//! only for measuring provers: snarkjs reads it (`zkey export verificationkey`, `groth16
//! prove`), and both provers' proofs are checked against it.
//!
//! The queries, with `u_i, v_i, w_i` the QAP polynomials of wire `i` over the domain of
//! `constraints + public + 1` points (snarkjs adds one `A` row per public signal and the
//! constant one), `L_j` Lagrange polynomials and `τ, α, β, γ, δ` the waste:
//! `A_i = [u_i(τ)]₁`, `B_i = [v_i(τ)]₁,₂`, `IC_i = [(β·u_i + α·v_i + w_i)(τ)/γ]₁` for
//! public wires, `C_i` the same over `δ` for private ones, and
//! `H_i = [L'_{2i+1}(τ)/δ]₁` over the domain twice as large (snarkjs' quotient works on
//! the odd coset).

use ark_bn254::{Fq, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, PrimeGroup, scalar_mul::BatchMulPreprocessing};
use ark_ff::{BigInteger, Field, PrimeField, UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use lagrange_circuits::circom::R1cs;
use rand::SeedableRng;

/// The `.zkey` bytes of an insecure setup for `r1cs`, from `seed`.
pub fn insecure_zkey(r1cs: &R1cs, seed: u64) -> Result<Vec<u8>, String> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let [tau, alpha, beta, gamma, delta] = [(); 5].map(|()| Fr::rand(&mut rng));
    let (m, public, wires) = (r1cs.constraints(), r1cs.public, r1cs.wires);
    let domain = Radix2EvaluationDomain::<Fr>::new(m + public + 1)
        .ok_or("the circuit is too large for a BN254 domain")?;
    let n = domain.size();
    let double = Radix2EvaluationDomain::<Fr>::new(2 * n).ok_or("no domain twice as large")?;

    // u, v, w at τ.
    let lagrange = domain.evaluate_all_lagrange_coefficients(tau);
    let mut qap = [
        vec![Fr::zero(); wires],
        vec![Fr::zero(); wires],
        vec![Fr::zero(); wires],
    ];
    for (row, lcs) in r1cs.linear_combinations().iter().enumerate() {
        for (poly, lc) in qap.iter_mut().zip(lcs) {
            for (wire, k) in lc {
                poly[*wire as usize] += *k * lagrange[row];
            }
        }
    }
    for s in 0..=public {
        qap[0][s] += lagrange[m + s];
    }
    let [u, v, w] = qap;
    let (gamma_inv, delta_inv) = (inverse(gamma)?, inverse(delta)?);
    let combined = |i: usize| beta * u[i] + alpha * v[i] + w[i];
    let ic: Vec<Fr> = (0..=public).map(|i| combined(i) * gamma_inv).collect();
    let c: Vec<Fr> = (public + 1..wires)
        .map(|i| combined(i) * delta_inv)
        .collect();
    let h: Vec<Fr> = double
        .evaluate_all_lagrange_coefficients(tau)
        .into_iter()
        .skip(1)
        .step_by(2)
        .map(|l| l * delta_inv)
        .collect();

    let g1 = BatchMulPreprocessing::new(G1Projective::generator(), wires.max(n));
    let g2 = BatchMulPreprocessing::new(G2Projective::generator(), wires);
    let one1 = |x: Fr| -> G1Affine { (G1Projective::generator() * x).into() };
    let one2 = |x: Fr| -> G2Affine { (G2Projective::generator() * x).into() };

    let mut file = Writer::default();
    file.section(1, |s| s.u32(1)); // Groth16
    file.section(2, |s| {
        s.u32(32);
        s.bytes(&Fq::MODULUS.to_bytes_le());
        s.u32(32);
        s.bytes(&Fr::MODULUS.to_bytes_le());
        s.u32(wires as u32);
        s.u32(public as u32);
        s.u32(n as u32);
        s.g1(&one1(alpha));
        s.g1(&one1(beta));
        s.g2(&one2(beta));
        s.g2(&one2(gamma));
        s.g1(&one1(delta));
        s.g2(&one2(delta));
    });
    file.section(3, |s| g1.batch_mul(&ic).iter().for_each(|p| s.g1(p)));
    file.section(4, |s| {
        let lcs = r1cs.linear_combinations();
        let count: usize = lcs.iter().map(|[a, b, _]| a.len() + b.len()).sum();
        s.u32((count + public + 1) as u32);
        for (matrix, which) in [(0u32, 0usize), (1, 1)] {
            for (row, lc) in lcs.iter().enumerate() {
                for (wire, k) in &lc[which] {
                    s.coefficient(matrix, row, *wire as usize, *k);
                }
            }
        }
        for signal in 0..=public {
            s.coefficient(0, m + signal, signal, Fr::ONE);
        }
    });
    file.section(5, |s| g1.batch_mul(&u).iter().for_each(|p| s.g1(p)));
    file.section(6, |s| g1.batch_mul(&v).iter().for_each(|p| s.g1(p)));
    file.section(7, |s| g2.batch_mul(&v).iter().for_each(|p| s.g2(p)));
    file.section(8, |s| g1.batch_mul(&c).iter().for_each(|p| s.g1(p)));
    file.section(9, |s| g1.batch_mul(&h).iter().for_each(|p| s.g1(p)));
    // No contributions: a 64-byte hash of nothing, then a count of zero.
    file.section(10, |s| {
        s.bytes(&[0; 64]);
        s.u32(0);
    });
    Ok(file.finish())
}

fn inverse(x: Fr) -> Result<Fr, String> {
    x.inverse()
        .ok_or_else(|| "a zero in the toxic waste".into())
}

/// The iden3 binary container: `zkey`, version 1, then (id, length, bytes) sections.
#[derive(Default)]
struct Writer {
    sections: Vec<(u32, Vec<u8>)>,
}

#[derive(Default)]
struct Section(Vec<u8>);

impl Writer {
    fn section(&mut self, id: u32, fill: impl FnOnce(&mut Section)) {
        let mut s = Section::default();
        fill(&mut s);
        self.sections.push((id, s.0));
    }

    fn finish(self) -> Vec<u8> {
        let mut out = b"zkey".to_vec();
        out.extend(1u32.to_le_bytes());
        out.extend((self.sections.len() as u32).to_le_bytes());
        for (id, bytes) in self.sections {
            out.extend(id.to_le_bytes());
            out.extend((bytes.len() as u64).to_le_bytes());
            out.extend(bytes);
        }
        out
    }
}

impl Section {
    fn u32(&mut self, x: u32) {
        self.0.extend(x.to_le_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    /// A base-field element as snarkjs stores it: its Montgomery form.
    fn fq(&mut self, x: Fq) {
        self.bytes(&x.0.to_bytes_le());
    }

    /// The point at infinity is (0, 0).
    fn g1(&mut self, p: &G1Affine) {
        let (x, y) = p.xy().unwrap_or_default();
        self.fq(x);
        self.fq(y);
    }

    fn g2(&mut self, p: &G2Affine) {
        let (x, y) = p.xy().unwrap_or_default();
        for f in [x.c0, x.c1, y.c0, y.c1] {
            self.fq(f);
        }
    }

    /// A matrix coefficient: scalar-field values are stored times R² (Montgomery form,
    /// twice).
    fn coefficient(&mut self, matrix: u32, row: usize, signal: usize, k: Fr) {
        self.u32(matrix);
        self.u32(row as u32);
        self.u32(signal as u32);
        let twice = Fr::from_bigint(k.0).unwrap_or_default();
        self.bytes(&twice.0.to_bytes_le());
    }
}
