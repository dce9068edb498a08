//! `.wtns` witnesses, as circom's witness generators and snarkjs write them.
//!
//! Layout (iden3 binary file, magic `wtns`, version 2): section 1 holds the field element
//! size in bytes (32), the prime, and the number of wires; section 2 holds each wire's value,
//! little-endian, in wire order (wire 0 is the constant 1).

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};

use super::r1cs::field;
use super::{CircomError, check_prime, section, sections, u32_at};

/// Largest `.wtns` accepted: 64 MiB, two million wires.
pub const MAX_WTNS_BYTES: usize = 64 << 20;

const WHAT: &str = ".wtns";

/// A circuit's full assignment: every wire's value, wire 0 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The values, in wire order.
    pub values: Vec<Fr>,
}

impl Witness {
    /// Reads a `.wtns`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CircomError> {
        if bytes.len() > MAX_WTNS_BYTES {
            return Err(CircomError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                max: MAX_WTNS_BYTES,
            });
        }
        let all = sections(bytes, b"wtns", WHAT)?;
        let (header, header_len) = section(&all, 1, WHAT)?;
        let n8 = u32_at(bytes, header, WHAT)? as usize;
        if n8 != 32 || header_len < 4 + n8 + 4 {
            return Err(CircomError::Malformed {
                what: WHAT,
                reason: format!("field elements of {n8} bytes in a {header_len}-byte header"),
            });
        }
        check_prime(&bytes[header + 4..header + 4 + n8], WHAT)?;
        let count = u32_at(bytes, header + 4 + n8, WHAT)? as usize;
        let (data, data_len) = section(&all, 2, WHAT)?;
        if data_len != count * n8 {
            return Err(CircomError::Malformed {
                what: WHAT,
                reason: format!(
                    "{count} wires need {} bytes of values, the file has {data_len}",
                    count * n8
                ),
            });
        }
        let mut values = Vec::with_capacity(count);
        for (i, chunk) in bytes[data..data + data_len].chunks_exact(n8).enumerate() {
            let value = field(chunk).ok_or_else(|| CircomError::Malformed {
                what: WHAT,
                reason: format!("wire {i} is not below the field's prime"),
            })?;
            values.push(value);
        }
        if values.first() != Some(&Fr::from(1u64)) {
            return Err(CircomError::Malformed {
                what: WHAT,
                reason: "wire 0 (the constant one) is not 1".into(),
            });
        }
        Ok(Self { values })
    }

    /// Writes the witness as a `.wtns`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n8 = 32usize;
        let mut out = Vec::with_capacity(12 + 12 + 4 + n8 + 4 + 12 + n8 * self.values.len());
        out.extend_from_slice(b"wtns");
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&((4 + n8 + 4) as u64).to_le_bytes());
        out.extend_from_slice(&(n8 as u32).to_le_bytes());
        out.extend_from_slice(&Fr::MODULUS.to_bytes_le());
        out.extend_from_slice(&(self.values.len() as u32).to_le_bytes());
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&((n8 * self.values.len()) as u64).to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.into_bigint().to_bytes_le());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Witness {
        Witness {
            values: vec![Fr::from(1u64), Fr::from(42u64), -Fr::from(1u64)],
        }
    }

    #[test]
    fn a_witness_round_trips_and_damage_is_named() {
        let bytes = sample().to_bytes();
        assert_eq!(Witness::from_bytes(&bytes).unwrap(), sample());
        // Truncated anywhere: an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(Witness::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut other = bytes.clone();
        other[..4].copy_from_slice(b"r1cs");
        assert!(matches!(
            Witness::from_bytes(&other),
            Err(CircomError::Malformed { reason, .. }) if reason.contains("magic")
        ));
        // A value at or above the prime.
        let mut big = bytes.clone();
        let last = big.len() - 32;
        big[last..].copy_from_slice(&[0xff; 32]);
        assert!(matches!(
            Witness::from_bytes(&big),
            Err(CircomError::Malformed { reason, .. }) if reason.contains("wire 2")
        ));
        // Another field (BLS12-381's scalar field, say): named as such.
        let mut field = bytes.clone();
        field[28] ^= 1;
        assert!(matches!(
            Witness::from_bytes(&field),
            Err(CircomError::WrongField { .. })
        ));
    }
}
