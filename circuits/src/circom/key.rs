//! `.zkey` proving keys, as snarkjs writes them (Groth16 on bn128).
//!
//! ark-circom's reader turns the file into an arkworks proving key and the `A`, `B`
//! constraint matrices snarkjs' witness map needs. It trusts the file's counts and indexes,
//! so this module checks the layout first: every section where the header says and of the
//! size the header implies, every coefficient's matrix, constraint and signal in range.
//! Only then does the reader run (and a panic inside it is still turned into an error).
//!
//! Sections: 1 protocol (1 = Groth16), 2 header (field sizes and primes, `nVars`,
//! `nPublic`, `domainSize`, α, β, γ, δ), 3 `IC`, 4 coefficients, 5 `A`, 6 `B₁`, 7 `B₂`,
//! 8 `C` (the private-wire `L` query), 9 `H`, 10 contributions.

use std::io::Cursor;

use ark_bn254::{Bn254, Fq, Fr};
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::ProvingKey;

use super::{CircomError, section, sections, u32_at};

/// Largest `.zkey` accepted: 4 GiB (about 2^22 constraints).
pub const MAX_ZKEY_BYTES: usize = 4 << 30;

const WHAT: &str = ".zkey";
const G1: usize = 64;
const G2: usize = 128;

/// A circom circuit's proving key, with what snarkjs' witness map needs.
#[derive(Debug, Clone)]
pub struct CircomKey {
    /// The proving key (its `vk` is the verifying key).
    pub pk: ProvingKey<Bn254>,
    /// Public signals (outputs and public inputs), without the constant one.
    pub public: usize,
    /// Wires, the constant one included.
    pub wires: usize,
    /// Constraints.
    pub constraints: usize,
    /// The `A` and `B` matrices, one row of (coefficient, wire) per constraint.
    pub(super) matrices: [Vec<Vec<(Fr, usize)>>; 2],
}

impl CircomKey {
    /// Reads a `.zkey`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CircomError> {
        if bytes.len() > MAX_ZKEY_BYTES {
            return Err(CircomError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                max: MAX_ZKEY_BYTES,
            });
        }
        let header = check_layout(bytes)?;
        let read = std::panic::catch_unwind(|| {
            ark_circom::read_zkey(&mut Cursor::new(bytes)).map_err(|e| e.to_string())
        });
        let (pk, index) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(reason)) => return Err(malformed(reason)),
            Err(_) => return Err(malformed("the reader failed on it".into())),
        };
        if index.num_constraints + header.public + 1 > header.domain {
            return Err(malformed(format!(
                "{} constraints and {} public signals do not fit its domain of {}",
                index.num_constraints, header.public, header.domain
            )));
        }
        Ok(Self {
            pk,
            public: header.public,
            wires: header.vars,
            constraints: index.num_constraints,
            matrices: [index.a, index.b],
        })
    }

    /// Checks that `r1cs` is this key's circuit: the same wires, public signals and
    /// number of constraints.
    pub fn matches(&self, r1cs: &super::R1cs) -> Result<(), CircomError> {
        if (self.wires, self.public, self.constraints)
            != (r1cs.wires, r1cs.public, r1cs.constraints())
        {
            return Err(CircomError::Mismatch(format!(
                "the .zkey is for {} wires, {} public signals and {} constraints; the .r1cs has {}, {} and {}",
                self.wires,
                self.public,
                self.constraints,
                r1cs.wires,
                r1cs.public,
                r1cs.constraints()
            )));
        }
        Ok(())
    }
}

struct Header {
    vars: usize,
    public: usize,
    domain: usize,
}

fn malformed(reason: String) -> CircomError {
    CircomError::Malformed { what: WHAT, reason }
}

/// Checks the sections against the header before anything is allocated from it.
fn check_layout(bytes: &[u8]) -> Result<Header, CircomError> {
    let all = sections(bytes, b"zkey", WHAT)?;
    let (p, p_len) = section(&all, 1, WHAT)?;
    if p_len != 4 || u32_at(bytes, p, WHAT)? != 1 {
        return Err(malformed("not a Groth16 key (protocol section)".into()));
    }
    let (h, h_len) = section(&all, 2, WHAT)?;
    let n8q = u32_at(bytes, h, WHAT)? as usize;
    if n8q != 32 || h_len != 4 + 32 + 4 + 32 + 3 * 4 + 3 * G1 + 3 * G2 {
        return Err(malformed(format!(
            "a header of {h_len} bytes with {n8q}-byte base field elements"
        )));
    }
    let q = &bytes[h + 4..h + 36];
    let r = &bytes[h + 40..h + 72];
    if q != Fq::MODULUS.to_bytes_le().as_slice()
        || u32_at(bytes, h + 36, WHAT)? != 32
        || r != Fr::MODULUS.to_bytes_le().as_slice()
    {
        return Err(CircomError::WrongField {
            what: WHAT,
            prime: super::num_decimal(r),
        });
    }
    let vars = u32_at(bytes, h + 72, WHAT)? as usize;
    let public = u32_at(bytes, h + 76, WHAT)? as usize;
    let domain = u32_at(bytes, h + 80, WHAT)? as usize;
    if !domain.is_power_of_two() || vars <= public {
        return Err(malformed(format!(
            "{vars} variables, {public} public, a domain of {domain}"
        )));
    }
    let expect = |kind: u32, size: usize| -> Result<(), CircomError> {
        let (_, len) = section(&all, kind, WHAT)?;
        if len != size {
            return Err(malformed(format!(
                "section {kind} has {len} bytes; the header implies {size}"
            )));
        }
        Ok(())
    };
    expect(3, (public + 1) * G1)?;
    expect(5, vars * G1)?;
    expect(6, vars * G1)?;
    expect(7, vars * G2)?;
    expect(8, (vars - public - 1) * G1)?;
    expect(9, domain * G1)?;
    let (c, c_len) = section(&all, 4, WHAT)?;
    let n = u32_at(bytes, c, WHAT)? as usize;
    if c_len != 4 + n * (12 + 32) {
        return Err(malformed(format!(
            "{n} coefficients in a section of {c_len} bytes"
        )));
    }
    for i in 0..n {
        let at = c + 4 + i * 44;
        let matrix = u32_at(bytes, at, WHAT)?;
        let constraint = u32_at(bytes, at + 4, WHAT)? as usize;
        let signal = u32_at(bytes, at + 8, WHAT)? as usize;
        if matrix > 1 || constraint >= domain || signal >= vars {
            return Err(malformed(format!(
                "coefficient {i} is for matrix {matrix}, constraint {constraint}, signal {signal}"
            )));
        }
    }
    Ok(Header {
        vars,
        public,
        domain,
    })
}
