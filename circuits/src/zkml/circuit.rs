//! The circuit of one slice of an inference: layers `from..to` of a pinned model.
//!
//! Public inputs, in order: the model commitment, the commitment to the slice's input
//! activations and the commitment to its output activations ([`super::commit`]). The
//! weights are constants of the circuit, so the keys of a slice belong to one model; the
//! model commitment is a public input the circuit fixes to that model's, which lets a
//! verifier name the model a proof is about.
//!
//! Each input value is allocated as 24 bits (a range check, which also makes its packing
//! injective) and recomposed; each output of a layer costs its accumulator constraint
//! (`acc = 2^s·y + r`, with `r` as `s` bits and `y + 2^23` as 24 bits, so the division
//! is exact and `y` in range) and one constraint for the ReLU (`z = sign·y`, the sign
//! being the top bit of `y + 2^23`). The linear part, `Σ w·x + b`, is free: weights are
//! constants in the accumulator's linear combination.

use std::ops::Range;

use ark_bn254::Fr;
use ark_ff::AdditiveGroup;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::{AllocatedFp, FpVar};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystemRef, LinearCombination, SynthesisError, Variable,
};

use super::commit::{self, SLOT_BITS, SLOTS_PER_ELEMENT, signed};
use super::model::{ACT_BITS, ACT_LIMIT, QuantizedModel};

/// The three public inputs of a slice proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceStatement {
    /// The model commitment.
    pub model: Fr,
    /// The commitment to the slice's input.
    pub input: Fr,
    /// The commitment to the slice's output.
    pub output: Fr,
}

impl SliceStatement {
    /// As Groth16 public inputs.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.model, self.input, self.output]
    }
}

/// Layers `layers` of `model`, with the slice's input when proving (none for key
/// generation).
#[derive(Clone)]
pub struct SliceCircuit<'a> {
    /// The model.
    pub model: &'a QuantizedModel,
    /// Its commitment (computed once by the caller).
    pub model_commitment: Fr,
    /// The layers proven.
    pub layers: Range<usize>,
    /// What the first of them reads, quantized; `None` for setup.
    pub input: Option<Vec<i64>>,
}

/// One activation in the circuit: its variable and, when proving, its value.
#[derive(Clone, Copy)]
struct Act {
    var: Variable,
    value: Option<i64>,
}

fn witness(cs: &ConstraintSystemRef<Fr>, value: Option<Fr>) -> Result<Variable, SynthesisError> {
    cs.new_witness_variable(|| value.ok_or(SynthesisError::AssignmentMissing))
}

/// `n` boolean witnesses for the low bits of `value`, little-endian, each constrained to
/// be 0 or 1.
fn bits(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<u64>,
    n: u32,
) -> Result<Vec<Variable>, SynthesisError> {
    (0..n)
        .map(|i| {
            let b = witness(cs, value.map(|v| Fr::from((v >> i) & 1)))?;
            cs.enforce_r1cs_constraint(
                || b.into(),
                || LinearCombination::from(Variable::One) - (Fr::from(1u64), b),
                LinearCombination::new,
            )?;
            Ok(b)
        })
        .collect()
}

/// `Σ 2^i · bits[i]`.
fn weighted(bits: &[Variable]) -> LinearCombination<Fr> {
    let mut lc = LinearCombination::new();
    let mut p = Fr::from(1u64);
    for b in bits {
        lc += (p, *b);
        p.double_in_place();
    }
    lc
}

/// The variable of a linear combination, as an `FpVar` for the gadgets.
fn fp_of(
    cs: &ConstraintSystemRef<Fr>,
    lc: LinearCombination<Fr>,
    value: Option<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    let var = cs.new_lc(|| lc)?;
    Ok(FpVar::Var(AllocatedFp::new(value, var, cs.clone())))
}

/// Commits in-circuit to activations given as their slot linear combinations
/// (`a + 2^23` each, proven below `2^24`) and values.
fn commit_slots(
    cs: &ConstraintSystemRef<Fr>,
    slots: &[(LinearCombination<Fr>, Option<i64>)],
) -> Result<FpVar<Fr>, SynthesisError> {
    let shift = Fr::from(1u64 << SLOT_BITS);
    let mut packed = Vec::with_capacity(slots.len().div_ceil(SLOTS_PER_ELEMENT));
    for chunk in slots.chunks(SLOTS_PER_ELEMENT) {
        let mut lc = LinearCombination::new();
        let mut p = Fr::from(1u64);
        for (slot, _) in chunk {
            lc = lc + &(slot.clone() * p);
            p *= shift;
        }
        let values: Option<Vec<i64>> = chunk.iter().map(|(_, v)| *v).collect();
        let value = values.map(|v| commit::pack(&v)[0]);
        packed.push(fp_of(cs, lc, value)?);
    }
    commit::activations_var(cs.clone(), slots.len(), &packed)
}

impl ConstraintSynthesizer<Fr> for SliceCircuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let model = self.model;
        let (from, to) = (self.layers.start, self.layers.end);
        if from >= to || to > model.layers.len() {
            return Err(SynthesisError::Unsatisfiable);
        }
        // Natively, when proving: every activation of the slice.
        let trace: Option<(Vec<i64>, Vec<Vec<i64>>)> = match &self.input {
            Some(input) => {
                let layers = model
                    .evaluate_layers(from, to, input)
                    .map_err(|_| SynthesisError::Unsatisfiable)?;
                Some((input.clone(), layers))
            }
            None => None,
        };
        let statement = trace.as_ref().map(|(input, layers)| SliceStatement {
            model: self.model_commitment,
            input: commit::activations(input),
            output: commit::activations(layers.last().map_or(&[][..], Vec::as_slice)),
        });

        // Public inputs.
        let model_pub = cs.new_input_variable(|| Ok(self.model_commitment))?;
        let input_pub = cs.new_input_variable(|| {
            statement
                .map(|s| s.input)
                .ok_or(SynthesisError::AssignmentMissing)
        })?;
        let output_pub = cs.new_input_variable(|| {
            statement
                .map(|s| s.output)
                .ok_or(SynthesisError::AssignmentMissing)
        })?;
        // The model is this circuit's.
        cs.enforce_r1cs_constraint(
            || LinearCombination::from(model_pub) - (self.model_commitment, Variable::One),
            || Variable::One.into(),
            LinearCombination::new,
        )?;

        // The input: range-checked, recomposed and committed.
        let offset = Fr::from(ACT_LIMIT as u64);
        let n_in = model.layers[from].input_len();
        let mut acts = Vec::with_capacity(n_in);
        let mut slots = Vec::with_capacity(n_in);
        for i in 0..n_in {
            let value = trace.as_ref().map(|(x, _)| x[i]);
            let b = bits(&cs, value.map(|v| (v + ACT_LIMIT) as u64), ACT_BITS)?;
            let slot = weighted(&b);
            let var = witness(&cs, value.map(signed))?;
            cs.enforce_r1cs_constraint(
                || slot.clone() - (offset, Variable::One) - (Fr::from(1u64), var),
                || Variable::One.into(),
                LinearCombination::new,
            )?;
            acts.push(Act { var, value });
            slots.push((slot, value));
        }
        let input_commitment = commit_slots(&cs, &slots)?;
        let input_pub = FpVar::Var(AllocatedFp::new(
            statement.map(|s| s.input),
            input_pub,
            cs.clone(),
        ));
        input_commitment.enforce_equal(&input_pub)?;

        // The layers.
        let scale = Fr::from(1u64 << model.scale_bits);
        let mut out_slots = Vec::new();
        for (k, layer) in model.layers[from..to].iter().enumerate() {
            let last = from + k + 1 == to;
            let values = trace.as_ref().map(|(_, layers)| &layers[k]);
            let terms = layer.terms();
            let mut next = Vec::with_capacity(terms.len());
            for (o, (bias, terms)) in terms.iter().enumerate() {
                // acc = Σ w·x + b, natively.
                let acc: Option<i128> = terms
                    .iter()
                    .map(|(i, w)| acts[*i].value.map(|x| i128::from(*w) * i128::from(x)))
                    .sum::<Option<i128>>()
                    .map(|s| s + i128::from(*bias));
                let y = acc.map(|a| a.div_euclid(1i128 << model.scale_bits) as i64);
                let r = acc.map(|a| a.rem_euclid(1i128 << model.scale_bits) as u64);
                let u_bits = bits(&cs, y.map(|y| (y + ACT_LIMIT) as u64), ACT_BITS)?;
                let r_bits = bits(&cs, r, model.scale_bits)?;
                let mut acc_lc = LinearCombination::new();
                for (i, w) in terms {
                    acc_lc += (signed(*w), acts[*i].var);
                }
                acc_lc += (signed(*bias), Variable::One);
                // acc = 2^s · (u - 2^23) + r
                let y_lc = weighted(&u_bits) - (offset, Variable::One);
                let rhs = y_lc.clone() * scale + &weighted(&r_bits);
                cs.enforce_r1cs_constraint(
                    || acc_lc - &rhs,
                    || Variable::One.into(),
                    LinearCombination::new,
                )?;
                let z = if layer.relu() { y.map(|y| y.max(0)) } else { y };
                debug_assert!(
                    values.is_none_or(|v| z == Some(v[o])),
                    "the circuit and the evaluator disagree"
                );
                let var = witness(&cs, z.map(signed))?;
                let sign = u_bits[ACT_BITS as usize - 1];
                if layer.relu() {
                    // z = sign · y
                    cs.enforce_r1cs_constraint(|| sign.into(), || y_lc.clone(), || var.into())?;
                } else {
                    cs.enforce_r1cs_constraint(
                        || y_lc.clone() - (Fr::from(1u64), var),
                        || Variable::One.into(),
                        LinearCombination::new,
                    )?;
                }
                if last {
                    out_slots.push((LinearCombination::from(var) + (offset, Variable::One), z));
                }
                next.push(Act { var, value: z });
            }
            acts = next;
        }
        let output_commitment = commit_slots(&cs, &out_slots)?;
        let output_pub = FpVar::Var(AllocatedFp::new(
            statement.map(|s| s.output),
            output_pub,
            cs.clone(),
        ));
        output_commitment.enforce_equal(&output_pub)?;
        Ok(())
    }
}
