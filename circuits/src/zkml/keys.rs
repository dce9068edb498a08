//! A served model's keys: how it is cut into slices, its scale, and one Groth16 proving key
//! per slice, in one file whose digest a Supernet pins next to the model's.
//!
//! Layout (integers little-endian): magic `LGRNZKM1`, `u32` fractional bits, `u32` slice
//! count, then per slice `u32` first layer, `u32` end layer, `u64` key length and the
//! compressed proving key (which embeds the verifying key). Decoding checks every point and
//! refuses trailing bytes.

use std::ops::Range;
use std::sync::Arc;

use ark_bn254::Bn254;
use ark_groth16::{Groth16, PreparedVerifyingKey, ProvingKey, VerifyingKey, prepare_verifying_key};
use ark_std::rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::ZkmlError;
use super::task::ServedModel;
use crate::encoding;
use crate::params::{decode_proving_key, decode_verifying_key_of};

const MAGIC: &[u8; 8] = b"LGRNZKM1";

/// Most slices one model is cut into.
pub const MAX_SLICES: usize = 64;

/// A model's keys, one per slice.
#[derive(Clone)]
pub struct ModelKeys {
    /// Fractional bits the model is quantized with.
    pub scale_bits: u32,
    /// The slices, covering the layers in order.
    pub slices: Vec<Range<usize>>,
    /// Slice `i`'s proving key.
    pub keys: Vec<Arc<ProvingKey<Bn254>>>,
}

impl std::fmt::Debug for ModelKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelKeys")
            .field("scale_bits", &self.scale_bits)
            .field("slices", &self.slices)
            .finish_non_exhaustive()
    }
}

fn bad(e: impl std::fmt::Display) -> ZkmlError {
    ZkmlError::Keys(e.to_string())
}

/// A model's verifying keys, one per slice: all that checking its proofs needs (a gateway
/// that does not prove, `verify`), read from the same keys file without decoding the proving
/// keys around them.
#[derive(Debug, Clone)]
pub struct ModelVerifyingKeys {
    /// Fractional bits the model is quantized with.
    pub scale_bits: u32,
    /// The slices, covering the layers in order.
    pub slices: Vec<Range<usize>>,
    /// Slice `i`'s verifying key.
    pub vks: Vec<VerifyingKey<Bn254>>,
}

impl ModelVerifyingKeys {
    /// Reads a keys file's framing and each slice's verifying key (every point checked, each
    /// with the three public inputs of a slice proof); the proving keys' points are skipped.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ZkmlError> {
        let (scale_bits, framed) = frames(bytes)?;
        let mut slices = Vec::with_capacity(framed.len());
        let mut vks = Vec::with_capacity(framed.len());
        for (i, (range, key)) in framed.into_iter().enumerate() {
            let vk = decode_verifying_key_of(key).map_err(|e| bad(format!("slice {i}: {e}")))?;
            check_inputs(i, &vk)?;
            slices.push(range);
            vks.push(vk);
        }
        Ok(Self {
            scale_bits,
            slices,
            vks,
        })
    }

    /// Each slice's prepared verifying key.
    pub fn prepared(&self) -> Vec<PreparedVerifyingKey<Bn254>> {
        self.vks.iter().map(prepare_verifying_key).collect()
    }
}

impl From<&ModelKeys> for ModelVerifyingKeys {
    fn from(keys: &ModelKeys) -> Self {
        Self {
            scale_bits: keys.scale_bits,
            slices: keys.slices.clone(),
            vks: keys.keys.iter().map(|pk| pk.vk.clone()).collect(),
        }
    }
}

/// One slice of a keys file: its layers and its key's bytes (not yet decoded).
type Frame<'a> = (Range<usize>, &'a [u8]);

/// A keys file's scale and its slices.
fn frames(bytes: &[u8]) -> Result<(u32, Vec<Frame<'_>>), ZkmlError> {
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("not a zkML keys file (bad magic)"))?;
    let scale_bits = take_u32(&mut rest)?;
    let count = take_u32(&mut rest)? as usize;
    if count == 0 || count > MAX_SLICES {
        return Err(bad(format!("{count} slices (1 to {MAX_SLICES})")));
    }
    let mut framed = Vec::with_capacity(count);
    for i in 0..count {
        let start = take_u32(&mut rest)? as usize;
        let end = take_u32(&mut rest)? as usize;
        let len = usize::try_from(take_u64(&mut rest)?).map_err(bad)?;
        let (key, tail) = rest
            .split_at_checked(len)
            .ok_or_else(|| bad(format!("slice {i}: truncated")))?;
        framed.push((start..end, key));
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad(format!("{} trailing bytes", rest.len())));
    }
    Ok((scale_bits, framed))
}

/// Public inputs of a slice proof: the model, input and output commitments (and the
/// constant one).
fn check_inputs(i: usize, vk: &VerifyingKey<Bn254>) -> Result<(), ZkmlError> {
    if vk.gamma_abc_g1.len() != 4 {
        return Err(bad(format!(
            "slice {i}: a key for {} public inputs, a slice proof has 3",
            vk.gamma_abc_g1.len().saturating_sub(1)
        )));
    }
    Ok(())
}

impl ModelKeys {
    /// Generates every slice's keys with `rng`, which the caller destroys afterwards: anyone
    /// who knows its state can forge proofs.
    pub fn setup<R: RngCore + CryptoRng>(
        model: &ServedModel,
        rng: &mut R,
    ) -> Result<Self, ZkmlError> {
        let mut keys = Vec::with_capacity(model.slices().len());
        for i in 0..model.slices().len() {
            let circuit = model
                .circuit(i, None)
                .ok_or_else(|| bad(format!("no slice {i}")))?;
            let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(circuit, rng)
                .map_err(|e| bad(format!("slice {i}: {e}")))?;
            keys.push(Arc::new(pk));
        }
        Ok(Self {
            scale_bits: model.model().scale_bits,
            slices: model.slices().to_vec(),
            keys,
        })
    }

    /// **INSECURE, devnets and tests only**: keys whose toxic waste is derived from the
    /// model's commitment and a public `seed`, so every peer derives the same keys offline.
    pub fn setup_insecure_seeded(model: &ServedModel, seed: u64) -> Result<Self, ZkmlError> {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"lagrange/insecure-zkml-setup/v1");
        hasher.update(encoding::fr_to_hex(&model.commitment()).as_bytes());
        for s in model.slices() {
            hasher.update(&(s.start as u64).to_le_bytes());
            hasher.update(&(s.end as u64).to_le_bytes());
        }
        hasher.update(&seed.to_le_bytes());
        Self::setup(
            model,
            &mut ChaCha20Rng::from_seed(*hasher.finalize().as_bytes()),
        )
    }

    /// Each slice's prepared verifying key.
    pub fn prepared(&self) -> Vec<PreparedVerifyingKey<Bn254>> {
        self.keys
            .iter()
            .map(|pk| prepare_verifying_key(&pk.vk))
            .collect()
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.scale_bits.to_le_bytes());
        out.extend_from_slice(&(self.slices.len() as u32).to_le_bytes());
        for (s, pk) in self.slices.iter().zip(&self.keys) {
            out.extend_from_slice(&(s.start as u32).to_le_bytes());
            out.extend_from_slice(&(s.end as u32).to_le_bytes());
            let key = encoding::to_bytes(pk.as_ref());
            out.extend_from_slice(&(key.len() as u64).to_le_bytes());
            out.extend_from_slice(&key);
        }
        out
    }

    /// Reads a keys file: every point checked, nothing left over, at most [`MAX_SLICES`]
    /// slices, each key with the three public inputs of a slice proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ZkmlError> {
        let (scale_bits, framed) = frames(bytes)?;
        let mut slices = Vec::with_capacity(framed.len());
        let mut keys = Vec::with_capacity(framed.len());
        for (i, (range, key)) in framed.into_iter().enumerate() {
            let pk = decode_proving_key(key).map_err(|e| bad(format!("slice {i}: {e}")))?;
            check_inputs(i, &pk.vk)?;
            slices.push(range);
            keys.push(Arc::new(pk));
        }
        Ok(Self {
            scale_bits,
            slices,
            keys,
        })
    }
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, ZkmlError> {
    let (head, tail) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("truncated"))?;
    *rest = tail;
    Ok(u32::from_le_bytes(*head))
}

fn take_u64(rest: &mut &[u8]) -> Result<u64, ZkmlError> {
    let (head, tail) = rest
        .split_first_chunk::<8>()
        .ok_or_else(|| bad("truncated"))?;
    *rest = tail;
    Ok(u64::from_le_bytes(*head))
}
