//! Byte and text encodings of proofs, public inputs, keys and field elements.
//!
//! Everything decoded here may come from the network or disk, so decoding always
//! validates: points are compressed, must lie on the curve and in the prime-order
//! subgroup, field elements must be canonical, and trailing bytes are rejected.

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Proof, VerifyingKey};
use ark_serialize::{
    CanonicalDeserialize, CanonicalSerialize, Compress, SerializationError, Validate,
};

/// Bytes of one compressed scalar.
pub const FR_BYTES: usize = 32;
/// Most public inputs accepted in one encoded vector.
pub const MAX_PUBLIC_INPUTS: usize = 1024;

/// A decoding failure.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a valid compressed encoding (bad length, point not on the curve
    /// or not in the subgroup, non-canonical field element...).
    #[error("malformed {what}: {source}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: SerializationError,
    },
    /// Bytes left over after a complete value.
    #[error("{extra} trailing bytes after {what}")]
    TrailingBytes {
        /// What was decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A public-input vector whose length is not a multiple of 32 or is too long.
    #[error("public inputs: bad length {0} bytes")]
    BadLength(usize),
    /// A value that decodes but is not written the one way it encodes (a point at infinity
    /// with stray coordinate bytes, say): refused, so one value has one encoding.
    #[error("{0} is not in its canonical encoding")]
    NonCanonical(&'static str),
    /// A hex string that does not decode.
    #[error("bad hex: {0}")]
    Hex(String),
}

impl DecodeError {
    /// Whether the bytes simply ended early (a truncated file, say).
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            DecodeError::Malformed {
                source: SerializationError::IoError(_),
                ..
            }
        )
    }
}

/// Serializes a value compressed.
pub fn to_bytes<T: CanonicalSerialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.compressed_size());
    // Writing into a Vec cannot fail.
    if value.serialize_compressed(&mut out).is_err() {
        out.clear();
    }
    out
}

/// Deserializes a compressed, validated value that must use every byte and be in its
/// canonical encoding.
pub fn from_bytes<T: CanonicalDeserialize + CanonicalSerialize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, DecodeError> {
    let mut reader = bytes;
    let value = T::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes)
        .map_err(|source| DecodeError::Malformed { what, source })?;
    if !reader.is_empty() {
        return Err(DecodeError::TrailingBytes {
            what,
            extra: reader.len(),
        });
    }
    if to_bytes(&value) != bytes {
        return Err(DecodeError::NonCanonical(what));
    }
    Ok(value)
}

/// Encodes a proof (128 bytes).
pub fn encode_proof(proof: &Proof<Bn254>) -> Vec<u8> {
    to_bytes(proof)
}

/// Decodes and validates a proof.
pub fn decode_proof(bytes: &[u8]) -> Result<Proof<Bn254>, DecodeError> {
    from_bytes(bytes, "proof")
}

/// Encodes public inputs as concatenated 32-byte little-endian scalars.
pub fn encode_public_inputs(inputs: &[Fr]) -> Vec<u8> {
    inputs.iter().flat_map(to_bytes).collect()
}

/// Decodes public inputs (concatenated canonical 32-byte scalars).
pub fn decode_public_inputs(bytes: &[u8]) -> Result<Vec<Fr>, DecodeError> {
    if !bytes.len().is_multiple_of(FR_BYTES) || bytes.len() / FR_BYTES > MAX_PUBLIC_INPUTS {
        return Err(DecodeError::BadLength(bytes.len()));
    }
    bytes
        .chunks_exact(FR_BYTES)
        .map(|c| from_bytes(c, "public input"))
        .collect()
}

/// Encodes a verifying key.
pub fn encode_verifying_key(vk: &VerifyingKey<Bn254>) -> Vec<u8> {
    to_bytes(vk)
}

/// Decodes and validates a verifying key.
pub fn decode_verifying_key(bytes: &[u8]) -> Result<VerifyingKey<Bn254>, DecodeError> {
    from_bytes(bytes, "verifying key")
}

/// Decodes one bincode value (standard configuration) from `bytes`, reading at most `LIMIT`
/// bytes and refusing anything left over. The error names `what`.
pub fn bincode_exact<T: serde::de::DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
    what: &str,
) -> Result<T, String> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    let (value, used) =
        bincode::serde::decode_from_slice::<T, _>(bytes, config).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("trailing bytes after the {what}"));
    }
    Ok(value)
}

/// Lower-case hex of a scalar's 32-byte compressed encoding.
pub fn fr_to_hex(x: &Fr) -> String {
    hex::encode(to_bytes(x))
}

/// Parses [`fr_to_hex`] output, rejecting non-canonical values.
pub fn fr_from_hex(s: &str) -> Result<Fr, DecodeError> {
    let bytes = hex::decode(s).map_err(|e| DecodeError::Hex(e.to_string()))?;
    from_bytes(&bytes, "scalar")
}

/// `#[serde(with = "fr_hex")]` for scalars as hex strings.
pub mod fr_hex {
    use ark_bn254::Fr;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serializes as hex.
    pub fn serialize<S: Serializer>(x: &Fr, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::fr_to_hex(x))
    }

    /// Deserializes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fr, D::Error> {
        let s = String::deserialize(d)?;
        super::fr_from_hex(&s).map_err(D::Error::custom)
    }
}

/// `#[serde(with = "ark_bytes")]` for any arkworks value as hex of its compressed,
/// validated encoding.
pub mod ark_bytes {
    use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serializes as hex.
    pub fn serialize<T: CanonicalSerialize, S: Serializer>(x: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(super::to_bytes(x)))
    }

    /// Deserializes from hex, validating.
    pub fn deserialize<'de, T: CanonicalDeserialize + CanonicalSerialize, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex::decode(s).map_err(D::Error::custom)?;
        super::from_bytes(&bytes, "value").map_err(D::Error::custom)
    }
}
