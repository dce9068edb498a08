//! Poseidon commitments to activations and to a model, natively and in-circuit.
//!
//! An activation `a` is stored as the 24-bit slot `a + 2^23`; ten slots pack into one
//! field element (240 bits), little-endian. A commitment absorbs a domain tag, the number
//! of values and the packed elements into the Poseidon sponge of [`crate::poseidon`] and
//! squeezes one element. Packing is injective only for values in range, so a circuit that
//! packs values it did not produce first proves each one in range (a bit decomposition).

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::{
    CryptographicSponge,
    constraints::CryptographicSpongeVar,
    poseidon::{PoseidonSponge, constraints::PoseidonSpongeVar},
};
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

use super::model::{ACT_LIMIT, Layer, QuantizedModel};
use crate::poseidon;

/// Bits of one packed slot.
pub const SLOT_BITS: u32 = super::model::ACT_BITS;
/// Slots per field element.
pub const SLOTS_PER_ELEMENT: usize = 10;

/// Domain tag of an activation commitment.
const ACTIVATIONS: u64 = 0x7a6b_6d6c_0001;
/// Domain tag of a model commitment.
const MODEL: u64 = 0x7a6b_6d6c_0002;

/// A signed value (weight, bias) as a field element.
pub fn signed(v: i64) -> Fr {
    if v < 0 {
        -Fr::from(v.unsigned_abs())
    } else {
        Fr::from(v as u64)
    }
}

/// Packs in-range values into field elements, ten 24-bit slots each.
pub fn pack(values: &[i64]) -> Vec<Fr> {
    values
        .chunks(SLOTS_PER_ELEMENT)
        .map(|chunk| {
            let mut acc = Fr::from(0u64);
            for v in chunk.iter().rev() {
                acc = acc * Fr::from(1u64 << SLOT_BITS) + Fr::from((v + ACT_LIMIT) as u64);
            }
            acc
        })
        .collect()
}

fn squeeze(elements: Vec<Fr>) -> Fr {
    let mut sponge = PoseidonSponge::new(poseidon::config());
    sponge.absorb(&elements);
    let out: Vec<Fr> = sponge.squeeze_field_elements(1);
    out.first().copied().unwrap_or_default()
}

/// The commitment to a vector of in-range activations.
pub fn activations(values: &[i64]) -> Fr {
    let mut elements = vec![Fr::from(ACTIVATIONS), Fr::from(values.len() as u64)];
    elements.extend(pack(values));
    squeeze(elements)
}

/// In-circuit [`activations`], from the packed elements (which the caller built from
/// range-checked values).
pub fn activations_var(
    cs: ConstraintSystemRef<Fr>,
    len: usize,
    packed: &[FpVar<Fr>],
) -> Result<FpVar<Fr>, SynthesisError> {
    let mut elements = vec![
        FpVar::Constant(Fr::from(ACTIVATIONS)),
        FpVar::Constant(Fr::from(len as u64)),
    ];
    elements.extend(packed.iter().cloned());
    let mut sponge = PoseidonSpongeVar::new(cs, poseidon::config());
    sponge.absorb(&elements)?;
    let out = sponge.squeeze_field_elements(1)?;
    out.into_iter().next().ok_or(SynthesisError::Unsatisfiable)
}

/// The commitment to a model: its scale, and per layer its kind, its dimensions, its
/// weights (packed like activations; they share the range) and its biases.
pub fn model(model: &QuantizedModel) -> Fr {
    let mut e = vec![
        Fr::from(MODEL),
        Fr::from(u64::from(model.scale_bits)),
        Fr::from(model.layers.len() as u64),
    ];
    for layer in &model.layers {
        let (kind, dims, weights, bias) = match layer {
            Layer::Dense {
                inputs,
                outputs,
                weights,
                bias,
                relu,
            } => (
                1u64,
                vec![*inputs, *outputs, usize::from(*relu)],
                weights,
                bias,
            ),
            Layer::Conv2d {
                in_ch,
                out_ch,
                height,
                width,
                kernel,
                stride,
                pad,
                weights,
                bias,
                relu,
            } => (
                2u64,
                vec![
                    *in_ch,
                    *out_ch,
                    *height,
                    *width,
                    kernel.0,
                    kernel.1,
                    *stride,
                    *pad,
                    usize::from(*relu),
                ],
                weights,
                bias,
            ),
        };
        e.push(Fr::from(kind));
        e.extend(dims.into_iter().map(|d| Fr::from(d as u64)));
        e.extend(pack(weights));
        e.extend(bias.iter().map(|b| signed(*b)));
    }
    squeeze(e)
}
