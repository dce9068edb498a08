//! Parallel, validating decoder for compressed proving keys.
//!
//! Decompressing a point needs a square root, so decoding a large key one point at a
//! time (as the derived `CanonicalDeserialize` does) takes many seconds. The layout is
//! the same as ark-groth16's: `vk, beta_g1, delta_g1`, then five vectors
//! (`a, b_g1, b_g2, h, l` queries), each a `u64` little-endian length followed by
//! fixed-size compressed points. Knowing each point's size, the vectors are split and
//! decoded in parallel, with the same validation (on the curve, in the subgroup) and
//! the same result as the derived decoder. Like [`encoding::from_bytes`], it takes only a
//! key's own encoding: every value must write back to the bytes it was read from.

use std::io;

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_groth16::{ProvingKey, VerifyingKey};
use ark_serialize::{
    CanonicalDeserialize, CanonicalSerialize, Compress, SerializationError, Validate,
};
use rayon::prelude::*;

use crate::encoding::{self, DecodeError};

const WHAT: &str = "proving key";

fn malformed(source: SerializationError) -> DecodeError {
    DecodeError::Malformed { what: WHAT, source }
}

fn truncated() -> DecodeError {
    malformed(SerializationError::IoError(io::Error::from(
        io::ErrorKind::UnexpectedEof,
    )))
}

/// The bytes `value` was read from must be its own encoding: a decoder that also accepts
/// other bytes for the same key (an infinity flag with stray coordinate bits) would let one
/// key have many encodings, and so many digests.
fn canonical<T: CanonicalSerialize>(value: &T, read: &[u8]) -> Result<(), DecodeError> {
    if encoding::to_bytes(value) == read {
        Ok(())
    } else {
        Err(DecodeError::NonCanonical(WHAT))
    }
}

fn read_one<T: CanonicalDeserialize + CanonicalSerialize>(
    rest: &mut &[u8],
) -> Result<T, DecodeError> {
    let before = *rest;
    let value =
        T::deserialize_with_mode(&mut *rest, Compress::Yes, Validate::Yes).map_err(malformed)?;
    canonical(&value, &before[..before.len() - rest.len()])?;
    Ok(value)
}

fn read_points<G: AffineRepr + CanonicalDeserialize + CanonicalSerialize>(
    rest: &mut &[u8],
) -> Result<Vec<G>, DecodeError> {
    let size = G::zero().compressed_size();
    let len: u64 = read_one(rest)?;
    let total = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_mul(size))
        .ok_or_else(truncated)?;
    let (body, tail) = rest.split_at_checked(total).ok_or_else(truncated)?;
    let points = body
        .par_chunks_exact(size)
        .map(|chunk| {
            let point =
                G::deserialize_with_mode(chunk, Compress::Yes, Validate::Yes).map_err(malformed)?;
            canonical(&point, chunk)?;
            Ok(point)
        })
        .collect::<Result<Vec<G>, DecodeError>>()?;
    *rest = tail;
    Ok(points)
}

/// The verifying key at the front of a proving key's encoding, checked as
/// [`decode_proving_key`] checks it; the rest of the key is not read. What a node that only
/// verifies needs, without the cost of decompressing every point of the proving key.
pub fn decode_verifying_key_of(proving_key: &[u8]) -> Result<VerifyingKey<Bn254>, DecodeError> {
    let mut rest = proving_key;
    read_one(&mut rest)
}

/// Decodes a compressed proving key with full validation, rejecting trailing bytes.
pub fn decode_proving_key(bytes: &[u8]) -> Result<ProvingKey<Bn254>, DecodeError> {
    let mut rest = bytes;
    let vk: VerifyingKey<Bn254> = read_one(&mut rest)?;
    let beta_g1: G1Affine = read_one(&mut rest)?;
    let delta_g1: G1Affine = read_one(&mut rest)?;
    let a_query = read_points::<G1Affine>(&mut rest)?;
    let b_g1_query = read_points::<G1Affine>(&mut rest)?;
    let b_g2_query = read_points::<G2Affine>(&mut rest)?;
    let h_query = read_points::<G1Affine>(&mut rest)?;
    let l_query = read_points::<G1Affine>(&mut rest)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            what: WHAT,
            extra: rest.len(),
        });
    }
    Ok(ProvingKey {
        vk,
        beta_g1,
        delta_g1,
        a_query,
        b_g1_query,
        b_g2_query,
        h_query,
        l_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{circuit_id::CircuitSpec, encoding, params::setup_insecure_seeded};

    #[test]
    fn parallel_decoder_matches_the_derived_one() {
        let params = setup_insecure_seeded(CircuitSpec::Synthetic { log2: 4 }, 1).expect("setup");
        let bytes = encoding::to_bytes(&*params.pk);
        let derived: ProvingKey<Bn254> = encoding::from_bytes(&bytes, "pk").expect("derived");
        assert_eq!(decode_proving_key(&bytes).expect("parallel"), derived);
        assert!(decode_proving_key(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_proving_key(&long),
            Err(DecodeError::TrailingBytes { extra: 1, .. })
        ));
        // A huge claimed length is refused without allocating.
        let mut huge = bytes[..encoding::to_bytes(&params.pk.vk).len() + 64].to_vec();
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_proving_key(&huge).is_err());
    }

    /// Found by the `keys` fuzz target (on a zkML keys file): a point at infinity whose
    /// encoding has the infinity flag and stray coordinate bits decoded as infinity, so the
    /// same key had many encodings. Each must be refused.
    #[test]
    fn a_point_at_infinity_with_stray_bits_is_refused() {
        let params = setup_insecure_seeded(CircuitSpec::Synthetic { log2: 3 }, 1).expect("setup");
        let mut pk = (*params.pk).clone();
        pk.a_query[0] = G1Affine::zero();
        let bytes = encoding::to_bytes(&pk);
        assert_eq!(decode_proving_key(&bytes).expect("its own encoding"), pk);
        // The first point of `a_query`: after vk, beta_g1, delta_g1 and the length.
        let at = encoding::to_bytes(&pk.vk).len() + 32 + 32 + 8;
        let mut stray = bytes.clone();
        stray[at] ^= 1;
        assert!(matches!(
            decode_proving_key(&stray),
            Err(DecodeError::NonCanonical(_))
        ));
        // And in the verifying key's points.
        let mut vk = pk.vk.clone();
        vk.alpha_g1 = G1Affine::zero();
        let mut key = pk.clone();
        key.vk = vk;
        let mut stray = encoding::to_bytes(&key);
        stray[0] ^= 1;
        assert!(matches!(
            decode_proving_key(&stray),
            Err(DecodeError::NonCanonical(_))
        ));
    }
}
