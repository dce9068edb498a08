//! Circom circuits, proven as snarkjs would prove them (Groth16 on BN254).
//!
//! A circom team brings the artifacts its toolchain already makes: the proving key
//! (`.zkey`, [`CircomKey`]), the constraints (`.r1cs`, [`R1cs`]) and, per proof, a witness
//! (`.wtns`, [`Witness`]). This module reads them from bytes (the node does the file and
//! network I/O), checks a witness against the constraints and names the first one it
//! breaks, proves through the [`crate::MsmBackend`] seam with snarkjs' QAP witness map
//! ([`prove`]), and verifies. Proofs, public signals and the verifying key export to
//! snarkjs' JSON with [`crate::snarkjs`], so `snarkjs groth16 verify` accepts them.
//!
//! Readers refuse, with a [`CircomError`] that says what and where, anything malformed,
//! truncated, over its size limit, or for another field; they never panic on bad bytes.

mod circuit;
mod key;
mod prove;
mod r1cs;
mod wasm;
mod wtns;

pub use circuit::CircomCircuit;
pub use key::{CircomKey, MAX_ZKEY_BYTES};
pub use prove::prove;
pub use r1cs::{MAX_R1CS_BYTES, R1cs};
pub use wasm::{MAX_INPUT_JSON, MAX_WASM_BYTES, WitnessGenerator};
pub use wtns::{MAX_WTNS_BYTES, Witness};

/// Why a circom artifact or witness was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CircomError {
    /// A file is larger than its limit.
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// `.zkey`, `.r1cs` or `.wtns`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A file does not parse.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// `.zkey`, `.r1cs` or `.wtns`.
        what: &'static str,
        /// What is wrong, and where.
        reason: String,
    },
    /// A file is for another curve or field than BN254's scalar field.
    #[error("{what} is for another field (prime {prime}); only BN254 (snarkjs' bn128) is served")]
    WrongField {
        /// `.zkey`, `.r1cs` or `.wtns`.
        what: &'static str,
        /// The prime it names, in decimal.
        prime: String,
    },
    /// The key, constraints and witness do not belong together.
    #[error("{0}")]
    Mismatch(String),
    /// The witness breaks a constraint: the client's input is wrong.
    #[error("the witness does not satisfy constraint {constraint} of {constraints}")]
    Unsatisfied {
        /// The first constraint broken, from 0 (circom's order, as in the `.r1cs`).
        constraint: usize,
        /// Constraints in all.
        constraints: usize,
    },
    /// The witness generator refused the input signals (one missing, one unknown, an
    /// assertion of the circuit failing).
    #[error("the witness generator refused the inputs: {0}")]
    Inputs(String),
    /// Proving failed.
    #[error("proving failed: {0}")]
    Prove(String),
}

/// Reads a little-endian u32 at `at`, or says the file is truncated.
fn u32_at(bytes: &[u8], at: usize, what: &'static str) -> Result<u32, CircomError> {
    bytes
        .get(at..at.saturating_add(4))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| truncated(what, at))
}

/// Reads a little-endian u64 at `at`, or says the file is truncated.
fn u64_at(bytes: &[u8], at: usize, what: &'static str) -> Result<u64, CircomError> {
    bytes
        .get(at..at.saturating_add(8))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| truncated(what, at))
}

fn truncated(what: &'static str, at: usize) -> CircomError {
    CircomError::Malformed {
        what,
        reason: format!("truncated at byte {at}"),
    }
}

/// The sections of an iden3 binary file (`.zkey`, `.r1cs`, `.wtns` share the layout):
/// 4-byte magic, u32 version, u32 section count, then (u32 type, u64 size, bytes) each.
/// Returns (type, start, size) per section, each checked to lie inside the file.
fn sections(
    bytes: &[u8],
    magic: &[u8; 4],
    what: &'static str,
) -> Result<Vec<(u32, usize, usize)>, CircomError> {
    if bytes.get(..4) != Some(&magic[..]) {
        return Err(CircomError::Malformed {
            what,
            reason: format!(
                "does not start with the {:?} magic",
                String::from_utf8_lossy(magic)
            ),
        });
    }
    let count = u32_at(bytes, 8, what)? as usize;
    let mut at = 12usize;
    let mut out = Vec::new();
    for i in 0..count {
        let kind = u32_at(bytes, at, what)?;
        let size = u64_at(bytes, at + 4, what)?;
        let start = at + 12;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| CircomError::Malformed {
                what,
                reason: format!(
                    "section {i} (type {kind}) claims {size} bytes, past the end of the file ({} bytes)",
                    bytes.len()
                ),
            })?;
        out.push((kind, start, end - start));
        at = end;
    }
    Ok(out)
}

/// The one section of type `kind`.
fn section(
    sections: &[(u32, usize, usize)],
    kind: u32,
    what: &'static str,
) -> Result<(usize, usize), CircomError> {
    sections
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, start, size)| (*start, *size))
        .ok_or_else(|| CircomError::Malformed {
            what,
            reason: format!("no section of type {kind}"),
        })
}

/// Checks that `prime` (little-endian, as the files store it) is BN254's scalar field.
fn check_prime(prime: &[u8], what: &'static str) -> Result<(), CircomError> {
    use ark_ff::{BigInteger, PrimeField};
    let ours = ark_bn254::Fr::MODULUS.to_bytes_le();
    if prime == ours.as_slice() {
        Ok(())
    } else {
        Err(CircomError::WrongField {
            what,
            prime: num_decimal(prime),
        })
    }
}

/// A little-endian byte string as a decimal number (for error messages).
fn num_decimal(le: &[u8]) -> String {
    // Repeated division by 10 on a little big-endian-free limb array: small inputs only.
    let mut digits = Vec::new();
    let mut n: Vec<u8> = le.iter().rev().copied().collect();
    while n.iter().any(|b| *b != 0) {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        return "0".into();
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_of_little_endian_bytes() {
        assert_eq!(super::num_decimal(&[0x39, 0x30]), "12345");
        assert_eq!(super::num_decimal(&[0, 0]), "0");
    }
}
