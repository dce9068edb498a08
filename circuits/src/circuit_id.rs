//! Circuit ids and the jobs each circuit proves.
//!
//! A circuit id is a plain string pinned in a Supernet config:
//!
//! * `coprocessor-sum-v1/small`, `.../medium`, `.../large`: chunk jobs of a category;
//!   `coprocessor-sum-v1/rows-N` is a custom chunk capacity (tests, experiments);
//! * `synthetic-v1/kK`: the synthetic chain with about `2^K` constraints.

use std::fmt;

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use serde::{Deserialize, Serialize};

use crate::{
    coprocessor::{Category, ChunkCircuit, ChunkJob, ChunkShape, StatementError},
    synthetic::{self, SyntheticCircuit, SyntheticJob},
};

/// Prefix of coprocessor circuit ids.
pub const COPROCESSOR_PREFIX: &str = "coprocessor-sum-v1";
/// Prefix of synthetic circuit ids.
pub const SYNTHETIC_PREFIX: &str = "synthetic-v1";

/// An unknown or malformed circuit id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown circuit id {0:?}")]
pub struct UnknownCircuit(pub String);

/// A parsed circuit id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CircuitSpec {
    /// Coprocessor chunk circuit of a given capacity.
    Coprocessor(ChunkShape),
    /// Synthetic chain with about `2^log2` constraints.
    Synthetic {
        /// Size exponent.
        log2: u32,
    },
}

impl CircuitSpec {
    /// The spec of a category's chunk circuit.
    pub fn coprocessor(category: Category) -> Self {
        CircuitSpec::Coprocessor(category.shape())
    }

    /// Parses a circuit id.
    pub fn parse(id: &str) -> Result<Self, UnknownCircuit> {
        let unknown = || UnknownCircuit(id.to_owned());
        let (prefix, rest) = id.split_once('/').ok_or_else(unknown)?;
        match prefix {
            COPROCESSOR_PREFIX => {
                let shape = match rest.parse::<Category>() {
                    Ok(c) => c.shape(),
                    Err(_) => {
                        let rows = rest.strip_prefix("rows-").ok_or_else(unknown)?;
                        let rows: usize = parse_decimal(rows).ok_or_else(unknown)?;
                        ChunkShape { rows }
                    }
                };
                if !shape.is_valid() {
                    return Err(unknown());
                }
                Ok(CircuitSpec::Coprocessor(shape))
            }
            SYNTHETIC_PREFIX => {
                let k = rest.strip_prefix('k').ok_or_else(unknown)?;
                let log2: u32 = parse_decimal(k).ok_or_else(unknown)?;
                if !(synthetic::MIN_LOG2..=synthetic::MAX_LOG2).contains(&log2) {
                    return Err(unknown());
                }
                Ok(CircuitSpec::Synthetic { log2 })
            }
            _ => Err(unknown()),
        }
    }

    /// The canonical id string.
    pub fn id(&self) -> String {
        self.to_string()
    }

    /// Number of public inputs of the circuit.
    pub fn num_public_inputs(&self) -> usize {
        match self {
            CircuitSpec::Coprocessor(_) => crate::coprocessor::chunk::NUM_PUBLIC_INPUTS,
            CircuitSpec::Synthetic { .. } => 2,
        }
    }

    /// A job of this circuit with dummy values, for key generation.
    pub fn blank_job(&self) -> JobInput {
        match *self {
            CircuitSpec::Coprocessor(shape) => JobInput::Coprocessor(ChunkJob::blank(shape)),
            CircuitSpec::Synthetic { log2 } => JobInput::Synthetic(SyntheticJob { log2, seed: 0 }),
        }
    }
}

/// Canonical decimal (no sign, no leading zeros).
fn parse_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

impl fmt::Display for CircuitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CircuitSpec::Coprocessor(shape) => match shape.category() {
                Some(c) => write!(f, "{COPROCESSOR_PREFIX}/{c}"),
                None => write!(f, "{COPROCESSOR_PREFIX}/rows-{}", shape.rows),
            },
            CircuitSpec::Synthetic { log2 } => write!(f, "{SYNTHETIC_PREFIX}/k{log2}"),
        }
    }
}

/// Errors in a job's inputs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    /// A malformed coprocessor chunk.
    #[error(transparent)]
    Chunk(#[from] StatementError),
    /// A synthetic job of an unsupported size.
    #[error("unsupported synthetic size 2^{0}")]
    SyntheticSize(u32),
    /// Bytes that are not a job input.
    #[error("malformed job input: {0}")]
    Encoding(String),
}

/// The inputs of one proving job (what a prover fetches after winning an auction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobInput {
    /// A coprocessor chunk.
    Coprocessor(ChunkJob),
    /// A synthetic chain.
    Synthetic(SyntheticJob),
}

/// Largest encoded job input [`JobInput::from_bytes`] reads.
pub const MAX_JOB_INPUT_BYTES: usize = 1 << 20;

impl JobInput {
    /// The canonical encoding (bincode, standard configuration), as jobs carry it.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Encoding into a Vec fails only for types serde cannot describe to bincode
        // (maps or sequences of unknown length); a job input has none.
        bincode::serde::encode_to_vec(self, bincode::config::standard())
            .expect("job inputs always encode")
    }

    /// Decodes and validates a job input: at most [`MAX_JOB_INPUT_BYTES`], nothing after
    /// it, well formed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, JobError> {
        if bytes.len() > MAX_JOB_INPUT_BYTES {
            return Err(JobError::Encoding(format!(
                "job input of {} bytes is too large",
                bytes.len()
            )));
        }
        let input: JobInput =
            crate::encoding::bincode_exact::<_, MAX_JOB_INPUT_BYTES>(bytes, "job input")
                .map_err(JobError::Encoding)?;
        input.validate()?;
        Ok(input)
    }

    /// The circuit this job is proven with.
    pub fn spec(&self) -> CircuitSpec {
        match self {
            JobInput::Coprocessor(job) => CircuitSpec::Coprocessor(job.shape),
            JobInput::Synthetic(job) => CircuitSpec::Synthetic { log2: job.log2 },
        }
    }

    /// Checks the job is well formed.
    pub fn validate(&self) -> Result<(), JobError> {
        match self {
            JobInput::Coprocessor(job) => Ok(job.validate()?),
            JobInput::Synthetic(job) => {
                if (synthetic::MIN_LOG2..=synthetic::MAX_LOG2).contains(&job.log2) {
                    Ok(())
                } else {
                    Err(JobError::SyntheticSize(job.log2))
                }
            }
        }
    }

    /// The public inputs an honest proof of this job has, computed natively.
    pub fn public_inputs(&self) -> Vec<Fr> {
        match self {
            JobInput::Coprocessor(job) => job.statement().to_public_inputs(),
            JobInput::Synthetic(job) => job.public_inputs(),
        }
    }

    /// The constraint synthesizer for this job.
    pub fn circuit(&self) -> AnyCircuit {
        match self {
            JobInput::Coprocessor(job) => AnyCircuit::Coprocessor(job.circuit()),
            JobInput::Synthetic(job) => AnyCircuit::Synthetic(job.circuit()),
        }
    }
}

/// Any of the crate's circuits.
#[derive(Clone, Debug)]
pub enum AnyCircuit {
    /// A coprocessor chunk.
    Coprocessor(ChunkCircuit),
    /// A synthetic chain.
    Synthetic(SyntheticCircuit),
}

impl ConstraintSynthesizer<Fr> for AnyCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        match self {
            AnyCircuit::Coprocessor(c) => c.generate_constraints(cs),
            AnyCircuit::Synthetic(c) => c.generate_constraints(cs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_junk_is_refused() {
        for spec in [
            CircuitSpec::coprocessor(Category::Small),
            CircuitSpec::coprocessor(Category::Large),
            CircuitSpec::Coprocessor(ChunkShape { rows: 3 }),
            CircuitSpec::Synthetic { log2: 14 },
        ] {
            assert_eq!(CircuitSpec::parse(&spec.id()), Ok(spec));
        }
        assert_eq!(
            CircuitSpec::coprocessor(Category::Medium).id(),
            "coprocessor-sum-v1/medium"
        );
        assert_eq!(
            CircuitSpec::Coprocessor(ChunkShape { rows: 32 }).id(),
            "coprocessor-sum-v1/small"
        );
        for bad in [
            "",
            "synthetic-v1/k2",
            "synthetic-v1/k014",
            "synthetic-v1/14",
            "coprocessor-sum-v1/rows-0",
            "coprocessor-sum-v1/rows-+3",
            "coprocessor-sum-v1/huge",
            "other/small",
        ] {
            assert!(CircuitSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
