//! `.r1cs` constraint files, as the circom compiler writes them.
//!
//! Layout (iden3 binary file, magic `r1cs`, version 1): section 1 is the header (field
//! element size, prime, wires, public outputs, public and private inputs, labels,
//! constraints); section 2 holds the constraints, each three linear combinations `A`, `B`,
//! `C` of (wire, coefficient) terms, for `⟨A,w⟩·⟨B,w⟩ = ⟨C,w⟩`. The parser checks every
//! count against the bytes that are actually there before it allocates anything.

use ark_bn254::Fr;
use ark_ff::{PrimeField, Zero};

use super::{CircomError, check_prime, section, sections, u32_at, u64_at};

/// Largest `.r1cs` accepted: 1 GiB (a few million constraints).
pub const MAX_R1CS_BYTES: usize = 1 << 30;

const WHAT: &str = ".r1cs";

/// Bytes of one (wire, coefficient) term.
const TERM: usize = 4 + 32;

/// One linear combination: (wire, coefficient) terms.
pub type Lc = Vec<(u32, Fr)>;

/// A circuit's constraints.
#[derive(Debug, Clone)]
pub struct R1cs {
    /// Wires, the constant one included.
    pub wires: usize,
    /// Public signals: outputs, then public inputs (wires `1..=public`).
    pub public: usize,
    /// Input signal values the circuit takes, public and private.
    pub inputs: usize,
    constraints: Vec<[Lc; 3]>,
}

impl R1cs {
    /// Reads an `.r1cs`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CircomError> {
        if bytes.len() > MAX_R1CS_BYTES {
            return Err(CircomError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                max: MAX_R1CS_BYTES,
            });
        }
        let all = sections(bytes, b"r1cs", WHAT)?;
        let (h, h_len) = section(&all, 1, WHAT)?;
        if u32_at(bytes, h, WHAT)? != 32 || h_len != 4 + 32 + 4 * 4 + 8 + 4 {
            return Err(malformed(format!(
                "a header of {h_len} bytes; expected 32-byte field elements"
            )));
        }
        check_prime(&bytes[h + 4..h + 36], WHAT)?;
        let wires = u32_at(bytes, h + 36, WHAT)? as usize;
        let outputs = u32_at(bytes, h + 40, WHAT)? as usize;
        let public_inputs = u32_at(bytes, h + 44, WHAT)? as usize;
        let private_inputs = u32_at(bytes, h + 48, WHAT)? as usize;
        let _labels = u64_at(bytes, h + 52, WHAT)?;
        let count = u32_at(bytes, h + 60, WHAT)? as usize;
        let public = outputs + public_inputs;
        if wires == 0 || public >= wires {
            return Err(malformed(format!(
                "{wires} wires cannot hold {public} public signals and the constant one"
            )));
        }
        let (c, c_len) = section(&all, 2, WHAT)?;
        // Every constraint takes at least its three term counts.
        if count.saturating_mul(12) > c_len {
            return Err(malformed(format!(
                "{count} constraints cannot fit in {c_len} bytes"
            )));
        }
        let end = c + c_len;
        let mut at = c;
        let mut constraints = Vec::with_capacity(count);
        for i in 0..count {
            let mut lcs: [Lc; 3] = Default::default();
            for lc in lcs.iter_mut() {
                if at.saturating_add(4) > end {
                    return Err(malformed(format!(
                        "constraint {i} runs past the end of its section"
                    )));
                }
                let n = u32_at(bytes, at, WHAT)? as usize;
                at += 4;
                if n.saturating_mul(TERM) > end.saturating_sub(at) {
                    return Err(malformed(format!(
                        "constraint {i} claims {n} terms past the end of its section"
                    )));
                }
                lc.reserve_exact(n);
                for _ in 0..n {
                    let wire = u32_at(bytes, at, WHAT)?;
                    if wire as usize >= wires {
                        return Err(malformed(format!(
                            "constraint {i} uses wire {wire} of {wires}"
                        )));
                    }
                    let value = bytes
                        .get(at + 4..at + TERM)
                        .and_then(field)
                        .ok_or_else(|| {
                            malformed(format!(
                                "constraint {i} has a coefficient not below the prime"
                            ))
                        })?;
                    lc.push((wire, value));
                    at += TERM;
                }
            }
            constraints.push(lcs);
        }
        Ok(Self {
            wires,
            public,
            inputs: public_inputs + private_inputs,
            constraints,
        })
    }

    /// Constraints in all.
    pub fn constraints(&self) -> usize {
        self.constraints.len()
    }

    /// Each constraint's `A`, `B` and `C` combinations.
    pub fn linear_combinations(&self) -> &[[Lc; 3]] {
        &self.constraints
    }

    /// Checks a full assignment: one value per wire, the constant one first, every
    /// constraint satisfied. Names the first constraint broken.
    pub fn check(&self, values: &[Fr]) -> Result<(), CircomError> {
        if values.len() != self.wires {
            return Err(CircomError::Mismatch(format!(
                "the witness has {} wires; the circuit has {}",
                values.len(),
                self.wires
            )));
        }
        let eval = |lc: &Lc| {
            lc.iter().fold(Fr::zero(), |acc, (wire, k)| {
                acc + *k * values[*wire as usize]
            })
        };
        for (i, [a, b, c]) in self.constraints.iter().enumerate() {
            if eval(a) * eval(b) != eval(c) {
                return Err(CircomError::Unsatisfied {
                    constraint: i,
                    constraints: self.constraints.len(),
                });
            }
        }
        Ok(())
    }
}

fn malformed(reason: String) -> CircomError {
    CircomError::Malformed { what: WHAT, reason }
}

/// A canonical field element from 32 little-endian bytes.
pub(super) fn field(le: &[u8]) -> Option<Fr> {
    let mut limbs = [0u64; 4];
    for (limb, b) in limbs.iter_mut().zip(le.chunks_exact(8)) {
        *limb = u64::from_le_bytes(b.try_into().ok()?);
    }
    Fr::from_bigint(ark_ff::BigInt(limbs))
}
