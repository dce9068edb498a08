//! What a finished task delivers, and its offline check.
//!
//! A [`TaskResult`] is JSON, externally tagged: `{"query": {...}}`, `{"synthetic": {...}}`,
//! `{"circom": {...}}` or `{"zkml": {...}}` (an internal tag would make serde buffer the
//! 128-bit sum, which it cannot). Anyone holding the circuit's verifying key can check it
//! with [`TaskResult::check`] (a zkML result, with its slices' keys:
//! [`ZkmlResult::check`]); a client who also knows what it asked uses
//! [`super::Family::check`] (a zkML client, [`crate::zkml::ServedModel::check`]).

use ark_bn254::{Bn254, Fr};
use ark_groth16::{PreparedVerifyingKey, Proof};
use serde::{Deserialize, Serialize};

use super::FamilyError;
use crate::{
    AggregatedProof, encoding,
    snarkjs::{self, ProofJson, VerificationKeyJson},
    verify,
    zkml::ZkmlResult,
};

/// A proof with the public inputs it proves.
pub type Statement = (Vec<Fr>, Proof<Bn254>);

/// What a finished task delivers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskResult {
    /// A query's aggregated chunk proofs, with the answer.
    Query(AggregatedProof),
    /// Synthetic proofs: (public inputs, proof), hex-encoded compressed bytes, in job order.
    Synthetic {
        /// The circuit.
        circuit: String,
        /// The proofs.
        proofs: Vec<(String, String)>,
    },
    /// Circom proofs, in snarkjs' formats, in witness order.
    Circom {
        /// The circuit (`circom/<name>`).
        circuit: String,
        /// snarkjs' `verification_key.json` of the circuit.
        verification_key: Box<VerificationKeyJson>,
        /// Per job: snarkjs' `proof.json` and `public.json`.
        proofs: Vec<CircomProof>,
    },
    /// A zkML model's inferences, each with its slices' proofs.
    Zkml(Box<ZkmlResult>),
}

/// One circom job's proof, as snarkjs writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CircomProof {
    /// `proof.json`.
    pub proof: ProofJson,
    /// `public.json`: the public signals, decimal.
    pub public: Vec<String>,
}

impl CircomProof {
    /// The proof and public signals back from snarkjs' JSON.
    pub fn decode(&self) -> Result<(Proof<Bn254>, Vec<Fr>), FamilyError> {
        let bad = |e: snarkjs::JsonError| FamilyError::Mismatch(e.to_string());
        let proof = snarkjs::proof_from_json(&self.proof).map_err(bad)?;
        let public = self
            .public
            .iter()
            .map(|x| snarkjs::field_from_decimal(x).map_err(bad))
            .collect::<Result<_, _>>()?;
        Ok((proof, public))
    }
}

/// What checking a result found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// A query result: the proven answer and the data set commitment it is over.
    Query {
        /// SUM of matching values.
        sum: u128,
        /// COUNT of matching rows.
        count: u64,
        /// The commitment (hex) of the data set.
        commitment: String,
        /// Rows covered.
        rows: u64,
    },
    /// Synthetic proofs, all valid.
    Synthetic {
        /// How many.
        proofs: usize,
    },
    /// Circom proofs, all valid for their public signals.
    Circom {
        /// The circuit.
        circuit: String,
        /// How many.
        proofs: usize,
    },
    /// zkML inferences, every slice proof valid and every chain linked.
    Zkml {
        /// The model (`zkml/<name>`).
        model: String,
        /// The model commitment (hex).
        commitment: String,
        /// Fractional bits of the outputs.
        scale_bits: u32,
        /// The proven outputs, quantized, one per inference.
        outputs: Vec<Vec<i64>>,
    },
}

impl TaskResult {
    /// Parses a result. Something that is not one says what a result looks like.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FamilyError> {
        serde_json::from_slice(bytes).map_err(|e| {
            let kinds = "an object with one key, \"query\", \"synthetic\", \"circom\" or \"zkml\"";
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Err(_) => FamilyError::Mismatch(format!("not a result file: not JSON ({e})")),
                Ok(serde_json::Value::Object(map)) if map.len() == 1 => {
                    FamilyError::Mismatch(format!("malformed result: {e}"))
                }
                Ok(_) => FamilyError::Mismatch(format!(
                    "not a result file: a task's result is {kinds}, as the gateway delivers it"
                )),
            }
        })
    }

    /// The result as delivered (pretty JSON).
    pub fn to_json(&self) -> Result<Vec<u8>, FamilyError> {
        Ok(serde_json::to_vec_pretty(self)?)
    }

    /// The circuit every proof of the result is for.
    pub fn circuit(&self) -> &str {
        match self {
            TaskResult::Query(bundle) => &bundle.circuit_id,
            TaskResult::Synthetic { circuit, .. } | TaskResult::Circom { circuit, .. } => circuit,
            TaskResult::Zkml(result) => &result.model,
        }
    }

    /// Each proof with the public inputs it proves, in job order.
    pub fn statements(&self) -> Result<Vec<Statement>, FamilyError> {
        match self {
            TaskResult::Query(bundle) => Ok(bundle
                .chunks
                .iter()
                .map(|c| (c.statement.to_public_inputs(), c.proof.clone()))
                .collect()),
            TaskResult::Synthetic { proofs, .. } => proofs
                .iter()
                .map(|(inputs, proof)| {
                    let inputs = encoding::decode_public_inputs(&unhex(inputs)?)?;
                    let proof = encoding::decode_proof(&unhex(proof)?)?;
                    Ok((inputs, proof))
                })
                .collect(),
            TaskResult::Circom { proofs, .. } => proofs
                .iter()
                .map(|p| p.decode().map(|(proof, public)| (public, proof)))
                .collect(),
            TaskResult::Zkml(result) => Ok(result
                .inferences
                .iter()
                .flat_map(|inference| &inference.slices)
                .map(|slice| {
                    let inputs = vec![result.model_commitment, slice.input, slice.output];
                    (inputs, slice.proof.clone())
                })
                .collect()),
        }
    }

    /// Checks every proof with the circuit's verifying key, and a query bundle's chain of
    /// chunks and its answer against the commitment and query the bundle names. A zkML
    /// result has one key per slice: see [`TaskResult::check_zkml`].
    pub fn check(&self, pvk: &PreparedVerifyingKey<Bn254>) -> Result<Checked, FamilyError> {
        if let TaskResult::Zkml(result) = self {
            return Err(FamilyError::Mismatch(format!(
                "{} is proven in slices, each checked with its own key",
                result.model
            )));
        }
        if let TaskResult::Query(bundle) = self {
            let answer = bundle.verify(pvk, &bundle.commitment, &bundle.query)?;
            return Ok(Checked::Query {
                sum: answer.sum,
                count: answer.count,
                commitment: bundle.commitment.to_hex(),
                rows: bundle.rows,
            });
        }
        let statements = self.statements()?;
        for (i, (inputs, proof)) in statements.iter().enumerate() {
            verify::verify(pvk, proof, inputs)
                .map_err(|e| FamilyError::Mismatch(format!("proof {i}: {e}")))?;
        }
        Ok(match self {
            TaskResult::Circom { circuit, .. } => Checked::Circom {
                circuit: circuit.clone(),
                proofs: statements.len(),
            },
            _ => Checked::Synthetic {
                proofs: statements.len(),
            },
        })
    }
}

impl TaskResult {
    /// Checks a zkML result with its model's slice keys (see [`ZkmlResult::check`]).
    pub fn check_zkml(
        &self,
        pvks: &[PreparedVerifyingKey<Bn254>],
        inputs: Option<&[Vec<i64>]>,
    ) -> Result<Checked, FamilyError> {
        let TaskResult::Zkml(result) = self else {
            return Err(FamilyError::Mismatch("not a zkML result".into()));
        };
        let outputs = result.check(pvks.len(), |i| pvks.get(i), inputs)?;
        Ok(Checked::Zkml {
            model: result.model.clone(),
            commitment: encoding::fr_to_hex(&result.model_commitment),
            scale_bits: result.scale_bits,
            outputs,
        })
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, FamilyError> {
    hex::decode(text).map_err(|e| FamilyError::Mismatch(format!("bad hex: {e}")))
}
